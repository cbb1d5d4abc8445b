using LogMetrics.Core.Parse;
namespace LogMetrics.Benchmarks.Pipeline;
public static class Probe
{
    public static byte[][] Lines(IngestBenchmarks b) => b.Lines;
    public static int Skip(byte[] line) { var pos = 0; return JsonScan.SkipValue(line, ref pos, 0) == JsonToken.None ? 0 : 1; }
    public static int Locate(IngestBenchmarks b, byte[][] lines) { var (p, r) = b.ParserAndRecord; int n = 0; foreach (var l in lines) { r.Clear(); if (p.TryLocate(l, r)) n++; } return n; }
    private static byte[][]? _ext5;
    private static readonly byte[] Dest = new byte[1 << 20];
    public static int Unescape(byte[][] lines)
    {
        _ext5 ??= [.. lines.Select(l => { var s = System.Text.Encoding.UTF8.GetString(l); var i = s.IndexOf("\"Ext5\":\"") + 8; var pos = i - 1; JsonScan.TrySkipString(l, ref pos, out _); return l[i..(pos - 1)]; })];
        int n = 0;
        foreach (var e in _ext5) { JsonScan.TryUnescape(e, Dest, out var w); n += w; }
        return n;
    }
}
public sealed class StageProbe
{
    private readonly List<Record> _kept = [];
    private readonly LogMetrics.Core.Enrich.EnrichBatch _batch = new();
    private readonly LogMetrics.Core.Enrich.Enricher _enricher;
    private readonly LogMetrics.Core.Accumulate.BatchAccumulator _acc;
    private readonly LogMetrics.Core.Accumulate.SeriesBudget _budget;
    public StageProbe(IngestBenchmarks b, byte[][] lines)
    {
        var (parser, _) = b.ParserAndRecord;
        var compiled = b.Compiled;
        foreach (var l in lines)
        {
            var r = compiled.CreateRecord();
            if (parser.Parse(l, r) is not null) continue;
            var keep = true;
            foreach (var s in compiled.Steps) if (!s.Apply(r)) { keep = false; break; }
            if (keep) _kept.Add(r);
        }
        _enricher = b.Enricher;
        _acc = new LogMetrics.Core.Accumulate.BatchAccumulator(compiled);
        _budget = new LogMetrics.Core.Accumulate.SeriesBudget(compiled);
        Warm();
    }
    public int Warm() { _enricher.WarmAsync(_kept, _batch, CancellationToken.None).AsTask().GetAwaiter().GetResult(); return 0; }
    public int Apply() { for (var i = 0; i < _kept.Count; i++) _enricher.Apply(_batch, i, _kept[i]); return 0; }
    public int Accumulate() { foreach (var r in _kept) _acc.Add(r, _budget); var n = _acc.Count; _acc.Drain(16); return n; }
}
