using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Simulate;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.Flush;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Simulate;

/// <summary>
/// The simulation harness: the Azure path under the fault scheduler, a few fixed seeds per fault
/// level (CI keeps this small; <c>logmetrics simulate</c> runs the 90k corpus over many seeds), against
/// the console replay of the same partitions: same samples, same counts, every fault kind exercised.
/// </summary>
public sealed class SimulationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lm-sim-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CompiledPipeline Flagship() => PipelineCompiler.CompileFile(Path.Combine(AppContext.BaseDirectory, "pipeline.json"));

    public static TheoryData<int, FaultLevel> Seeds => new()
    {
        { 1, FaultLevel.None },
        { 1, FaultLevel.Default },
        { 3, FaultLevel.Default },
        { 4, FaultLevel.Default },
        { 1, FaultLevel.Heavy },
        { 2, FaultLevel.Heavy },
    };

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Simulate_UnderFaults_SameSamplesAsReplay(int seed, FaultLevel faults)
    {
        var files = TrafficGenerator.Write(_dir, new TrafficOptions { Lanes = 3, Records = 4_000, Seed = 9, DurationSeconds = 240, MaxDisorderSeconds = 4 });
        var dimensions = Path.Combine(_dir, "dimensions");
        var compiled = Flagship();
        var replay = await ReplayAsync(compiled, files, dimensions);

        var partitions = files.Select((f, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), (IReadOnlyList<LaneEvent>)SimulationRunner.ReadPartition(f))).ToList();
        var simulation = new Simulation(compiled, () => new Enricher(compiled, new CsvDimensionSource(dimensions), TimeProvider.System), partitions,
            new SimulationOptions { Seed = seed, Faults = faults, Shards = 8, MaxBatch = 150 });
        var result = await simulation.RunAsync(CancellationToken.None);

        var expected = replay.Samples.ToDictionary(CoordinatorTestKit.Key, s => s.Value, StringComparer.Ordinal);
        var actual = result.Samples.ToDictionary(CoordinatorTestKit.Key, s => s.Value, StringComparer.Ordinal);
        Assert.True(expected.Count > 1_000, $"only {expected.Count} samples");
        Assert.Empty(expected.Keys.Except(actual.Keys));
        Assert.Empty(actual.Keys.Except(expected.Keys));
        Assert.All(expected, kv => Assert.Equal(kv.Value, actual[kv.Key], 1e-9));
        Assert.Equal(replay.Counters.Accepted, result.Accepted);
        Assert.Equal(0, result.Late);
        Assert.Equal(result.Accepted, result.CountedRecords + result.Late);
        Assert.Equal(0, result.SamplesDropped);
        Assert.Equal(0, result.Faults.RejectedFreshRequests);
        if (faults != FaultLevel.None)
        {
            var f = result.Faults;
            Assert.True(f.Restarts > 0 && f.RedeliveredBatches > 0 && f.SignalsDeliveredTwice > 0 && f.SignalsReordered > 0 && f.TicksMoved > 0,
                $"faults not exercised: {f}");
        }
        Assert.True(result.Costs.MaxSignalsPerIngest <= 8);
        // A tick reads the headers (at most 1 KB each) and the closed windows it closes.
        Assert.True(result.Costs.LargestHeaderBytes <= 1024, $"header of {result.Costs.LargestHeaderBytes} bytes");
        Assert.True(result.Costs.TickBytesRead <= (2 * result.Costs.TickClosedBytes) + (1024L * 8 * result.Costs.TicksWithClosedWindows), $"{result.Costs}");
        Assert.True(result.Costs.WorstTickExcessPerShard <= 1024, $"{result.Costs}");
    }

    [Theory]
    [InlineData(1, FaultLevel.Default)]
    [InlineData(1, FaultLevel.Heavy)]
    [InlineData(2, FaultLevel.Heavy)]
    public async Task Simulate_LateEvents_EveryAcceptedEventInOneWindowOrLate(int seed, FaultLevel faults)
    {
        var files = TrafficGenerator.Write(_dir, new TrafficOptions { Lanes = 2, Records = 3_000, Seed = 5, DurationSeconds = 180, MaxDisorderSeconds = 4, MalformedRate = 0 });
        // Lane 0 ends with copies of its first 60 records: minutes behind its watermark, so those accepted are late.
        var lines = File.ReadAllLines(files[0]).Where(l => l.Length > 0).ToList();
        File.WriteAllLines(files[0], lines.Concat(lines.Take(60)));
        var dimensions = Path.Combine(_dir, "dimensions");
        var compiled = Flagship();
        var partitions = files.Select((f, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), (IReadOnlyList<LaneEvent>)SimulationRunner.ReadPartition(f))).ToList();

        var result = await new Simulation(compiled, () => new Enricher(compiled, new CsvDimensionSource(dimensions), TimeProvider.System), partitions,
            new SimulationOptions { Seed = seed, Faults = faults, Shards = 8, MaxBatch = 150 }).RunAsync(CancellationToken.None);

        var requests = result.Samples.Where(x => x.Name == "namespace_product_gw_http_req").Sum(x => x.Value);
        Assert.True(result.Late > 30, $"late {result.Late}");
        Assert.Equal(result.Accepted, requests + result.Late);
        Assert.Equal(result.Accepted, result.CountedRecords + result.Late);
        Assert.Equal(0, result.SamplesDropped);
    }

    [Fact]
    public async Task Simulate_SameSeed_SameRun()
    {
        var files = TrafficGenerator.Write(_dir, new TrafficOptions { Lanes = 2, Records = 1_500, Seed = 4, DurationSeconds = 120, MaxDisorderSeconds = 4 });
        var dimensions = Path.Combine(_dir, "dimensions");
        var compiled = Flagship();
        var partitions = files.Select((f, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), (IReadOnlyList<LaneEvent>)SimulationRunner.ReadPartition(f))).ToList();
        async Task<SimulationResult> Run() => await new Simulation(compiled, () => new Enricher(compiled, new CsvDimensionSource(dimensions), TimeProvider.System), partitions,
            new SimulationOptions { Seed = 7, Faults = FaultLevel.Heavy, Shards = 4 }).RunAsync(CancellationToken.None);

        var a = await Run();
        var b = await Run();

        Assert.Equal(a.Faults, b.Faults);
        Assert.Equal(a.Costs, b.Costs);
    }

    private static async Task<(IReadOnlyList<Sample> Samples, PipelineCounters Counters)> ReplayAsync(CompiledPipeline compiled, IReadOnlyList<string> files, string dimensions)
    {
        var clock = new FakeTimeProvider();
        var counters = new PipelineCounters();
        var pipeline = new Pipeline(compiled, new Enricher(compiled, new CsvDimensionSource(dimensions), clock), counters, NullDeadLetterSink.Instance, 8);
        var store = new InMemoryShardStore(compiled, 8);
        var writer = new CollectingSampleWriter();
        var coordinator = new FlushCoordinator(compiled, store, writer, counters, clock);
        var readers = files.Select(f => new LaneReader(f)).ToList();
        try
        {
            await new ReplayEngine(pipeline, store, coordinator, clock, chunkLines: 512).RunAsync(readers, null, CancellationToken.None);
        }
        finally
        {
            foreach (var r in readers) r.Dispose();
        }
        return (writer.Samples, counters);
    }
}
