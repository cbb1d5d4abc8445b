using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Hosting;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Entities;

namespace LogMetrics.Functions;

/// <summary>
/// One window shard: a durable entity whose state is a <see cref="WindowShardState"/> (System.Text.Json,
/// default options). Operations dispatch by method name, case-insensitively ("apply", "advance");
/// each is one call to the pure functions in <see cref="WindowShardOperations"/>.
/// </summary>
public sealed class WindowShardEntity(CompiledPipeline pipeline) : TaskEntity<WindowShardState>
{
    /// <summary>Ingest → shard: merge a batch's partials unless its sequence range was applied already.</summary>
    public void Apply(ShardSignal signal) => State = WindowShardOperations.Apply(State, signal, pipeline);

    /// <summary>Flusher → shard: seal windows the watermark passed and evict what was written.</summary>
    public void Advance(FlushAdvance advance) => State = WindowShardOperations.Advance(State, advance, pipeline);
}

/// <summary>The entity trigger of <see cref="WindowShardEntity"/>; its function name is the entity name.</summary>
public static class WindowShardFunction
{
    [Function(WindowShardOperations.EntityName)]
    public static Task RunAsync([EntityTrigger] TaskEntityDispatcher dispatcher) => dispatcher.DispatchAsync<WindowShardEntity>();
}
