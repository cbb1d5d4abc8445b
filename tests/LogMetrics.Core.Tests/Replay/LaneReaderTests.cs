using System.IO.Compression;
using System.Text;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Tests.EndToEnd;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Replay;

/// <summary>Input files as a careless or hostile user hands them over: BOMs, huge lines, cut or broken gzip.</summary>
public sealed class LaneReaderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "logmetrics-lane-" + Guid.NewGuid().ToString("N")[..8]);

    public LaneReaderTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<(long Line, string Text, long Oversize)> ReadAll(LaneReader reader, int chunk = 3)
    {
        var all = new List<(long, string, long)>();
        while (!reader.Finished)
        {
            foreach (var e in reader.ReadChunk(chunk)) all.Add((e.Sequence, Encoding.UTF8.GetString(e.Body.Span), e.OversizeBytes));
        }
        return all;
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest)) gz.Write(data);
        return ms.ToArray();
    }

    private static byte[] GoldenLane0() => File.ReadAllBytes(Path.Combine(GoldenCorpusTests.GoldenDir, "lane-0.jsonl"));

    [Fact]
    public async Task Fifo_HasNoLength_ReadToItsEndInSmallReads()
    {
        // A named pipe (how a script streams a lane in): no length to size the buffers by.
        var path = Path.Combine(_dir, "lane.jsonl");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", path))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        var lines = Enumerable.Range(1, 3000).Select(i => $"{{\"n\":{i},\"pad\":\"{new string('x', i % 200)}\"}}").ToArray();
        var writer = Task.Run(async () =>
        {
            // Opening for writing waits for the reader to open the pipe.
            await using var pipe = new FileStream(path, FileMode.Open, FileAccess.Write);
            await pipe.WriteAsync(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
        });
        using var reader = new LaneReader(path);
        var all = ReadAll(reader, 256);
        await writer;

        Assert.Equal(lines, all.Select(e => e.Text));
        Assert.Equal(Enumerable.Range(1, 3000).Select(i => (long)i), all.Select(e => e.Line));
        Assert.Null(reader.Error);
    }

    [Fact]
    public void Utf8BomAtStart_Skipped()
    {
        var path = Write("bom.jsonl", [0xEF, 0xBB, 0xBF, .. "{\"a\":1}\n{\"a\":2}\n"u8]);
        using var reader = new LaneReader(path);

        var lines = ReadAll(reader);

        Assert.Equal([(1L, "{\"a\":1}", 0L), (2L, "{\"a\":2}", 0L)], lines);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LineLongerThanMaxRecordBytes_DeliveredAsOversizePrefix_NeighboursIntact_BufferBounded(bool endsWithNewline)
    {
        const int max = 64 * 1024;
        var huge = "{\"x\":\"" + new string('y', 5 * max) + "\"}";
        var text = "{\"a\":1}\n" + huge + "\n{\"a\":3}" + (endsWithNewline ? "\n" : "") ;
        var path = Write("huge.jsonl", Encoding.UTF8.GetBytes(text));
        using var reader = new LaneReader(path, max);

        var lines = ReadAll(reader);

        Assert.Equal(3, lines.Count);
        Assert.Equal((1L, "{\"a\":1}", 0L), lines[0]);
        Assert.Equal(2L, lines[1].Line);
        Assert.Equal(huge.Length, lines[1].Oversize);
        Assert.Equal(huge[..LaneReader.OversizePrefixBytes], lines[1].Text);
        Assert.Equal((3L, "{\"a\":3}", 0L), lines[2]);
        Assert.True(reader.BufferCapacity <= 2 * Math.Max(max, 1 << 20), $"buffer {reader.BufferCapacity}");
        Assert.Null(reader.Error);
    }

    [Fact]
    public async Task OversizeLine_DeadLetteredAsRecordTooLarge_ThroughThePipeline()
    {
        var huge = "{\"__time__\":1768484000,\"Product\":\"" + new string('p', 2 << 20) + "\"}";
        var (_, counters, dead) = await Flagship.RunAsync(Flagship.Pipeline, Flagship.EmptyDimensions(), [[huge]]);

        var letter = Assert.Single(dead);
        Assert.StartsWith(Pipeline.RecordTooLarge, letter.Reason);
        Assert.Equal((1, 1, 0), (counters.Events, counters.Malformed, counters.Accepted));
    }

    [Fact]
    public void WholeGzip_ReadToItsEnd_NoError()
    {
        var data = GoldenLane0();
        var path = Write("ok.jsonl.gz", Gzip(data));
        using var reader = new LaneReader(path);

        var lines = ReadAll(reader, 64);

        Assert.Null(reader.Error);
        Assert.Equal(Encoding.UTF8.GetString(data).TrimEnd('\n').Split('\n').Length, lines.Count);
    }

    [Fact]
    public void TruncatedGzip_ErrorNamesTheFile_OnlyWholeLinesDelivered()
    {
        var data = GoldenLane0();
        var gz = Gzip(data);
        var path = Write("cut.jsonl.gz", gz[..(gz.Length / 2)]);
        LaneReader.CheckReadable(path); // the start is fine: found only at the end
        using var reader = new LaneReader(path);

        var lines = ReadAll(reader, 64);

        Assert.NotNull(reader.Error);
        Assert.Contains(path, reader.Error);
        Assert.Contains("truncated", reader.Error);
        var original = Encoding.UTF8.GetString(data).Split('\n');
        Assert.InRange(lines.Count, 1, original.Length - 2);
        Assert.All(lines, l => Assert.Equal(original[l.Line - 1], l.Text)); // every delivered line is whole
    }

    [Fact]
    public void CorruptGzipMidStream_ErrorNamesTheFile()
    {
        var gz = Gzip(GoldenLane0());
        for (var i = gz.Length / 2; i < gz.Length / 2 + 64; i++) gz[i] ^= 0x5A;
        var path = Write("corrupt.jsonl.gz", gz);
        using var reader = new LaneReader(path);

        ReadAll(reader, 64);

        Assert.NotNull(reader.Error);
        Assert.Contains(path, reader.Error);
    }

    [Fact]
    public void NotGzipAtAll_CheckReadableNamesTheFile()
    {
        var path = Write("plain.jsonl.gz", GoldenLane0());

        var e = Assert.Throws<InvalidDataException>(() => LaneReader.CheckReadable(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("not a gzip file", e.Message);
    }
}
