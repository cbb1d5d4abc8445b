using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Hosting;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Entities;

namespace LogMetrics.Functions;

/// <summary>
/// Window shards as durable entities (<see cref="WindowShardEntity"/>, with their
/// <see cref="WindowHeadEntity"/> and <see cref="WindowClosedEntity"/> satellites), reached through the
/// durable client of the current invocation. A tick reads headers and the closed windows it closes. Signals are queued, so <see cref="AppliesImmediately"/> is false:
/// a seal sent by one flush takes effect for the next one.
/// </summary>
internal sealed class DurableShardStore(DurableTaskClient client, int shardCount) : IShardStore
{
    public int ShardCount => shardCount;

    public bool AppliesImmediately => false;

    public static EntityInstanceId IdOf(int shard) => new(WindowShardOperations.EntityName, WindowShardOperations.ShardKey(shard));

    public async Task<IReadOnlyList<ShardHeader>> ReadHeadersAsync(CancellationToken cancellationToken)
    {
        var reads = Enumerable.Range(0, shardCount).Select(async shard =>
        {
            // AZURE-API §4: GetEntityAsync<T>(id, includeState, cancellation) → null when the entity does not exist yet.
            var id = new EntityInstanceId(ShardMessages.HeaderEntity, WindowShardOperations.ShardKey(shard));
            var metadata = await client.Entities.GetEntityAsync<ShardHeader>(id, includeState: true, cancellation: cancellationToken).ConfigureAwait(false);
            return metadata?.State ?? new ShardHeader();
        });
        return await Task.WhenAll(reads).ConfigureAwait(false);
    }

    public async Task<ClosedWindow?> ReadClosedAsync(int shard, ClosedWindowRef window, CancellationToken cancellationToken)
    {
        var id = new EntityInstanceId(ShardMessages.ClosedEntity, window.Key(shard));
        var metadata = await client.Entities.GetEntityAsync<ClosedWindow>(id, includeState: true, cancellation: cancellationToken).ConfigureAwait(false);
        return metadata?.State;
    }

    // AZURE-API §4/§10: SignalEntityAsync(id, operationName, input, options, cancellation).
    public Task SignalAsync(int shard, ShardSignal signal, CancellationToken cancellationToken) =>
        client.Entities.SignalEntityAsync(IdOf(shard), WindowShardOperations.ApplyOperation, signal, cancellation: cancellationToken);

    public Task AdvanceAsync(int shard, FlushAdvance advance, CancellationToken cancellationToken) =>
        client.Entities.SignalEntityAsync(IdOf(shard), WindowShardOperations.AdvanceOperation, advance, cancellation: cancellationToken);
}
