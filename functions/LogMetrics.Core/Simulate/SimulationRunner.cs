using System.Text.Json;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Replay;

namespace LogMetrics.Core.Simulate;

/// <summary>Reads the partitions, runs a <see cref="Simulation"/> and writes samples and the summary: what <c>logmetrics simulate</c> does.</summary>
public static class SimulationRunner
{
    /// <summary>Every line of a lane file as one event, sequence number = line number (blank lines included).</summary>
    public static List<LaneEvent> ReadPartition(string path)
    {
        using var reader = new LaneReader(path);
        var events = new List<LaneEvent>();
        while (!reader.Finished)
        {
            foreach (var e in reader.ReadChunk(4096)) events.Add(new LaneEvent(e.Sequence, e.Body.ToArray()));
        }
        return events;
    }

    public static async Task<SimulationResult> RunAsync(CompiledPipeline compiled, string dimensionsDirectory, IReadOnlyList<string> files,
        SimulationOptions options, ISampleWriter? remote, string? outPath, string? summaryPath, CancellationToken cancellationToken)
    {
        var partitions = files.Select((f, i) => (Lane: i.ToString(System.Globalization.CultureInfo.InvariantCulture), Events: (IReadOnlyList<LaneEvent>)ReadPartition(f))).ToList();
        var simulation = new Simulation(compiled, () => new Enricher(compiled, new CsvDimensionSource(dimensionsDirectory), TimeProvider.System), partitions, options, remote);
        var result = await simulation.RunAsync(cancellationToken).ConfigureAwait(false);
        if (outPath is not null)
        {
            await using var stream = new FileStream(outPath, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 20);
            using var writer = new JsonlSampleWriter(stream);
            var sorted = result.Samples.ToList();
            sorted.Sort(SampleOrder.Instance);
            await writer.WriteAsync(sorted, cancellationToken).ConfigureAwait(false);
        }
        if (summaryPath is not null)
        {
            await using var stream = File.Create(summaryPath);
            await JsonSerializer.SerializeAsync(stream, Summary(result), SimulationJsonContext.Default.DictionaryStringObject, cancellationToken).ConfigureAwait(false);
        }
        return result;
    }

    /// <summary>The summary file: replay's counts, then the faults exercised and the costs.</summary>
    public static Dictionary<string, object> Summary(SimulationResult r) => new()
    {
        ["events"] = r.Events,
        ["accepted"] = r.Accepted,
        ["malformed"] = r.Malformed,
        ["filtered"] = r.Filtered,
        ["late"] = r.Late,
        ["samples"] = r.Samples.Count,
        ["samples_dropped"] = r.SamplesDropped,
        ["duplicate_signals"] = r.DuplicateSignals,
        ["superseded_signals"] = r.SupersededSignals,
        ["counted_records"] = r.CountedRecords,
        ["faults"] = r.Faults,
        ["costs"] = r.Costs,
    };
}
