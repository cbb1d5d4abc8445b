using System.Text.Json;

namespace LogMetrics.Functions.Hosting;

/// <summary>
/// Reads the Event Hubs partition id (the lane) from the trigger's <c>PartitionContext</c> binding
/// data. The isolated worker cannot bind the SDK type (azure-functions-dotnet-worker#2293); the host
/// sends it as JSON, which arrives as an object or as a string holding the JSON (#544, #3105). This
/// accepts both, any casing of <c>PartitionId</c>, and a string or number value.
/// </summary>
public static class PartitionContextReader
{
    /// <summary>The partition id, or null when the context carries none.</summary>
    public static string? TryGetPartitionId(JsonElement partitionContext, int depth = 0)
    {
        switch (partitionContext.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in partitionContext.EnumerateObject())
                {
                    if (!property.Name.Equals("PartitionId", StringComparison.OrdinalIgnoreCase)) continue;
                    return property.Value.ValueKind switch
                    {
                        JsonValueKind.String when !string.IsNullOrWhiteSpace(property.Value.GetString()) => property.Value.GetString()!.Trim(),
                        JsonValueKind.Number => property.Value.GetRawText(),
                        _ => null,
                    };
                }
                return null;
            case JsonValueKind.String when depth == 0:
                return TryGetPartitionId(partitionContext.GetString());
            default:
                return null;
        }
    }

    /// <summary>The partition id from the context as JSON text, or null.</summary>
    public static string? TryGetPartitionId(string? partitionContextJson)
    {
        if (string.IsNullOrWhiteSpace(partitionContextJson)) return null;
        try
        {
            using var doc = JsonDocument.Parse(partitionContextJson);
            return TryGetPartitionId(doc.RootElement, depth: 1);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The partition id; throws when there is none rather than silently merging lanes.</summary>
    /// <exception cref="InvalidOperationException">No partition id in the context.</exception>
    public static string GetPartitionId(JsonElement partitionContext) =>
        TryGetPartitionId(partitionContext) ?? throw Missing(partitionContext);

    /// <summary>The error for a context without a partition id, naming what the trigger sent.</summary>
    public static InvalidOperationException Missing(JsonElement partitionContext) => new(
        "The Event Hubs trigger supplied no PartitionId in its PartitionContext binding data " +
        $"(got {Describe(partitionContext)}). Lanes cannot be told apart without it, so the batch is refused; see docs/FUNCTIONS.md.");

    private static string Describe(JsonElement e) => e.ValueKind == JsonValueKind.Undefined
        ? "nothing"
        : e.ValueKind + " " + (e.GetRawText() is { Length: > 200 } raw ? raw[..200] + "…" : e.GetRawText());
}
