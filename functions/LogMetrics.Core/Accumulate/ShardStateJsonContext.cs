using System.Text.Json.Serialization;

namespace LogMetrics.Core.Accumulate;

/// <summary>
/// Source-generated serializer of shard state and the shard operations' inputs, with the settings of
/// <see cref="Hosting.WindowShardOperations.StateJson"/> (case-insensitive property names): the same
/// JSON as the reflection serializer (checked by <c>SourceGeneratedJsonTests</c>), with no reflection,
/// so that <c>logmetrics simulate</c> runs in the Native AOT build.
/// </summary>
[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(WindowShardState))]
[JsonSerializable(typeof(WindowCells))]
[JsonSerializable(typeof(ShardSignal))]
[JsonSerializable(typeof(FlushAdvance))]
[JsonSerializable(typeof(ShardHeader))]
[JsonSerializable(typeof(ClosedWindow))]
public sealed partial class ShardStateJsonContext : JsonSerializerContext;
