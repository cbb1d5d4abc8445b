using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace LogMetrics.Core.Parse;

/// <summary>
/// The strings of UTF-8 field values, made once per distinct value instead of once per record: a
/// bounded, four-way set-associative cache (least recently used out), keyed by the value's bytes (64-bit <see cref="XxHash3"/>;
/// a value of up to 16 bytes is held in its entry as two words and compared by them, so a hit does not read its string).
/// Not thread-safe: each parser owns one, and its records carry it to the processor steps. Log fields that become labels, lookup keys and predicates (product, API,
/// HTTP code, region, caller) repeat from record to record, so in steady state the hot path finds
/// their strings here and allocates nothing. A value longer than <see cref="MaxCachedBytes"/>, or one
/// that misses, is decoded as usual; the cache never grows past 8192 sets × <see cref="Ways"/> entries
/// (it starts with 64 sets and grows as values keep coming).
/// </summary>
public sealed class Utf8Strings
{
    /// <summary>Longest value cached (longer ones are unique per record in practice: ids, blobs).</summary>
    public const int MaxCachedBytes = 128;

    private const int MaxSets = 8192;
    private const int FirstSets = 64;
    private const int Ways = 4;

    // Starts small (6 KB) and grows four times over whenever it has taken in as many new values as it holds,
    // up to MaxSets: a short run touches little memory, a long one soon has the whole table (a table that keeps
    // missing keeps growing), so the steady-state hit rate is that of the full size.
    private Entry[] _entries = FreshPages.Array<Entry>(FirstSets * Ways);
    private int _mask = FirstSets - 1;
    private int _inserted;

    // For values read outside any parser (a record made by hand): one cache per thread.
    [ThreadStatic]
    private static Utf8Strings? t_shared;

    /// <summary>This thread's cache, for callers without their own.</summary>
    public static Utf8Strings ForThread => t_shared ??= new Utf8Strings();

    private struct Entry
    {
        public ulong Hash;
        /// <summary>A value of at most <see cref="InlineBytes"/> bytes: its bytes (<see cref="Inline"/>), compared without reading <see cref="Value"/>.</summary>
        public ulong Low;
        public ulong High;
        /// <summary>The value's length in bytes.</summary>
        public int Length;
        /// <summary>The bytes of a longer value that is not ASCII; null otherwise (a longer ASCII value is compared with <see cref="Value"/> itself).</summary>
        public byte[]? Key;
        public string? Value;
    }

    /// <summary>Values this long or shorter are compared by the two words an entry holds, not with their string.</summary>
    internal const int InlineBytes = 16;

    /// <summary>
    /// The bytes of a value of 1 to <see cref="InlineBytes"/> bytes as two words: for 8 or more, its first and last eight
    /// (overlapping); for 4 to 7 its first and last four in one word; for fewer, the bytes themselves. With the length,
    /// they are the value: two values of one length are equal exactly when their words are.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Inline(ReadOnlySpan<byte> utf8, out ulong low, out ulong high)
    {
        ref var start = ref MemoryMarshal.GetReference(utf8);
        var length = utf8.Length;
        if (length >= 8)
        {
            low = Unsafe.ReadUnaligned<ulong>(ref start);
            high = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, length - 8));
        }
        else if (length >= 4)
        {
            low = Unsafe.ReadUnaligned<uint>(ref start) | ((ulong)Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, length - 4)) << 32);
            high = 0;
        }
        else
        {
            // 1 to 3 bytes: the first, the middle and the last (some the same byte).
            low = start | ((ulong)Unsafe.Add(ref start, length >> 1) << 8) | ((ulong)Unsafe.Add(ref start, length - 1) << 16);
            high = 0;
        }
    }

    /// <summary>The key <see cref="Get(ReadOnlySpan{byte}, ulong)"/> takes: meaningful for 1 to <see cref="MaxCachedBytes"/> bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash(ReadOnlySpan<byte> utf8) => XxHash3.HashToUInt64(utf8);

    /// <summary>
    /// Starts loading the cache set of <paramref name="hash"/>: a parser that knows all of a record's values
    /// first asks for every set, so their cache misses overlap instead of following one another.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(ulong hash)
    {
        // The whole set (four 48-byte entries: three or four cache lines), since the value may be in any way.
        ref var set = ref Unsafe.As<Entry, byte>(ref _entries[(int)(hash & (uint)_mask) * Ways]);
        CachePrefetch.Of(ref set);
        CachePrefetch.Of(ref Unsafe.Add(ref set, 64));
        CachePrefetch.Of(ref Unsafe.Add(ref set, 128));
        CachePrefetch.Of(ref Unsafe.Add(ref set, (Ways * Unsafe.SizeOf<Entry>()) - 1));
    }

    /// <summary>
    /// Once the set of <paramref name="hash"/> is in the cache (<see cref="Prefetch"/>, a while before): starts loading the
    /// string of its most recently used entry when <see cref="Get(ReadOnlySpan{byte}, ulong)"/> will compare the value
    /// with it (a value longer than <see cref="InlineBytes"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchValue(ulong hash)
    {
        ref var entry = ref _entries[(int)(hash & (uint)_mask) * Ways];
        if (entry.Hash == hash && entry.Length > InlineBytes && entry.Value is { } value) CachePrefetch.Object(value);
    }

    /// <summary>The string of <paramref name="utf8"/> (valid UTF-8), from the cache when it was seen before.</summary>
    public string Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty) return "";
        if (utf8.Length > MaxCachedBytes) return Encoding.UTF8.GetString(utf8);
        return Get(utf8, XxHash3.HashToUInt64(utf8));
    }

    /// <summary>As <see cref="Get(ReadOnlySpan{byte})"/>, with the <see cref="Hash"/> of <paramref name="utf8"/> already computed.</summary>
    public string Get(ReadOnlySpan<byte> utf8, ulong hash)
    {
        if (utf8.IsEmpty) return "";
        if (utf8.Length > MaxCachedBytes) return Encoding.UTF8.GetString(utf8);
        var set = _entries.AsSpan((int)(hash & (uint)_mask) * Ways, Ways);
        if (utf8.Length <= InlineBytes)
        {
            // A short value is compared by its bytes as words: its string is not read (it may not be in the cache).
            Inline(utf8, out var low, out var high);
            for (var way = 0; way < set.Length; way++)
            {
                ref var entry = ref set[way];
                if (entry.Hash == hash && entry.Length == utf8.Length && entry.Low == low && entry.High == high && entry.Value is { } value)
                {
                    return way == 0 ? value : Promote(set, way);
                }
            }
            return Insert(set, hash, utf8);
        }
        for (var way = 0; way < set.Length; way++)
        {
            ref var entry = ref set[way];
            if (entry.Hash == hash && entry.Length == utf8.Length && entry.Value is { } value
                && (entry.Key is null ? Ascii.Equals(utf8, value) : utf8.SequenceEqual(entry.Key)))
            {
                return way == 0 ? value : Promote(set, way);
            }
        }
        return Insert(set, hash, utf8);
    }

    /// <summary>The most recently used entry of a set comes first.</summary>
    private static string Promote(Span<Entry> set, int way)
    {
        var hit = set[way];
        set[..way].CopyTo(set[1..]);
        set[0] = hit;
        return hit.Value!;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private string Insert(Span<Entry> set, ulong hash, ReadOnlySpan<byte> utf8)
    {
        var value = Encoding.UTF8.GetString(utf8);
        set[..^1].CopyTo(set[1..]);
        var entry = new Entry { Hash = hash, Length = utf8.Length, Value = value };
        if (utf8.Length <= InlineBytes)
        {
            Inline(utf8, out entry.Low, out entry.High);
        }
        else if (!Ascii.IsValid(utf8))
        {
            entry.Key = utf8.ToArray();
        }
        set[0] = entry;
        if (++_inserted >= _entries.Length && _mask < MaxSets - 1) Grow();
        return value;
    }

    /// <summary>Four times the sets; every entry moves to its set in the larger table, least recently used ones last.</summary>
    private void Grow()
    {
        var old = _entries;
        var sets = Math.Min((_mask + 1) * 4, MaxSets);
        var entries = FreshPages.Array<Entry>(sets * Ways);
        var mask = sets - 1;
        // Oldest ways first, so that within a new set the most recently used entries end up in front.
        for (var way = Ways - 1; way >= 0; way--)
        {
            for (var s = 0; s < old.Length / Ways; s++)
            {
                ref var entry = ref old[(s * Ways) + way];
                if (entry.Value is null) continue;
                var target = entries.AsSpan((int)(entry.Hash & (uint)mask) * Ways, Ways);
                target[..^1].CopyTo(target[1..]);
                target[0] = entry;
            }
        }
        _entries = entries;
        _mask = mask;
        _inserted = 0;
    }

    /// <summary>Sets of the table now (it grows from a few to <c>8192</c>); for tests.</summary>
    internal int SetCount => _mask + 1;
}
