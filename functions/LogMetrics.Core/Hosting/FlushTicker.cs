using System.Diagnostics.CodeAnalysis;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Telemetry;
using Microsoft.Extensions.Logging;

namespace LogMetrics.Core.Hosting;

/// <summary>
/// Runs the <see cref="FlushCoordinator"/> for a host whose shard store is only available per call
/// (the Functions timer gets its durable client as a binding). The coordinator itself lives as long
/// as the host: it remembers when it started, which bounds how long missing lanes may hold the
/// watermark back (<see cref="FlushOptions.ExpectedLanes"/>). Ticks never overlap.
/// </summary>
[SuppressMessage("Reliability", "CA1001", Justification = "The SemaphoreSlim never allocates a wait handle (AvailableWaitHandle is not used).")]
public sealed class FlushTicker
{
    private readonly CurrentShardStore _current;
    private readonly SemaphoreSlim _gate = new(1, 1);

    public FlushTicker(CompiledPipeline pipeline, int shardCount, ISampleWriter writer, PipelineCounters counters,
        TimeProvider clock, FlushOptions options, ILogger? logger = null)
    {
        _current = new CurrentShardStore(shardCount);
        Coordinator = new FlushCoordinator(pipeline, _current, writer, counters, clock, options, logger);
    }

    public FlushCoordinator Coordinator { get; }

    /// <summary>One flush against <paramref name="store"/> (read shards → write closed windows → evict and seal).</summary>
    public async Task<FlushReport> TickAsync(IShardStore store, bool endOfInput, CancellationToken cancellationToken)
    {
        if (store.ShardCount != _current.ShardCount)
        {
            throw new ArgumentException($"the shard store has {store.ShardCount} shards; the flusher was configured for {_current.ShardCount}.", nameof(store));
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _current.Inner = store;
            return await Coordinator.FlushAsync(endOfInput, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _current.Inner = null;
            _gate.Release();
        }
    }

    /// <summary>Forwards to the store of the tick in progress.</summary>
    private sealed class CurrentShardStore(int shardCount) : IShardStore
    {
        public IShardStore? Inner { get; set; }

        public int ShardCount => shardCount;

        public bool AppliesImmediately => Store.AppliesImmediately;

        private IShardStore Store => Inner ?? throw new InvalidOperationException("no flush tick is in progress");

        public Task<IReadOnlyList<WindowShardState>> ReadAllAsync(CancellationToken cancellationToken) => Store.ReadAllAsync(cancellationToken);

        public Task SignalAsync(int shard, ShardSignal signal, CancellationToken cancellationToken) => Store.SignalAsync(shard, signal, cancellationToken);

        public Task AdvanceAsync(int shard, FlushAdvance advance, CancellationToken cancellationToken) => Store.AdvanceAsync(shard, advance, cancellationToken);
    }
}
