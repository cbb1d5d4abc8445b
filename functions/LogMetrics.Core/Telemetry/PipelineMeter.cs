using System.Diagnostics;
using System.Diagnostics.Metrics;
using LogMetrics.Core.Enrich;

namespace LogMetrics.Core.Telemetry;

/// <summary>
/// The one definition of the pipeline's self-metrics (DESIGN §6): every instrument lives on the single
/// <c>LogMetrics</c> <see cref="Meter"/> below. The console's report, the Functions app's Application
/// Insights export, the <c>--self-metrics</c> remote write (<see cref="SelfMetricsCollector"/>) and the
/// Grafana dashboards all read these instruments, by these names.
/// <para>Naming (Prometheus conventions, so the names are the series names as written):
/// <c>logmetrics_&lt;stage&gt;_&lt;what&gt;</c>, a counter ends in <c>_total</c>, a histogram carries its
/// unit (<c>_seconds</c>). Every measurement has a <c>stage</c> tag (the stage word in lower case:
/// parse, prune, enrich, accumulate, flush, write); <c>lane</c> where a lane is known (ingest side);
/// <c>reason</c> on drops and malformed events; <c>lookup</c>/<c>result</c> on lookups;
/// <c>outcome</c> on write requests. Tag values are low-cardinality by construction.</para>
/// </summary>
public static class PipelineMeter
{
    public const string Name = "LogMetrics";

    /// <summary>The meter. Never disposed: it lives as long as the process, like the pipeline.</summary>
    public static readonly Meter Meter = new(Name, "1.0");

    public static class Stage
    {
        public const string Parse = "parse";
        public const string Prune = "prune";
        public const string Enrich = "enrich";
        public const string Accumulate = "accumulate";
        public const string Flush = "flush";
        public const string Write = "write";
    }

    // Parse
    public static readonly Counter<long> Events = Meter.CreateCounter<long>("logmetrics_parse_events_total", "{event}", "Non-blank events read, by lane (Parse).");
    public static readonly Counter<long> Malformed = Meter.CreateCounter<long>("logmetrics_parse_malformed_total", "{event}", "Malformed events dead-lettered, by lane and reason (Parse).");

    // Prune
    public static readonly Counter<long> Filtered = Meter.CreateCounter<long>("logmetrics_prune_filtered_total", "{event}", "Events dropped by where steps, by lane (Prune).");
    public static readonly Counter<long> Accepted = Meter.CreateCounter<long>("logmetrics_prune_accepted_total", "{event}", "Events kept after Parse and Prune, by lane (Prune).");

    // Enrich: observed from the lookup caches' own counts (LookupStats), at collection time.
    public static readonly ObservableCounter<long> Lookups = Meter.CreateObservableCounter("logmetrics_enrich_lookups_total", ObserveLookups, "{lookup}",
        "Lookups by table and result: hit, miss (no row: fallback or default), error (source unavailable) (Enrich).");

    // Accumulate
    public static readonly Counter<long> Late = Meter.CreateCounter<long>("logmetrics_accumulate_late_total", "{event}", "Events whose window was already closed, left out of every sample, by lane (Accumulate).");
    public static readonly Counter<long> Partials = Meter.CreateCounter<long>("logmetrics_accumulate_partials_total", "{partial}", "Series partials signalled to window shards, by lane (Accumulate).");
    public static readonly Counter<long> ShardSignals = Meter.CreateCounter<long>("logmetrics_accumulate_shard_signals_total", "{operation}", "Signals sent to window shards (one entity operation each), by lane (Accumulate).");
    public static readonly Counter<long> ShardLate = Meter.CreateCounter<long>("logmetrics_accumulate_shard_late_total", "{contribution}", "Record contributions refused by shards because their window was sealed (Accumulate).");
    public static readonly Counter<long> DuplicateSignals = Meter.CreateCounter<long>("logmetrics_accumulate_duplicate_signals_total", "{signal}", "Signals a shard had already applied (redelivery), ignored (Accumulate).");
    public static readonly Counter<long> OverlappingSignals = Meter.CreateCounter<long>("logmetrics_accumulate_overlapping_signals_total", "{signal}", "Signals overlapping a range a shard had applied in part (Accumulate).");

    // Ingest batches (the Functions app's Event Hubs trigger) that fail after their last retry, and their dead letters.
    public static readonly Counter<long> IngestBatchesFailed = Meter.CreateCounter<long>("logmetrics_accumulate_batches_failed_total", "{batch}", "Ingest batches that failed after their last retry, stored whole as dead letters, by lane (Accumulate).");
    public static readonly Counter<long> IngestEventsFailed = Meter.CreateCounter<long>("logmetrics_accumulate_batch_events_failed_total", "{event}", "Events in ingest batches that failed after their last retry, by lane (Accumulate).");
    public static readonly Counter<long> DeadLettersStored = Meter.CreateCounter<long>("logmetrics_parse_deadletters_stored_total", "{file}", "Dead-letter files written to the container, by kind: batch, malformed (Parse).");
    public static readonly Counter<long> DeadLetterStoreErrors = Meter.CreateCounter<long>("logmetrics_parse_deadletter_store_errors_total", "{file}", "Failed batches that could not be stored as dead letters (lost, logged critical), by kind (Parse).");

    // Flush
    public static readonly Counter<long> WindowsClosed = Meter.CreateCounter<long>("logmetrics_flush_windows_closed_total", "{window}", "Metric windows closed and written (Flush).");
    public static readonly Counter<long> Samples = Meter.CreateCounter<long>("logmetrics_flush_samples_total", "{sample}", "Samples produced by closed windows (Flush).");
    public static readonly UpDownCounter<long> OpenWindows = Meter.CreateUpDownCounter<long>("logmetrics_flush_open_windows", "{window}", "Metric windows held in shard state at the last flush (Flush).");
    public static readonly Counter<long> FlushDropped = Meter.CreateCounter<long>("logmetrics_flush_samples_dropped_total", "{sample}", "Closed samples dropped before writing, by reason (backlog: the pending bound was hit while the sink was down) (Flush).");
    public static readonly Counter<long> ShardAdvances = Meter.CreateCounter<long>("logmetrics_flush_shard_advances_total", "{operation}", "Evict/seal operations sent to window shards (one entity operation each) (Flush).");

    // Write
    public static readonly Counter<long> Written = Meter.CreateCounter<long>("logmetrics_write_samples_written_total", "{sample}", "Samples accepted by the remote-write endpoint (2xx) (Write).");
    public static readonly Counter<long> Retried = Meter.CreateCounter<long>("logmetrics_write_samples_retried_total", "{sample}", "Samples sent again after a retryable failure (Write).");
    public static readonly Counter<long> WriteDropped = Meter.CreateCounter<long>("logmetrics_write_samples_dropped_total", "{sample}", "Samples rejected for good, by reason (e.g. http_400) (Write).");
    public static readonly Counter<long> BatchesFailed = Meter.CreateCounter<long>("logmetrics_write_batches_failed_total", "{request}", "Requests that still failed after their last retry; their windows stay pending (Write).");
    public static readonly Counter<long> Requests = Meter.CreateCounter<long>("logmetrics_write_requests_total", "{request}", "Remote-write HTTP attempts, by outcome (Write).");
    public static readonly Counter<long> Bytes = Meter.CreateCounter<long>("logmetrics_write_bytes_total", "By", "Compressed request bytes sent (Write).");
    public static readonly Histogram<double> RequestDuration = Meter.CreateHistogram("logmetrics_write_request_duration_seconds", "s", "Remote-write request latency (Write).",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
    public static readonly Histogram<double> Freshness = Meter.CreateHistogram("logmetrics_write_freshness_seconds", "s", "End-to-end freshness: 2xx time minus the newest event time of the request (Write).",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300, 600, 1800, 3600] });

    /// <summary>Every instrument above, for tests and documentation.</summary>
    public static IReadOnlyList<Instrument> All { get; } =
    [
        Events, Malformed, Filtered, Accepted, Lookups, Late, Partials, ShardSignals, ShardLate, DuplicateSignals, OverlappingSignals,
        IngestBatchesFailed, IngestEventsFailed, DeadLettersStored, DeadLetterStoreErrors,
        WindowsClosed, Samples, OpenWindows, FlushDropped, ShardAdvances,
        Written, Retried, WriteDropped, BatchesFailed, Requests, Bytes, RequestDuration, Freshness,
    ];

    private static readonly Lock RegistryGate = new();
    private static readonly List<WeakReference<Enricher>> Enrichers = [];

    /// <summary>An enricher's lookup caches report through <see cref="Lookups"/> while it is alive.</summary>
    internal static void Register(Enricher enricher)
    {
        lock (RegistryGate)
        {
            Enrichers.RemoveAll(w => !w.TryGetTarget(out _));
            Enrichers.Add(new WeakReference<Enricher>(enricher));
        }
    }

    private static IEnumerable<Measurement<long>> ObserveLookups()
    {
        var totals = new Dictionary<(string Lookup, string Result), long>();
        lock (RegistryGate)
        {
            foreach (var weak in Enrichers)
            {
                if (!weak.TryGetTarget(out var enricher)) continue;
                foreach (var (name, stats) in enricher.Stats)
                {
                    Add(name, "hit", stats.Hits);
                    Add(name, "miss", stats.Misses);
                    Add(name, "error", stats.Errors);
                }
            }
        }
        return totals.Select(t => new Measurement<long>(t.Value, new(StageTag, Stage.Enrich), new("lookup", t.Key.Lookup), new("result", t.Key.Result)));

        void Add(string lookup, string result, long n) => totals[(lookup, result)] = totals.GetValueOrDefault((lookup, result)) + n;
    }

    public const string StageTag = "stage";

    /// <summary>Tags of a stage.</summary>
    public static TagList Tags(string stage) => new() { { StageTag, stage } };

    /// <summary>Tags of a stage and lane.</summary>
    public static TagList Tags(string stage, string? lane)
    {
        var tags = new TagList { { StageTag, stage } };
        if (!string.IsNullOrEmpty(lane)) tags.Add("lane", LaneLabel(lane));
        return tags;
    }

    /// <summary>A lane as a label value: an Event Hubs partition id as is, a replayed file by its name (not its path).</summary>
    public static string LaneLabel(string lane)
    {
        var slash = lane.LastIndexOfAny(['/', '\\']);
        return slash < 0 ? lane : lane[(slash + 1)..];
    }

    /// <summary>The reason tags of <see cref="Malformed"/>.</summary>
    public static readonly IReadOnlySet<string> MalformedReasons = new HashSet<string>(StringComparer.Ordinal)
    {
        "invalid_utf8", "invalid_json", "empty", "not_object", "missing_field", "null_field", "wrong_type", "below_minimum", "time_out_of_range",
        "time_in_future", "regex_timeout", "record_too_large", "other",
    };

    /// <summary>
    /// A malformed event's reason (free text naming the field and value) as a low-cardinality tag:
    /// invalid_utf8, invalid_json, empty, not_object, missing_field, null_field, wrong_type,
    /// below_minimum, time_out_of_range, time_in_future, regex_timeout, record_too_large or other.
    /// </summary>
    public static string MalformedReason(string reason)
    {
        if (MalformedReasons.Contains(reason)) return reason;
        if (reason.StartsWith("invalid UTF-8", StringComparison.Ordinal)) return "invalid_utf8";
        if (reason.StartsWith("invalid JSON", StringComparison.Ordinal)) return "invalid_json";
        if (reason.StartsWith("empty line", StringComparison.Ordinal)) return "empty";
        if (reason.StartsWith("not a JSON object", StringComparison.Ordinal)) return "not_object";
        if (reason.EndsWith(": missing", StringComparison.Ordinal)) return "missing_field";
        if (reason.EndsWith(": is null", StringComparison.Ordinal)) return "null_field";
        if (reason.Contains(": expected ", StringComparison.Ordinal)) return "wrong_type";
        if (reason.Contains(" is below the minimum ", StringComparison.Ordinal)) return "below_minimum";
        if (reason.EndsWith(" is out of range", StringComparison.Ordinal)) return "time_out_of_range";
        if (reason == "time in the future") return "time_in_future";
        if (reason == "regex timeout") return "regex_timeout";
        if (reason.StartsWith("record too large", StringComparison.Ordinal)) return "record_too_large";
        return "other";
    }
}
