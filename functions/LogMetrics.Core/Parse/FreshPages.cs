using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LogMetrics.Core.Replay;

namespace LogMetrics.Core.Parse;

/// <summary>
/// New arrays whose every page is first written, not first read. A table filled at spread-out places (a hash
/// table, a set-associative memo) reads a slot before it writes it; on a page the process has never touched, the
/// read maps the kernel's shared zero page and the write that follows is a copy-on-write fault, which must flush
/// that mapping from the TLB of every other core running one of the process's threads: an inter-processor
/// interrupt, and in a VM a trap to the hypervisor on both cores. Writing each page first maps it writable at once.
/// Measured on the two-core replay of the bench corpus (`tlb:tlb_flush` tracepoint, docs/PERFORMANCE-LOG.md).
/// <para>A large array's pages are faulted in by one call to the kernel (<c>madvise(MADV_POPULATE_WRITE)</c>, Linux
/// 5.14 and later), not one fault per page: on the virtual machines of session 22 a fault cost about 10 µs and the
/// call about 0.5 µs a page (docs/PERFORMANCE-LOG.md). Where the kernel has no such advice, each page is written.</para>
/// </summary>
internal static unsafe class FreshPages
{
    /// <summary>
    /// Arrays of at least this many bytes have their pages faulted in by the kernel in one call: those on the large
    /// object heap, which the collector hands out in memory nothing has written yet. It clears a smaller array's
    /// memory as it hands it out, which faults its pages in already.
    /// </summary>
    internal const int PopulateBytes = 85_000;

    private const int PageBytes = 4096;

    // Cleared by the first call the kernel refuses (a kernel before 5.14, another system): from then on, pages are written.
    private static bool s_populate = LibC.Madvise != null;

    /// <summary>A new array of <paramref name="length"/> elements, each of its pages written once (with zeros).</summary>
    public static T[] Array<T>(int length)
    {
        var array = new T[length];
        var bytes = (nuint)length * (nuint)Unsafe.SizeOf<T>();
        if (bytes < PageBytes) return array;
        ref var first = ref Unsafe.As<T, byte>(ref MemoryMarshal.GetArrayDataReference(array));
        if (bytes >= PopulateBytes && Populate(ref first, bytes)) return array;
        // Zero over zero: no reference is stored (no write barrier), only each page faulted in for writing.
        for (nuint at = 0; at < bytes; at += PageBytes) Volatile.Write(ref Unsafe.AddByteOffset(ref first, at), (byte)0);
        Volatile.Write(ref Unsafe.AddByteOffset(ref first, bytes - 1), (byte)0);
        return array;
    }

    /// <summary>
    /// A new byte array, not zeroed (for a buffer written before it is read, by a read from a file say), whose pages a
    /// large one has faulted in at once: the read's copy would otherwise fault them in one at a time.
    /// </summary>
    public static byte[] Bytes(int length)
    {
        var array = GC.AllocateUninitializedArray<byte>(length);
        if (length >= PopulateBytes) Populate(ref MemoryMarshal.GetArrayDataReference(array), (nuint)length);
        return array;
    }

    /// <summary>
    /// Faults in, writable, every page holding one of the <paramref name="bytes"/> bytes at <paramref name="first"/>,
    /// an array's, in one call; false if the kernel refused (nothing is written either way).
    /// </summary>
    internal static bool Populate(ref byte first, nuint bytes)
    {
        if (!s_populate || bytes == 0) return false;
        var page = (nuint)Environment.SystemPageSize;
        fixed (byte* at = &first)
        {
            // The first and last pages hold bytes of the array, so they are mapped: rounding out stays in the heap.
            var start = (nuint)at & ~(page - 1);
            var end = ((nuint)at + bytes + page - 1) & ~(page - 1);
            if (LibC.Madvise((void*)start, end - start, LibC.MadvPopulateWrite) == 0) return true;
        }
        s_populate = false;
        return false;
    }
}
