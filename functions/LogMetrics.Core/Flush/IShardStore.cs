using LogMetrics.Core.Accumulate;

namespace LogMetrics.Core.Flush;

/// <summary>
/// Where window shards live: durable entities in Azure, a dictionary in the console. The flush
/// coordinator and ingest only talk to shards through this. A shard's state is never read by the
/// flusher: it reads each shard's small <see cref="ShardHeader"/> and then only the
/// <see cref="ClosedWindow"/> documents it closes.
/// </summary>
public interface IShardStore
{
    int ShardCount { get; }

    /// <summary>
    /// True when a signal is applied before <see cref="SignalAsync"/> returns (in-memory). Durable
    /// entity signals are queued, so a seal takes effect on a later read.
    /// </summary>
    bool AppliesImmediately { get; }

    /// <summary>Every shard's header (index = shard id); a shard that never published one reads as an empty header.</summary>
    Task<IReadOnlyList<ShardHeader>> ReadHeadersAsync(CancellationToken cancellationToken);

    /// <summary>A closed-window document of a shard; null when it does not exist (not yet delivered, or deleted).</summary>
    Task<ClosedWindow?> ReadClosedAsync(int shard, ClosedWindowRef window, CancellationToken cancellationToken);

    Task SignalAsync(int shard, ShardSignal signal, CancellationToken cancellationToken);

    Task AdvanceAsync(int shard, FlushAdvance advance, CancellationToken cancellationToken);

    /// <summary>
    /// Every shard's advance (index = shard id), each shard's once: as <see cref="AdvanceAsync"/> shard after
    /// shard, which is what this does unless a store runs them side by side (shards are independent).
    /// </summary>
    async Task AdvanceAllAsync(IReadOnlyList<FlushAdvance> advances, CancellationToken cancellationToken)
    {
        for (var shard = 0; shard < advances.Count; shard++)
        {
            await AdvanceAsync(shard, advances[shard], cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// The satellites of in-process shards (headers and closed-window documents), applying the messages
/// a shard sends exactly as the durable entities do.
/// </summary>
public sealed class ShardSatellites(int shardCount)
{
    private readonly ShardHeader?[] _headers = new ShardHeader?[shardCount];
    private readonly Dictionary<string, ClosedWindow> _closed = new(StringComparer.Ordinal);

    public int ClosedCount => _closed.Count;

    public void Apply(int shard, ShardMessage message)
    {
        if (message.Entity == ShardMessages.HeaderEntity)
        {
            _headers[shard] = (ShardHeader?)Hosting.WindowShardOperations.ApplyMessage(_headers[shard], message);
            return;
        }
        _closed.TryGetValue(message.Key, out var current);
        if (Hosting.WindowShardOperations.ApplyMessage(current, message) is ClosedWindow next) _closed[message.Key] = next;
        else _closed.Remove(message.Key);
    }

    public IReadOnlyList<ShardHeader> Headers() => [.. _headers.Select(h => h ?? new ShardHeader())];

    public ClosedWindow? Closed(int shard, ClosedWindowRef window) => _closed.GetValueOrDefault(window.Key(shard));
}
