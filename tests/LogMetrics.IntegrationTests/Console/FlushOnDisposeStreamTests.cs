using System.Text;
using LogMetrics.Local;

namespace LogMetrics.IntegrationTests.Console;

/// <summary>The samples file's view on which the writer's per-sample flush costs nothing: bytes reach the file when its buffer fills or at dispose, all of them, in order.</summary>
public sealed class FlushOnDisposeStreamTests : TempDirTests
{
    [Fact]
    public void Flush_WritesNothing_Dispose_WritesEverything()
    {
        var path = Path.Combine(TempDir(), "samples.jsonl");
        var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, AtomicOutput.BufferSize);
        var expected = new StringBuilder();
        using (var stream = new FlushOnDisposeStream(file))
        {
            for (var i = 0; i < 100; i++)
            {
                var line = $"{{\"sample\":{i}}}";
                stream.Write(Encoding.UTF8.GetBytes(line));
                stream.Flush();
                stream.WriteByte((byte)'\n');
                expected.Append(line).Append('\n');
            }
            Assert.Equal(0, new FileInfo(path).Length); // still in the buffer: no write per flush
        }
        Assert.Throws<ObjectDisposedException>(() => file.WriteByte(0)); // disposing the view closed the file
        Assert.Equal(expected.ToString(), File.ReadAllText(path));
    }

    [Fact]
    public void FullBuffer_IsWrittenBeforeDispose()
    {
        var path = Path.Combine(TempDir(), "samples.jsonl");
        var chunk = new byte[4096];
        Array.Fill(chunk, (byte)'x');
        using var stream = new FlushOnDisposeStream(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 1 << 16));
        for (var i = 0; i < 40; i++) stream.Write(chunk);
        Assert.True(new FileInfo(path).Length >= (1 << 16), "a full buffer goes to the file without a flush");
    }
}
