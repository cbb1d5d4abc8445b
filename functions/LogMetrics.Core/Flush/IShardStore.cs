using LogMetrics.Core.Accumulate;

namespace LogMetrics.Core.Flush;

/// <summary>
/// Where window shards live: durable entities in Azure, a dictionary in the console. The flush
/// coordinator and ingest only talk to shards through this.
/// </summary>
public interface IShardStore
{
    int ShardCount { get; }

    /// <summary>
    /// True when a signal is applied before <see cref="SignalAsync"/> returns (in-memory). Durable
    /// entity signals are queued, so a seal takes effect on a later read.
    /// </summary>
    bool AppliesImmediately { get; }

    /// <summary>Snapshots of every shard (index = shard id); a shard never signalled reads as empty state.</summary>
    Task<IReadOnlyList<WindowShardState>> ReadAllAsync(CancellationToken cancellationToken);

    Task SignalAsync(int shard, ShardSignal signal, CancellationToken cancellationToken);

    Task AdvanceAsync(int shard, FlushAdvance advance, CancellationToken cancellationToken);
}
