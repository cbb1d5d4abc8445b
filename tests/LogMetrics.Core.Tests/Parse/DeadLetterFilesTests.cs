using System.IO.Compression;
using System.Text;
using System.Text.Json;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Replay;

namespace LogMetrics.Core.Tests.Parse;

/// <summary>The dead-letter layout: paths, and a failed batch written as a lane file the replay reads back line for event.</summary>
public sealed class DeadLetterFilesTests
{
    [Fact]
    public void Paths_FollowTheLayout()
    {
        Assert.Equal("deadletter/3/1200-1711.jsonl.gz", DeadLetterFiles.FailedBatchPath("3", 1200, 1711));
        Assert.Equal("deadletter/3/1200-1711.json", DeadLetterFiles.SidecarPath("3", 1200, 1711));
        Assert.Equal("deadletter/3/malformed/1200-1711.jsonl.gz", DeadLetterFiles.MalformedPath("3", 1200, 1711));
    }

    [Fact]
    public void Paths_LaneIsOneEncodedSegment()
    {
        Assert.Equal("deadletter/..%2Fx%20y/1-2.jsonl.gz", DeadLetterFiles.FailedBatchPath("../x y", 1, 2));
        Assert.Throws<ArgumentException>(() => DeadLetterFiles.FailedBatchPath("", 1, 2));
    }

    private static List<string> ReadBack(IReadOnlyList<string> bodies)
    {
        using var file = new MemoryStream();
        DeadLetterFiles.WriteLaneFile(file, [.. bodies.Select(b => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(b))]);
        file.Position = 0;
        using var reader = new LaneReader(new GZipStream(file, CompressionMode.Decompress), "dead.jsonl.gz");
        var lines = new List<string>();
        while (!reader.Finished)
        {
            foreach (var e in reader.ReadChunk(2)) lines.Add(Encoding.UTF8.GetString(e.Body.Span));
        }
        return lines;
    }

    [Fact]
    public void WriteLaneFile_OneLinePerEvent_InOrder()
    {
        Assert.Equal(["{\"a\":1}", "", "not json", "{\"b\":\"x y\"}"], ReadBack(["{\"a\":1}", "", "not json", "{\"b\":\"x y\"}"]));
    }

    [Fact]
    public void WriteLaneFile_PrettyPrintedJson_StaysOneEquivalentLine()
    {
        var lines = ReadBack(["{\r\n  \"a\": 1,\n  \"b\": \"x\"\n}", "{}"]);

        Assert.Equal(2, lines.Count);
        using var doc = JsonDocument.Parse(lines[0]);
        Assert.Equal(1, doc.RootElement.GetProperty("a").GetInt32());
        Assert.Equal("x", doc.RootElement.GetProperty("b").GetString());
    }

    [Fact]
    public void WriteLaneFile_BrokenBodyWithLineBreak_StaysOneMalformedLine()
    {
        // A raw line break inside a string is not JSON; turning it into a space would make the record valid.
        var broken = "{\"a\":\"x\ny\"}";

        var lines = ReadBack([broken, "{}"]);

        Assert.Equal(2, lines.Count);
        Assert.Equal(broken, Encoding.UTF8.GetString(Convert.FromBase64String(JsonSerializer.Deserialize<string>(lines[0])!)));
    }

    [Fact]
    public void Sidecar_HoldsLaneRangeSequenceNumbersAndReason()
    {
        var batch = new FailedBatch("7", [10, 11, 13], [new byte[] { 1 }, new byte[] { 2 }, new byte[] { 3 }], "boom", 6);

        using var doc = JsonDocument.Parse(DeadLetterFiles.Sidecar(batch));

        Assert.Equal("7", doc.RootElement.GetProperty("lane").GetString());
        Assert.Equal(10, doc.RootElement.GetProperty("first").GetInt64());
        Assert.Equal(13, doc.RootElement.GetProperty("last").GetInt64());
        Assert.Equal(3, doc.RootElement.GetProperty("events").GetInt32());
        Assert.Equal([10L, 11L, 13L], doc.RootElement.GetProperty("sequenceNumbers").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal("boom", doc.RootElement.GetProperty("reason").GetString());
        Assert.Equal(6, doc.RootElement.GetProperty("attempts").GetInt32());
    }
}
