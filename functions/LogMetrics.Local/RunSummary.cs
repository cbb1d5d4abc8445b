using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LogMetrics.Local;

/// <summary>How a run ended; <see cref="RunSummary.Status"/> in <c>summary.json</c>.</summary>
public static class RunStatus
{
    /// <summary>Every lane read to its end, every sample written to every output.</summary>
    public const string Complete = "complete";
    /// <summary>The run finished, but a sample was dropped or a lane could not be read to its end (exit 3).</summary>
    public const string LostData = "lost-data";
    /// <summary>The run stopped on an error (e.g. the endpoint refused the credentials), exit 1.</summary>
    public const string Failed = "failed";
    /// <summary>SIGINT or SIGTERM stopped the run (exit 130 / 143).</summary>
    public const string Interrupted = "interrupted";
}

/// <summary>What became of the samples at one output: written + Σ dropped = the run's samples.</summary>
public sealed record OutputAccount(
    [property: JsonPropertyName("output")] string Output,
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("written")] long Written,
    [property: JsonPropertyName("dropped")] IReadOnlyDictionary<string, long> Dropped)
{
    /// <summary>Self-metric samples (--self-metrics) this output took besides the run's: written + Σ dropped = samples + selfMetrics.</summary>
    [JsonPropertyName("selfMetrics")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long SelfMetrics { get; init; }

    [JsonIgnore]
    public long DroppedTotal => Dropped.Values.Sum();
}

/// <summary>One input lane: whether it was read to its end, and why not.</summary>
public sealed record LaneAccount(
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("readToEnd")] bool ReadToEnd,
    [property: JsonPropertyName("error")] string? Error);

/// <summary>
/// <c>summary.json</c>: the counts of a run and where every sample went. The six counts of the
/// oracle (<c>events … samples</c>) come first; see README "summary.json" for every field.
/// </summary>
public sealed record RunSummary
{
    [JsonPropertyName("events")] public long Events { get; init; }
    [JsonPropertyName("accepted")] public long Accepted { get; init; }
    [JsonPropertyName("malformed")] public long Malformed { get; init; }
    [JsonPropertyName("filtered")] public long Filtered { get; init; }
    [JsonPropertyName("late")] public long Late { get; init; }
    /// <summary>Samples produced by closed windows.</summary>
    [JsonPropertyName("samples")] public long Samples { get; init; }
    [JsonPropertyName("status")] public required string Status { get; init; }
    [JsonPropertyName("exitCode")] public int ExitCode { get; init; }
    [JsonPropertyName("error")] public string? Error { get; init; }
    [JsonPropertyName("outputs")] public IReadOnlyList<OutputAccount> Outputs { get; init; } = [];
    [JsonPropertyName("lanes")] public IReadOnlyList<LaneAccount> Lanes { get; init; } = [];
    /// <summary>Records folded into a family's overflow series (maxSeries), by family prefix; absent when none.</summary>
    [JsonPropertyName("overflow")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, long>? Overflow { get; init; }

    /// <summary>True when a sample was dropped at an output or a lane was not read to its end.</summary>
    [JsonIgnore]
    public bool LostData => Outputs.Any(o => o.DroppedTotal > 0) || Lanes.Any(l => !l.ReadToEnd);

    /// <summary>
    /// The file's text: what <see cref="JsonSerializer"/> gives for this record with <c>WriteIndented</c> (properties
    /// in declaration order, <see cref="JsonPropertyNameAttribute"/> names, the conditions above, the default encoder),
    /// written with <see cref="Utf8JsonWriter"/>. Written by hand, not by a serializer's context: in the Native AOT
    /// program the context builds its metadata on first use (the attributes read by reflection), about 2 ms of every
    /// replay, 4 % of the 400-line one (docs/PERFORMANCE-LOG.md, session 24). A test holds it byte for byte to a
    /// source-generated context over summaries with every field and condition.
    /// </summary>
    public string ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("events", Events);
            w.WriteNumber("accepted", Accepted);
            w.WriteNumber("malformed", Malformed);
            w.WriteNumber("filtered", Filtered);
            w.WriteNumber("late", Late);
            w.WriteNumber("samples", Samples);
            w.WriteString("status", Status);
            w.WriteNumber("exitCode", ExitCode);
            w.WriteString("error", Error);
            WriteObjects(w, "outputs", Outputs, static (w, o) =>
            {
                w.WriteString("output", o.Output);
                w.WriteString("target", o.Target);
                w.WriteNumber("written", o.Written);
                WriteCounts(w, "dropped", o.Dropped);
                if (o.SelfMetrics != 0) w.WriteNumber("selfMetrics", o.SelfMetrics);
            });
            WriteObjects(w, "lanes", Lanes, static (w, l) =>
            {
                w.WriteString("file", l.File);
                w.WriteBoolean("readToEnd", l.ReadToEnd);
                w.WriteString("error", l.Error);
            });
            if (Overflow is not null) WriteCounts(w, "overflow", Overflow);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteObjects<T>(Utf8JsonWriter w, string name, IReadOnlyList<T> items, Action<Utf8JsonWriter, T> properties)
    {
        w.WriteStartArray(name);
        foreach (var item in items)
        {
            w.WriteStartObject();
            properties(w, item);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteCounts(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, long> counts)
    {
        w.WriteStartObject(name);
        foreach (var (key, count) in counts) w.WriteNumber(key, count);
        w.WriteEndObject();
    }

    /// <summary>
    /// Accounts for one output: what it wrote and dropped by reason. Anything the output neither
    /// wrote nor counted is added as <c>unaccounted</c>, so the account always adds up (and says so).
    /// </summary>
    public static OutputAccount Account(string output, string target, long samples, long written, IReadOnlyDictionary<string, long> dropped)
    {
        var reasons = dropped.Where(kv => kv.Value != 0).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var missing = samples - written - reasons.Values.Sum();
        if (missing != 0) reasons["unaccounted"] = reasons.GetValueOrDefault("unaccounted") + missing;
        return new OutputAccount(output, target, written, reasons);
    }
}
