using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using LogMetrics.Core;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Telemetry;

namespace LogMetrics.Benchmarks.Pipeline;

/// <summary>
/// The ingest hot path on flagship-shaped records (≈4.5 KB each), one 2 048-line batch per op:
/// Parse alone, Parse + Prune, and the whole ingest (Parse → Prune → Enrich → Accumulate → shard
/// signals), against the baseline of <see cref="Utf8JsonReader"/> reading every token of the same
/// lines and keeping nothing (as <c>../shared/anchors</c> <c>StjAnchor.cs tokenize</c>). The Ratio
/// column is each row's time over that baseline, in the same run; Allocated / 2 048 is the bytes
/// per record. The parser is set up as <see cref="LogMetrics.Core.Pipeline"/> sets up its own: where <c>parse-json</c>'s
/// source is walked in the line (<c>Ext5</c>), that walk is in Parse, and Prune only sets the fields it staged.
/// <see cref="Ingest"/> hands its signals back (<see cref="LogMetrics.Core.Pipeline.Recycle"/>)
/// as a host does once the shards applied them; <see cref="IngestSignalsNotRecycled"/> does not.
/// </summary>
[MemoryDiagnoser]
public class IngestBenchmarks
{
    private CompiledPipeline _compiled = null!;
    private LaneEvent[] _events = null!;
    private LogMetrics.Core.Pipeline _pipeline = null!;
    private RecordParser _parser = null!;
    private Record _record = null!;
    private LogMetrics.Core.Prune.ProcessorStep[] _steps = null!;
    private long _bytes;

    [GlobalSetup]
    public void Setup()
    {
        var dir = Path.Combine(Path.GetTempPath(), "logmetrics-bench");
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        // LOGMETRICS_BENCH_CORPUS=<dir> benchmarks the first 2 048 lines of <dir>/lane-0.jsonl (e.g. a
        // tools/oracle corpus) with <dir>/dimensions; otherwise a generated flagship batch.
        var corpus = Environment.GetEnvironmentVariable("LOGMETRICS_BENCH_CORPUS");
        if (corpus is null)
        {
            TrafficGenerator.Write(dir, new TrafficOptions { Lanes = 1, Records = 2048, Seed = 5 });
        }
        else
        {
            dir = corpus;
        }
        _events = [.. File.ReadLines(Path.Combine(dir, "lane-0.jsonl")).Where(l => l.Length > 0).Take(2048).Select((l, i) => new LaneEvent(i + 1, Encoding.UTF8.GetBytes(l)))];
        _bytes = _events.Sum(e => (long)e.Body.Length);
        _compiled = PipelineCompiler.CompileFile(Path.Combine(AppContext.BaseDirectory, "pipeline.json"));
        var enricher = new Enricher(_compiled, new CsvDimensionSource(Path.Combine(dir, "dimensions")), TimeProvider.System);
        _pipeline = new LogMetrics.Core.Pipeline(_compiled, enricher, new PipelineCounters(), NullDeadLetterSink.Instance, 16);
        _parser = _compiled.CreateParser();
        // As the pipeline's own parser: parse-json's source (Ext5) walked in the line, its fields staged for the step.
        LogMetrics.Core.Pipeline.FuseParseJson(_parser, _compiled);
        _record = _compiled.CreateRecord();
        _steps = [.. _compiled.Steps];
        Console.WriteLine($"// batch: {_events.Length} events, {_bytes / 1e6:F2} MB ({_bytes / _events.Length} B/event); {_compiled.Fields.Count} field slots");
    }

    /// <summary>Tokenize-only floor: every token of every line read, nothing kept; invalid lines counted.</summary>
    [Benchmark(Baseline = true)]
    public int Utf8JsonReaderTokenize()
    {
        var valid = 0;
        foreach (var e in _events)
        {
            if (TokenizeOne(e.Body.Span)) valid++;
        }
        return valid;
    }

    private static bool TokenizeOne(ReadOnlySpan<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 64 });
            while (reader.Read())
            {
            }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    [Benchmark]
    public int Parse()
    {
        var ok = 0;
        foreach (var e in _events)
        {
            if (_parser.Parse(e.Body.Span, _record) is null) ok++;
        }
        return ok;
    }

    [Benchmark]
    public int ParsePrune()
    {
        var kept = 0;
        foreach (var e in _events)
        {
            if (_parser.Parse(e.Body.Span, _record) is not null) continue;
            var pass = true;
            foreach (var step in _steps)
            {
                if (!step.Apply(_record)) { pass = false; break; }
            }
            if (pass) kept++;
        }
        return kept;
    }

    /// <summary>The whole ingest of the batch into one signal per shard, handed back as a host does once the shards applied them.</summary>
    [Benchmark]
    public async Task<int> Ingest()
    {
        var lane = new LaneState("bench");
        var signals = await _pipeline.IngestAsync(lane, _events, IngestHorizon.Unknown, long.MaxValue, CancellationToken.None);
        var partials = 0;
        foreach (var signal in signals) partials += signal.Partials.Count;
        _pipeline.Recycle(signals);
        return partials;
    }

    /// <summary>The same, by a host that keeps the signals (never calls <see cref="LogMetrics.Core.Pipeline.Recycle"/>): their partials are new each batch.</summary>
    [Benchmark]
    public async Task<int> IngestSignalsNotRecycled()
    {
        var lane = new LaneState("bench");
        var signals = await _pipeline.IngestAsync(lane, _events, IngestHorizon.Unknown, long.MaxValue, CancellationToken.None);
        var partials = 0;
        foreach (var signal in signals) partials += signal.Partials.Count;
        return partials;
    }
}
