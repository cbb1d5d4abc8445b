using System.Runtime.InteropServices;

namespace LogMetrics.Core.Replay;

/// <summary>
/// Functions of the C library found in the process's own symbols (libc is loaded already): no library search, where a
/// DllImport of "libc" probed some sixty paths for liblibc.so and libc.so first.
/// </summary>
internal static unsafe class LibC
{
    /// <summary><c>madvise</c>'s advice that a range be backed by transparent huge pages where the kernel can.</summary>
    public const int MadvHugepage = 14;

    /// <summary>
    /// <c>madvise</c>'s advice that every page of a range be faulted in for writing now, in the one call (Linux 5.14 and
    /// later; EINVAL before): what writing each page would do, without a fault for each.
    /// </summary>
    public const int MadvPopulateWrite = 23;

    /// <summary><c>madvise(addr, length, advice)</c>, looked up with the class's first use; null where there is none.</summary>
    public static readonly delegate* unmanaged<void*, nuint, int, int> Madvise = (delegate* unmanaged<void*, nuint, int, int>)Find("madvise");

    /// <summary>The address of the function <paramref name="name"/>; 0 elsewhere than Linux, or where the process has none.</summary>
    public static nint Find(string name) =>
        OperatingSystem.IsLinux() && NativeLibrary.TryGetExport(NativeLibrary.GetMainProgramHandle(), name, out var address) ? address : 0;
}
