namespace LogMetrics.Core.Replay;

/// <summary>
/// Lets the kernel free a file that a rename is about to replace after the program has gone on, instead of in the
/// rename. On the development machines' ext4 (mounted with <c>discard</c>), renaming an output onto the last run's
/// file frees that file's blocks in the rename itself: 3.4 ms for the bench corpus's 14 MB of samples, 0.3 ms for
/// the 400-line replay's 229 KB, while the process waits.
/// </summary>
/// <remarks>
/// <para>
/// How (Linux): the old file is opened and registered with an io_uring instance of one entry (<c>io_uring_setup</c>,
/// <c>io_uring_register</c> with <c>IORING_REGISTER_FILES</c>; no request is ever submitted), and the program's own
/// descriptor closed, so the instance holds the file's last reference. The rename then only unlinks it. Closing the
/// instance (<see cref="Held.Dispose"/>) hands its teardown, and with it the file's release, to a kernel worker: the
/// blocks are freed a few milliseconds later, beside or after the program, not in its time. The work is the same; it
/// moves off the run's critical path (mostly it was waiting: the process's CPU time did not change).
/// </para>
/// <para>
/// Advice only: elsewhere than Linux, where io_uring is disabled (<c>kernel.io_uring_disabled</c>, a container's
/// seccomp profile) or the file cannot be opened for reading, nothing is held and the rename frees the file as before.
/// A file smaller than <see cref="MinBytes"/> is not worth the two system calls.
/// </para>
/// </remarks>
public static unsafe class DeferredRelease
{
    /// <summary>Files smaller than this are left to the rename (freeing them costs about what holding them does).</summary>
    public const long MinBytes = 64 * 1024;

    // The same numbers on x86-64 and arm64 (io_uring's system calls came after the tables were unified).
    private const nint SysIoUringSetup = 425;
    private const nint SysIoUringRegister = 427;
    private const nint IoringRegisterFiles = 2;
    // struct io_uring_params: 120 bytes, zeroed (no flags: a plain instance).
    private const int ParamsBytes = 120;

    // C library functions (LibC), looked up with the class's first use; null where there are none.
    private static readonly delegate* unmanaged<nint, nint, nint, nint, nint, nint> s_syscall = (delegate* unmanaged<nint, nint, nint, nint, nint, nint>)LibC.Find("syscall");
    private static readonly delegate* unmanaged<int, int> s_close = (delegate* unmanaged<int, int>)LibC.Find("close");

    /// <summary>Set by tests: hold nothing, as where io_uring is not available.</summary>
    internal static bool Disabled { get; set; }

    /// <summary>
    /// Holds the regular file at <paramref name="path"/> (if there is one of at least <see cref="MinBytes"/>) for a
    /// release after the caller has renamed another file onto it; dispose the result once the rename is done (or has
    /// failed: the file is then still linked, and nothing is freed).
    /// </summary>
    public static Held Hold(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Disabled || s_syscall == null || s_close == null) return Held.None;
        try
        {
            // Not a directory (not Exists), nor a FIFO or a device (no length): opening it cannot block.
            var info = new FileInfo(path);
            if (!info.Exists || info.Length < MinBytes) return Held.None;
            var parameters = stackalloc byte[ParamsBytes];
            new Span<byte>(parameters, ParamsBytes).Clear();
            var ring = (int)s_syscall(SysIoUringSetup, 1, (nint)parameters, 0, 0);
            if (ring < 0) return Held.None;
            var registered = false;
            try
            {
                // The program's own descriptor is closed when the handle is disposed; the instance keeps the file.
                using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                var files = stackalloc int[1];
                files[0] = (int)file.DangerousGetHandle();
                registered = s_syscall(SysIoUringRegister, ring, IoringRegisterFiles, (nint)files, 1) == 0;
            }
            finally
            {
                if (!registered) s_close(ring);
            }
            return registered ? new Held(ring) : Held.None;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Held.None;
        }
    }

    /// <summary>A file held for release (or nothing); <see cref="Dispose"/> lets the kernel release it.</summary>
    public sealed class Held : IDisposable
    {
        /// <summary>Nothing held.</summary>
        internal static readonly Held None = new(-1);

        // The io_uring instance's descriptor; -1 once closed, or when nothing is held.
        private int _ring;

        internal Held(int ring) => _ring = ring;

        /// <summary>Whether a file is held (false: the rename frees the file itself, as without this).</summary>
        public bool IsHeld => Volatile.Read(ref _ring) >= 0;

        /// <summary>The io_uring instance's descriptor (for tests: its fdinfo lists the file held); -1 when none.</summary>
        internal int Ring => Volatile.Read(ref _ring);

        /// <summary>Closes the instance (once): a kernel worker tears it down and drops the file, freeing it if it was unlinked.</summary>
        public void Dispose()
        {
            var ring = Interlocked.Exchange(ref _ring, -1);
            if (ring >= 0) s_close(ring);
        }
    }
}
