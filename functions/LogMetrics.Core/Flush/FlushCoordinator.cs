using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogMetrics.Core.Flush;

/// <summary>Settings of the flush coordinator that are host choices, not pipeline semantics.</summary>
public sealed record FlushOptions
{
    /// <summary>Lanes expected to report (Event Hub partition count); until all have, or the idle timeout passed, nothing closes. 0 = no expectation.</summary>
    public int ExpectedLanes { get; init; }
    /// <summary>Closed samples kept in state while the sink fails; past this the oldest closed windows are dropped, loudly and counted.</summary>
    public long MaxPendingSamples { get; init; } = 1_000_000;
}

/// <summary>What one flush did.</summary>
public sealed record FlushReport(long WatermarkMs, int WindowsClosed, int SamplesWritten, int SamplesDropped, WriteOutcome? Outcome, int PendingSamples);

/// <summary>
/// Read shards → decide what is closable → write → evict. Shared by the Functions timer and the
/// console host, so both produce the same samples from the same events.
/// <para>Per flush, each shard's windows sealed at read time are written; only after the sink has
/// accepted them (or rejected them permanently, counted) is the shard told to evict them. In the same
/// message the shard is sealed up to the new global watermark: later partials for those windows are
/// counted late, so sealed windows never change between being written and being evicted. A crash
/// between write and evict re-sends identical samples, which remote write treats as harmless.</para>
/// </summary>
public sealed class FlushCoordinator
{
    private readonly CompiledPipeline _pipeline;
    private readonly IShardStore _store;
    private readonly ISampleWriter _writer;
    private readonly PipelineCounters _counters;
    private readonly TimeProvider _clock;
    private readonly FlushOptions _options;
    private readonly ILogger _logger;
    private readonly long _startedMs;
    // Per shard, the metric windows already written (and told to evict). A durable store applies the
    // eviction later; until it has, the shard still shows those windows, and they must not be written
    // again. Lost on restart, which at worst re-sends identical samples.
    private readonly Dictionary<int, long> _writtenThrough = [];
    private readonly Dictionary<string, long> _resolutionOf;

    public FlushCoordinator(CompiledPipeline pipeline, IShardStore store, ISampleWriter writer, PipelineCounters counters,
        TimeProvider clock, FlushOptions? options = null, ILogger? logger = null)
    {
        _pipeline = pipeline;
        _store = store;
        _writer = writer;
        _counters = counters;
        _clock = clock;
        _options = options ?? new FlushOptions();
        _logger = logger ?? NullLogger.Instance;
        _startedMs = clock.GetUtcNow().ToUnixTimeMilliseconds();
        _resolutionOf = pipeline.Families.SelectMany(f => f.Metrics.Select(m => (m.Name, f.ResolutionMs))).ToDictionary(x => x.Name, x => x.ResolutionMs, StringComparer.Ordinal);
    }

    /// <summary>The highest watermark any shard has been sealed to (read at the last flush).</summary>
    public long SealedThroughMs { get; private set; } = long.MinValue;

    /// <summary>Flushes once. With <paramref name="endOfInput"/> every window closes (end of a replay).</summary>
    public async Task<FlushReport> FlushAsync(bool endOfInput, CancellationToken cancellationToken)
    {
        var states = await _store.ReadAllAsync(cancellationToken).ConfigureAwait(false);
        var watermark = endOfInput ? long.MaxValue : GlobalWatermark(states, _clock.GetUtcNow().ToUnixTimeMilliseconds());
        var report = await WriteSealedAsync(states, watermark, cancellationToken).ConfigureAwait(false);
        if (_store.AppliesImmediately && states.Any(s => watermark > s.SealedThroughMs))
        {
            // The seal just applied: write what it closed now rather than on the next tick.
            states = await _store.ReadAllAsync(cancellationToken).ConfigureAwait(false);
            var second = await WriteSealedAsync(states, watermark, cancellationToken).ConfigureAwait(false);
            report = second with
            {
                WindowsClosed = report.WindowsClosed + second.WindowsClosed,
                SamplesWritten = report.SamplesWritten + second.SamplesWritten,
                SamplesDropped = report.SamplesDropped + second.SamplesDropped,
                Outcome = second.Outcome ?? report.Outcome,
            };
        }
        _counters.SetShardTotals(states.Sum(s => s.LateContributions), states.Sum(s => s.DuplicateSignals), states.Sum(s => s.OverlappingSignals));
        _counters.SetOpenWindows(states.SelectMany(s => s.Partials).Select(p => (p.Family, WindowShardState.MetricWindowEnd(p, _pipeline))).Distinct().Count());
        return report;
    }

    private async Task<FlushReport> WriteSealedAsync(IReadOnlyList<WindowShardState> states, long watermark, CancellationToken cancellationToken)
    {
        var samples = new List<Sample>();
        var windows = 0;
        var closable = new bool[states.Count];
        var staleEvict = new long?[states.Count];
        for (var shard = 0; shard < states.Count; shard++)
        {
            var sealedThrough = states[shard].SealedThroughMs;
            if (sealedThrough == long.MinValue || states[shard].Partials.Count == 0) continue;
            var alreadyWritten = _writtenThrough.GetValueOrDefault(shard, long.MinValue);
            if (alreadyWritten != long.MinValue && states[shard].Partials.Any(p => WindowShardState.MetricWindowEnd(p, _pipeline) <= alreadyWritten))
            {
                staleEvict[shard] = alreadyWritten; // the last eviction has not been applied (yet): ask again
            }
            var result = Rollup.Close(states[shard].Partials, sealedThrough, _pipeline, alreadyWritten);
            if (result.WindowsClosed == 0) continue;
            closable[shard] = true;
            windows += result.WindowsClosed;
            samples.AddRange(result.Samples);
        }

        WriteOutcome? outcome = null;
        var evict = true;
        long? backlogDropThrough = null;
        var written = 0;
        var dropped = 0;
        if (samples.Count > 0)
        {
            samples.Sort(SampleOrder.Instance);
            WriteResult result;
            try
            {
                result = await _writer.WriteAsync(samples, cancellationToken).ConfigureAwait(false);
            }
            catch (Write.RemoteWriteFatalException)
            {
                // The run stops here; the sink has counted these samples (written or dropped), so they are produced.
                _counters.AddWindowsClosed(windows);
                _counters.AddSamples(samples.Count);
                throw;
            }
            outcome = result.Outcome;
            if (result.Outcome == WriteOutcome.Failed)
            {
                evict = false;
                if (samples.Count > _options.MaxPendingSamples)
                {
                    // The sink has been down long enough that the backlog bound is hit: drop the
                    // oldest closed windows, just enough to get back under it, and say so loudly.
                    var (through, count) = OldestOverBound(samples);
                    dropped = count;
                    backlogDropThrough = through;
                    _counters.AddSamplesDroppedBacklog(dropped);
                    Log.BacklogDropped(_logger, dropped, through, samples.Count, _options.MaxPendingSamples);
                }
                else
                {
                    Log.WriteDeferred(_logger, samples.Count, windows);
                }
            }
            else
            {
                written = (int)result.SamplesWritten;
                dropped = (int)result.SamplesDropped;
                _counters.AddWindowsClosed(windows);
                _counters.AddSamples(samples.Count);
            }
        }

        for (var shard = 0; shard < states.Count; shard++)
        {
            var sealedThrough = states[shard].SealedThroughMs;
            var done = !closable[shard] ? (long?)null : evict ? sealedThrough : backlogDropThrough is { } drop ? Math.Min(drop, sealedThrough) : null;
            var evictThrough = done ?? staleEvict[shard];
            if (done is { } through) _writtenThrough[shard] = Math.Max(_writtenThrough.GetValueOrDefault(shard, long.MinValue), through);
            if (evictThrough is null && watermark <= sealedThrough) continue;
            _counters.AddShardAdvances(1);
            await _store.AdvanceAsync(shard, new FlushAdvance
            {
                EvictThroughMs = evictThrough,
                SealThroughMs = Math.Max(sealedThrough, watermark),
            }, cancellationToken).ConfigureAwait(false);
        }
        SealedThroughMs = Math.Max(SealedThroughMs, states.Count == 0 ? long.MinValue : states.Max(s => s.SealedThroughMs));
        return new FlushReport(watermark, evict ? windows : 0, written, dropped, outcome, evict ? 0 : samples.Count - dropped);
    }

    /// <summary>
    /// The smallest metric-window end <c>t</c> such that dropping every closed sample whose window
    /// ends at or before <c>t</c> leaves at most <see cref="FlushOptions.MaxPendingSamples"/>; and how many that drops.
    /// </summary>
    private (long Through, int Count) OldestOverBound(List<Sample> samples)
    {
        var excess = samples.Count - _options.MaxPendingSamples;
        var byEnd = samples.GroupBy(s => s.TimestampMs + _resolutionOf[s.Name]).OrderBy(g => g.Key);
        var dropped = 0;
        foreach (var window in byEnd)
        {
            dropped += window.Count();
            if (dropped >= excess) return (window.Key, dropped);
        }
        return (long.MaxValue, samples.Count);
    }

    /// <summary>
    /// The global watermark as the shards know it (DESIGN §3): the minimum, over live lanes and over
    /// shards, of each shard's view of the lane's watermark. A shard's view only advances after it
    /// applied that lane's earlier partials (signals from a lane arrive in order), so no shard can
    /// close a window whose data is still on its way. Finished lanes and lanes idle longer than the
    /// timeout no longer hold it back; if every lane is finished or idle, what they all reported counts.
    /// </summary>
    public long GlobalWatermark(IReadOnlyList<WindowShardState> states, long nowMs)
    {
        var lanes = states.SelectMany(s => s.Lanes.Keys).Distinct(StringComparer.Ordinal).ToList();
        if (lanes.Count == 0) return long.MinValue;
        var idleMs = (long)_pipeline.IdleLaneTimeout.TotalMilliseconds;
        if (_options.ExpectedLanes > 0 && lanes.Count < _options.ExpectedLanes && nowMs - _startedMs < idleMs)
        {
            return long.MinValue;
        }

        var live = new List<string>();
        foreach (var lane in lanes)
        {
            var finished = states.All(s => s.Lanes.TryGetValue(lane, out var p) && p.Finished);
            var lastSeen = states.Max(s => s.Lanes.TryGetValue(lane, out var p) ? p.LastSeenMs : long.MinValue);
            if (!finished && nowMs - lastSeen <= idleMs) live.Add(lane);
        }
        if (live.Count > 0)
        {
            return live.Min(lane => states.Min(s => s.Lanes.TryGetValue(lane, out var p) ? p.WatermarkMs : long.MinValue));
        }
        return states.Min(s => s.Lanes.Count == 0 ? long.MinValue : s.Lanes.Values.Max(p => p.WatermarkMs));
    }
}

/// <summary>Deterministic sample order: series identity, then timestamp.</summary>
public sealed class SampleOrder : IComparer<Sample>
{
    public static readonly SampleOrder Instance = new();

    public int Compare(Sample? x, Sample? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        var c = string.CompareOrdinal(x.Name, y.Name);
        if (c != 0) return c;
        for (var i = 0; i < Math.Min(x.Labels.Count, y.Labels.Count); i++)
        {
            c = string.CompareOrdinal(x.Labels[i].Name, y.Labels[i].Name);
            if (c != 0) return c;
            c = string.CompareOrdinal(x.Labels[i].Value, y.Labels[i].Value);
            if (c != 0) return c;
        }
        c = x.Labels.Count.CompareTo(y.Labels.Count);
        return c != 0 ? c : x.TimestampMs.CompareTo(y.TimestampMs);
    }
}
