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
/// Read headers → close → roll up → write → evict. Shared by the Functions timer and the console
/// host, so both produce the same samples from the same events. A tick reads each shard's small
/// <see cref="ShardHeader"/> and then only the <see cref="ClosedWindow"/> documents it closes; the
/// advance it sends every shard seals, exports newly sealed windows into such documents, deletes the
/// written ones and publishes a fresh header.
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

    /// <summary>
    /// Whether closing many windows may use the thread pool (<see cref="WindowCloser"/>, default); false closes them on
    /// the calling thread (a replay run inline starts no thread).
    /// </summary>
    public bool Parallel { get; set; } = true;

    private long _samplesClosedBehind;

    /// <summary>
    /// Samples an <see cref="IClosingSampleWriter"/> has closed of the windows the flushes handed it (a flush's
    /// <see cref="FlushReport.SamplesWritten"/> does not count them: they are closed after it returns).
    /// </summary>
    public long SamplesClosedBehind => Interlocked.Read(ref _samplesClosedBehind);

    /// <summary>The highest watermark any shard has been sealed to (read at the last flush).</summary>
    public Watermark Sealed { get; private set; } = Watermark.None;

    /// <summary>Flushes the constructor's store once. With <paramref name="endOfInput"/> every window closes (end of a replay).</summary>
    public Task<FlushReport> FlushAsync(bool endOfInput, CancellationToken cancellationToken) =>
        FlushAsync(_store ?? throw new InvalidOperationException("this coordinator has no store of its own; pass one per call"), endOfInput, cancellationToken);

    /// <summary>Flushes <paramref name="store"/> once.</summary>
    public Task<FlushReport> FlushAsync(IShardStore store, bool endOfInput, CancellationToken cancellationToken) =>
        FlushAsync(store, endOfInput, null, cancellationToken);

    /// <summary>
    /// Flushes the constructor's store once, calling <paramref name="sealedKnown"/> with what <see cref="Sealed"/>
    /// will be when the flush returns as soon as that is known: before the windows are rolled up and written
    /// whenever a store applies at once (a host can then ingest on while the flush works; the console's replay flushes
    /// in its workers' turn and does not need it).
    /// </summary>
    public Task<FlushReport> FlushAsync(bool endOfInput, Action<Watermark>? sealedKnown, CancellationToken cancellationToken) =>
        FlushAsync(_store ?? throw new InvalidOperationException("this coordinator has no store of its own; pass one per call"), endOfInput, sealedKnown, cancellationToken);

    /// <summary>
    /// Flushes <paramref name="store"/> once; <paramref name="sealedKnown"/>, if given, is called once with the
    /// <see cref="Sealed"/> this flush leaves, as soon as it is known.
    /// <para><see cref="Sealed"/> is the highest seal in the headers a close works from. The first close works
    /// from the headers read first, sealed by the previous flush; the seal this flush sends every shard with its
    /// first advance is read back in the next headers, and those are closed from only if they list a window to
    /// close. Every later advance sends the same seal, so <see cref="Sealed"/> is known once those headers are
    /// read and found to list one — before their windows are rolled up and written — or when the flush ends.
    /// With the in-memory store it is known before the first advance when the first headers list no window to
    /// close (the usual case): the shards then hold no exported window, so the next headers list one exactly when
    /// that advance exports one (<see cref="InMemoryShardStore.WouldExport"/>).</para>
    /// </summary>
    public async Task<FlushReport> FlushAsync(IShardStore store, bool endOfInput, Action<Watermark>? sealedKnown, CancellationToken cancellationToken)
    {
        var headers = await store.ReadHeadersAsync(cancellationToken).ConfigureAwait(false);
        var watermark = endOfInput ? Watermark.Final : GlobalWatermark(headers, _clock.GetUtcNow().ToUnixTimeMilliseconds());
        if (sealedKnown is not null && store is InMemoryShardStore memory && !headers.Any(h => Targets(h).Any(c => c is not null)))
        {
            // The seals the first advance will send; read back, they are closed from if that advance exports a window.
            var seals = headers.Select(h => Watermark.Max(new Watermark(h.SealedThroughMs), watermark).Ms).ToArray();
            var sealedAfter = Raise(Sealed, headers);
            if (memory.WouldExport(seals)) sealedAfter = Watermark.Max(sealedAfter, new Watermark(seals.Max()));
            sealedKnown(sealedAfter);
            sealedKnown = null;
        }
        var report = await WriteOldestAsync(store, headers, watermark, cancellationToken).ConfigureAwait(false);
        while (store.AppliesImmediately && report.Outcome != WriteOutcome.Failed)
        {
            // The seal and the progress just applied: close what they allow now rather than on the next tick.
            var before = headers.Select(h => string.Join(",", h.WrittenThroughMs)).ToList();
            headers = await store.ReadHeadersAsync(cancellationToken).ConfigureAwait(false);
            if (!headers.Any(h => Targets(h).Any(c => c is not null))) break;
            if (report.Outcome is not null && headers.Select(h => string.Join(",", h.WrittenThroughMs)).SequenceEqual(before)) break; // no progress recorded: next tick
            if (sealedKnown is not null)
            {
                // These headers carry the seal every advance of this flush sends: Sealed is final from here.
                sealedKnown(Raise(Sealed, headers));
                sealedKnown = null;
            }
            var next = await WriteOldestAsync(store, headers, watermark, cancellationToken).ConfigureAwait(false);
            report = next with
            {
                WindowsClosed = report.WindowsClosed + next.WindowsClosed,
                SamplesWritten = report.SamplesWritten + next.SamplesWritten,
                SamplesDropped = report.SamplesDropped + next.SamplesDropped,
                Outcome = next.Outcome ?? report.Outcome,
            };
        }
        _counters.SetShardTotals(headers.Sum(h => h.LateContributions), headers.Sum(h => h.DuplicateSignals), headers.Sum(h => h.SupersededSignals));
        _counters.SetOpenWindows(headers.Sum(h => h.OpenWindows + h.Closed.Count));
        sealedKnown?.Invoke(Sealed);
        return report;
    }

    /// <summary><paramref name="sealedSoFar"/> raised to the highest seal of <paramref name="headers"/>.</summary>
    private static Watermark Raise(Watermark sealedSoFar, IReadOnlyList<ShardHeader> headers)
    {
        var raised = sealedSoFar;
        foreach (var h in headers) raised = Watermark.Max(raised, new Watermark(h.SealedThroughMs));
        return raised;
    }

    /// <summary>
    /// Per family, the oldest closed window of a shard not yet written (null: none). Only windows the
    /// header lists as wholly sealed are closed, so no more parts can arrive for them.
    /// </summary>
    private ClosedWindowRef?[] Targets(ShardHeader header)
    {
        var targets = new ClosedWindowRef?[_pipeline.Families.Count];
        foreach (var family in _pipeline.Families)
        {
            var written = header.WrittenThrough(family.Index);
            foreach (var c in header.Closed)
            {
                if (c.ResolutionMs != family.ResolutionMs || c.End <= written || c.End > header.SealedThroughMs || !c.Families.Contains(family.Index)) continue;
                if (targets[family.Index] is null || c.Start < targets[family.Index]!.Start) targets[family.Index] = c;
            }
        }
        return targets;
    }

    private async Task<FlushReport> WriteOldestAsync(IShardStore store, IReadOnlyList<ShardHeader> headers, Watermark watermark, CancellationToken cancellationToken)
    {
        var closing = new List<WindowCloser.Window>();
        var windows = 0;
        var targets = new ClosedWindowRef?[headers.Count][];
        for (var shard = 0; shard < headers.Count; shard++)
        {
            targets[shard] = Targets(headers[shard]);
            var docs = new Dictionary<string, ClosedWindow?>(StringComparer.Ordinal);
            for (var f = 0; f < targets[shard].Length; f++)
            {
                if (targets[shard][f] is not { } target) continue;
                var key = target.Key(shard);
                if (!docs.TryGetValue(key, out var doc))
                {
                    doc = await store.ReadClosedAsync(shard, target, cancellationToken).ConfigureAwait(false);
                    docs[key] = doc;
                }
                if (doc is null || doc.Parts.Count < target.Parts)
                {
                    // Exported, but not all of it has arrived yet: the next tick closes it.
                    targets[shard][f] = null;
                    continue;
                }
                windows++;
                closing.Add(new WindowCloser.Window(doc, f, target.Start));
            }
        }
        WriteOutcome? outcome = null;
        var evict = true;
        var written = 0;
        var dropped = 0; // dropped by the sink, or (outcome Failed) by the backlog bound
        var sinkDropped = 0; // given up on: the part the failed call had dropped for reasons of its own
        if (_writer is IClosingSampleWriter behind)
        {
            // The sink closes and writes them after this returns, in order, and takes every sample: they are evicted now.
            if (closing.Count > 0)
            {
                var closed = windows;
                await behind.CloseAndWriteAsync(closing, _pipeline, Parallel, count =>
                {
                    if (count == 0) return;
                    _counters.AddWindowsClosed(closed);
                    _counters.AddSamples(count);
                    Interlocked.Add(ref _samplesClosedBehind, count);
                }, cancellationToken).ConfigureAwait(false);
                outcome = WriteOutcome.Written;
            }
            return await AdvanceAsync(store, headers, targets, watermark, evict, outcome, dropped, cancellationToken).ConfigureAwait(false)
                with { WindowsClosed = windows };
        }

        // Rolled up and put in time order (SampleTimeOrder), the shards' documents in parallel when they are many.
        var samples = WindowCloser.Close(closing, _pipeline, Parallel);
        if (samples.Count > 0)
        {
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
                var pending = headers.Sum(h => h.PendingSamples);
                if (pending > _options.MaxPendingSamples)
                {
                    // The sink has been down long enough that the backlog bound is hit: drop these, the
                    // oldest closed windows, and say so loudly.
                    // They were closed (and are evicted): produced, then dropped, so a run's account of its
                    // samples (produced = written + dropped) shows them as lost rather than cancelling out.
                    // What the call had delivered (or dropped for a reason of its own) before it failed is
                    // counted by the sink as such now, and only the rest as backlog.
                    result.SettlePartial?.Invoke();
                    written = (int)result.SamplesWritten;
                    sinkDropped = (int)result.SamplesDropped;
                    dropped = samples.Count - written - sinkDropped;
                    _counters.AddWindowsClosed(windows);
                    _counters.AddSamples(samples.Count);
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

        return await AdvanceAsync(store, headers, targets, watermark, evict, outcome, dropped, cancellationToken).ConfigureAwait(false)
            with { WindowsClosed = evict ? windows : 0, SamplesWritten = written, SamplesDropped = dropped + sinkDropped, PendingSamples = evict ? 0 : samples.Count };
    }

    /// <summary>Every shard's advance after a close: the seal, and what was written (when evicted).</summary>
    private async Task<FlushReport> AdvanceAsync(IShardStore store, IReadOnlyList<ShardHeader> headers, ClosedWindowRef?[][] targets, Watermark watermark,
        bool evict, WriteOutcome? outcome, int dropped, CancellationToken cancellationToken)
    {
        var advances = new FlushAdvance[headers.Count];
        for (var shard = 0; shard < headers.Count; shard++)
        {
            // Every shard, every tick: the advance also makes it publish a fresh header (lane watermarks).
            var header = headers[shard];
            var progress = evict && targets[shard].Any(t => t is not null)
                ? targets[shard].Select((t, f) => t?.End ?? header.WrittenThrough(f)).ToList()
                : null;
            _counters.AddShardAdvances(1);
            advances[shard] = new FlushAdvance
            {
                WrittenThroughMs = progress,
                SealThroughMs = Watermark.Max(new Watermark(header.SealedThroughMs), watermark).Ms,
                DroppedSamples = evict && outcome == WriteOutcome.Failed ? dropped : 0,
            };
        }
        await store.AdvanceAllAsync(advances, cancellationToken).ConfigureAwait(false);
        Sealed = Raise(Sealed, headers);
        return new FlushReport(watermark.Ms, 0, 0, dropped, outcome, 0);
    }

    /// <summary>
    /// The global watermark as the shards know it (DESIGN §3): the minimum, over live lanes and over
    /// shards, of each shard's view of the lane's watermark (from its header, which lags the shard).
    /// A shard's view only advances after it applied that lane's earlier partials (signals from a lane
    /// arrive in order), so no shard can close a window whose data is still on its way. Finished lanes
    /// and lanes idle longer than the timeout no longer hold it back; if every lane is finished or
    /// idle, what they all reported counts.
    /// </summary>
    public Watermark GlobalWatermark(IReadOnlyList<ShardHeader> headers, long nowMs)
    {
        var lanes = headers.SelectMany(s => s.Lanes.Keys).Distinct(StringComparer.Ordinal).ToList();
        if (lanes.Count == 0) return Watermark.None;
        var idleMs = (long)_pipeline.IdleLaneTimeout.TotalMilliseconds;
        if (_options.ExpectedLanes > 0 && lanes.Count < _options.ExpectedLanes && nowMs - _startedMs < idleMs)
        {
            return Watermark.None;
        }

        // A lane as the shards know it: the slowest shard's view (a shard's view only advances after it applied the lane's earlier partials).
        Watermark LaneView(string lane) => headers.Select(s => s.Lanes.TryGetValue(lane, out var p) ? new Watermark(p.WatermarkMs) : Watermark.None).Min();
        var live = new List<string>();
        foreach (var lane in lanes)
        {
            var finished = headers.All(s => s.Lanes.TryGetValue(lane, out var p) && p.Finished);
            var lastSeen = headers.Max(s => s.Lanes.TryGetValue(lane, out var p) ? p.LastSeenMs : long.MinValue);
            if (!finished && nowMs - lastSeen <= idleMs) live.Add(lane);
        }
        if (live.Count > 0)
        {
            return Watermark.Global(live.Select(LaneView));
        }
        // Every lane finished or idle: what they all reported counts.
        return headers.Select(s => s.Lanes.Count == 0 ? Watermark.None : new Watermark(s.Lanes.Values.Max(p => p.WatermarkMs))).Min();
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
        // Label arrays (what the roll-up makes) as spans: no interface call per label.
        c = x.Labels is Label[] xs && y.Labels is Label[] ys ? Compare(xs, ys) : Compare(x.Labels, y.Labels);
        return c != 0 ? c : x.TimestampMs.CompareTo(y.TimestampMs);
    }

    private static int Compare(ReadOnlySpan<Label> x, ReadOnlySpan<Label> y)
    {
        var n = Math.Min(x.Length, y.Length);
        for (var i = 0; i < n; i++)
        {
            var c = string.CompareOrdinal(x[i].Name, y[i].Name);
            if (c != 0) return c;
            c = string.CompareOrdinal(x[i].Value, y[i].Value);
            if (c != 0) return c;
        }
        return x.Length.CompareTo(y.Length);
    }

    private static int Compare(IReadOnlyList<Label> x, IReadOnlyList<Label> y)
    {
        for (var i = 0; i < Math.Min(x.Count, y.Count); i++)
        {
            var c = string.CompareOrdinal(x[i].Name, y[i].Name);
            if (c != 0) return c;
            c = string.CompareOrdinal(x[i].Value, y[i].Value);
            if (c != 0) return c;
        }
        return x.Count.CompareTo(y.Count);
    }
}
