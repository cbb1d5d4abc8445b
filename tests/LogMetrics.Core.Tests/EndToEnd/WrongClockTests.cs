using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.EndToEnd;

/// <summary>
/// A wrong clock costs one record: the golden corpus with one poisoned timestamp in the middle of a
/// lane gives exactly the oracle's samples for everything else (tools/oracle/reference.py, committed).
/// </summary>
public sealed partial class WrongClockTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "logmetrics-clock-" + Guid.NewGuid().ToString("N")[..8]);

    public WrongClockTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [GeneratedRegex("\"__time__\":\"?(\\d+)\"?")]
    private static partial Regex TimeField();

    /// <summary>
    /// The golden lanes, uncompressed, with a copy of lane 0's line <paramref name="afterLine"/> inserted after it,
    /// its time replaced by <paramref name="poison"/>(original seconds).
    /// </summary>
    private (List<string> Files, long OriginalSeconds) Poison(int afterLine, Func<long, string> poison)
    {
        var lane0 = File.ReadAllLines(Path.Combine(GoldenCorpusTests.GoldenDir, "lane-0.jsonl")).ToList();
        var source = lane0[afterLine - 1];
        var match = TimeField().Match(source);
        Assert.True(match.Success);
        var seconds = long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        lane0.Insert(afterLine, TimeField().Replace(source, "\"__time__\":" + poison(seconds), 1));
        var file0 = Path.Combine(_dir, "lane-0.jsonl");
        File.WriteAllLines(file0, lane0);
        var file1 = Path.Combine(_dir, "lane-1.jsonl");
        using (var gz = new GZipStream(File.OpenRead(Path.Combine(GoldenCorpusTests.GoldenDir, "lane-1.jsonl.gz")), CompressionMode.Decompress))
        using (var output = File.Create(file1))
        {
            gz.CopyTo(output);
        }
        return ([file0, file1], seconds);
    }

    private sealed class Collect : IDeadLetterSink
    {
        public List<DeadLetter> Letters { get; } = [];

        public void Write(DeadLetter letter)
        {
            lock (Letters) Letters.Add(letter with { Raw = letter.Raw.ToArray() });
        }
    }

    [Theory]
    [InlineData("32503680000")]   // the year 3000
    [InlineData("ms")]            // milliseconds under a seconds pipeline
    public async Task TimestampInTheFuture_OneRecordDeadLettered_EverythingElseEqualsOracle(string poison)
    {
        var (files, _) = Poison(300, s => poison == "ms" ? (s * 1000 + 123).ToString(System.Globalization.CultureInfo.InvariantCulture) : poison);
        var dead = new Collect();

        var (samples, counters) = await GoldenCorpusTests.ReplayFilesAsync(files, 64, deadLetters: dead);

        var goldenMalformed = 5;
        Assert.Equal(goldenMalformed + 1, counters.Malformed);
        var letter = Assert.Single(dead.Letters, l => l.Reason == Pipeline.TimeInTheFuture);
        Assert.Equal(301, letter.Sequence);
        Assert.Equal(0, counters.Late);
        GoldenCorpusTests.AssertSame(GoldenCorpusTests.OracleExpected(), samples);
    }

    /// <summary>
    /// Lane 0 alone (one lane: its watermark is the global one, so a jump would seal everything),
    /// with a copy of line 300 stamped an hour later: long past by the wall clock, so accepted.
    /// </summary>
    private (string Poisoned, string Clean, long PoisonMs) OneLaneAnHourAhead()
    {
        var (files, seconds) = Poison(300, s => (s + 3600).ToString(System.Globalization.CultureInfo.InvariantCulture));
        var clean = Path.Combine(_dir, "clean-lane-0.jsonl");
        File.Copy(Path.Combine(GoldenCorpusTests.GoldenDir, "lane-0.jsonl"), clean);
        return (files[0], clean, (seconds + 3600) * 1000);
    }

    [Fact]
    public async Task RecordAnHourAheadOfItsLane_DoesNotMoveTheWatermark_OnlyItsOwnWindowsAreExtra()
    {
        var (poisoned, clean, poisonMs) = OneLaneAnHourAhead();
        var reference = ReferenceModel.Run([clean], Path.Combine(GoldenCorpusTests.GoldenDir, "dimensions"));

        var (samples, counters) = await GoldenCorpusTests.ReplayFilesAsync([poisoned], 64);

        Assert.Equal(reference.Late, counters.Late);
        Assert.Equal(reference.Accepted + 1, counters.Accepted);
        // Every sample but those of the poisoned record's own windows (half an hour and more after the
        // rest) is exactly the reference's for the clean lane.
        var cut = poisonMs - 1_800_000;
        GoldenCorpusTests.AssertSame(reference.Points.ToDictionary(p => p.Key, p => p.Value), [.. samples.Where(s => s.TimestampMs < cut)]);
        Assert.Contains(samples, s => s.TimestampMs >= cut);
    }

    [Fact]
    public async Task RecordAnHourAheadOfItsLane_WithoutTheGuard_LaterRecordsOfTheLaneGoLate()
    {
        // The same lane with the guard off (one record is enough to jump): the test above would fail.
        var (poisoned, _, _) = OneLaneAnHourAhead();
        var unguarded = WithSource(s => s.LaneJumpConfirmations = 1);

        var (_, counters) = await GoldenCorpusTests.ReplayFilesAsync([poisoned], 64, compiled: unguarded);

        Assert.True(counters.Late > 100, $"without the jump guard the lane's later records are late ({counters.Late})");
    }

    [Fact]
    public async Task LaneThatReallyJumpsAhead_ProgressesAfterConfirmations()
    {
        // Lane 0 from line 300 on is shifted an hour ahead (a gap in its logs): a real jump.
        var lane0 = File.ReadAllLines(Path.Combine(GoldenCorpusTests.GoldenDir, "lane-0.jsonl"));
        var shifted = lane0.Select((line, i) => i < 300 ? line : TimeField().Replace(line, m =>
            "\"__time__\":" + (long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) + 3600).ToString(System.Globalization.CultureInfo.InvariantCulture), 1));
        var file = Path.Combine(_dir, "jump.jsonl");
        File.WriteAllLines(file, shifted);
        var lane = new LaneState("jump");
        var compiled = Flagship.Pipeline;
        var parser = compiled.CreateParser();
        var record = compiled.CreateRecord();
        long before = long.MinValue;
        foreach (var (line, i) in shifted.Select((l, i) => (l, i)))
        {
            if (parser.Parse(Encoding.UTF8.GetBytes(line), record) is not null) continue;
            lane.Advance(record.EventTimeMs, compiled.LaneJumpMs, compiled.LaneJumpConfirmations);
            if (i == 299) before = lane.MaxEventTimeMs;
        }

        Assert.True(lane.MaxEventTimeMs > before + 3_000_000, "the lane's newest time followed the jump");
        Assert.Equal(compiled.LaneJumpConfirmations - 1, lane.HeldBack);
        await Task.CompletedTask;
    }

    private static CompiledPipeline WithSource(Action<SourceDefinition> change)
    {
        var definition = DefinitionLoader.LoadFile(Flagship.PipelinePath);
        change(definition.Source);
        return PipelineCompiler.Compile(definition);
    }
}
