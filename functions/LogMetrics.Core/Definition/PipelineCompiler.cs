using System.Text.RegularExpressions;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Prune;

namespace LogMetrics.Core.Definition;

/// <summary>
/// Validates a <see cref="PipelineDefinition"/> and compiles it. Every error carries the JSON path
/// of the offending value; all errors are reported together, before anything runs.
/// </summary>
public static partial class PipelineCompiler
{
    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricNameRule();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelNameRule();

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]*$")]
    private static partial Regex LookupNameRule();

    [GeneratedRegex(@"^\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*$", RegexOptions.Singleline)]
    private static partial Regex AggregateSyntax();

    /// <summary>Loads, validates and compiles a pipeline file.</summary>
    public static CompiledPipeline CompileFile(string path) => Compile(DefinitionLoader.LoadFile(path));

    /// <summary>Largest accepted <c>source.outOfOrdernessSeconds</c>: one hour.</summary>
    public const int MaxOutOfOrdernessSeconds = 3600;

    /// <summary>Most metrics (over all families) a definition may define.</summary>
    public const int MaxMetrics = 1000;

    public static CompiledPipeline Compile(PipelineDefinition d) => Compile(d, keepUnused: false);

    /// <summary>
    /// As <see cref="Compile(PipelineDefinition)"/>; <paramref name="keepUnused"/> also builds the processor steps whose
    /// fields nothing reads (see <see cref="CompiledPipeline.Unused"/>), which change no sample: tests compare the two.
    /// </summary>
    public static CompiledPipeline Compile(PipelineDefinition d, bool keepUnused)
    {
        var c = new Context();
        var source = d.Source;

        // --- source ---
        if (string.IsNullOrWhiteSpace(source.TimeField)) c.Error("$.source.timeField", "must name the event-time field");
        if (source.TimeUnit is not ("s" or "ms")) c.Error("$.source.timeUnit", $"must be \"s\" or \"ms\", got \"{source.TimeUnit}\"");
        if (source.WindowSeconds <= 0) c.Error("$.source.windowSeconds", $"must be > 0, got {source.WindowSeconds}");
        if (source.OutOfOrdernessSeconds < 0) c.Error("$.source.outOfOrdernessSeconds", $"must be >= 0, got {source.OutOfOrdernessSeconds}");
        if (source.IdleLaneTimeoutSeconds <= 0) c.Error("$.source.idleLaneTimeoutSeconds", $"must be > 0, got {source.IdleLaneTimeoutSeconds}");
        // Absurd values are refused, not obeyed: out-of-orderness is state held per open window.
        if (source.OutOfOrdernessSeconds > MaxOutOfOrdernessSeconds) c.Error("$.source.outOfOrdernessSeconds", $"must be <= {MaxOutOfOrdernessSeconds} (one hour), got {source.OutOfOrdernessSeconds}");
        if (source.MaxFutureSeconds <= 0) c.Error("$.source.maxFutureSeconds", $"must be > 0, got {source.MaxFutureSeconds}");
        if (source.LaneJumpSeconds <= 0) c.Error("$.source.laneJumpSeconds", $"must be > 0, got {source.LaneJumpSeconds}");
        if (source.LaneJumpConfirmations < 1) c.Error("$.source.laneJumpConfirmations", $"must be >= 1, got {source.LaneJumpConfirmations}");
        if (source.MaxRecordBytes < 1024) c.Error("$.source.maxRecordBytes", $"must be >= 1024, got {source.MaxRecordBytes}");
        var metricCount = d.Metrics.Sum(f => f.Metrics.Count);
        if (metricCount > MaxMetrics) c.Error("$.metrics", $"defines {metricCount} metrics; at most {MaxMetrics} are allowed");

        var typed = new List<TypedField>();
        var declared = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < source.Fields.Count; i++)
        {
            var f = source.Fields[i];
            var p = $"$.source.fields[{i}]";
            if (string.IsNullOrEmpty(f.Name)) { c.Error($"{p}.name", "must not be empty"); continue; }
            if (!declared.Add(f.Name)) c.Error($"{p}.name", $"field '{f.Name}' is declared twice");
            FieldType? type = f.Type switch { "string" => FieldType.String, "int" => FieldType.Int, "number" => FieldType.Number, _ => null };
            if (type is null) { c.Error($"{p}.type", $"must be \"string\", \"int\" or \"number\", got \"{f.Type}\""); continue; }
            if (f.Name == source.TimeField && type != FieldType.Int) c.Error($"{p}.type", "the event-time field must be \"int\"");
            typed.Add(new TypedField(f.Name, c.Fields.GetOrAdd(f.Name), type.Value, f.Required, f.Min));
        }
        if (!string.IsNullOrEmpty(source.TimeField)) c.Fields.GetOrAdd(source.TimeField);

        // --- processor ---
        var steps = new List<(string Path, Func<ProcessorStep> Build)>();
        foreach (var step in d.Processor)
        {
            CompileStep(step, c, steps);
        }

        // --- lookups ---
        var lookups = new List<Func<CompiledLookup>>();
        var lookupNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < d.Lookups.Count; i++)
        {
            var l = d.Lookups[i];
            var p = $"$.lookups[{i}]";
            if (!LookupNameRule().IsMatch(l.Name)) c.Error($"{p}.name", $"'{l.Name}' is not a valid lookup name (letters, digits, '_'; it names the table and its CSV file)");
            else if (!lookupNames.Add(l.Name)) c.Error($"{p}.name", $"lookup '{l.Name}' is declared twice");
            if (l.Key.Count == 0) c.Error($"{p}.key", "needs at least one key field");
            for (var k = 0; k < l.Key.Count; k++)
            {
                if (string.IsNullOrEmpty(l.Key[k].Column)) c.Error($"{p}.key[{k}].column", "must not be empty");
                c.Reference(l.Key[k].Field, $"{p}.key[{k}].field");
            }
            if (l.Outputs.Count == 0) c.Error($"{p}.outputs", "needs at least one output column");
            for (var o = 0; o < l.Outputs.Count; o++)
            {
                var output = l.Outputs[o];
                if (string.IsNullOrEmpty(output.Column)) c.Error($"{p}.outputs[{o}].column", "must not be empty");
                if (string.IsNullOrEmpty(output.As)) c.Error($"{p}.outputs[{o}].as", "must name the field to set");
                if (output.Fallback is not null) c.Reference(output.Fallback, $"{p}.outputs[{o}].fallback", conditional: true);
                if (!string.IsNullOrEmpty(output.As)) c.LookupOutputs.Add(new LookupFlow($"{p}.outputs[{o}]", l.Name, output.As, output.Fallback));
            }
            foreach (var output in l.Outputs) c.Produce(output.As);
            var cache = l.Cache;
            switch (cache.Policy)
            {
                case "all":
                    if (cache.ReloadMinutes <= 0) c.Error($"{p}.cache.reloadMinutes", $"must be > 0, got {cache.ReloadMinutes}");
                    break;
                case "lru":
                    if (cache.MaxRows <= 0) c.Error($"{p}.cache.maxRows", $"must be > 0, got {cache.MaxRows}");
                    if (cache.TtlMinutes <= 0) c.Error($"{p}.cache.ttlMinutes", $"must be > 0, got {cache.TtlMinutes}");
                    if (cache.MaxRetries < 0) c.Error($"{p}.cache.maxRetries", $"must be >= 0, got {cache.MaxRetries}");
                    break;
                default:
                    c.Error($"{p}.cache.policy", $"must be \"all\" or \"lru\", got \"{cache.Policy}\"");
                    break;
            }
            // An output nothing reads is still looked up (the lookup's counts stay), but its fallback is not read: the
            // steps that would set it may not run (Liveness).
            lookups.Add(() => new CompiledLookup(
                l,
                new TableSpec(l.Name, [.. l.Key.Select(k => k.Column)]),
                [.. l.Key.Select(k => c.Fields.GetOrAdd(k.Field))],
                [.. l.Outputs.Select(o => new CompiledLookupOutput(o.Column, c.Fields.GetOrAdd(o.As),
                    o.Fallback is null || !c.IsLive(o.As) ? null : c.Fields.GetOrAdd(o.Fallback)))]));
        }

        // --- metrics ---
        if (d.Metrics.Count == 0) c.Error("$.metrics", "needs at least one metric family");
        var families = new List<Func<int, MetricFamily>>();
        var metricNames = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < d.Metrics.Count; i++)
        {
            families.Add(CompileFamily(d.Metrics[i], $"$.metrics[{i}]", source.WindowSeconds, c, metricNames));
        }

        // --- remote write ---
        ValidateRemoteWrite(d.RemoteWrite, c);

        if (c.Errors.Count > 0)
        {
            throw new DefinitionException(c.Errors);
        }

        var unused = c.Liveness(d, typed, keepUnused);
        var builtSteps = steps.Where(s => keepUnused || c.StepIsLive(s.Path)).Select(s => s.Build()).ToList();
        var builtLookups = lookups.Select(l => l()).ToList();
        var builtFamilies = families.Select((f, i) => f(i)).ToList();
        // Fields read only as parse-json or parse-kv sources never need to become strings.
        var rawSlots = c.Readers
            .Where(r => r.Value.All(c.IsStepSource))
            .Select(r => c.Fields.GetOrAdd(r.Key))
            .ToHashSet();
        return new CompiledPipeline
        {
            RawSlots = rawSlots,
            Unused = unused,
            // Empty with keepUnused: every field is live then.
            UnreadSlots = c.Fields.Names.Where(n => !c.IsLive(n)).Select(n => c.Fields.GetOrAdd(n)).ToHashSet(),
            Definition = d,
            Fields = c.Fields,
            TypedFields = typed,
            Steps = builtSteps,
            Lookups = builtLookups,
            Families = builtFamilies,
            WindowMs = source.WindowSeconds * 1000L,
            OutOfOrdernessMs = source.OutOfOrdernessSeconds * 1000L,
            IdleLaneTimeout = TimeSpan.FromSeconds(source.IdleLaneTimeoutSeconds),
            MaxFutureMs = source.MaxFutureSeconds * 1000L,
            LaneJumpMs = source.LaneJumpSeconds * 1000L,
            LaneJumpConfirmations = source.LaneJumpConfirmations,
            MaxRecordBytes = source.MaxRecordBytes,
        };
    }

    private static void CompileStep(StepDefinition step, Context c, List<(string Path, Func<ProcessorStep> Build)> steps)
    {
        var p = step.Path;
        switch (step.Kind)
        {
            case StepKind.Where:
            {
                var expr = c.ParseExpression(step.Expression ?? "", p);
                if (expr is not null)
                {
                    steps.Add((p, () => new WhereStep(ExpressionCompiler.Compile(expr, c.Fields))));
                }
                break;
            }
            case StepKind.Project:
            {
                if (step.Fields.Count == 0) c.Error(p, "must keep at least one field");
                // Keeping a field does not read it: a field only projected makes no step that sets it run.
                foreach (var (f, i) in step.Fields.Select((f, i) => (f, i))) c.Reference(f, $"{p}[{i}]", conditional: true);
                c.Project(step.Fields, p);
                var kept = step.Fields.ToHashSet(StringComparer.Ordinal);
                steps.Add((p, () =>
                {
                    var keep = new bool[c.Fields.Count];
                    for (var i = 0; i < keep.Length; i++)
                    {
                        // Fields produced after this step (by later parse steps and lookups) are not the project's to drop.
                        keep[i] = kept.Contains(c.Fields.Names[i]) || c.ProducedAfter(c.Fields.Names[i], p);
                    }
                    return new ProjectStep(keep);
                }));
                break;
            }
            case StepKind.ParseJson:
            {
                if (string.IsNullOrEmpty(step.Field)) { c.Error($"{p}.field", "must name the JSON string field to parse"); break; }
                c.Reference(step.Field, $"{p}.field", conditional: true);
                var prefix = step.Prefix;
                c.ProducePrefix(prefix, p);
                var field = step.Field;
                c.Flows.Add(new StepFlow(p, field, [], prefix));
                steps.Add((p, () =>
                {
                    var targets = c.Fields.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.Length > prefix.Length)
                        .ToDictionary(n => n, n => c.Fields.GetOrAdd(n));
                    return new ParseJsonStep(c.Fields.GetOrAdd(field), prefix, targets);
                }));
                break;
            }
            case StepKind.ParseKv:
            {
                if (string.IsNullOrEmpty(step.Field)) { c.Error($"{p}.field", "must name the k=v string field to parse"); break; }
                if (string.IsNullOrEmpty(step.PairDelimiter)) c.Error($"{p}.pairDelimiter", "must not be empty");
                if (string.IsNullOrEmpty(step.KeyValueDelimiter)) c.Error($"{p}.keyValueDelimiter", "must not be empty");
                c.Reference(step.Field, $"{p}.field", conditional: true);
                var keys = new Dictionary<string, string>(step.Keys);
                if (keys.Count == 0) c.ProducePrefix(step.Prefix, p);
                foreach (var (k, v) in keys)
                {
                    if (string.IsNullOrEmpty(v)) c.Error($"{p}.keys.{k}", "must name the output field");
                    else c.Produce(v, p);
                }
                var field = step.Field;
                var prefix = step.Prefix;
                c.Flows.Add(new StepFlow(p, field, [.. keys.Values], keys.Count > 0 ? null : prefix));
                steps.Add((p, () =>
                {
                    var map = keys.Count > 0
                        ? keys.ToDictionary(kv => kv.Key, kv => c.Fields.GetOrAdd(kv.Value))
                        : c.Fields.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.Length > prefix.Length)
                            .ToDictionary(n => n[prefix.Length..], n => c.Fields.GetOrAdd(n));
                    return new ParseKvStep(c.Fields.GetOrAdd(field), step.PairDelimiter, step.KeyValueDelimiter, map);
                }));
                break;
            }
            case StepKind.ParseRegexp:
            {
                if (string.IsNullOrEmpty(step.Field)) { c.Error($"{p}.field", "must name the field to match"); break; }
                c.Reference(step.Field, $"{p}.field");
                Regex regex;
                try
                {
                    regex = new Regex(step.Pattern ?? "", RegexOptions.CultureInvariant | RegexOptions.Compiled, TimeSpan.FromMilliseconds(100));
                }
                catch (ArgumentException e)
                {
                    c.Error($"{p}.pattern", "not a valid regular expression: " + e.Message);
                    break;
                }
                var groups = regex.GetGroupNames().Where(g => !int.TryParse(g, out _)).ToList();
                if (groups.Count == 0) c.Error($"{p}.pattern", "needs at least one named group, e.g. (?<region>[a-z-]+)");
                foreach (var g in groups) c.Produce(g, p);
                var field = step.Field;
                steps.Add((p, () => new ParseRegexpStep(c.Fields.GetOrAdd(field), regex, [.. groups.Select(g => (g, c.Fields.GetOrAdd(g)))])));
                break;
            }
        }
    }

    private static Func<int, MetricFamily> CompileFamily(FamilyDefinition f, string p, int windowSeconds, Context c, Dictionary<string, string> metricNames)
    {
        if (f.ResolutionSeconds <= 0 || (windowSeconds > 0 && f.ResolutionSeconds % windowSeconds != 0))
        {
            c.Error($"{p}.resolutionSeconds", $"must be a positive multiple of the window ({windowSeconds} s), got {f.ResolutionSeconds}");
        }
        if (f.Labels.Count == 0) c.Error($"{p}.labels", "needs at least one label");
        if (f.MaxSeries < 1) c.Error($"{p}.maxSeries", $"must be >= 1, got {f.MaxSeries}");
        var labelNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, field) in f.Labels)
        {
            var lp = $"{p}.labels.{name}";
            if (!LabelNameRule().IsMatch(name)) c.Error(lp, $"'{name}' is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)");
            else if (name.StartsWith("__", StringComparison.Ordinal)) c.Error(lp, $"label names starting with '__' are reserved by Prometheus");
            if (!labelNames.Add(name)) c.Error(lp, $"label '{name}' is declared twice");
            c.Reference(field, lp);
        }
        Expr? where = f.Where is null ? null : c.ParseExpression(f.Where, $"{p}.where");

        if (f.Metrics.Count == 0) c.Error($"{p}.metrics", "needs at least one metric");
        var mergeOps = new List<MergeOp> { MergeOp.Sum };
        var metrics = new List<Func<CompiledMetric>>();
        for (var i = 0; i < f.Metrics.Count; i++)
        {
            var m = f.Metrics[i];
            var mp = $"{p}.metrics[{i}]";
            var full = f.Prefix + m.Name;
            if (string.IsNullOrEmpty(m.Name) || !MetricNameRule().IsMatch(full))
            {
                c.Error($"{mp}.name", $"'{full}' is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
            }
            else if (metricNames.TryGetValue(full, out var other))
            {
                c.Error($"{mp}.name", $"metric '{full}' is already defined at {other}");
            }
            else
            {
                metricNames[full] = mp;
            }
            var parsed = AggregateSyntax().Match(m.Aggregate);
            if (!parsed.Success)
            {
                c.Error($"{mp}.aggregate", $"'{m.Aggregate}' is not an aggregate (count, count(pred), sum(field), mean(field), ratio(pred), min(field), max(field))");
                continue;
            }
            var fn = parsed.Groups[1].Value.ToLowerInvariant();
            var hasArg = parsed.Groups[2].Success;
            var arg = parsed.Groups[2].Value.Trim();
            var ap = $"{mp}.aggregate";
            var slot = mergeOps.Count;
            switch (fn)
            {
                case "count" when !hasArg:
                    metrics.Add(() => new CompiledMetric(full, AggregateKind.Count, m.Aggregate, 0, null, -1));
                    break;
                case "count" or "ratio":
                {
                    var expr = c.ParseExpression(arg, ap);
                    if (expr is null) break;
                    mergeOps.Add(MergeOp.Sum);
                    var kind = fn == "count" ? AggregateKind.CountIf : AggregateKind.RatioIf;
                    metrics.Add(() => new CompiledMetric(full, kind, m.Aggregate, slot, ExpressionCompiler.Compile(expr, c.Fields), -1));
                    break;
                }
                case "sum" or "mean" or "min" or "max":
                {
                    if (!hasArg || !IsFieldName(arg)) { c.Error(ap, $"{fn}(…) takes one field name, got '{m.Aggregate}'"); break; }
                    c.Reference(arg, ap);
                    var (kind, ops) = fn switch
                    {
                        "sum" => (AggregateKind.Sum, new[] { MergeOp.Sum }),
                        "mean" => (AggregateKind.Mean, new[] { MergeOp.Sum, MergeOp.Sum }),
                        "min" => (AggregateKind.Min, new[] { MergeOp.Min }),
                        _ => (AggregateKind.Max, new[] { MergeOp.Max }),
                    };
                    mergeOps.AddRange(ops);
                    metrics.Add(() => new CompiledMetric(full, kind, m.Aggregate, slot, null, c.Fields.GetOrAdd(arg)));
                    break;
                }
                default:
                    c.Error(ap, $"unknown aggregate '{fn}' (count, count(pred), sum(field), mean(field), ratio(pred), min(field), max(field))");
                    break;
            }
        }

        var sortedLabels = f.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).ToList();
        return index => new MetricFamily
        {
            Index = index,
            Prefix = f.Prefix,
            LabelNames = [.. sortedLabels.Select(l => l.Key)],
            LabelSlots = [.. sortedLabels.Select(l => c.Fields.GetOrAdd(l.Value))],
            ResolutionMs = f.ResolutionSeconds * 1000L,
            MaxSeries = f.MaxSeries,
            Where = where is null ? null : ExpressionCompiler.Compile(where, c.Fields),
            Metrics = [.. metrics.Select(m => m())],
            MergeOps = [.. mergeOps],
        };
    }

    private static bool IsFieldName(string s) => s.Length > 0 && !s.Any(ch => char.IsWhiteSpace(ch) || ch is '(' or ')' or '\'' or '"');

    private static void ValidateRemoteWrite(RemoteWriteDefinition w, Context c)
    {
        const string p = "$.remoteWrite";
        if (w.Endpoint is not null && !Uri.TryCreate(w.Endpoint, UriKind.Absolute, out _)) c.Error($"{p}.endpoint", $"'{w.Endpoint}' is not an absolute URL");
        if (w.Auth is not ("none" or "basic" or "bearer" or "entra")) c.Error($"{p}.auth", $"must be none, basic, bearer or entra, got \"{w.Auth}\"");
        if (w.Auth == "basic" && (w.UsernameEnv is null || w.PasswordEnv is null)) c.Error($"{p}.auth", "basic auth needs usernameEnv and passwordEnv (names of environment variables)");
        if (w.Auth == "bearer" && w.BearerTokenEnv is null && w.BearerTokenFile is null) c.Error($"{p}.auth", "bearer auth needs bearerTokenEnv or bearerTokenFile");
        if (w.MaxSamplesPerRequest <= 0) c.Error($"{p}.maxSamplesPerRequest", "must be > 0");
        if (w.MaxBytesPerRequest < 1024) c.Error($"{p}.maxBytesPerRequest", "must be >= 1024");
        if (w.Concurrency <= 0) c.Error($"{p}.concurrency", "must be > 0");
        if (w.TimeoutSeconds <= 0) c.Error($"{p}.timeoutSeconds", "must be > 0");
        if (w.InitialBackoffMs <= 0) c.Error($"{p}.initialBackoffMs", "must be > 0");
        if (w.MaxBackoffMs < w.InitialBackoffMs) c.Error($"{p}.maxBackoffMs", "must be >= initialBackoffMs");
        if (w.MaxElapsedSeconds <= 0) c.Error($"{p}.maxElapsedSeconds", "must be > 0");
        if (w.MaxPendingSamples <= 0) c.Error($"{p}.maxPendingSamples", "must be > 0");
    }

    /// <summary>Compilation state: the field table, errors, and which fields exist at each point of the flow.</summary>
    private sealed class Context
    {
        public FieldTable Fields { get; } = new();
        public List<DefinitionError> Errors { get; } = [];

        // After a project step only the projected fields, plus what later steps and lookups produce, exist.
        private HashSet<string>? _available;
        private string? _projectPath;
        private readonly List<string> _prefixesAfterProject = [];
        private readonly List<(string Name, string Path)> _produced = [];
        private readonly List<(string Prefix, string Path)> _producedPrefixes = [];
        private int _order;
        private readonly Dictionary<string, int> _stepOrder = [];

        public void Error(string path, string message) => Errors.Add(new DefinitionError(path, message));

        public Expr? ParseExpression(string text, string path)
        {
            try
            {
                var expr = ExpressionParser.Parse(text);
                foreach (var f in expr.Fields) Reference(f, path);
                return expr;
            }
            catch (ExpressionException e)
            {
                Error(path, $"bad expression '{text}': {e.Message}");
                return null;
            }
        }

        /// <summary>Every place each field is read from (JSON paths).</summary>
        public Dictionary<string, List<string>> Readers { get; } = new(StringComparer.Ordinal);

        /// <summary>
        /// A read of <paramref name="field"/> at <paramref name="path"/>. <paramref name="conditional"/>: a read that
        /// counts only if what it serves is read in turn (a parse step's source, a lookup output's fallback, a
        /// projected field), see <see cref="Liveness"/>.
        /// </summary>
        public void Reference(string field, string path, bool conditional = false)
        {
            if (string.IsNullOrEmpty(field))
            {
                Error(path, "must name a field");
                return;
            }
            Fields.GetOrAdd(field);
            if (!Readers.TryGetValue(field, out var readers)) Readers[field] = readers = [];
            readers.Add(path);
            if (conditional) _conditional.Add(path);
            if (_available is null || _available.Contains(field) || _prefixesAfterProject.Any(pre => field.StartsWith(pre, StringComparison.Ordinal)))
            {
                return;
            }
            Error(path, $"field '{field}' does not exist here: the project step at {_projectPath} drops it and no later step or lookup produces it");
        }

        private readonly HashSet<string> _conditional = new(StringComparer.Ordinal);
        private HashSet<string>? _live;
        private readonly HashSet<string> _liveSteps = new(StringComparer.Ordinal);

        /// <summary>The parse-json and parse-kv steps: what they read and set.</summary>
        public List<StepFlow> Flows { get; } = [];

        /// <summary>The lookups' outputs and their fallbacks.</summary>
        public List<LookupFlow> LookupOutputs { get; } = [];

        /// <summary>Whether the read at <paramref name="path"/> is a parse-json or parse-kv step's source.</summary>
        public bool IsStepSource(string path) => Flows.Any(f => path == f.Path + ".field");

        /// <summary>Whether something reads <paramref name="field"/> (after <see cref="Liveness"/>; every field with keepUnused).</summary>
        public bool IsLive(string field) => _live is null || _live.Contains(field);

        /// <summary>Whether the step at <paramref name="path"/> runs: a where, project or parse-regexp step always; a parse-json or parse-kv step when something reads a field it sets.</summary>
        public bool StepIsLive(string path) => !Flows.Any(f => f.Path == path) || _liveSteps.Contains(path);

        /// <summary>
        /// Which fields are read, working back from what the samples and the counts depend on: metric labels, values,
        /// predicates and family filters, where steps, lookup keys, the declared fields and the event time. A field a
        /// lookup sets is read when one of those (or a step that runs) reads it, and then so is its fallback; a
        /// parse-json or parse-kv step runs when a field it sets is read, and then so is its source. A project step
        /// reads nothing (it only keeps). The other steps do not run: they set only fields nothing reads, and can
        /// neither fail nor filter a record, so no sample or count changes (a parse-regexp step can time out, so it
        /// always runs). Returns the steps not run and the outputs whose fallback is not read, by JSON path.
        /// </summary>
        public IReadOnlyList<DefinitionError> Liveness(PipelineDefinition d, IReadOnlyList<TypedField> typed, bool keepUnused)
        {
            var live = Readers.Where(r => r.Value.Any(path => !_conditional.Contains(path))).Select(r => r.Key).ToHashSet(StringComparer.Ordinal);
            foreach (var t in typed) live.Add(t.Name);
            if (!string.IsNullOrEmpty(d.Source.TimeField)) live.Add(d.Source.TimeField);
            for (var changed = true; changed;)
            {
                changed = false;
                foreach (var o in LookupOutputs)
                {
                    if (o.Fallback is not null && live.Contains(o.As) && live.Add(o.Fallback)) changed = true;
                }
                foreach (var f in Flows)
                {
                    if (_liveSteps.Contains(f.Path) || !live.Any(f.Sets)) continue;
                    _liveSteps.Add(f.Path);
                    live.Add(f.Source);
                    changed = true;
                }
            }
            var notes = new List<DefinitionError>();
            foreach (var f in Flows.Where(f => !_liveSteps.Contains(f.Path)))
            {
                var named = Fields.Names.Where(f.Sets).ToList();
                // Concatenated, not interpolated: nested interpolated strings hold two of the shared array pool's buffers at
                // once, and giving back the second makes the runtime calibrate its processor ids, about 0.3 ms of a short
                // replay in the Native AOT program (WindowCloser.Pooled says why). The flagship's Ext5 step is such a note.
                notes.Add(new DefinitionError(f.Path, "not run: nothing reads a field it sets"
                    + (named.Count == 0 ? "" : string.Concat(" (", string.Join(", ", named), ": ", string.Join("; ", named.Select(Uses)), ")"))));
            }
            foreach (var o in LookupOutputs.Where(o => !live.Contains(o.As)))
            {
                notes.Add(new DefinitionError(o.Path, $"'{o.As}' of lookup '{o.Lookup}' is not read by any metric, filter, lookup key or step"
                    + (o.Fallback is null ? "" : $": its fallback '{o.Fallback}' is not read")));
            }
            if (!keepUnused) _live = live;
            return notes;
        }

        /// <summary>Where a field nothing reads is named: "kept by" a project step, "fallback of" a lookup output, "source of" a step, or "not named elsewhere".</summary>
        private string Uses(string field)
        {
            var paths = Readers.GetValueOrDefault(field) ?? [];
            if (paths.Count == 0) return "not named elsewhere";
            return string.Join(", ", paths.Select(path =>
                LookupOutputs.FirstOrDefault(o => path == o.Path + ".fallback") is { } o
                    ? string.Concat("fallback of lookup '", o.Lookup, "' output '", o.As, "'")
                    : IsStepSource(path)
                        ? "source of " + path[..^".field".Length]
                        : "kept by " + path));
        }

        public void Produce(string field, string? stepPath = null)
        {
            Fields.GetOrAdd(field);
            _available?.Add(field);
            _produced.Add((field, stepPath ?? "lookup"));
            _stepOrder.TryAdd(stepPath ?? "lookup", ++_order);
        }

        public void ProducePrefix(string prefix, string stepPath)
        {
            if (_available is not null) _prefixesAfterProject.Add(prefix);
            _producedPrefixes.Add((prefix, stepPath));
            _stepOrder.TryAdd(stepPath, ++_order);
        }

        public void Project(IEnumerable<string> fields, string path)
        {
            _available = fields.ToHashSet(StringComparer.Ordinal);
            _prefixesAfterProject.Clear();
            _projectPath = path;
            _stepOrder.TryAdd(path, ++_order);
        }

        /// <summary>True when <paramref name="field"/> is set by a step or lookup that runs after the step at <paramref name="stepPath"/>.</summary>
        public bool ProducedAfter(string field, string stepPath)
        {
            var at = _stepOrder.GetValueOrDefault(stepPath);
            return _produced.Any(x => x.Name == field && (x.Path == "lookup" || _stepOrder.GetValueOrDefault(x.Path) > at))
                || _producedPrefixes.Any(x => field.StartsWith(x.Prefix, StringComparison.Ordinal) && _stepOrder.GetValueOrDefault(x.Path) > at);
        }
    }
}

/// <summary>A parse-json or parse-kv step: the field it reads and the fields it sets (named, or all under a prefix).</summary>
internal sealed record StepFlow(string Path, string Source, IReadOnlyList<string> Names, string? Prefix)
{
    /// <summary>Whether the step sets <paramref name="field"/>.</summary>
    public bool Sets(string field) =>
        Names.Contains(field) || (Prefix is not null && field.Length > Prefix.Length && field.StartsWith(Prefix, StringComparison.Ordinal));
}

/// <summary>A lookup's output field and its fallback, at its JSON path.</summary>
internal sealed record LookupFlow(string Path, string Lookup, string As, string? Fallback);
