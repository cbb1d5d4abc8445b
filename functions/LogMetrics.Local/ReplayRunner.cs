using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using LogMetrics.Core;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Telemetry;

namespace LogMetrics.Local;

/// <summary>Everything a replay needs, resolved from the command line.</summary>
public sealed record ReplaySettings
{
    public required string PipelinePath { get; init; }
    public required string DimensionsDirectory { get; init; }
    public required IReadOnlyList<string> Files { get; init; }
    public string? OutPath { get; init; }
    public string? SummaryPath { get; init; }
    public string? DeadLetterPath { get; init; }
    public IReadOnlyList<ISampleWriter> ExtraWriters { get; init; } = [];
    public int ShardCount { get; init; } = 8;
    public int ChunkLines { get; init; } = 2048;
    /// <summary>Ingest lanes in parallel rounds (deterministic; see ReplayEngine).</summary>
    public bool Parallel { get; init; } = Environment.ProcessorCount > 1;
}

/// <summary>The outcome of a replay: the counters the summary file and the final report show.</summary>
public sealed record ReplayOutcome(PipelineCounters Counters, Enricher Enricher, TimeSpan Elapsed, long Bytes, int Lanes, ReplayProgress Last);

/// <summary>Runs a replay: the console host's composition of the core (no Azure anywhere).</summary>
public static class ReplayRunner
{
    public static async Task<ReplayOutcome> RunAsync(ReplaySettings settings, CompiledPipeline compiled, Action<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        foreach (var file in settings.Files)
        {
            if (!File.Exists(file)) throw new FileNotFoundException($"input file not found: {file}", file);
        }
        if (!Directory.Exists(settings.DimensionsDirectory))
        {
            throw new DirectoryNotFoundException($"dimensions directory not found: {settings.DimensionsDirectory}");
        }
        foreach (var lookup in compiled.Lookups)
        {
            var csv = Path.Combine(settings.DimensionsDirectory, lookup.Definition.Name + ".csv");
            if (!File.Exists(csv)) throw new FileNotFoundException($"dimension table for lookup '{lookup.Definition.Name}' not found: {csv}", csv);
        }

        var counters = new PipelineCounters();
        var clock = TimeProvider.System;
        var enricher = new Enricher(compiled, new CsvDimensionSource(settings.DimensionsDirectory), clock);
        using var deadLetters = settings.DeadLetterPath is null ? null : new JsonlDeadLetterSink(CreateOutput(settings.DeadLetterPath));
        using var samplesOut = settings.OutPath is null ? null : new JsonlSampleWriter(CreateOutput(settings.OutPath));
        var writers = new List<ISampleWriter>();
        if (samplesOut is not null) writers.Add(samplesOut);
        writers.AddRange(settings.ExtraWriters);
        if (writers.Count == 0) writers.Add(new CollectingSampleWriter());
        ISampleWriter writer = writers.Count == 1 ? writers[0] : new FanOutSampleWriter(writers);

        var deadLetterSink = (IDeadLetterSink?)deadLetters ?? NullDeadLetterSink.Instance;
        var pipeline = new Pipeline(compiled, enricher, counters, deadLetterSink, settings.ShardCount);
        var store = new InMemoryShardStore(compiled, settings.ShardCount);
        var coordinator = new FlushCoordinator(compiled, store, writer, counters, clock,
            new FlushOptions { MaxPendingSamples = compiled.Definition.RemoteWrite.MaxPendingSamples, ExpectedLanes = settings.Files.Count });
        // One pipeline per lane so lanes ingest in parallel (each pipeline handles one batch at a time);
        // they share the caches, counters and dead-letter file.
        var engine = new ReplayEngine(pipeline, store, coordinator, clock, settings.ChunkLines,
            settings.Parallel ? () => new Pipeline(compiled, enricher, counters, deadLetterSink, settings.ShardCount) : null);

        var readers = settings.Files.Select(f => new LaneReader(f)).ToList();
        var started = clock.GetTimestamp();
        ReplayProgress last;
        try
        {
            last = await engine.RunAsync(readers, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            foreach (var r in readers) r.Dispose();
        }
        var elapsed = clock.GetElapsedTime(started);

        if (settings.SummaryPath is not null)
        {
            await using var summary = File.Create(settings.SummaryPath);
            await JsonSerializer.SerializeAsync(summary, new Dictionary<string, long>
            {
                ["events"] = counters.Events,
                ["accepted"] = counters.Accepted,
                ["malformed"] = counters.Malformed,
                ["filtered"] = counters.Filtered,
                ["late"] = counters.Late,
                ["samples"] = counters.Samples,
            }, SummaryJsonContext.Default.DictionaryStringInt64, cancellationToken).ConfigureAwait(false);
        }
        return new ReplayOutcome(counters, enricher, elapsed, last.BytesRead, settings.Files.Count, last);
    }

    /// <summary>An output file with a 1 MiB buffer: samples are small and many.</summary>
    private static FileStream CreateOutput(string path) =>
        new(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 1 << 20);

    public static string Rate(double count, TimeSpan elapsed) =>
        (count / Math.Max(elapsed.TotalSeconds, 1e-9)).ToString("N0", CultureInfo.InvariantCulture);
}

/// <summary>Source-generated serializer of the summary file (no reflection: the published binary is Native AOT).</summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(Dictionary<string, long>))]
internal sealed partial class SummaryJsonContext : JsonSerializerContext;
