using LogMetrics.Core;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Simulate;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Write;
using LogMetrics.IntegrationTests.Write;
using Xunit;

namespace LogMetrics.IntegrationTests.Simulate;

/// <summary>
/// The Azure path under faults, written through the real remote-write client into a real Prometheus:
/// crashes between write and evict, ticks moved between instances and overlapping ticks re-send
/// windows, and every re-send must be a harmless 204. Every sample the console replay produces is
/// read back from the server, and none is counted as dropped.
/// </summary>
public sealed class SimulateIntoPrometheusTests(PrometheusFixture prometheus) : IClassFixture<PrometheusFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lm-simprom-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Simulate_HeavyFaults_EveryExpectedSampleInPrometheus_NoneDropped()
    {
        // Recent enough for Prometheus, and on a minute boundary: every run has the same windows, so the
        // seeded run (and the faults it exercises) is the same whenever the test runs.
        var start = DateTimeOffset.UtcNow.AddMinutes(-20).ToUnixTimeSeconds() / 60 * 60;
        var files = TrafficGenerator.Write(_dir, new TrafficOptions { Lanes = 2, Records = 2_000, Seed = 13, StartEpochSeconds = start, DurationSeconds = 300, MaxDisorderSeconds = 4 });
        var dimensions = Path.Combine(_dir, "dimensions");
        var compiled = PipelineCompiler.CompileFile(Path.Combine(AppContext.BaseDirectory, "pipeline.json"));
        var expected = await ReplayAsync(compiled, files, dimensions);

        using var client = RemoteWriteClient.Create(compiled.Definition.RemoteWrite, prometheus.RemoteWriteUri.ToString(), "none");
        var partitions = files.Select((f, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), (IReadOnlyList<LaneEvent>)SimulationRunner.ReadPartition(f))).ToList();
        var result = await new Simulation(compiled, () => new Enricher(compiled, new CsvDimensionSource(dimensions), TimeProvider.System), partitions,
            new SimulationOptions { Seed = 7, Faults = FaultLevel.Heavy, Shards = 4, MaxBatch = 120 }, client).RunAsync(CancellationToken.None);

        Assert.True(result.Faults.CrashesInFlushBetweenWriteAndEvict > 0, $"no crash between write and evict: {result.Faults}");
        Assert.True(result.Faults.TicksMoved > 0 && result.Faults.OverlappingTicks > 0, $"no moved or overlapping ticks: {result.Faults}");
        Assert.Equal(0, result.SamplesDropped);
        Assert.True(expected.Count > 500, $"only {expected.Count} samples");
        await RemoteWriteRoundTrip.AssertReadBackAsync(prometheus.Query, expected, TimeSpan.Zero);
    }

    private static async Task<IReadOnlyList<Sample>> ReplayAsync(CompiledPipeline compiled, IReadOnlyList<string> files, string dimensions)
    {
        var counters = new PipelineCounters();
        var pipeline = new Pipeline(compiled, new Enricher(compiled, new CsvDimensionSource(dimensions), TimeProvider.System), counters, NullDeadLetterSink.Instance, 4);
        var store = new InMemoryShardStore(compiled, 4);
        var writer = new CollectingSampleWriter();
        var coordinator = new FlushCoordinator(compiled, store, writer, counters, TimeProvider.System);
        var readers = files.Select(f => new LaneReader(f)).ToList();
        try
        {
            await new ReplayEngine(pipeline, store, coordinator, TimeProvider.System, chunkLines: 256).RunAsync(readers, null, CancellationToken.None);
        }
        finally
        {
            foreach (var r in readers) r.Dispose();
        }
        return writer.Samples;
    }
}
