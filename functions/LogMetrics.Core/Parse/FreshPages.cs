using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LogMetrics.Core.Parse;

/// <summary>
/// New arrays whose every page is first written, not first read. A table filled at spread-out places (a hash
/// table, a set-associative memo) reads a slot before it writes it; on a page the process has never touched, the
/// read maps the kernel's shared zero page and the write that follows is a copy-on-write fault, which must flush
/// that mapping from the TLB of every other core running one of the process's threads: an inter-processor
/// interrupt, and in a VM a trap to the hypervisor on both cores. Writing each page first maps it writable at once.
/// Measured on the two-core replay of the bench corpus (`tlb:tlb_flush` tracepoint, docs/PERFORMANCE-LOG.md).
/// </summary>
internal static class FreshPages
{
    private const int PageBytes = 4096;

    /// <summary>A new array of <paramref name="length"/> elements, each of its pages written once (with zeros).</summary>
    public static T[] Array<T>(int length)
    {
        var array = new T[length];
        var bytes = (nuint)length * (nuint)Unsafe.SizeOf<T>();
        if (bytes < PageBytes) return array;
        ref var first = ref Unsafe.As<T, byte>(ref MemoryMarshal.GetArrayDataReference(array));
        // Zero over zero: no reference is stored (no write barrier), only each page faulted in for writing.
        for (nuint at = 0; at < bytes; at += PageBytes) Volatile.Write(ref Unsafe.AddByteOffset(ref first, at), (byte)0);
        Volatile.Write(ref Unsafe.AddByteOffset(ref first, bytes - 1), (byte)0);
        return array;
    }
}
