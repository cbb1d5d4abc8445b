using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Hosting;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Simulate;

namespace LogMetrics.Core.Tests.Support;

/// <summary>
/// The source-generated serializers (no reflection, for the Native AOT build of <c>logmetrics</c>) write
/// exactly what the reflection serializer with the same options wrote before, and read it back.
/// </summary>
public sealed class SourceGeneratedJsonTests
{
    // Values that exercise number and string formatting: named floating-point literals (empty min/max
    // slots), shortest round-trip doubles, extremes, escapes and non-ASCII text.
    private static readonly double[] Doubles = [0, -0.0, 0.1, 1.0 / 3, 1e300, -2.5e-310, double.MaxValue, double.PositiveInfinity, double.NegativeInfinity, 42];
    private static readonly string[] Texts = ["", "plain", "quote\" back\\slash", "</script>&<>'", "tab\tline\nnul\u0000", "café 東京 🚀", "\u2028\u2029"];

    // The reflection serializer, with the options each source-generated context copies.
    private static readonly JsonSerializerOptions Reflection = new(WindowShardOperations.StateJson) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };
    private static readonly JsonSerializerOptions ReflectionIndented = new() { WriteIndented = true, TypeInfoResolver = new DefaultJsonTypeInfoResolver() };
    private static readonly JsonSerializerOptions ReflectionWeb = new(JsonSerializerDefaults.Web) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };
    private static readonly JsonSerializerOptions ReflectionDefault = new() { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };

    private static WindowCells Cells(long start, int seed) => new()
    {
        Start = start,
        Newest = start + 999,
        Series = [seed, seed + 1, seed + 7],
        Values = [.. Doubles.Skip(seed % 3)],
    };

    private static WindowShardState State()
    {
        var state = new WindowShardState
        {
            SeriesFamily = [0, 1, 1, 2],
            SeriesLabels = [["a", "b"], [.. Texts], [], ["x"]],
            Windows = [Cells(1_700_000_000_000, 0), Cells(1_700_000_010_000, 1)],
            SealedThroughMs = 1_700_000_010_000,
            WrittenThroughMs = [long.MinValue, 1_700_000_000_000, long.MaxValue],
            LateContributions = 3,
            LateRecords = 2,
            CountedRecords = 12345678901,
            DuplicateSignals = 1,
            SupersededSignals = 4,
        };
        state.Lanes["0"] = new LaneProgress { CommittedThrough = 99, CommittedFrom = 0, WatermarkMs = 1_700_000_005_000, LastSeenMs = 17 };
        state.Lanes["lane \"1\" é"] = new LaneProgress
        {
            Finished = true,
            Held =
            [
                new HeldRange { First = 200, Last = 299, ChainStart = 100, WatermarkMs = 5, Finished = true, Windows = [Cells(1_700_000_020_000, 2)] },
                new HeldRange { First = long.MaxValue, Last = long.MaxValue },
            ],
        };
        return state;
    }

    private static ShardSignal Signal() => new()
    {
        Lane = "lane é",
        FirstSequence = 10,
        ChainStart = long.MinValue,
        LastSequence = 2057,
        LaneWatermarkMs = 1_700_000_000_123,
        LaneFinished = true,
        SentAtMs = 1_700_000_100_000,
        Partials =
        [
            new SeriesPartial { Family = 2, Labels = [.. Texts], WindowStartMs = 1_700_000_000_000, Values = Doubles, NewestEventMs = 1_700_000_000_999 },
            new SeriesPartial(),
        ],
    };

    [Fact]
    public void ShardState_WritesWhatReflectionWrote_AndReadsItBack()
    {
        var state = State();
        var expected = JsonSerializer.Serialize(state, Reflection);
        var actual = JsonSerializer.Serialize(state, ShardStateJsonContext.Default.WindowShardState);
        Assert.Equal(expected, actual);
        Assert.Contains("\"-Infinity\"", actual, StringComparison.Ordinal);

        var back = JsonSerializer.Deserialize(expected, ShardStateJsonContext.Default.WindowShardState)!;
        Assert.Equal(expected, JsonSerializer.Serialize(back, Reflection));
        Assert.Equal(state.CellCount, back.CellCount);

        // Case-insensitive names, as the Functions worker's settings read them.
        var lower = JsonSerializer.Deserialize("{\"sealedthroughms\":7,\"windows\":[{\"start\":3,\"series\":[1],\"values\":[\"Infinity\"]}]}", ShardStateJsonContext.Default.WindowShardState)!;
        Assert.Equal(7, lower.SealedThroughMs);
        Assert.Equal(double.PositiveInfinity, Assert.Single(Assert.Single(lower.Windows).Values));
    }

    [Fact]
    public void WindowCells_SizeIsTheReflectionSize()
    {
        var cells = Cells(1_700_000_000_000, 1);
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(cells, Reflection), JsonSerializer.SerializeToUtf8Bytes(cells, ShardStateJsonContext.Default.WindowCells));
    }

    [Fact]
    public void ShardOperations_WriteWhatReflectionWrote_AndReadItBack()
    {
        var signal = Signal();
        var expected = JsonSerializer.Serialize(signal, Reflection);
        Assert.Equal(expected, JsonSerializer.Serialize(signal, ShardStateJsonContext.Default.ShardSignal));
        Assert.Equal(expected, JsonSerializer.Serialize(JsonSerializer.Deserialize(expected, ShardStateJsonContext.Default.ShardSignal), Reflection));

        foreach (var advance in new[] { new FlushAdvance(), new FlushAdvance { WrittenThroughMs = [long.MinValue, 5], SealThroughMs = 9, DroppedSamples = 3 } })
        {
            var json = JsonSerializer.Serialize(advance, Reflection);
            Assert.Equal(json, JsonSerializer.Serialize(advance, ShardStateJsonContext.Default.FlushAdvance));
            Assert.Equal(json, JsonSerializer.Serialize(JsonSerializer.Deserialize(json, ShardStateJsonContext.Default.FlushAdvance), Reflection));
        }
    }

    [Fact]
    public void ShardHeaderAndClosedWindow_WriteWhatReflectionWrote_AndReadItBack()
    {
        var header = new ShardHeader
        {
            Version = 3,
            SealedThroughMs = long.MaxValue,
            WrittenThroughMs = [long.MinValue, 7],
            Closed = [new ClosedWindowRef { ResolutionMs = 60_000, Start = 0, Parts = 6, Families = [1, 2], Samples = 9 }],
            PendingSamples = 9,
            OpenWindows = 2,
            LateRecords = 1,
        };
        header.Lanes["lane é"] = new LaneView { WatermarkMs = 5, LastSeenMs = 6, Finished = true };
        var window = new ClosedWindow { Parts = [new ClosedPart { Base = 10, Newest = 11, Families = [0, 2], Labels = [[.. Texts], []], Values = [.. Doubles] }] };
        foreach (var (value, info) in new (object, JsonTypeInfo)[] { (header, ShardStateJsonContext.Default.ShardHeader), (window, ShardStateJsonContext.Default.ClosedWindow) })
        {
            var expected = JsonSerializer.Serialize(value, value.GetType(), Reflection);
            Assert.Equal(expected, JsonSerializer.Serialize(value, info));
            Assert.Equal(expected, JsonSerializer.Serialize(JsonSerializer.Deserialize(expected, info), value.GetType(), Reflection));
        }
    }

    [Fact]
    public void SimulationSummary_WritesWhatReflectionWrote()
    {
        var result = new SimulationResult(
            [], new SimulationFaults { Batches = 3, Retries = 1, SignalsReordered = 7, RejectedFreshRequests = 2 },
            new SimulationCosts { EntityOperations = 10, WorstTickExcessPerShard = long.MinValue, BytesPerPartial = 1.0 / 3 },
            Events: 1200, Accepted: 1100, Malformed: 5, Filtered: 95, Late: 0, SamplesDropped: 0,
            DuplicateSignals: 4, SupersededSignals: 1, CountedRecords: 1100);
        var summary = SimulationRunner.Summary(result);
        var expected = JsonSerializer.Serialize(summary, ReflectionIndented);
        Assert.Equal(expected, JsonSerializer.Serialize(summary, SimulationJsonContext.Default.DictionaryStringObject));
        Assert.Contains("\"bytesPerPartial\"", expected, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void DeadLetterSidecar_WritesWhatReflectionWrote()
    {
        var batch = new FailedBatch("lane \"é\"", [5, 6, 9], [new byte[] { 1 }, new byte[] { 2 }, new byte[] { 3 }], "timeout </x>", 6);
        var expected = JsonSerializer.SerializeToUtf8Bytes(new DeadLetterFiles.SidecarDocument("lane \"é\"", 5, 9, 3, [5, 6, 9], "timeout </x>", 6), ReflectionWeb);
        var actual = DeadLetterFiles.Sidecar(batch);
        Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(actual));
        Assert.StartsWith("{\"lane\":", Encoding.UTF8.GetString(actual), StringComparison.Ordinal);
    }

    [Fact]
    public void DeadLetterBase64Body_WritesWhatReflectionWrote()
    {
        var text = Convert.ToBase64String(Encoding.UTF8.GetBytes("not json\nline break +/="));
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(text, ReflectionDefault), JsonSerializer.SerializeToUtf8Bytes(text, DeadLetterJsonContext.Default.String));
    }
}
