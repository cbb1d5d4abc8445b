using LogMetrics.Core.Enrich;
using LogMetrics.Core.Simulate;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.EndToEnd;

/// <summary>
/// The Azure path under the simulator with no faults gives exactly the oracle's samples for the golden
/// corpus. Its data spans 6 minutes, longer than source.maxFutureSeconds: a wall-clock check under the
/// simulated clock (which starts at the first event) would dead-letter the last minute.
/// </summary>
public class SimulationWithoutFaultsTests
{
    [Fact]
    public async Task Simulate_GoldenCorpusNoFaults_EqualsCommittedPythonOracle()
    {
        var compiled = Flagship.Pipeline;
        var dimensions = Path.Combine(GoldenCorpusTests.GoldenDir, "dimensions");
        var partitions = GoldenCorpusTests.GoldenLanes
            .Select((lane, i) => (Lane: i.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Events: (IReadOnlyList<LaneEvent>)SimulationRunner.ReadPartition(Path.Combine(GoldenCorpusTests.GoldenDir, lane))))
            .ToList();
        var simulation = new Simulation(compiled, () => new Enricher(compiled, new CsvDimensionSource(dimensions), TimeProvider.System), partitions,
            new SimulationOptions { Seed = 5, Faults = FaultLevel.None });

        var result = await simulation.RunAsync(CancellationToken.None);

        GoldenCorpusTests.AssertSame(GoldenCorpusTests.OracleExpected(), result.Samples);
    }
}
