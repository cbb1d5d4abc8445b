using System.Text.Json;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Hosting;

namespace LogMetrics.Core.Simulate;

/// <summary>An instance died (injected): everything it held in memory is gone.</summary>
public sealed class SimulatedCrashException(string where) : Exception($"simulated crash: {where}");

/// <summary>A transient failure of one invocation (injected): the trigger's retry runs the same batch again.</summary>
public sealed class SimulatedTransientException(string where) : Exception($"simulated transient failure: {where}");

/// <summary>
/// The durable entity backend, simulated: each shard's state is the JSON text the Durable Task SDK
/// stores (serialized with <see cref="WindowShardOperations.StateJson"/>, the Functions worker's
/// settings), and every operation deserializes it, runs the same <see cref="WindowShardOperations"/>
/// the entity class calls, and serializes it back. Signals only enqueue; the scheduler decides when
/// (and whether twice) each is delivered. Counts operations and bytes.
/// </summary>
public sealed class SimulatedEntities(CompiledPipeline pipeline, int shardCount)
{
    private readonly string?[] _states = new string?[shardCount];
    private readonly List<Message> _pending = [];

    public int ShardCount => shardCount;

    public long Operations { get; private set; }

    public long BytesWritten { get; private set; }

    public long BytesRead { get; private set; }

    /// <summary>Largest serialized state seen per shard.</summary>
    public long[] LargestState { get; } = new long[shardCount];

    /// <summary>Sum over saves of (state bytes, held cells) for states with at least 100 cells: bytes per partial.</summary>
    public (long Bytes, long Cells) PartialBytes { get; private set; }

    public int PendingCount => _pending.Count;

    public IReadOnlyList<Message> Pending => _pending;

    /// <summary>The text a shard's state is stored as (null before its first operation).</summary>
    public string? StateJson(int shard) => _states[shard];

    public void Enqueue(Message message) => _pending.Add(message);

    /// <summary>Runs one queued message as the entity would: state JSON in, operation, state JSON out.</summary>
    public void Deliver(int index, bool keepCopy)
    {
        var message = _pending[index];
        if (!keepCopy) _pending.RemoveAt(index);
        var state = _states[message.Shard] is { } json ? JsonSerializer.Deserialize(json, ShardStateJsonContext.Default.WindowShardState) : null;
        state = message.Operation switch
        {
            WindowShardOperations.ApplyOperation => WindowShardOperations.Apply(state, Deserialize(message.Input, ShardStateJsonContext.Default.ShardSignal), pipeline),
            WindowShardOperations.AdvanceOperation => WindowShardOperations.Advance(state, Deserialize(message.Input, ShardStateJsonContext.Default.FlushAdvance), pipeline),
            _ => throw new InvalidOperationException($"unknown operation '{message.Operation}'"),
        };
        var saved = JsonSerializer.Serialize(state, ShardStateJsonContext.Default.WindowShardState);
        _states[message.Shard] = saved;
        Operations++;
        BytesWritten += saved.Length;
        LargestState[message.Shard] = Math.Max(LargestState[message.Shard], saved.Length);
        var cells = state.CellCount;
        if (cells >= 100) PartialBytes = (PartialBytes.Bytes + saved.Length, PartialBytes.Cells + cells);
    }

    /// <summary>GetEntityAsync with state: what a flush tick reads.</summary>
    public WindowShardState Read(int shard)
    {
        if (_states[shard] is not { } json) return new WindowShardState();
        BytesRead += json.Length;
        return JsonSerializer.Deserialize(json, ShardStateJsonContext.Default.WindowShardState)!;
    }

    private static T Deserialize<T>(string json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(json, type) ?? throw new InvalidOperationException($"{typeof(T).Name} deserialized to null");

    /// <summary>A queued entity signal: the SDK carries the input as JSON text too.</summary>
    public sealed record Message(int Shard, string Operation, string Input, long Invocation);
}

/// <summary>
/// What one invocation sees as its durable client (<c>DurableShardStore</c> in the Functions app):
/// signals enqueue JSON, reads return the stored state. Can be told to die after a number of calls,
/// which is how crashes mid-ingest and between write and evict are injected.
/// </summary>
public sealed class SimulatedShardStore(SimulatedEntities entities, long invocation) : IShardStore
{
    /// <summary>Signals (or advances) that go through before the injected fault; null = none.</summary>
    public int? FailAfter { get; init; }

    /// <summary>True: the failure is a crash; false: a transient failure the trigger retries.</summary>
    public bool FailIsCrash { get; init; } = true;

    public int Sent { get; private set; }

    public int ShardCount => entities.ShardCount;

    public bool AppliesImmediately => false;

    public Task<IReadOnlyList<WindowShardState>> ReadAllAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<WindowShardState>>([.. Enumerable.Range(0, entities.ShardCount).Select(entities.Read)]);

    public Task SignalAsync(int shard, ShardSignal signal, CancellationToken cancellationToken) =>
        Send(shard, WindowShardOperations.ApplyOperation, JsonSerializer.Serialize(signal, ShardStateJsonContext.Default.ShardSignal));

    public Task AdvanceAsync(int shard, FlushAdvance advance, CancellationToken cancellationToken) =>
        Send(shard, WindowShardOperations.AdvanceOperation, JsonSerializer.Serialize(advance, ShardStateJsonContext.Default.FlushAdvance));

    private Task Send(int shard, string operation, string input)
    {
        if (FailAfter is { } limit && Sent >= limit)
        {
            return Task.FromException(FailIsCrash ? new SimulatedCrashException($"after {Sent} signals") : new SimulatedTransientException($"after {Sent} signals"));
        }
        Sent++;
        entities.Enqueue(new SimulatedEntities.Message(shard, operation, input, invocation));
        return Task.CompletedTask;
    }
}
