using System.Text.Json;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Hosting;

namespace LogMetrics.Core.Tests.Accumulate;

/// <summary>
/// An empty min slot is +Infinity and an empty max slot -Infinity. Strict JSON has no such number, and
/// System.Text.Json refuses it unless told otherwise; the state and the signals must still round-trip
/// under any serializer options (the Durable Task SDK's, the Functions worker's, the console's).
/// </summary>
public sealed class EmptyMinMaxSlotJsonTests
{
    public static TheoryData<string> Options => ["default", "state"];

    private static JsonSerializerOptions For(string name) => name == "state" ? WindowShardOperations.StateJson : new JsonSerializerOptions();

    [Theory]
    [MemberData(nameof(Options))]
    public void WindowCells_WithInfiniteSlots_RoundTrip(string options)
    {
        var cells = new WindowCells { Start = 10_000, Series = [0], Values = [3, double.PositiveInfinity, double.NegativeInfinity, 1.5] };
        var json = JsonSerializer.Serialize(cells, For(options));
        Assert.Contains("\"Infinity\"", json, StringComparison.Ordinal);
        Assert.Contains("\"-Infinity\"", json, StringComparison.Ordinal);
        var back = JsonSerializer.Deserialize<WindowCells>(json, For(options))!;
        Assert.Equal([3, double.PositiveInfinity, double.NegativeInfinity, 1.5], back.Values);
    }

    [Theory]
    [MemberData(nameof(Options))]
    public void SeriesPartial_WithInfiniteSlots_RoundTrip(string options)
    {
        var partial = new SeriesPartial { Family = 1, Labels = ["a"], WindowStartMs = 20_000, Values = [2, double.PositiveInfinity, double.NegativeInfinity] };
        var back = JsonSerializer.Deserialize<SeriesPartial>(JsonSerializer.Serialize(partial, For(options)), For(options))!;
        Assert.Equal([2, double.PositiveInfinity, double.NegativeInfinity], back.Values);
    }
}
