using System.Diagnostics.Metrics;

namespace LogMetrics.Core.Telemetry;

/// <summary>
/// The pipeline's self-metrics, named by stage (DESIGN §6). Thread-safe; the same numbers feed the
/// console's live view and final report and, through the <c>LogMetrics</c> meter, OpenTelemetry.
/// </summary>
public sealed class PipelineCounters
{
    public const string MeterName = "LogMetrics";
    private static readonly Meter Meter = new(MeterName, "1.0");
    private static readonly Counter<long> EventsMeter = Meter.CreateCounter<long>("logmetrics_parse_events_total", description: "Non-blank events read (Parse)");
    private static readonly Counter<long> MalformedMeter = Meter.CreateCounter<long>("logmetrics_parse_malformed_total", description: "Malformed events dead-lettered (Parse)");
    private static readonly Counter<long> FilteredMeter = Meter.CreateCounter<long>("logmetrics_prune_filtered_total", description: "Events dropped by where steps (Prune)");
    private static readonly Counter<long> LateMeter = Meter.CreateCounter<long>("logmetrics_accumulate_late_total", description: "Events whose window was already closed (Accumulate)");
    private static readonly Counter<long> SignalsMeter = Meter.CreateCounter<long>("logmetrics_accumulate_partials_signalled_total", description: "Partials sent to window shards (Accumulate)");
    private static readonly Counter<long> WindowsMeter = Meter.CreateCounter<long>("logmetrics_flush_windows_closed_total", description: "Metric windows closed (Flush)");
    private static readonly Counter<long> SamplesMeter = Meter.CreateCounter<long>("logmetrics_flush_samples_total", description: "Samples produced by closed windows (Flush)");

    private long _events, _accepted, _malformed, _filtered, _late, _partials, _windowsClosed, _samples, _samplesDropped, _shardLate, _duplicates, _overlaps;

    public long Events => Interlocked.Read(ref _events);
    public long Accepted => Interlocked.Read(ref _accepted);
    public long Malformed => Interlocked.Read(ref _malformed);
    public long Filtered => Interlocked.Read(ref _filtered);
    /// <summary>Events refused as late at ingest (their window's watermark had passed).</summary>
    public long Late => Interlocked.Read(ref _late);
    public long PartialsSignalled => Interlocked.Read(ref _partials);
    public long WindowsClosed => Interlocked.Read(ref _windowsClosed);
    public long Samples => Interlocked.Read(ref _samples);
    /// <summary>Closed samples dropped because the backlog bound was hit while the sink was down.</summary>
    public long SamplesDroppedBacklog => Interlocked.Read(ref _samplesDropped);
    /// <summary>Record contributions refused by shards because their window was already sealed.</summary>
    public long ShardLateContributions => Interlocked.Read(ref _shardLate);
    public long DuplicateSignals => Interlocked.Read(ref _duplicates);
    public long OverlappingSignals => Interlocked.Read(ref _overlaps);

    public void AddEvents(long n) { Interlocked.Add(ref _events, n); EventsMeter.Add(n); }
    public void AddAccepted(long n) => Interlocked.Add(ref _accepted, n);
    public void AddMalformed(long n) { Interlocked.Add(ref _malformed, n); MalformedMeter.Add(n); }
    public void AddFiltered(long n) { Interlocked.Add(ref _filtered, n); FilteredMeter.Add(n); }
    public void AddLate(long n) { Interlocked.Add(ref _late, n); LateMeter.Add(n); }
    public void AddPartials(long n) { Interlocked.Add(ref _partials, n); SignalsMeter.Add(n); }
    public void AddWindowsClosed(long n) { Interlocked.Add(ref _windowsClosed, n); WindowsMeter.Add(n); }
    public void AddSamples(long n) { Interlocked.Add(ref _samples, n); SamplesMeter.Add(n); }
    public void AddSamplesDroppedBacklog(long n) => Interlocked.Add(ref _samplesDropped, n);
    public void SetShardTotals(long late, long duplicates, long overlaps)
    {
        Interlocked.Exchange(ref _shardLate, late);
        Interlocked.Exchange(ref _duplicates, duplicates);
        Interlocked.Exchange(ref _overlaps, overlaps);
    }
}
