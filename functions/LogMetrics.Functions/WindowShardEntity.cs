using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Hosting;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Entities;

namespace LogMetrics.Functions;

/// <summary>
/// One window shard: a durable entity whose state is a <see cref="WindowShardState"/> (System.Text.Json,
/// default options). Operations dispatch by method name, case-insensitively ("apply", "advance");
/// each is one call to the pure functions in <see cref="WindowShardOperations"/>. An advance sends the
/// shard's messages to its header and closed-window entities in the same operation.
/// </summary>
public sealed class WindowShardEntity(CompiledPipeline pipeline) : TaskEntity<WindowShardState>
{
    /// <summary>Ingest → shard: merge a batch's partials unless its sequence range was applied already.</summary>
    public void Apply(ShardSignal signal) => State = WindowShardOperations.Apply(State, signal, pipeline);

    /// <summary>Flusher → shard: seal, export what was sealed, evict what was written, publish the header.</summary>
    public void Advance(FlushAdvance advance)
    {
        var (state, messages) = WindowShardOperations.Advance(State, advance, pipeline, WindowShardOperations.ShardOf(Context.Id.Key));
        State = state;
        foreach (var m in messages)
        {
            // AZURE-API: TaskEntityContext.SignalEntity(id, operationName, input, options): entity to entity,
            // sent when this operation commits, delivered once and in order per receiver.
            Context.SignalEntity(new EntityInstanceId(m.Entity, m.Key), m.Operation, m.Input);
        }
    }
}

/// <summary>A shard's header (<see cref="ShardHeader"/>): what a flush tick reads of a shard. Written only by its shard.</summary>
public sealed class WindowHeadEntity : TaskEntity<ShardHeader?>
{
    public void Set(ShardHeader header) => State = ShardHeader.Newer(State, header);
}

/// <summary>One closed metric window of a shard (<see cref="ClosedWindow"/>): stored whole by its shard once the window is sealed, deleted once written.</summary>
public sealed class WindowClosedEntity : TaskEntity<ClosedWindow?>
{
    public void Store(ClosedWindow window) => State = ClosedWindow.Store(State, window);

    /// <summary>A null state deletes the entity.</summary>
    public void Delete() => State = null;
}

/// <summary>The entity trigger of <see cref="WindowShardEntity"/>; its function name is the entity name.</summary>
public static class WindowShardFunction
{
    [Function(WindowShardOperations.EntityName)]
    public static Task RunAsync([EntityTrigger] TaskEntityDispatcher dispatcher) => dispatcher.DispatchAsync<WindowShardEntity>();
}

/// <summary>The entity trigger of <see cref="WindowHeadEntity"/>.</summary>
public static class WindowHeadFunction
{
    [Function(ShardMessages.HeaderEntity)]
    public static Task RunAsync([EntityTrigger] TaskEntityDispatcher dispatcher) => dispatcher.DispatchAsync<WindowHeadEntity>();
}

/// <summary>The entity trigger of <see cref="WindowClosedEntity"/>.</summary>
public static class WindowClosedFunction
{
    [Function(ShardMessages.ClosedEntity)]
    public static Task RunAsync([EntityTrigger] TaskEntityDispatcher dispatcher) => dispatcher.DispatchAsync<WindowClosedEntity>();
}
