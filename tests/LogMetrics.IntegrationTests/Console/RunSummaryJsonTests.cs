using System.Text.Json;
using System.Text.Json.Serialization;
using LogMetrics.Local;

namespace LogMetrics.IntegrationTests.Console;

/// <summary>
/// <c>summary.json</c> as <see cref="RunSummary.ToJson"/> writes it by hand is the text a source-generated serializer
/// context gives for the record (the attributes on it decide the names, the order and what is left out), byte for byte.
/// </summary>
public sealed class RunSummaryJsonTests
{
    public static TheoryData<string> Cases => [.. Summaries.Keys];

    private static readonly Dictionary<string, RunSummary> Summaries = new()
    {
        ["empty"] = new RunSummary { Status = RunStatus.Complete },
        ["complete"] = new RunSummary
        {
            Events = 90_000, Accepted = 87_723, Malformed = 475, Filtered = 1_802, Late = 0, Samples = 91_943,
            Status = RunStatus.Complete, ExitCode = 0,
            Outputs = [new OutputAccount("out", "/tmp/out.jsonl", 91_943, new Dictionary<string, long>())],
            Lanes = [new LaneAccount("/tmp/lane-0.jsonl", true, null), new LaneAccount("/tmp/lane-1.jsonl.gz", true, null)],
        },
        ["lost data, self-metrics, overflow"] = new RunSummary
        {
            Events = long.MaxValue, Accepted = -1, Malformed = 3, Filtered = 4, Late = 5, Samples = 6,
            Status = RunStatus.LostData, ExitCode = 3,
            Outputs =
            [
                new OutputAccount("remote-write", "http://127.0.0.1:9090/api/v1/write", 2, new Dictionary<string, long> { ["rejected 400"] = 3, ["unaccounted"] = 1 }) { SelfMetrics = 12 },
                new OutputAccount("out", "/tmp/o.jsonl", 6, new Dictionary<string, long> { ["backlog"] = 0 }),
            ],
            Lanes = [new LaneAccount("/tmp/lane-0.jsonl.gz", false, "truncated gzip stream at byte 1,024")],
            Overflow = new Dictionary<string, long> { ["api_requests"] = 41, ["latency"] = 0 },
        },
        // What the default encoder escapes: quotes, backslashes, control characters, HTML-sensitive and non-ASCII text.
        ["escaped text"] = new RunSummary
        {
            Status = RunStatus.Failed, ExitCode = 1,
            Error = "endpoint refused: \"401\" <html> & 'x' + \\path\\ \u0001\ttab\nline é 中 \ud83d\ude00",
            Outputs = [new OutputAccount("o\"<>", "C:\\out é.jsonl", 0, new Dictionary<string, long> { ["output not written: \"disk\" é"] = 7 })],
            Lanes = [new LaneAccount("/tmp/l&ne\u2028.jsonl", false, "<bad>")],
            Overflow = new Dictionary<string, long> { ["fam<ily>é"] = 1 },
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ToJson_IsTheSourceGeneratedSerializersText(string name)
    {
        var summary = Summaries[name];
        Assert.Equal(JsonSerializer.Serialize(summary, ReferenceSummaryJsonContext.Default.RunSummary), summary.ToJson());
    }

    [Fact]
    public void ToJson_ReadsBackAsTheSameCounts()
    {
        var summary = Summaries["lost data, self-metrics, overflow"];
        using var doc = JsonDocument.Parse(summary.ToJson());
        var root = doc.RootElement;
        Assert.Equal(
            ["events", "accepted", "malformed", "filtered", "late", "samples", "status", "exitCode", "error", "outputs", "lanes", "overflow"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(long.MaxValue, root.GetProperty("events").GetInt64());
        Assert.Equal("lost-data", root.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("error").ValueKind);
        var first = root.GetProperty("outputs")[0];
        Assert.Equal(12, first.GetProperty("selfMetrics").GetInt64());
        Assert.Equal(3, first.GetProperty("dropped").GetProperty("rejected 400").GetInt64());
        Assert.False(root.GetProperty("outputs")[1].TryGetProperty("selfMetrics", out _));
        Assert.Equal("truncated gzip stream at byte 1,024", root.GetProperty("lanes")[0].GetProperty("error").GetString());
        Assert.Equal(41, root.GetProperty("overflow").GetProperty("api_requests").GetInt64());
        Assert.False(JsonDocument.Parse(Summaries["complete"].ToJson()).RootElement.TryGetProperty("overflow", out _));
    }
}

/// <summary>The reference: the serializer context <see cref="RunSummary.ToJson"/> replaced in the program.</summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(RunSummary))]
internal sealed partial class ReferenceSummaryJsonContext : JsonSerializerContext;
