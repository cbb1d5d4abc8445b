using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
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
/// The durable entity backend, simulated: each entity's state is the JSON text the Durable Task SDK
/// stores (serialized with <see cref="WindowShardOperations.StateJson"/>, the Functions worker's
/// settings), and every operation deserializes it, runs the same <see cref="WindowShardOperations"/>
/// the entity classes call, and serializes it back. Entities: the shards, their headers and their
/// closed-window documents. Signals only enqueue; the scheduler decides when (and, for a client's
/// signals, whether twice) each is delivered. A shard's messages to its satellites are delivered once
/// and in order per receiver, as the Durable Task backends deliver entity-to-entity signals. Counts
/// operations and bytes.
/// </summary>
public sealed class SimulatedEntities(CompiledPipeline pipeline, int shardCount)
{
    private readonly string?[] _states = new string?[shardCount];
    private readonly string?[] _headers = new string?[shardCount];
    private readonly Dictionary<string, string> _closed = new(StringComparer.Ordinal);
    private readonly List<Message> _pending = [];

    public int ShardCount => shardCount;

    public long Operations { get; private set; }

    /// <summary>Operations of the shards' messages to their headers and closed-window documents (part of <see cref="Operations"/>).</summary>
    public long SatelliteOperations { get; private set; }

    public long BytesWritten { get; private set; }

    public long BytesRead { get; private set; }

    /// <summary>Bytes of closed-window documents read whole (every part delivered): what a tick closes.</summary>
    public long ClosedBytesRead { get; private set; }

    /// <summary>Largest serialized shard state seen per shard.</summary>
    public long[] LargestState { get; } = new long[shardCount];

    public long LargestHeader { get; private set; }

    public long LargestClosedWindow { get; private set; }

    /// <summary>Sum over saves of (state bytes, held cells) for states with at least 100 cells: bytes per partial.</summary>
    public (long Bytes, long Cells) PartialBytes { get; private set; }

    public int PendingCount => _pending.Count;

    public IReadOnlyList<Message> Pending => _pending;

    public int ClosedCount => _closed.Count;

    /// <summary>The text a shard's state is stored as (null before its first operation).</summary>
    public string? StateJson(int shard) => _states[shard];

    public void Enqueue(Message message) => _pending.Add(message);

    /// <summary>
    /// Runs one queued message as the entity would: state JSON in, operation, state JSON out. A
    /// satellite message is replaced by the oldest one queued for the same entity (in order per receiver)
    /// and is never kept for a second delivery.
    /// </summary>
    public void Deliver(int index, bool keepCopy)
    {
        var message = _pending[index];
        if (message.IsSatellite)
        {
            index = _pending.FindIndex(m => m.IsSatellite && m.Entity == message.Entity && m.Key == message.Key);
            message = _pending[index];
            keepCopy = false;
        }
        if (!keepCopy) _pending.RemoveAt(index);
        Operations++;
        if (message.IsSatellite)
        {
            DeliverSatellite(message);
            return;
        }
        var state = _states[message.Shard] is { } json ? Deserialize(json, Json.WindowShardState) : null;
        switch (message.Operation)
        {
            case WindowShardOperations.ApplyOperation:
                state = WindowShardOperations.Apply(state, Deserialize(message.Input, Json.ShardSignal), pipeline);
                break;
            case WindowShardOperations.AdvanceOperation:
                (state, var outbox) = WindowShardOperations.Advance(state, Deserialize(message.Input, Json.FlushAdvance), pipeline, message.Shard);
                foreach (var m in outbox)
                {
                    _pending.Add(new Message(message.Shard, m.Operation, WindowShardOperations.InputJson(m), message.Invocation, m.Entity, m.Key));
                }
                break;
            default:
                throw new InvalidOperationException($"unknown operation '{message.Operation}'");
        }
        var saved = JsonSerializer.Serialize(state, Json.WindowShardState);
        _states[message.Shard] = saved;
        BytesWritten += saved.Length;
        LargestState[message.Shard] = Math.Max(LargestState[message.Shard], saved.Length);
        var cells = state.CellCount;
        if (cells >= 100) PartialBytes = (PartialBytes.Bytes + saved.Length, PartialBytes.Cells + cells);
    }

    private void DeliverSatellite(Message message)
    {
        SatelliteOperations++;
        var header = message.Entity == ShardMessages.HeaderEntity;
        var stored = header ? _headers[message.Shard] : _closed.GetValueOrDefault(message.Key!);
        var saved = WindowShardOperations.ApplyMessageJson(stored, message.Entity, message.Key!, message.Operation, message.Input);
        if (header)
        {
            _headers[message.Shard] = saved;
            LargestHeader = Math.Max(LargestHeader, saved?.Length ?? 0);
        }
        else if (saved is null)
        {
            _closed.Remove(message.Key!);
        }
        else
        {
            _closed[message.Key!] = saved;
            LargestClosedWindow = Math.Max(LargestClosedWindow, saved.Length);
        }
        BytesWritten += saved?.Length ?? 0;
    }

    /// <summary>A shard's state, outside any tick (the scheduler's end-of-run checks and summary; not counted as read).</summary>
    public WindowShardState Peek(int shard) =>
        _states[shard] is { } json ? Deserialize(json, Json.WindowShardState) : new WindowShardState();

    /// <summary>GetEntityAsync with state of a shard's header: what a flush tick reads first.</summary>
    public ShardHeader ReadHeader(int shard)
    {
        if (_headers[shard] is not { } json) return new ShardHeader();
        BytesRead += json.Length;
        return Deserialize(json, Json.ShardHeader);
    }

    /// <summary>GetEntityAsync with state of a closed-window document (null: it does not exist).</summary>
    public ClosedWindow? ReadClosed(int shard, ClosedWindowRef window)
    {
        if (!_closed.TryGetValue(window.Key(shard), out var json)) return null;
        BytesRead += json.Length;
        var doc = Deserialize(json, Json.ClosedWindow);
        if (doc.Parts.Count >= window.Parts) ClosedBytesRead += json.Length;
        return doc;
    }

    private static ShardStateJsonContext Json => ShardStateJsonContext.Default;

    private static T Deserialize<T>(string json, JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(json, type) ?? throw new InvalidOperationException($"{typeof(T).Name} deserialized to null");

    /// <summary>A queued entity signal: the SDK carries the input as JSON text too. <see cref="Key"/> is set for a shard's satellites.</summary>
    public sealed record Message(int Shard, string Operation, string Input, long Invocation, string Entity = WindowShardOperations.EntityName, string? Key = null)
    {
        public bool IsSatellite => Entity != WindowShardOperations.EntityName;
    }
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

    public Task<IReadOnlyList<ShardHeader>> ReadHeadersAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<ShardHeader>>([.. Enumerable.Range(0, entities.ShardCount).Select(entities.ReadHeader)]);

    public Task<ClosedWindow?> ReadClosedAsync(int shard, ClosedWindowRef window, CancellationToken cancellationToken) =>
        Task.FromResult(entities.ReadClosed(shard, window));

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
