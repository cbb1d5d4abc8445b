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
