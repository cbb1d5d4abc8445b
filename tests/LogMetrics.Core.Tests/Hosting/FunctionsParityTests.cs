using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Hosting;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.Flush;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Hosting;

/// <summary>
/// The console replay and the Functions app, fed the same events, write the same samples. The
/// corpus has at most 4 s of disorder per lane, below the pipeline's 5 s out-of-orderness, so no
/// event is ever behind its own lane's watermark: no event is late, and the replay's per-event
/// lateness (exact horizon) and the Functions host's per-batch lateness (decided by the shards)
/// agree. With late events the two may legitimately differ at window edges.
/// </summary>
public sealed class FunctionsParityTests : IDisposable
{
    private const int Shards = 8;
    private readonly string _dir = Directory.CreateTempSubdirectory("lm-parity-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CompiledPipeline Flagship() => PipelineCompiler.CompileFile(Path.Combine(AppContext.BaseDirectory, "pipeline.json"));

    [Fact]
    public async Task FunctionsWay_SameEventsAsReplay_SameSamples()
    {
        var files = TrafficGenerator.Write(_dir, new TrafficOptions { Lanes = 3, Records = 3_000, Seed = 5, DurationSeconds = 240, MaxDisorderSeconds = 4 });
        var dimensions = Path.Combine(_dir, "dimensions");
        var compiled = Flagship();
        Assert.True(4_000 < compiled.OutOfOrdernessMs + 1, "the corpus's disorder must stay below the out-of-orderness");

        var (replay, replayCounters) = await ReplayAsync(compiled, files, dimensions);
        var (functions, functionsCounters, store) = await FunctionsWayAsync(compiled, files, dimensions);

        Assert.Equal(0, replayCounters.Late);
        Assert.Equal(0, functionsCounters.Late);
        Assert.Equal(0, replayCounters.ShardLateContributions);
        Assert.Equal(0, functionsCounters.ShardLateContributions);
        Assert.Equal(0, functionsCounters.OverlappingSignals);
        Assert.True(functionsCounters.DuplicateSignals > 0, "the Functions run must have seen redeliveries");
        Assert.True(store.Applied > 0);
        Assert.Equal(replayCounters.Accepted, functionsCounters.Accepted - Redelivered.Accepted);

        Assert.True(replay.Count > 1_000, $"only {replay.Count} samples: the corpus is too small to say much");
        // A tick that reads a shard before the previous tick's evict was applied (entity backlog)
        // writes that window again: identical samples, which remote write accepts as a no-op. What
        // must never happen is a different value for the same (series, timestamp).
        Assert.Empty(functions.Conflicts);
        var expected = replay.ToDictionary(CoordinatorTestKit.Key, s => s.Value, StringComparer.Ordinal);
        var actual = functions.Distinct();
        Assert.Empty(expected.Keys.Except(actual.Keys));
        Assert.Empty(actual.Keys.Except(expected.Keys));
        Assert.All(expected, kv => Assert.Equal(kv.Value, actual[kv.Key]));
    }

    /// <summary>(a) The console: <see cref="ReplayEngine"/> over an <see cref="InMemoryShardStore"/>.</summary>
    private static async Task<(IReadOnlyList<Sample>, PipelineCounters)> ReplayAsync(CompiledPipeline compiled, IReadOnlyList<string> files, string dimensions)
    {
        var clock = new FakeTimeProvider();
        var counters = new PipelineCounters();
        var pipeline = new Pipeline(compiled, new Enricher(compiled, new CsvDimensionSource(dimensions), clock), counters, NullDeadLetterSink.Instance, Shards);
        var store = new InMemoryShardStore(compiled, Shards);
        var writer = new CollectingSampleWriter();
        var coordinator = new FlushCoordinator(compiled, store, writer, counters, clock);
        var readers = files.Select(f => new LaneReader(f)).ToList();
        try
        {
            await new ReplayEngine(pipeline, store, coordinator, clock, chunkLines: 97).RunAsync(readers, null, CancellationToken.None);
        }
        finally
        {
            foreach (var r in readers) r.Dispose();
        }
        return (writer.Samples, counters);
    }

    /// <summary>What the redelivered batches added to the ingest counters (they are parsed again; the shards ignore them).</summary>
    private static class Redelivered
    {
        public static long Accepted { get; set; }
    }

    /// <summary>
    /// (b) The Functions app: batches of varying size per lane (sequence = line number, as Event Hubs
    /// sequence numbers) through <see cref="LaneIngestor"/> (<see cref="IngestHorizon.Unknown"/>),
    /// signals queued in a durable-entity double that reorders across shards and delivers some
    /// twice, some batches redelivered whole, timer ticks between batches, then end of input.
    /// </summary>
    private static async Task<(RecordingWriter, PipelineCounters, QueuedShardStore)> FunctionsWayAsync(CompiledPipeline compiled, IReadOnlyList<string> files, string dimensions)
    {
        var clock = new FakeTimeProvider();
        var counters = new PipelineCounters();
        var enricher = new Enricher(compiled, new CsvDimensionSource(dimensions), clock);
        var ingestor = new LaneIngestor(compiled, enricher, counters, NullDeadLetterSink.Instance, Shards, clock);
        var store = new QueuedShardStore(compiled, Shards, seed: 3) { DuplicateEvery = 5 };
        var writer = new RecordingWriter();
        var ticker = new FlushTicker(compiled, Shards, writer, counters, clock, new FlushOptions { ExpectedLanes = files.Count });
        var random = new Random(42);
        int[] sizes = [1, 17, 256, 64, 333, 5, 128];

        var lanes = files.Select(f => File.ReadAllLines(f).Select(System.Text.Encoding.UTF8.GetBytes).ToArray()).ToArray();
        var positions = new int[lanes.Length];
        Redelivered.Accepted = 0;
        for (var batch = 0; positions.Select((p, i) => p < lanes[i].Length).Any(open => open); batch++)
        {
            var lane = batch % lanes.Length;
            if (positions[lane] >= lanes[lane].Length) continue;
            var count = Math.Min(sizes[batch % sizes.Length], lanes[lane].Length - positions[lane]);
            var bodies = lanes[lane][positions[lane]..(positions[lane] + count)];
            var sequences = Enumerable.Range(positions[lane] + 1, count).Select(n => (long)n).ToArray();
            positions[lane] += count;

            await ingestor.IngestAsync($"{lane}", bodies, sequences, store, CancellationToken.None);
            if (batch % 7 == 3)
            {
                // Redelivered after a "crash" before the checkpoint: same batch, same sequence numbers.
                var before = counters.Accepted;
                await ingestor.IngestAsync($"{lane}", bodies, sequences, store, CancellationToken.None);
                Redelivered.Accepted += counters.Accepted - before;
            }

            // The entities catch up partly; the timer fires now and then.
            for (var i = random.Next(3 * Shards); i > 0 && store.PumpOne(); i--)
            {
            }
            if (batch % 4 == 0)
            {
                await ticker.TickAsync(store, endOfInput: false, CancellationToken.None);
            }
        }

        for (var lane = 0; lane < lanes.Length; lane++)
        {
            await ingestor.EndLaneAsync($"{lane}", lanes[lane].Length + 1, store, CancellationToken.None);
        }
        for (var i = 0; i < 60; i++)
        {
            // A tick writes the oldest closed window of each family and shard; the backlog takes a few.
            store.PumpAll();
            await ticker.TickAsync(store, endOfInput: true, CancellationToken.None);
        }
        store.PumpAll();
        return (writer, counters, store);
    }
}
