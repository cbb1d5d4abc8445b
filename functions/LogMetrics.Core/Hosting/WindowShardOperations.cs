using System.Globalization;
using System.Text.Json;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;

namespace LogMetrics.Core.Hosting;

/// <summary>
/// What the window-shard durable entity does, as pure functions of (state, input) → state, plus the
/// entity naming scheme. The entity class is one line per operation; tests run the same functions
/// with the state round-tripped through System.Text.Json, as the entity's storage does.
/// </summary>
public static class WindowShardOperations
{
    /// <summary>Entity name (durable entity names are lower-cased by <c>EntityInstanceId</c>).</summary>
    public const string EntityName = "windowshard";

    /// <summary>Operation carrying a <see cref="ShardSignal"/> (ingest → shard).</summary>
    public const string ApplyOperation = "apply";

    /// <summary>Operation carrying a <see cref="FlushAdvance"/> (flusher → shard).</summary>
    public const string AdvanceOperation = "advance";

    private const string KeyPrefix = "shard-";

    /// <summary>
    /// How entity state and signal inputs are serialized in the Functions app: the worker's default
    /// serializer (System.Text.Json, case-insensitive property names). <c>logmetrics simulate</c> stores
    /// state with these same settings.
    /// </summary>
    public static readonly JsonSerializerOptions StateJson = new() { PropertyNameCaseInsensitive = true };

    /// <summary>Entity key of a shard: <c>shard-07</c>.</summary>
    public static string ShardKey(int shard)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        return KeyPrefix + shard.ToString("D2", CultureInfo.InvariantCulture);
    }

    /// <summary>The shard index of an entity key made by <see cref="ShardKey"/>.</summary>
    public static int ShardOf(string key)
    {
        if (!key.StartsWith(KeyPrefix, StringComparison.Ordinal)
            || !int.TryParse(key.AsSpan(KeyPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var shard))
        {
            throw new FormatException($"'{key}' is not a window-shard key like '{ShardKey(7)}'.");
        }
        return shard;
    }

    /// <summary>Applies an ingest signal (duplicates and overlaps are ignored and counted by the state).</summary>
    public static WindowShardState Apply(WindowShardState? state, ShardSignal signal, CompiledPipeline pipeline)
    {
        state ??= new WindowShardState();
        state.Apply(signal, pipeline);
        return state;
    }

    /// <summary>
    /// Seals, exports what was sealed, evicts what was written and publishes the header after a flush.
    /// The messages are sent by the entity in the same operation (entity to entity: once, in order).
    /// </summary>
    public static (WindowShardState State, List<ShardMessage> Messages) Advance(WindowShardState? state, FlushAdvance advance, CompiledPipeline pipeline, int shard)
    {
        state ??= new WindowShardState();
        var messages = state.Advance(advance, pipeline, shard);
        return (state, messages);
    }

    /// <summary>Applies a shard's message to a satellite's state (<see cref="ShardMessages"/>); null deletes the entity.</summary>
    public static object? ApplyMessage(object? state, ShardMessage message) => (message.Entity, message.Operation) switch
    {
        (ShardMessages.HeaderEntity, ShardMessages.SetOperation) => ShardHeader.Newer(state as ShardHeader, (ShardHeader)message.Input!),
        (ShardMessages.ClosedEntity, ShardMessages.StoreOperation) => ClosedWindow.Store(state as ClosedWindow, (ClosedWindow)message.Input!),
        (ShardMessages.ClosedEntity, ShardMessages.DeleteOperation) => null,
        _ => throw new InvalidOperationException($"unknown message '{message.Entity}/{message.Operation}'"),
    };

    /// <summary>A message's input as the entity backend carries it (JSON text; empty for none).</summary>
    public static string InputJson(ShardMessage message) =>
        message.Input is null ? "" : JsonSerializer.Serialize(message.Input, ShardStateJsonContext.Default.GetTypeInfo(message.Input.GetType())!);

    /// <summary>
    /// <see cref="ApplyMessage"/> on a satellite stored as JSON, as its entity runs it: the stored state
    /// (null: none) and the message's <see cref="InputJson"/> in, the state to store out (null: deleted).
    /// </summary>
    public static string? ApplyMessageJson(string? stateJson, string entity, string key, string operation, string inputJson)
    {
        var json = ShardStateJsonContext.Default;
        var (state, input) = entity == ShardMessages.HeaderEntity
            ? ((object?)Read(stateJson, json.ShardHeader), (object?)Read(inputJson, json.ShardHeader))
            : (Read(stateJson, json.ClosedWindow), operation == ShardMessages.StoreOperation ? Read(inputJson, json.ClosedWindow) : null);
        var next = ApplyMessage(state, new ShardMessage(entity, key, operation, input));
        return next is null ? null : JsonSerializer.Serialize(next, json.GetTypeInfo(next.GetType())!);

        static T? Read<T>(string? text, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) where T : class =>
            string.IsNullOrEmpty(text) ? null : JsonSerializer.Deserialize(text, type);
    }
}
