using System.Text;
using System.Text.Json;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.EndToEnd;

namespace LogMetrics.Core.Tests.Support;

/// <summary>The golden corpus's lane 0 fed to a flagship <see cref="Pipeline"/> batch by batch, as a host does.</summary>
internal static class GoldenBatches
{
    public static readonly string[] Lines = [.. File.ReadLines(Path.Combine(GoldenCorpusTests.GoldenDir, "lane-0.jsonl"))];

    /// <summary>A flagship pipeline with the golden corpus's tables (or <paramref name="source"/>).</summary>
    public static Pipeline NewPipeline(int shards, IDeadLetterSink? deadLetters = null, IDimensionSource? source = null) =>
        new(Flagship.Pipeline,
            new Enricher(Flagship.Pipeline, source ?? new CsvDimensionSource(Path.Combine(GoldenCorpusTests.GoldenDir, "dimensions")), TimeProvider.System),
            new PipelineCounters(), deadLetters ?? NullDeadLetterSink.Instance, shards);

    /// <summary>The lane in batches of <paramref name="batchLines"/>, each batch's lines again in the batch after it (series meet again).</summary>
    public static List<List<LaneEvent>> Of(int batchLines)
    {
        var batches = new List<List<LaneEvent>>();
        for (var at = 0; at < Lines.Length; at += batchLines)
        {
            var events = Lines.Skip(at).Take(batchLines).Select((l, i) => new LaneEvent(at + i + 1, Encoding.UTF8.GetBytes(l))).ToList();
            batches.Add(events);
            batches.Add([.. events.Select(e => e with { Sequence = e.Sequence + 1_000_000 })]);
        }
        return batches;
    }

    /// <summary>Signals as text, to compare batch for batch.</summary>
    public static string Snapshot(ShardSignal[] signals) => JsonSerializer.Serialize(signals);
}
