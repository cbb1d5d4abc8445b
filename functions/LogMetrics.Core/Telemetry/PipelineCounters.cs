namespace LogMetrics.Core.Telemetry;

/// <summary>
/// The pipeline's self-metrics as one host sees them (DESIGN §6). Each <c>Add…</c> records on the
/// instrument of <see cref="PipelineMeter"/> (the one definition: names, tags, export) and keeps a
/// running total here for the console's live view, final report and summary.json. Thread-safe.
/// </summary>
public sealed class PipelineCounters
{
    /// <summary>The meter every stage reports on (<see cref="PipelineMeter.Name"/>).</summary>
    public const string MeterName = PipelineMeter.Name;

    private long _events, _accepted, _malformed, _filtered, _late, _partials, _windowsClosed, _samples, _samplesDropped, _shardLate, _duplicates, _overlaps;
    private long _openWindows;

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
    /// <summary>Metric windows held in shard state at the last flush.</summary>
    public long OpenWindows => Interlocked.Read(ref _openWindows);

    public void AddEvents(long n, string? lane = null) => Add(ref _events, PipelineMeter.Events, n, PipelineMeter.Stage.Parse, lane);

    public void AddAccepted(long n, string? lane = null) => Add(ref _accepted, PipelineMeter.Accepted, n, PipelineMeter.Stage.Prune, lane);

    /// <summary>Malformed events; <paramref name="reason"/> is the parser's text or a tag (see <see cref="PipelineMeter.MalformedReason"/>).</summary>
    public void AddMalformed(long n, string? lane = null, string? reason = null)
    {
        if (n == 0) return;
        Interlocked.Add(ref _malformed, n);
        var tags = PipelineMeter.Tags(PipelineMeter.Stage.Parse, lane);
        tags.Add("reason", reason is null ? "other" : PipelineMeter.MalformedReason(reason));
        PipelineMeter.Malformed.Add(n, tags);
    }

    public void AddFiltered(long n, string? lane = null) => Add(ref _filtered, PipelineMeter.Filtered, n, PipelineMeter.Stage.Prune, lane);

    public void AddLate(long n, string? lane = null) => Add(ref _late, PipelineMeter.Late, n, PipelineMeter.Stage.Accumulate, lane);

    public void AddPartials(long n, string? lane = null) => Add(ref _partials, PipelineMeter.Partials, n, PipelineMeter.Stage.Accumulate, lane);

    /// <summary>Signals sent to window shards (entity operations).</summary>
    public void AddShardSignals(long n, string? lane = null) => PipelineMeter.ShardSignals.Add(n, PipelineMeter.Tags(PipelineMeter.Stage.Accumulate, lane));

    /// <summary>Contributions refused by shards because their window was sealed.</summary>
    public void AddShardLate(long n) => Add(ref _shardLate, PipelineMeter.ShardLate, n, PipelineMeter.Stage.Accumulate, null);

    /// <summary>Signals a shard had already applied (redelivery).</summary>
    public void AddDuplicateSignals(long n) => Add(ref _duplicates, PipelineMeter.DuplicateSignals, n, PipelineMeter.Stage.Accumulate, null);

    /// <summary>Signals overlapping a range a shard had applied in part.</summary>
    public void AddOverlappingSignals(long n) => Add(ref _overlaps, PipelineMeter.OverlappingSignals, n, PipelineMeter.Stage.Accumulate, null);

    public void AddWindowsClosed(long n) => Add(ref _windowsClosed, PipelineMeter.WindowsClosed, n, PipelineMeter.Stage.Flush, null);

    public void AddSamples(long n) => Add(ref _samples, PipelineMeter.Samples, n, PipelineMeter.Stage.Flush, null);

    public void AddSamplesDroppedBacklog(long n)
    {
        if (n == 0) return;
        Interlocked.Add(ref _samplesDropped, n);
        var tags = PipelineMeter.Tags(PipelineMeter.Stage.Flush);
        tags.Add("reason", "backlog");
        PipelineMeter.FlushDropped.Add(n, tags);
    }

    /// <summary>Evict/seal operations sent to window shards (entity operations).</summary>
    public void AddShardAdvances(long n) => PipelineMeter.ShardAdvances.Add(n, PipelineMeter.Tags(PipelineMeter.Stage.Flush));

    /// <summary>Windows held in shard state now; the instrument moves by the difference.</summary>
    public void SetOpenWindows(long n)
    {
        var before = Interlocked.Exchange(ref _openWindows, n);
        PipelineMeter.OpenWindows.Add(n - before, PipelineMeter.Tags(PipelineMeter.Stage.Flush));
    }

    /// <summary>
    /// Totals read from shard state (which counts them where it applies signals). The instruments
    /// count what the totals grew by; a total that went down (a shard's state was replaced) only
    /// resets the baseline.
    /// </summary>
    public void SetShardTotals(long late, long duplicates, long overlaps)
    {
        Grow(ref _shardLate, PipelineMeter.ShardLate, late);
        Grow(ref _duplicates, PipelineMeter.DuplicateSignals, duplicates);
        Grow(ref _overlaps, PipelineMeter.OverlappingSignals, overlaps);

        static void Grow(ref long field, System.Diagnostics.Metrics.Counter<long> instrument, long total)
        {
            var before = Interlocked.Exchange(ref field, total);
            instrument.Add(Math.Max(0, total - before), PipelineMeter.Tags(PipelineMeter.Stage.Accumulate));
        }
    }

    /// <summary>Zero is recorded too: the series then exists (at 0) from the first batch, so rates and ratios are 0, not absent.</summary>
    private static void Add(ref long field, System.Diagnostics.Metrics.Counter<long> instrument, long n, string stage, string? lane)
    {
        if (n != 0) Interlocked.Add(ref field, n);
        instrument.Add(n, PipelineMeter.Tags(stage, lane));
    }
}
