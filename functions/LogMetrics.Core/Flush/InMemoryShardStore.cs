using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;

namespace LogMetrics.Core.Flush;

/// <summary>
/// Shards in memory, for the console host and tests: the same <see cref="WindowShardState"/>
/// transitions the durable entity runs, applied synchronously. Each shard has a lock of its own (and the
/// satellites, headers and closed-window documents, one more), so different shards are signalled and
/// advanced at the same time, as entities are; one shard's operations run one at a time, in call order.
/// </summary>
public sealed class InMemoryShardStore : IShardStore
{
    /// <summary>Partials below which <see cref="SignalAll"/> applies a batch's signals on the calling thread alone.</summary>
    private const int ParallelPartials = 256;

    private readonly CompiledPipeline _pipeline;
    private readonly WindowShardState[] _shards;
    private readonly Lock[] _shardGates;
    private readonly ShardSatellites _satellites;
    private readonly Lock _gate = new();

    public InMemoryShardStore(CompiledPipeline pipeline, int shardCount)
    {
        _pipeline = pipeline;
        // Loops, not Enumerable.Range(...).Select(...): a Native AOT program resolves that generic virtual Select at
        // run time on its first call (about 0.1 ms of a short replay).
        _shards = new WindowShardState[shardCount];
        _shardGates = new Lock[shardCount];
        for (var i = 0; i < shardCount; i++)
        {
            _shards[i] = new WindowShardState();
            _shardGates[i] = new Lock();
        }
        _satellites = new ShardSatellites(shardCount);
    }

    public int ShardCount => _shards.Length;

    /// <summary>
    /// Whether <see cref="SignalAll"/> and <see cref="AdvanceAllAsync"/> may use the thread pool (default); false runs
    /// them on the calling thread (a replay run inline starts no thread).
    /// </summary>
    public bool Parallel { get; set; } = true;

    public bool AppliesImmediately => true;

    /// <summary>Partials currently held in open windows and ranges held apart.</summary>
    public int PartialCount
    {
        get
        {
            var count = 0;
            for (var i = 0; i < _shards.Length; i++)
            {
                lock (_shardGates[i]) count += _shards[i].CellCount;
            }
            return count;
        }
    }

    /// <summary>Metric windows (family × window start at its resolution) with data still held: open, or closed and not yet written.</summary>
    public int OpenWindowCount
    {
        get
        {
            var open = new HashSet<(int, long)>();
            var exported = 0;
            for (var i = 0; i < _shards.Length; i++)
            {
                lock (_shardGates[i])
                {
                    var s = _shards[i];
                    foreach (var w in s.Windows)
                    {
                        foreach (var id in w.Series)
                        {
                            var f = s.SeriesFamily[id];
                            open.Add((f, CompiledPipeline.FloorTo(w.Start, _pipeline.Families[f].ResolutionMs)));
                        }
                    }
                    exported += s.Exported.Sum(e => e.Families.Count);
                }
            }
            return open.Count + exported;
        }
    }

    /// <summary>The shards' states (tests and diagnostics; the flusher reads headers).</summary>
    public IReadOnlyList<WindowShardState> States => _shards;

    public Task<IReadOnlyList<ShardHeader>> ReadHeadersAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_satellites.Headers());
        }
    }

    public Task<ClosedWindow?> ReadClosedAsync(int shard, ClosedWindowRef window, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_satellites.Closed(shard, window) is { } doc ? new ClosedWindow { Parts = [.. doc.Parts] } : null);
        }
    }

    public Task SignalAsync(int shard, ShardSignal signal, CancellationToken cancellationToken)
    {
        Signal(shard, signal);
        return Task.CompletedTask;
    }

    private void Signal(int shard, ShardSignal signal)
    {
        lock (_shardGates[shard])
        {
            _shards[shard].Apply(signal, _pipeline);
        }
    }

    /// <summary>
    /// One batch's signals (index = shard id), each applied to its shard before this returns: the shards in
    /// parallel when the batch is big enough to gain from it. Each shard gets its one signal, so the outcome
    /// is that of signalling them one by one.
    /// </summary>
    public void SignalAll(IReadOnlyList<ShardSignal> signals)
    {
        var partials = 0;
        foreach (var signal in signals) partials += signal.Partials.Count;
        ParallelWork.For(signals.Count, Parallel && partials >= ParallelPartials, shard => Signal(shard, signals[shard]));
    }

    /// <summary>The shards advanced side by side (each under its own lock); the outcome is that of one after another.</summary>
    public Task AdvanceAllAsync(IReadOnlyList<FlushAdvance> advances, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ParallelWork.For(advances.Count, Parallel, shard => Advance(shard, advances[shard]));
        return Task.CompletedTask;
    }

    public Task AdvanceAsync(int shard, FlushAdvance advance, CancellationToken cancellationToken)
    {
        Advance(shard, advance);
        return Task.CompletedTask;
    }

    private void Advance(int shard, FlushAdvance advance)
    {
        lock (_shardGates[shard])
        {
            var outbox = _shards[shard].Advance(advance, _pipeline, shard);
            // Under the shard's lock: its messages reach the satellites in the order it sent them.
            lock (_gate)
            {
                foreach (var message in outbox) _satellites.Apply(shard, message);
            }
        }
    }
}
