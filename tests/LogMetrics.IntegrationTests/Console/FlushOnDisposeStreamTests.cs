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

    [Fact]
    public void EachMiBWritten_HasItsWritebackStarted_AndTheFileKeepsEveryByte()
    {
        var path = Path.Combine(TempDir(), "samples.jsonl");
        // 3.5 MiB in 3,584 writes of 1 KiB, each byte telling where it is.
        var expected = new byte[3584 * 1024];
        for (var i = 0; i < expected.Length; i++) expected[i] = (byte)(i * 7 + i / 251);
        int started;
        using (var stream = new FlushOnDisposeStream(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, AtomicOutput.BufferSize)))
        {
            for (var at = 0; at < expected.Length; at += 1024) stream.Write(expected.AsSpan(at, 1024));
            started = stream.WritebacksStarted;
            // Every byte up to the last whole MiB was handed to the kernel when its writeback was asked for.
            Assert.True(new FileInfo(path).Length >= 3L * FlushOnDisposeStream.WritebackBytes);
        }
        // One request per MiB on Linux (the kernel's sync_file_range), none elsewhere.
        Assert.Equal(OperatingSystem.IsLinux() ? 3 : 0, started);
        Assert.Equal(expected, File.ReadAllBytes(path));
    }

    [Fact]
    public void NotAFile_NoWritebackIsAsked()
    {
        var memory = new MemoryStream();
        using (var stream = new FlushOnDisposeStream(memory))
        {
            stream.Write(new byte[3 * FlushOnDisposeStream.WritebackBytes]);
            Assert.Equal(0, stream.WritebacksStarted);
        }
        Assert.Equal(3 * FlushOnDisposeStream.WritebackBytes, memory.ToArray().Length);
    }

    [Fact]
    public void Writeback_IsRefusedForAPipe_AndTakenForAFile()
    {
        var path = Path.Combine(TempDir(), "data.bin");
        File.WriteAllBytes(path, new byte[8192]);
        using (var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite))
        {
            Assert.Equal(OperatingSystem.IsLinux(), LogMetrics.Core.Replay.Writeback.Start(file, 0, 8192));
            Assert.False(LogMetrics.Core.Replay.Writeback.Start(file, 0, 0)); // nothing to write back
        }
        using var server = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.Out);
        // sync_file_range on a pipe fails (ESPIPE): advice only, so false and no exception.
        Assert.False(LogMetrics.Core.Replay.Writeback.Start(new Microsoft.Win32.SafeHandles.SafeFileHandle(server.SafePipeHandle.DangerousGetHandle(), ownsHandle: false), 0, 4096));
    }

    /// <summary>A stream whose writes fail as a full disk's (IOException) or a file size limit's (.NET's ArgumentOutOfRangeException).</summary>
    private sealed class FailingStream(Exception failure) : MemoryStream
    {
        public override void Write(ReadOnlySpan<byte> buffer) => throw failure;

        public override void Write(byte[] buffer, int offset, int count) => throw failure;
    }

    [Fact]
    public void WriteFailure_IsAnOutputWriteException_NamingTheFile()
    {
        var full = new FlushOnDisposeStream(new FailingStream(new IOException("No space left on device")), "/data/samples.jsonl");
        var e = Assert.Throws<OutputWriteException>(() => full.Write(new byte[10]));
        Assert.Equal("/data/samples.jsonl", e.Path);
        Assert.Equal("writing /data/samples.jsonl: No space left on device", e.Message);
        Assert.IsType<IOException>(e.InnerException);

        var limited = new FlushOnDisposeStream(new FailingStream(new ArgumentOutOfRangeException("value", "Specified file length was too large for the file system.")), "/data/samples.jsonl");
        e = Assert.Throws<OutputWriteException>(() => limited.Write(new byte[10], 0, 10));
        Assert.StartsWith("writing /data/samples.jsonl: the file reached the process's file size limit (ulimit -f; ", e.Message);
    }
}
