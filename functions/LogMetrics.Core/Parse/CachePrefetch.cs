using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LogMetrics.Core.Parse;

/// <summary>
/// Asks the processor to start loading memory into the cache, for the hot loops that know what the next records
/// will read (their misses then overlap instead of following one another). Only hints: an address that went
/// stale (an object the GC moved) or is wrong never faults, and where the processor has no prefetch instruction
/// nothing happens.
/// </summary>
internal static class CachePrefetch
{
    /// <summary>The cache line holding <paramref name="value"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Of<T>(ref T value)
    {
        if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref value));
    }

    /// <summary>Every cache line of the <paramref name="length"/> bytes from <paramref name="start"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Bytes(ref byte start, int length)
    {
        if (!Sse.IsSupported) return;
        var p = (byte*)Unsafe.AsPointer(ref start);
        for (var at = 0; at < length; at += 64) Sse.Prefetch0(p + at);
    }

    /// <summary>
    /// The start of the object <paramref name="target"/> refers to (its header and first bytes; with
    /// <paramref name="nextLine"/>, the 64 bytes after them too), by the reference read as an address.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Object(object target, bool nextLine = false) => Address(Unsafe.As<object, nint>(ref target), nextLine);

    /// <summary>The cache line at <paramref name="address"/> (a reference read as an address), and the next one with <paramref name="nextLine"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Address(nint address, bool nextLine = false)
    {
        if (!Sse.IsSupported) return;
        Sse.Prefetch0((void*)address);
        if (nextLine) Sse.Prefetch0((void*)(address + 64));
    }
}
