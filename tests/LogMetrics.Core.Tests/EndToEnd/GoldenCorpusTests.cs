using System.Globalization;
using System.Text.Json;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.EndToEnd;

/// <summary>
/// The committed corpus (tests/TestData/golden: 2 lanes, one gzipped, 1 200 records of 3–5 KB,
/// malformed lines of every kind, warm-up traffic, keys missing from the dimension tables) replayed
/// through the real replay path, compared with two independent expectations: the in-test
/// <see cref="ReferenceModel"/> and the output of tools/oracle/reference.py committed beside the corpus.
/// </summary>
public class GoldenCorpusTests
{
    private static string Dir => Path.Combine(AppContext.BaseDirectory, "TestData", "golden");

    private static readonly string[] Lanes = ["lane-0.jsonl", "lane-1.jsonl.gz"];

    private static Task<(IReadOnlyList<Sample> Samples, PipelineCounters Counters)> ReplayAsync(int chunkLines, bool parallel = false) =>
        ReplayFilesAsync([.. Lanes.Select(l => Path.Combine(Dir, l))], chunkLines, parallel);

    /// <summary>Replays <paramref name="files"/> (one lane each) with the golden dimensions, through the console's replay path.</summary>
    internal static async Task<(IReadOnlyList<Sample> Samples, PipelineCounters Counters)> ReplayFilesAsync(
        IReadOnlyList<string> files, int chunkLines, bool parallel = false, CompiledPipeline? compiled = null, IDeadLetterSink? deadLetters = null,
        string? dimensions = null)
    {
        compiled ??= Flagship.Pipeline;
        deadLetters ??= NullDeadLetterSink.Instance;
        var counters = new PipelineCounters();
        var enricher = new Enricher(compiled, new CsvDimensionSource(dimensions ?? Path.Combine(Dir, "dimensions")), TimeProvider.System);
        var pipeline = new Pipeline(compiled, enricher, counters, deadLetters, 4);
        var store = new InMemoryShardStore(compiled, 4);
        var writer = new CollectingSampleWriter();
        var coordinator = new FlushCoordinator(compiled, store, writer, counters, TimeProvider.System, new FlushOptions { ExpectedLanes = files.Count });
        var readers = files.Select(f => new LaneReader(f)).ToList();
        try
        {
            await new ReplayEngine(pipeline, store, coordinator, TimeProvider.System, chunkLines,
                parallel ? () => new Pipeline(compiled, enricher, counters, deadLetters, 4) : null).RunAsync(readers, null, CancellationToken.None);
        }
        finally
        {
            readers.ForEach(r => r.Dispose());
        }
        return (writer.Samples, counters);
    }

    /// <summary>The committed oracle output (tools/oracle/reference.py) as key → value.</summary>
    internal static Dictionary<string, double> OracleExpected(string? dir = null)
    {
        var expected = new Dictionary<string, double>();
        foreach (var line in File.ReadLines(Path.Combine(dir ?? Dir, "expected.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            var labels = root.GetProperty("labels").EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Name + "=" + p.Value.GetString());
            expected[root.GetProperty("name").GetString() + "{" + string.Join(",", labels) + "}@" + root.GetProperty("timestamp").GetInt64()] = root.GetProperty("value").GetDouble();
        }
        return expected;
    }

    internal static string GoldenDir => Dir;

    internal static IReadOnlyList<string> GoldenLanes => Lanes;

    internal static string KeyOf(Sample s) => s.Name + "{" + string.Join(",", s.Labels.Select(l => l.Name + "=" + l.Value)) + "}@" + s.TimestampMs;

    private static bool IsCount(string name) => name.EndsWith("_req", StringComparison.Ordinal) || name.EndsWith("_5xx", StringComparison.Ordinal)
        || name.EndsWith("_http_code", StringComparison.Ordinal) || name.EndsWith("_error_code", StringComparison.Ordinal);

    internal static void AssertSame(IReadOnlyDictionary<string, double> expected, IReadOnlyList<Sample> actual)
    {
        var got = actual.ToDictionary(KeyOf, s => s.Value);
        Assert.Equal(actual.Count, got.Count); // no duplicate (series, timestamp)
        Assert.Empty(expected.Keys.Except(got.Keys));
        Assert.Empty(got.Keys.Except(expected.Keys));
        foreach (var (key, value) in expected)
        {
            if (IsCount(key[..key.IndexOf('{')]))
            {
                Assert.Equal(value, got[key]);
            }
            else
            {
                Assert.True(Math.Abs(value - got[key]) <= 1e-9 * Math.Max(1, Math.Abs(value)), $"{key}: expected {value}, got {got[key]}");
            }
        }
    }

    [Theory]
    [InlineData(2048, false)]
    [InlineData(7, false)]
    [InlineData(2048, true)]
    [InlineData(7, true)]
    public async Task Replay_GoldenCorpus_EqualsInTestReferenceModel(int chunkLines, bool parallelLanes)
    {
        var reference = ReferenceModel.Run([.. Lanes.Select(l => Path.Combine(Dir, l))], Path.Combine(Dir, "dimensions"));
        var (samples, counters) = await ReplayAsync(chunkLines, parallelLanes);

        AssertSame(reference.Points.ToDictionary(p => p.Key, p => p.Value), samples);
        Assert.Equal(reference.Events, counters.Events);
        Assert.Equal(reference.Accepted, counters.Accepted);
        Assert.Equal(reference.Malformed, counters.Malformed);
        Assert.Equal(reference.Filtered, counters.Filtered);
        Assert.Equal(reference.Late, counters.Late);
        Assert.True(reference.Malformed > 0 && reference.Filtered > 0, "the corpus must exercise malformed and filtered records");
    }

    [Fact]
    public async Task Replay_GoldenCorpus_EqualsCommittedPythonOracle()
    {
        var expected = OracleExpected();
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected-summary.json")));

        var (samples, counters) = await ReplayAsync(512);

        AssertSame(expected, samples);
        Assert.Equal(summary.RootElement.GetProperty("malformed").GetInt64(), counters.Malformed);
        Assert.Equal(summary.RootElement.GetProperty("filtered").GetInt64(), counters.Filtered);
        Assert.Equal(summary.RootElement.GetProperty("events").GetInt64(), counters.Events);
        Assert.Equal(summary.RootElement.GetProperty("samples").GetInt64(), counters.Samples);
        Assert.Equal(summary.RootElement.GetProperty("accepted").GetInt64(), counters.Accepted);
        Assert.Equal(summary.RootElement.GetProperty("late").GetInt64(), counters.Late);
    }

    /// <summary>
    /// tests/TestData/late: one lane with events 60 s behind the lane's newest (tools/oracle/gen_corpus.py
    /// --late-lane --records 800 --seed 11), replayed and compared with the oracle's committed output:
    /// the late count is not 0 == 0 here, and every late event is left out of exactly the right samples.
    /// </summary>
    [Theory]
    [InlineData(2048)]
    [InlineData(7)]
    public async Task Replay_LateLaneCorpus_EqualsCommittedPythonOracle(int chunkLines)
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "TestData", "late");
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected-summary.json")));
        var expectedLate = summary.RootElement.GetProperty("late").GetInt64();

        var (samples, counters) = await ReplayFilesAsync([Path.Combine(dir, "lane-0.jsonl.gz")], chunkLines, dimensions: Path.Combine(dir, "dimensions"));

        Assert.True(expectedLate > 0, "the late corpus must have late events");
        Assert.Equal(expectedLate, counters.Late);
        AssertSame(OracleExpected(dir), samples);
        foreach (var key in new[] { "events", "accepted", "malformed", "filtered", "samples" })
        {
            var actual = key switch
            {
                "events" => counters.Events,
                "accepted" => counters.Accepted,
                "malformed" => counters.Malformed,
                "filtered" => counters.Filtered,
                _ => counters.Samples,
            };
            Assert.Equal(summary.RootElement.GetProperty(key).GetInt64(), actual);
        }
    }
}
