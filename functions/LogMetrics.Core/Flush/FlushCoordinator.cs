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
/// Read shards → close → roll up → write → evict. Shared by the Functions timer and the console
/// host, so both produce the same samples from the same events.
/// <para>What was written lives in each shard (<see cref="WindowShardState.WrittenThroughMs"/>, per
/// family), never in the flusher's memory, so any instance can run the next tick. A durable shard
/// applies the eviction later; until then a tick reads the old progress and writes the same window
/// again. That re-send is harmless because a tick writes, per family and shard, only the oldest
/// unwritten metric window: every series' re-sent sample is its newest in the server, which
/// Prometheus accepts as an identical re-send (204). A store that applies at once
/// (<see cref="IShardStore.AppliesImmediately"/>) lets one flush call write window after window.</para>
/// <para>In the same message as the eviction each shard is sealed up to the new global watermark:
/// later cells for those windows are counted late, so a sealed window never changes between being
/// written and being evicted.</para>
/// </summary>
public sealed class FlushCoordinator
{
    private readonly CompiledPipeline _pipeline;
    private readonly IShardStore? _store;
    private readonly ISampleWriter _writer;
    private readonly PipelineCounters _counters;
    private readonly TimeProvider _clock;
    private readonly FlushOptions _options;
    private readonly ILogger _logger;
    private readonly long _startedMs;

    /// <param name="store">The store of every flush, or null when each call passes its own (<see cref="FlushAsync(IShardStore, bool, CancellationToken)"/>).</param>
    public FlushCoordinator(CompiledPipeline pipeline, IShardStore? store, ISampleWriter writer, PipelineCounters counters,
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
    }

    /// <summary>The highest watermark any shard has been sealed to (read at the last flush).</summary>
    public long SealedThroughMs { get; private set; } = long.MinValue;

    /// <summary>Flushes the constructor's store once. With <paramref name="endOfInput"/> every window closes (end of a replay).</summary>
    public Task<FlushReport> FlushAsync(bool endOfInput, CancellationToken cancellationToken) =>
        FlushAsync(_store ?? throw new InvalidOperationException("this coordinator has no store of its own; pass one per call"), endOfInput, cancellationToken);

    /// <summary>Flushes <paramref name="store"/> once.</summary>
    public async Task<FlushReport> FlushAsync(IShardStore store, bool endOfInput, CancellationToken cancellationToken)
    {
        var states = await store.ReadAllAsync(cancellationToken).ConfigureAwait(false);
        var watermark = endOfInput ? long.MaxValue : GlobalWatermark(states, _clock.GetUtcNow().ToUnixTimeMilliseconds());
        var report = await WriteOldestAsync(store, states, watermark, cancellationToken).ConfigureAwait(false);
        while (store.AppliesImmediately && report.Outcome != WriteOutcome.Failed)
        {
            // The seal and the progress just applied: close what they allow now rather than on the next tick.
            var before = states.Select(s => string.Join(",", s.WrittenThroughMs)).ToList();
            states = await store.ReadAllAsync(cancellationToken).ConfigureAwait(false);
            if (!states.Any(s => Closable(s).Any(c => c is not null))) break;
            if (report.Outcome is not null && states.Select(s => string.Join(",", s.WrittenThroughMs)).SequenceEqual(before)) break; // no progress recorded: next tick
            var next = await WriteOldestAsync(store, states, watermark, cancellationToken).ConfigureAwait(false);
            report = next with
            {
                WindowsClosed = report.WindowsClosed + next.WindowsClosed,
                SamplesWritten = report.SamplesWritten + next.SamplesWritten,
                SamplesDropped = report.SamplesDropped + next.SamplesDropped,
                Outcome = next.Outcome ?? report.Outcome,
            };
        }
        _counters.SetShardTotals(states.Sum(s => s.LateContributions), states.Sum(s => s.DuplicateSignals), states.Sum(s => s.SupersededSignals));
        _counters.SetOpenWindows(states.Sum(s => s.Windows.Count));
        return report;
    }

    /// <summary>Per family, the oldest sealed, unwritten metric window of a shard (null: none).</summary>
    private long?[] Closable(WindowShardState state) =>
        [.. _pipeline.Families.Select(f => state.OldestClosable(f.Index, _pipeline))];

    private async Task<FlushReport> WriteOldestAsync(IShardStore store, IReadOnlyList<WindowShardState> states, long watermark, CancellationToken cancellationToken)
    {
        var samples = new List<Sample>();
        var windows = 0;
        var targets = new long?[states.Count][];
        for (var shard = 0; shard < states.Count; shard++)
        {
            targets[shard] = Closable(states[shard]);
            for (var f = 0; f < targets[shard].Length; f++)
            {
                if (targets[shard][f] is not { } end) continue;
                windows++;
                samples.AddRange(ShardRollup.Close(states[shard], f, end, _pipeline));
            }
        }

        WriteOutcome? outcome = null;
        var evict = true;
        var written = 0;
        var dropped = 0;
        if (samples.Count > 0)
        {
            samples.Sort(SampleTimeOrder.Instance);
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
                var pending = states.Sum(PendingSamples);
                if (pending > _options.MaxPendingSamples)
                {
                    // The sink has been down long enough that the backlog bound is hit: drop these, the
                    // oldest closed windows, and say so loudly.
                    dropped = samples.Count;
                    _counters.AddSamplesDroppedBacklog(dropped);
                    Log.BacklogDropped(_logger, dropped, samples.Min(s => s.TimestampMs), (int)Math.Min(pending, int.MaxValue), _options.MaxPendingSamples);
                }
                else
                {
                    evict = false;
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
            var progress = evict && targets[shard].Any(t => t is not null)
                ? targets[shard].Select((t, f) => t ?? states[shard].WrittenThrough(f)).ToList()
                : null;
            if (progress is null && watermark <= sealedThrough) continue;
            _counters.AddShardAdvances(1);
            await store.AdvanceAsync(shard, new FlushAdvance
            {
                WrittenThroughMs = progress,
                SealThroughMs = Math.Max(sealedThrough, watermark),
                DroppedSamples = evict && outcome == WriteOutcome.Failed ? dropped : 0,
            }, cancellationToken).ConfigureAwait(false);
        }
        SealedThroughMs = Math.Max(SealedThroughMs, states.Count == 0 ? long.MinValue : states.Max(s => s.SealedThroughMs));
        return new FlushReport(watermark, evict ? windows : 0, written, dropped, outcome, evict ? 0 : samples.Count);
    }

    /// <summary>Samples the closable (sealed, unwritten) windows of a shard would give, for the backlog bound.</summary>
    private long PendingSamples(WindowShardState state)
    {
        long n = 0;
        foreach (var w in state.Windows)
        {
            if (w.Start + _pipeline.WindowMs > state.SealedThroughMs) break;
            foreach (var s in w.Series)
            {
                var f = state.SeriesFamily[s];
                var r = _pipeline.Families[f].ResolutionMs;
                var end = CompiledPipeline.FloorTo(w.Start, r) + r;
                if (end <= state.SealedThroughMs && end > state.WrittenThrough(f)) n += _pipeline.Families[f].Metrics.Count;
            }
        }
        return n;
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

/// <summary>Time order, then series identity: requests go out oldest window first.</summary>
public sealed class SampleTimeOrder : IComparer<Sample>
{
    public static readonly SampleTimeOrder Instance = new();

    public int Compare(Sample? x, Sample? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        var c = x.TimestampMs.CompareTo(y.TimestampMs);
        return c != 0 ? c : SampleOrder.Instance.Compare(x, y);
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
