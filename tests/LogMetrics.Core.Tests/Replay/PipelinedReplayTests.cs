using System.Globalization;
using System.Text.RegularExpressions;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.EndToEnd;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Replay;

/// <summary>
/// The pipelined replay (stages joined by channels, chunks of one lane prepared on several workers)
/// gives the samples and counts of the in-test reference model and of the sequential replay, whatever
/// the chunk size, for one lane and for several, with late events; dead letters keep lane order.
/// </summary>
public class PipelinedReplayTests
{
    private static string Golden(string name) => Path.Combine(GoldenCorpusTests.GoldenDir, name);

    /// <summary>Golden lane 0 with every 40th record after the 100th moved 60 s back: late once the lane is past it.</summary>
    private static string LateLane()
    {
        var path = Path.Combine(Path.GetTempPath(), $"logmetrics-late-{Guid.NewGuid():N}.jsonl");
        var lines = File.ReadAllLines(Golden("lane-0.jsonl"));
        for (var i = 100; i < lines.Length; i += 40)
        {
            lines[i] = Regex.Replace(lines[i], "\"__time__\":(\\d+)", m => "\"__time__\":" + (long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) - 60).ToString(CultureInfo.InvariantCulture));
        }
        File.WriteAllLines(path, lines);
        return path;
    }

    public static TheoryData<int> ChunkSizes => new() { 1, 7, 64, 2048 };

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public async Task Pipelined_OneLaneWithLateEvents_EqualsReferenceAndSequential(int chunkLines)
    {
        var lane = LateLane();
        try
        {
            var reference = ReferenceModel.Run([lane], Golden("dimensions"));
            var (sequential, sequentialCounters) = await GoldenCorpusTests.ReplayFilesAsync([lane], chunkLines, parallel: false);
            var (pipelined, counters) = await GoldenCorpusTests.ReplayFilesAsync([lane], chunkLines, parallel: true);

            Assert.True(reference.Late > 0, "the lane must have late events");
            GoldenCorpusTests.AssertSame(reference.Points.ToDictionary(p => p.Key, p => p.Value), pipelined);
            Assert.Equal(sequential.Select(GoldenCorpusTests.KeyOf).Order(StringComparer.Ordinal), pipelined.Select(GoldenCorpusTests.KeyOf).Order(StringComparer.Ordinal));
            Assert.Equal((reference.Events, reference.Accepted, reference.Malformed, reference.Filtered, reference.Late),
                (counters.Events, counters.Accepted, counters.Malformed, counters.Filtered, counters.Late));
            Assert.Equal(sequentialCounters.Late, counters.Late);
        }
        finally
        {
            File.Delete(lane);
        }
    }

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public async Task Pipelined_ThreeLanes_RepeatedRunsGiveTheSameSamples(int chunkLines)
    {
        var lane = LateLane();
        try
        {
            string[] files = [Golden("lane-0.jsonl"), Golden("lane-1.jsonl.gz"), lane];
            var (first, firstCounters) = await GoldenCorpusTests.ReplayFilesAsync(files, chunkLines, parallel: true);
            for (var run = 0; run < 3; run++)
            {
                var (again, counters) = await GoldenCorpusTests.ReplayFilesAsync(files, chunkLines, parallel: true);
                Assert.Equal(first.Select(s => GoldenCorpusTests.KeyOf(s) + "=" + s.Value.ToString("R", CultureInfo.InvariantCulture)).Order(StringComparer.Ordinal),
                    again.Select(s => GoldenCorpusTests.KeyOf(s) + "=" + s.Value.ToString("R", CultureInfo.InvariantCulture)).Order(StringComparer.Ordinal));
                Assert.Equal((firstCounters.Accepted, firstCounters.Late, firstCounters.Samples), (counters.Accepted, counters.Late, counters.Samples));
            }
        }
        finally
        {
            File.Delete(lane);
        }
    }

    [Fact]
    public async Task Pipelined_DeadLetters_WrittenInLaneOrder()
    {
        var dead = new Flagship.CollectingDeadLetters();
        var (_, counters) = await GoldenCorpusTests.ReplayFilesAsync([Golden("lane-0.jsonl"), Golden("lane-1.jsonl.gz")], 16, parallel: true, deadLetters: dead);

        Assert.Equal(counters.Malformed, dead.Letters.Count);
        foreach (var lane in dead.Letters.GroupBy(l => l.Lane))
        {
            var sequences = lane.Select(l => l.Sequence).ToList();
            Assert.Equal(sequences.Order(), sequences);
        }
    }

    [Fact]
    public async Task Pipelined_DimensionTableMissing_FailsWithTheLookupError()
    {
        var empty = Directory.CreateTempSubdirectory("logmetrics-nodims-").FullName;
        var compiled = Flagship.Pipeline;
        var counters = new PipelineCounters();
        var enricher = new Enricher(compiled, new CsvDimensionSource(empty), TimeProvider.System);
        var pipeline = new Pipeline(compiled, enricher, counters, NullDeadLetterSink.Instance, 4);
        var store = new InMemoryShardStore(compiled, 4);
        var coordinator = new FlushCoordinator(compiled, store, new CollectingSampleWriter(), counters, TimeProvider.System, new FlushOptions { ExpectedLanes = 2 });
        var readers = new List<LaneReader> { new(Golden("lane-0.jsonl")), new(Golden("lane-1.jsonl.gz")) };
        try
        {
            var engine = new ReplayEngine(pipeline, store, coordinator, TimeProvider.System, 32, () => new Pipeline(compiled, enricher, counters, NullDeadLetterSink.Instance, 4));
            await Assert.ThrowsAsync<LookupLoadException>(() => engine.RunAsync(readers, null, CancellationToken.None));
        }
        finally
        {
            readers.ForEach(r => r.Dispose());
            Directory.Delete(empty, true);
        }
    }

    [Theory]
    [InlineData(2, 2)]
    [InlineData(3, 1)]
    [InlineData(4, 3)]
    public async Task Pipelined_ChunkBuffers_AllMadeBeforeTheWorkersStart(int workers, int lanes)
    {
        // Lanes read chunk by chunk into buffers (not read whole: a file of more than 1 MiB, a gzip lane), many chunks
        // each; the buffers for the chunks the workers can hold are made before they start, so none is made after.
        var compiled = Flagship.Pipeline;
        var counters = new PipelineCounters();
        var enricher = new Enricher(compiled, new CsvDimensionSource(Golden("dimensions")), TimeProvider.System);
        var pipeline = new Pipeline(compiled, enricher, counters, NullDeadLetterSink.Instance, 4);
        var store = new InMemoryShardStore(compiled, 4);
        var coordinator = new FlushCoordinator(compiled, store, new CollectingSampleWriter(), counters, TimeProvider.System, new FlushOptions { ExpectedLanes = lanes });
        string[] files = [Golden("lane-0.jsonl"), Golden("lane-1.jsonl.gz"), Golden("lane-0.jsonl")];
        var readers = files.Take(lanes).Select(f => new LaneReader(f)).ToList();
        try
        {
            Assert.All(readers, r => Assert.False(r.ReadsInPlace));
            var engine = new ReplayEngine(pipeline, store, coordinator, TimeProvider.System, 16, () => new Pipeline(compiled, enricher, counters, NullDeadLetterSink.Instance, 4), workers);
            await engine.RunAsync(readers, null, CancellationToken.None);

            Assert.False(engine.RanInline);
            Assert.True(counters.Events > 16 * 20 * lanes, "every lane must be many chunks");
            // One per lane for its first chunk, and the workers' own.
            Assert.Equal((lanes + (workers * ReplayEngine.Slots(workers)), 0), engine.Arenas);
        }
        finally
        {
            readers.ForEach(r => r.Dispose());
        }
    }
}
