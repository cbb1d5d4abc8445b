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

    /// <summary>
    /// Closes the stream (its owner may have already) and renames the file into place. A failure to write the
    /// stream's last bytes (a full disk) is an <see cref="OutputWriteException"/> naming the file; the file is then
    /// not put in place (<see cref="Dispose"/> removes it).
    /// </summary>
    public void Commit()
    {
        if (_done) return;
        OutputWriteException.Wrap(FinalPath, () => Stream.Dispose());
        if (!Direct)
        {
            // The file the rename replaces is freed by the kernel after the run goes on, not in the rename
            // (DeferredRelease: 3.4 ms for the bench corpus's 14 MB of samples).
            using var replaced = DeferredRelease.Hold(FinalPath);
            File.Move(TempPath, FinalPath, overwrite: true);
        }
        _done = true;
    }

    /// <summary>
    /// Without <see cref="Commit"/>, removes the temporary file, even when its last bytes cannot be written (the
    /// output is given up: the previous NAME, if any, stays as it was).
    /// </summary>
    public void Dispose()
    {
        if (_done) return;
        _done = true;
        try
        {
            Stream.Dispose();
        }
        catch (Exception e) when (OutputWriteException.IsWriteFailure(e))
        {
        }
        if (Direct) return;
        try { File.Delete(TempPath); } catch (IOException) { }
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> through a temporary file and a rename.</summary>
    public static void WriteAllText(string path, string text)
    {
        using var output = new AtomicOutput(path);
        OutputWriteException.Wrap(output.FinalPath, () =>
        {
            using var writer = new StreamWriter(output.Stream, leaveOpen: true);
            writer.Write(text);
        });
        output.Commit();
    }
}

/// <summary>
/// An output file could not be written during a run (the disk or the user's quota full, a file size limit, an I/O
/// error): names the file. The replay then stops as failed (exit 1), and the file is not put in place.
/// </summary>
public sealed class OutputWriteException(string path, Exception inner) : IOException($"writing {path}: {Reason(inner)}", inner)
{
    // .NET's words for EFBIG are about an argument ("Specified file length was too large for the file system").
    private static string Reason(Exception e) =>
        e is ArgumentOutOfRangeException ? $"the file reached the process's file size limit (ulimit -f; {e.Message})" : e.Message;

    /// <summary>The output's path (its final name).</summary>
    public string Path { get; } = path;

    /// <summary>
    /// What a failed write of a file throws: an <see cref="IOException"/> (a full disk: "No space left on device"), or
    /// the <see cref="ArgumentOutOfRangeException"/> .NET throws when the write would pass the process's file size limit
    /// (<c>ulimit -f</c>, EFBIG).
    /// </summary>
    public static bool IsWriteFailure(Exception e) => e is IOException or ArgumentOutOfRangeException;

    /// <summary>A write failure not yet named: one to throw as an <see cref="OutputWriteException"/>.</summary>
    public static bool Converts(Exception e) => e is not OutputWriteException && IsWriteFailure(e);

    /// <summary>Runs <paramref name="write"/>; a write failure becomes an <see cref="OutputWriteException"/> naming <paramref name="path"/>.</summary>
    public static void Wrap(string path, Action write)
    {
        try
        {
            write();
        }
        catch (Exception e) when (Converts(e))
        {
            throw new OutputWriteException(path, e);
        }
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
public sealed class FlushOnDisposeStream(Stream inner, string? path = null) : Stream
{
    // The output's name in a failure (OutputWriteException), when given.
    private readonly string _path = path ?? (inner as FileStream)?.Name ?? "the output";

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

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);

    /// <summary>Every write comes here: it and the flush behind it fail as an <see cref="OutputWriteException"/> naming the file.</summary>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        try
        {
            inner.Write(buffer);
            Wrote(buffer.Length);
        }
        catch (Exception e) when (OutputWriteException.Converts(e))
        {
            throw new OutputWriteException(_path, e);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Written at once, as the file's stream (opened for synchronous writes) would: the same path as <see cref="Write(ReadOnlySpan{byte})"/>.</summary>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
        try
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    // DisposeAsync is Stream's: it calls this.
    protected override void Dispose(bool disposing)
    {
        if (disposing) OutputWriteException.Wrap(_path, inner.Dispose);
        base.Dispose(disposing);
    }
}
