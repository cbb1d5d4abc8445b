using System.Runtime.InteropServices;
using LogMetrics.Core.Replay;

namespace LogMetrics.Core.Tests.Replay;

/// <summary>
/// A file about to be replaced by a rename is held by an io_uring instance, which alone refers to it, so that the kernel
/// frees it once the instance is closed, after the rename rather than in it; where io_uring is not there, nothing is held.
/// </summary>
public sealed unsafe class DeferredReleaseTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "logmetrics-release-" + Guid.NewGuid().ToString("N")[..8]);

    public DeferredReleaseTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        DeferredRelease.Disabled = false;
        Directory.Delete(_dir, recursive: true);
    }

    [DllImport("libc", EntryPoint = "syscall")]
    private static extern nint Syscall(nint number, nint a, nint b);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int CloseFd(int fd);

    /// <summary>Whether this machine lets a process make an io_uring instance (asked here on its own, not through the class tested).</summary>
    private static bool IoUringAvailable()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64)) return false;
        var parameters = stackalloc byte[120];
        new Span<byte>(parameters, 120).Clear();
        var ring = (int)Syscall(425, 1, (nint)parameters);
        if (ring < 0) return false;
        return CloseFd(ring) == 0;
    }

    private string File(string name, int bytes, byte fill)
    {
        var path = Path.Combine(_dir, name);
        var content = new byte[bytes];
        Array.Fill(content, fill);
        System.IO.File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>The paths the process's own descriptors refer to (Linux).</summary>
    private static List<string> OpenPaths() =>
        [.. new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos().Select(f => f.LinkTarget ?? "")];

    [Fact]
    public void ALargeFile_IsHeldByTheRingAlone_AndTheRenameOntoItReplacesIt()
    {
        var final = File("samples.jsonl", 256 * 1024, (byte)'o');
        var temp = File(".samples.jsonl.tmp", 1000, (byte)'n');
        using var held = DeferredRelease.Hold(final);
        Assert.Equal(IoUringAvailable(), held.IsHeld);
        if (held.IsHeld)
        {
            // The instance lists the file among its registered files; the process keeps no descriptor of its own to it.
            var info = System.IO.File.ReadAllText($"/proc/self/fdinfo/{held.Ring}");
            Assert.Contains("UserFiles:\t1", info);
            Assert.Contains("0: " + final, info);
            Assert.DoesNotContain(final, OpenPaths());
        }
        System.IO.File.Move(temp, final, overwrite: true);
        if (held.IsHeld)
        {
            // Unlinked by the rename, and still held (not freed) until the instance is closed.
            // (fdinfo escapes the space before "(deleted)" as \040.)
            Assert.Contains("0: " + final + "\\040(deleted)", System.IO.File.ReadAllText($"/proc/self/fdinfo/{held.Ring}"));
        }
        var ring = held.Ring;
        held.Dispose();
        Assert.False(held.IsHeld);
        // The instance's descriptor is closed (its number free, or already another file's).
        if (ring >= 0) Assert.NotEqual("anon_inode:[io_uring]", new FileInfo($"/proc/self/fd/{ring}").LinkTarget);
        Assert.Equal(Enumerable.Repeat((byte)'n', 1000), System.IO.File.ReadAllBytes(final));
    }

    [Fact]
    public void NothingIsHeld_ForAMissingPath_ASmallFile_OrADirectory()
    {
        Assert.False(DeferredRelease.Hold(Path.Combine(_dir, "missing.jsonl")).IsHeld);
        Assert.False(DeferredRelease.Hold(File("small.jsonl", (int)DeferredRelease.MinBytes - 1, (byte)'s')).IsHeld);
        using (var edge = DeferredRelease.Hold(File("edge.jsonl", (int)DeferredRelease.MinBytes, (byte)'e')))
        {
            Assert.Equal(IoUringAvailable(), edge.IsHeld);
        }
        var dir = Path.Combine(_dir, "sub");
        Directory.CreateDirectory(dir);
        System.IO.File.WriteAllBytes(Path.Combine(dir, "big"), new byte[DeferredRelease.MinBytes * 2]);
        Assert.False(DeferredRelease.Hold(dir).IsHeld);
    }

    [Fact]
    public void Disabled_HoldsNothing_AndTheRenameStillReplacesTheFile()
    {
        DeferredRelease.Disabled = true;
        var final = File("samples.jsonl", 256 * 1024, (byte)'o');
        var temp = File(".samples.jsonl.tmp", 10, (byte)'n');
        using (var held = DeferredRelease.Hold(final))
        {
            Assert.False(held.IsHeld);
            Assert.Equal(-1, held.Ring);
            System.IO.File.Move(temp, final, overwrite: true);
        }
        Assert.Equal(Enumerable.Repeat((byte)'n', 10), System.IO.File.ReadAllBytes(final));
    }

    [Fact]
    public void DisposedTwice_ClosesTheRingOnce()
    {
        var final = File("samples.jsonl", 256 * 1024, (byte)'o');
        var held = DeferredRelease.Hold(final);
        var ring = held.Ring;
        Assert.Equal(IoUringAvailable(), ring >= 0);
        held.Dispose();
        Assert.Equal(-1, held.Ring);
        // The descriptor number is free again, and the next file opened takes the lowest free number: this one, unless
        // another test's thread took it first. A second Dispose must not close that file.
        using var other = new FileStream(File("other", 10, (byte)'x'), FileMode.Open, FileAccess.Read);
        held.Dispose();
        Assert.Equal((byte)'x', (byte)other.ReadByte());
    }
}
