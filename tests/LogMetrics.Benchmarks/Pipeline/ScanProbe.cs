using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using BenchmarkDotNet.Attributes;
using LogMetrics.Core.Parse;

namespace LogMetrics.Benchmarks.Pipeline;

[MemoryDiagnoser]
public class ScanProbe
{
    private byte[][] _lines = null!;

    [GlobalSetup]
    public void Setup()
    {
        var dir = Environment.GetEnvironmentVariable("LOGMETRICS_BENCH_CORPUS")!;
        _lines = [.. File.ReadLines(Path.Combine(dir, "lane-0.jsonl")).Where(l => l.Length > 0).Take(2048).Select(l => Encoding.UTF8.GetBytes(l))];
    }

    [Benchmark(Baseline = true)]
    public int Tokenize()
    {
        var n = 0;
        foreach (var l in _lines)
        {
            try { var r = new Utf8JsonReader(l, new JsonReaderOptions { MaxDepth = 64 }); while (r.Read()) { } n++; } catch (JsonException) { }
        }
        return n;
    }

    [Benchmark]
    public int Utf8Valid()
    {
        var n = 0;
        foreach (var l in _lines) if (Utf8.IsValid(l)) n++;
        return n;
    }

    [Benchmark]
    public int Validator()
    {
        var n = 0;
        foreach (var l in _lines) if (JsonValidator.Classify(l) == JsonVerdict.Object) n++;
        return n;
    }
}
