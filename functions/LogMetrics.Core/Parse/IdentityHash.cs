using System.Runtime.CompilerServices;

namespace LogMetrics.Core.Parse;

/// <summary>
/// A hash of an object's identity for the hot path's direct-mapped memos (entries found by reference: a label's
/// series, a lookup key's index), taken from its address: no call, and the object itself is not read, where
/// <see cref="RuntimeHelpers.GetHashCode(object)"/> is a runtime call that reads (and may write) the object's header.
/// An object moved by the GC hashes elsewhere afterwards: a memo then misses it once and takes its slower path,
/// whose answer is the same, so a memo's hits and misses never change what it answers.
/// </summary>
internal static class IdentityHash
{
    /// <summary>The top <paramref name="bits"/> bits (1 to 32) of the mixed address of <paramref name="target"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Of(object target, int bits) => (int)(Mixed(target) >> (64 - bits));

    /// <summary>The address of <paramref name="target"/>, multiplied by the 64-bit golden ratio (its high bits are the well-mixed ones).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mixed(object target) => (ulong)Unsafe.As<object, nint>(ref target) * 0x9E3779B97F4A7C15UL;
}
