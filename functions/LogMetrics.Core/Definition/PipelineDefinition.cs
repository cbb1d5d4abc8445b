namespace LogMetrics.Core.Definition;

/// <summary>The whole of a team's <c>pipeline.json</c>: source, processor steps, lookups, metrics and remote write.</summary>
public sealed class PipelineDefinition
{
    public string Name { get; set; } = "pipeline";
    public SourceDefinition Source { get; set; } = new();
    public List<StepDefinition> Processor { get; set; } = [];
    public List<LookupDefinition> Lookups { get; set; } = [];
    public List<FamilyDefinition> Metrics { get; set; } = [];
    public RemoteWriteDefinition RemoteWrite { get; set; } = new();
}

/// <summary>Event time, windowing and the typed fields a record must carry to be accepted.</summary>
public sealed class SourceDefinition
{
    public string TimeField { get; set; } = "__time__";
    /// <summary><c>s</c> or <c>ms</c>.</summary>
    public string TimeUnit { get; set; } = "s";
    public int WindowSeconds { get; set; } = 10;
    public int OutOfOrdernessSeconds { get; set; } = 5;
    public int IdleLaneTimeoutSeconds { get; set; } = 60;
    /// <summary>A record stamped more than this ahead of the wall clock is dead-lettered (<c>time in the future</c>).</summary>
    public int MaxFutureSeconds { get; set; } = 300;
    /// <summary>A record more than this ahead of its lane's newest time does not move the lane's watermark alone (jump guard).</summary>
    public int LaneJumpSeconds { get; set; } = 300;
    /// <summary>Consecutive records of a lane that must all be that far ahead before its watermark jumps.</summary>
    public int LaneJumpConfirmations { get; set; } = 3;
    /// <summary>A line longer than this is dead-lettered (<c>record too large</c>) without being held in memory.</summary>
    public int MaxRecordBytes { get; set; } = 1 << 20;
    public List<FieldDefinition> Fields { get; set; } = [];
}

/// <summary>A declared input field: type <c>string</c>, <c>int</c> or <c>number</c>; required fields make a record malformed when absent or mistyped.</summary>
public sealed class FieldDefinition
{
    public string Name { get; set; } = "";
    public string Type { get; set; } = "string";
    public bool Required { get; set; }
    public long? Min { get; set; }
}

/// <summary>The kind of a processor step.</summary>
public enum StepKind { Where, ParseJson, ParseKv, ParseRegexp, Project }

/// <summary>One processor step; which properties apply depends on <see cref="Kind"/>.</summary>
public sealed class StepDefinition
{
    public StepKind Kind { get; set; }
    /// <summary>JSON path of the step, for error messages.</summary>
    public string Path { get; set; } = "";
    /// <summary><c>where</c>: the predicate expression.</summary>
    public string? Expression { get; set; }
    /// <summary>parse-*: the source field.</summary>
    public string? Field { get; set; }
    /// <summary>parse-json: prefix of the flattened names.</summary>
    public string Prefix { get; set; } = "";
    /// <summary>parse-kv: separator between pairs.</summary>
    public string PairDelimiter { get; set; } = ";";
    /// <summary>parse-kv: separator between key and value.</summary>
    public string KeyValueDelimiter { get; set; } = "=";
    /// <summary>parse-kv: key in the string → output field; empty means every key, named prefix+key.</summary>
    public Dictionary<string, string> Keys { get; set; } = [];
    /// <summary>parse-regexp: a .NET regular expression whose named groups become fields.</summary>
    public string? Pattern { get; set; }
    /// <summary>project: the fields kept.</summary>
    public List<string> Fields { get; set; } = [];
}

/// <summary>A dimension table joined by key.</summary>
public sealed class LookupDefinition
{
    public string Name { get; set; } = "";
    public List<LookupKey> Key { get; set; } = [];
    public List<LookupOutput> Outputs { get; set; } = [];
    public string Default { get; set; } = "unknown";
    public CacheDefinition Cache { get; set; } = new();
}

/// <summary>A record field matched against a table column.</summary>
public sealed class LookupKey
{
    public string Field { get; set; } = "";
    public string Column { get; set; } = "";
}

/// <summary>A table column copied into a record field; <see cref="Fallback"/> is a record field used when the row is missing.</summary>
public sealed class LookupOutput
{
    public string Column { get; set; } = "";
    public string As { get; set; } = "";
    public string? Fallback { get; set; }
}

/// <summary>Cache policy: <c>all</c> (full load, periodic reload) or <c>lru</c> (bounded, TTL, retries).</summary>
public sealed class CacheDefinition
{
    public string Policy { get; set; } = "all";
    public int ReloadMinutes { get; set; } = 5;
    public int MaxRows { get; set; } = 50_000;
    public int TtlMinutes { get; set; } = 10;
    public int MaxRetries { get; set; } = 3;
}

/// <summary>A metric family: metrics sharing a name prefix, a label set, a resolution and an optional row filter.</summary>
public sealed class FamilyDefinition
{
    public string Prefix { get; set; } = "";
    /// <summary>Label name → source field, in declaration order.</summary>
    public List<KeyValuePair<string, string>> Labels { get; set; } = [];
    public int ResolutionSeconds { get; set; } = 10;
    public string? Where { get; set; }
    public List<MetricDefinition> Metrics { get; set; } = [];
    /// <summary>Cardinality budget: distinct label sets per metric window; more fold into one <c>__overflow__</c> series.</summary>
    public int MaxSeries { get; set; } = DefaultMaxSeries;
    public string Path { get; set; } = "";

    /// <summary>The budget a family has unless <c>maxSeries</c> says otherwise.</summary>
    public const int DefaultMaxSeries = 10_000;
}

/// <summary>One metric: full name = family prefix + name; aggregate is e.g. <c>count</c>, <c>ratio(HttpCode == 503)</c>, <c>mean(TotalUsedTime)</c>.</summary>
public sealed class MetricDefinition
{
    public string Name { get; set; } = "";
    public string Aggregate { get; set; } = "count";
    public string? Help { get; set; }
    public string Path { get; set; } = "";
}

/// <summary>Remote-write target and limits. Secrets never live here: only the names of the environment variables or files holding them.</summary>
public sealed class RemoteWriteDefinition
{
    /// <summary>Endpoint URL; the CLI flag or the REMOTE_WRITE_URL app setting overrides it.</summary>
    public string? Endpoint { get; set; }
    /// <summary><c>none</c>, <c>basic</c>, <c>bearer</c> or <c>entra</c>.</summary>
    public string Auth { get; set; } = "none";
    public string? UsernameEnv { get; set; }
    public string? PasswordEnv { get; set; }
    public string? BearerTokenEnv { get; set; }
    public string? BearerTokenFile { get; set; }
    /// <summary>Entra: user-assigned managed identity client id (env var name); unset means DefaultAzureCredential.</summary>
    public string? ClientIdEnv { get; set; }
    public string Scope { get; set; } = "https://monitor.azure.com//.default";
    public int MaxSamplesPerRequest { get; set; } = 2000;
    public int MaxBytesPerRequest { get; set; } = 1 << 20;
    public int Concurrency { get; set; } = 2;
    public int TimeoutSeconds { get; set; } = 10;
    public int InitialBackoffMs { get; set; } = 200;
    public int MaxBackoffMs { get; set; } = 30_000;
    public int MaxElapsedSeconds { get; set; } = 300;
    /// <summary>Closed-but-unwritten samples kept in state while the endpoint is down; past it the oldest are dropped and counted.</summary>
    public int MaxPendingSamples { get; set; } = 1_000_000;
}
