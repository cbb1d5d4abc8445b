using System.Text;
using LogMetrics.Core;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;

namespace LogMetrics.Core.Tests.Support;

/// <summary>The root pipeline.json, compiled, plus small helpers to run records through it.</summary>
public static class Flagship
{
    private static readonly Lazy<CompiledPipeline> Compiled = new(() => PipelineCompiler.CompileFile(PipelinePath));

    public static string PipelinePath => Path.Combine(AppContext.BaseDirectory, "pipeline.json");

    public static CompiledPipeline Pipeline => Compiled.Value;

    private static readonly Lazy<CompiledPipeline> CompiledWithAllSteps = new(() => PipelineCompiler.Compile(DefinitionLoader.LoadFile(PipelinePath), keepUnused: true));

    /// <summary>
    /// The root pipeline.json compiled with every step, also those whose fields nothing reads (its <c>parse-json</c> of
    /// <c>Ext5</c>, whose <c>ext5_appGroup</c> is only the fallback of an output no metric reads): for the tests of those
    /// steps. <see cref="Pipeline"/> is what runs.
    /// </summary>
    public static CompiledPipeline AllSteps => CompiledWithAllSteps.Value;

    /// <summary>An in-memory dimension source built from rows given per table.</summary>
    public sealed class MemorySource(Dictionary<string, List<Dictionary<string, string>>> tables) : IDimensionSource
    {
        public Task<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>> LoadAllAsync(TableSpec table, CancellationToken cancellationToken)
        {
            var rows = tables.GetValueOrDefault(table.Name) ?? [];
            IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>> result = rows.ToDictionary(
                r => new DimensionKey([.. table.KeyColumns.Select(c => r[c])]),
                r => (IReadOnlyDictionary<string, string>)r);
            return Task.FromResult(result);
        }

        public async Task<IReadOnlyDictionary<string, string>?> GetAsync(TableSpec table, DimensionKey key, CancellationToken cancellationToken)
        {
            var all = await LoadAllAsync(table, cancellationToken);
            return all.TryGetValue(key, out var row) ? row : null;
        }
    }

    public static MemorySource EmptyDimensions() => new(new());

    /// <summary>Runs lanes of raw lines (each lane one batch per <paramref name="batchLines"/>) through ingest, an in-memory store and the coordinator; returns samples and counters.</summary>
    public static async Task<(IReadOnlyList<Sample> Samples, PipelineCounters Counters, List<DeadLetter> DeadLetters)> RunAsync(
        CompiledPipeline compiled, IDimensionSource dimensions, IReadOnlyList<IReadOnlyList<string>> lanes, int batchLines = 1000, int shards = 4)
    {
        var counters = new PipelineCounters();
        var dead = new CollectingDeadLetters();
        var pipeline = new Pipeline(compiled, new Enricher(compiled, dimensions, TimeProvider.System), counters, dead, shards);
        var store = new InMemoryShardStore(compiled, shards);
        var writer = new CollectingSampleWriter();
        var coordinator = new FlushCoordinator(compiled, store, writer, counters, TimeProvider.System, new FlushOptions { ExpectedLanes = lanes.Count });
        var states = lanes.Select((_, i) => new LaneState($"lane-{i}")).ToArray();
        var positions = new int[lanes.Count];
        while (states.Any(s => !s.Finished))
        {
            for (var i = 0; i < lanes.Count; i++)
            {
                if (states[i].Finished) continue;
                var events = lanes[i].Skip(positions[i]).Take(batchLines)
                    .Select((line, k) => new LaneEvent(positions[i] + k + 1, Encoding.UTF8.GetBytes(line))).ToList();
                positions[i] += events.Count;
                states[i].Finished = positions[i] >= lanes[i].Count;
                var others = Watermark.Global(states.Where((s, j) => j != i && !s.Finished).Select(s => s.Watermark(compiled.OutOfOrdernessMs)).Append(Watermark.Final));
                var signals = await pipeline.IngestAsync(states[i], events, new IngestHorizon(coordinator.Sealed, others), TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds(), CancellationToken.None);
                for (var s = 0; s < signals.Length; s++) await store.SignalAsync(s, signals[s], CancellationToken.None);
                await coordinator.FlushAsync(false, CancellationToken.None);
            }
        }
        await coordinator.FlushAsync(true, CancellationToken.None);
        return (writer.Samples, counters, dead.Letters);
    }

    public sealed class CollectingDeadLetters : IDeadLetterSink
    {
        public List<DeadLetter> Letters { get; } = [];

        public void Write(DeadLetter letter) => Letters.Add(letter with { Raw = letter.Raw.ToArray() });
    }

    public static string Label(this Sample s, string name) => s.Labels.Single(l => l.Name == name).Value;
}
