using LogMetrics.Core.Replay;

namespace LogMetrics.Local;

/// <summary>
/// An output file written crash-safe: the run writes <c>.NAME.PID.tmp</c> in the same folder and
/// renames it onto NAME when the run ends (rename within a folder is atomic). A run killed with
/// <c>kill -9</c> leaves the temporary file and the previous NAME (if any) untouched, never a file
/// cut mid-run under the final name.
/// </summary>
public sealed class AtomicOutput : IDisposable
{
    private bool _done;

    public AtomicOutput(string path)
    {
        FinalPath = Resolve(path);
        if (IsSpecial(FinalPath))
        {
            // /dev/stdout, /dev/null and the like: written in place (a rename would replace the device).
            FinalPath = TempPath = Path.GetFullPath(path);
            Direct = true;
            Stream = new FileStream(FinalPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, BufferSize);
            return;
        }
        var dir = Path.GetDirectoryName(FinalPath)!;
        TempPath = Path.Combine(dir, $".{Path.GetFileName(FinalPath)}.{Environment.ProcessId}.tmp");
        Stream = new FileStream(TempPath, FileMode.Create, FileAccess.Write, FileShare.Read, BufferSize);
    }

    /// <summary>Written in place, not through a temporary file (a device such as /dev/stdout).</summary>
    public bool Direct { get; }

    /// <summary>The full path, through symbolic links to the file they name (so a link is not replaced by the rename).</summary>
    public static string Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        var info = new FileInfo(full);
        if (info.LinkTarget is null) return full;
        var target = info.ResolveLinkTarget(returnFinalTarget: true);
        return target is null ? full : target.FullName;
    }

    /// <summary>Not an ordinary file: a device or process file (/dev, /proc), or a link to a pipe.</summary>
    public static bool IsSpecial(string resolvedPath) =>
        resolvedPath.StartsWith("/dev/", StringComparison.Ordinal) || resolvedPath.StartsWith("/proc/", StringComparison.Ordinal)
        || resolvedPath.Contains("pipe:[", StringComparison.Ordinal) || resolvedPath.Contains("socket:[", StringComparison.Ordinal);

    public string FinalPath { get; }

    public string TempPath { get; }

    /// <summary>
    /// The stream's buffer: samples are small (about 200 bytes) and many, so they are written 64 KiB at a
    /// time. Not larger: the buffer is allocated zeroed on the first write, and a short run pays for every
    /// page of it (a 1 MiB buffer per output file was 256 page faults and a 1 MiB memset).
    /// </summary>
    public const int BufferSize = 1 << 16;

    /// <summary>The temporary file's stream (<see cref="BufferSize"/>).</summary>
    public FileStream Stream { get; }

    /// <summary>Closes the stream (its owner may have already) and renames the file into place.</summary>
    public void Commit()
    {
        if (_done) return;
        Stream.Dispose();
        if (!Direct) File.Move(TempPath, FinalPath, overwrite: true);
        _done = true;
    }

    /// <summary>Without <see cref="Commit"/>, removes the temporary file.</summary>
    public void Dispose()
    {
        if (_done) return;
        _done = true;
        Stream.Dispose();
        if (Direct) return;
        try { File.Delete(TempPath); } catch (IOException) { }
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> through a temporary file and a rename.</summary>
    public static void WriteAllText(string path, string text)
    {
        using var output = new AtomicOutput(path);
        using (var writer = new StreamWriter(output.Stream, leaveOpen: true)) writer.Write(text);
        output.Commit();
    }
}

/// <summary>
/// Exclusive locks on a run's output files (<c>NAME.lock</c>, opened with <see cref="FileShare.None"/>,
/// which .NET implements with <c>flock</c> on Linux): a second run on the same output fails at once
/// with a message naming the file. The lock dies with the process, so <c>kill -9</c> leaves no stale lock.
/// </summary>
public sealed class OutputLocks : IDisposable
{
    private readonly List<(string Path, FileStream Stream)> _held = [];

    /// <summary>Locks every path; throws <see cref="IOException"/> naming the first one another run holds.</summary>
    public static OutputLocks Acquire(IEnumerable<string> outputs)
    {
        var locks = new OutputLocks();
        try
        {
            foreach (var output in outputs.Select(AtomicOutput.Resolve).Where(p => !AtomicOutput.IsSpecial(p)).Distinct(StringComparer.Ordinal))
            {
                var path = output + ".lock";
                try
                {
                    locks._held.Add((path, new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)));
                }
                catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
                {
                    throw new IOException($"{output} is being written by another run (lock {path} is held); wait for it or choose another output", e);
                }
            }
            return locks;
        }
        catch
        {
            locks.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var (path, stream) in _held)
        {
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            stream.Dispose();
        }
        _held.Clear();
    }
}

/// <summary>
/// A write-only view of an output file's stream on which <see cref="Flush"/> does nothing: the samples
/// writer flushes its JSON writer after every sample, and through this view that no longer costs a
/// system call per sample; the bytes go through the file's buffer (<see cref="AtomicOutput.BufferSize"/>) and are written when it fills
/// and when the stream is disposed (before the rename). Not for devices (<see cref="AtomicOutput.Direct"/>):
/// a reader of /dev/stdout or a pipe gets each sample as it is written.
/// <para>Over a file, each <see cref="WritebackBytes"/> written are handed to the kernel and their writeback
/// started (<see cref="Writeback"/>), so that the rename at the end of the run does not wait for the whole
/// file's to be written (the rename over the bench corpus's previous 14 MB of samples: 8 to 9 ms, 3.5 to 4 ms so).</para>
/// </summary>
public sealed class FlushOnDisposeStream(Stream inner) : Stream
{
    /// <summary>How many bytes are written between two writeback requests.</summary>
    public const int WritebackBytes = 1 << 20;

    // The file's handle, taken before anything is written (FileStream's getter flushes its buffer); null for other streams.
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle? _file = (inner as FileStream)?.SafeFileHandle;
    private long _written;
    private long _started;

    /// <summary>How many writeback requests the kernel took (none elsewhere than Linux).</summary>
    public int WritebacksStarted { get; private set; }

    private void Wrote(int count)
    {
        _written += count;
        if (_file is null || _written - _started < WritebackBytes) return;
        // Everything written so far to the kernel, then its writeback started from where the last one ended.
        inner.Flush();
        if (Writeback.Start(_file, _started, _written - _started)) WritebacksStarted++;
        _started = _written;
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Write(byte[] buffer, int offset, int count)
    {
        inner.Write(buffer, offset, count);
        Wrote(count);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        inner.Write(buffer);
        Wrote(buffer.Length);
    }

    public override void WriteByte(byte value)
    {
        inner.WriteByte(value);
        Wrote(1);
    }

    public override async Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        await inner.WriteAsync(buffer.AsMemory(offset, count), cancellationToken).ConfigureAwait(false);
        Wrote(count);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        Wrote(buffer.Length);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
