using System.Numerics;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Flush;

/// <summary>
/// The order <see cref="WindowCloser"/> writes a family window's series in: by label values, ordinally, value by value;
/// then by the number of values; then by where each was met (its index). Sorted by integer keys, not by comparing
/// strings: per label position, each distinct value gets its rank among the position's values (a window's series
/// share few values per position, and the same value is mostly the same string instance, found by its address), and a
/// series' key is its ranks packed from the first position down, then its index. Comparing two keys is then comparing
/// the two series' values position by position, ranks being in the values' order. A window whose keys need more than
/// 64 bits, or whose series hold different numbers of values, is sorted by comparing the strings
/// (<see cref="Compare"/>): the same order.
/// </summary>
internal static class LabelOrder
{
    private const int KeptSeries = 1 << 16;

    [ThreadStatic] private static Scratch? t_scratch;

    /// <summary>
    /// Sets <paramref name="order"/> (as long as <paramref name="labels"/>) to the indices of <paramref name="labels"/> in
    /// <see cref="Compare"/>'s order.
    /// </summary>
    public static void Sort(ReadOnlySpan<string[]> labels, Span<int> order)
    {
        var n = labels.Length;
        if (order.Length != n) throw new ArgumentException("one place per series", nameof(order));
        for (var i = 0; i < n; i++) order[i] = i;
        if (n < 2) return;
        var width = labels[0].Length;
        foreach (var l in labels)
        {
            if (l.Length != width)
            {
                SortComparing(labels, order);
                return;
            }
        }
        var indexBits = BitsFor(n - 1);
        // Kept per thread up to a window of KeptSeries series; a larger one gets buffers of its own, not kept.
        var scratch = n <= KeptSeries ? t_scratch ??= new Scratch() : new Scratch();
        scratch.Size(n);
        var keys = scratch.Keys.AsSpan(0, n);
        keys.Clear();
        var used = indexBits;
        for (var p = 0; p < width; p++)
        {
            var ranks = scratch.Ranks.AsSpan(0, n);
            var distinct = scratch.Rank(labels, p, ranks);
            var bits = BitsFor(distinct - 1);
            if (used + bits > 64)
            {
                SortComparing(labels, order);
                return;
            }
            if (bits == 0) continue;
            for (var i = 0; i < n; i++) keys[i] = (keys[i] << bits) | (uint)ranks[i];
            used += bits;
        }
        for (var i = 0; i < n; i++) keys[i] = (keys[i] << indexBits) | (uint)i;
        keys.Sort();
        var mask = indexBits == 0 ? 0UL : ulong.MaxValue >> (64 - indexBits);
        for (var i = 0; i < n; i++) order[i] = (int)(keys[i] & mask);
    }

    /// <summary>Label values ordinally, value by value; then the number of values; then the index (<paramref name="x"/> against <paramref name="y"/>).</summary>
    public static int Compare(string[] a, int x, string[] b, int y)
    {
        var n = Math.Min(a.Length, b.Length);
        for (var i = 0; i < n; i++)
        {
            var c = string.CompareOrdinal(a[i], b[i]);
            if (c != 0) return c;
        }
        var d = a.Length.CompareTo(b.Length);
        return d != 0 ? d : x.CompareTo(y);
    }

    private static void SortComparing(ReadOnlySpan<string[]> labels, Span<int> order)
    {
        var copy = labels.ToArray();
        order.Sort((x, y) => Compare(copy[x], x, copy[y], y));
    }

    /// <summary>Bits that hold every value from 0 to <paramref name="max"/> (0 for 0).</summary>
    private static int BitsFor(int max) => max <= 0 ? 0 : 32 - BitOperations.LeadingZeroCount((uint)max);

    /// <summary>One thread's buffers, grown to the largest window met.</summary>
    private sealed class Scratch
    {
        public ulong[] Keys = [];
        public int[] Ranks = [];
        // The distinct values of a position as met (instances), and per instance its rank.
        private string?[] _distinct = [];
        private int[] _rankOf = [];
        private int[] _met = [];
        // An open-addressing table of instances by address: per slot an index into _distinct, or -1.
        private int[] _table = [];

        public void Size(int n)
        {
            if (Keys.Length >= n) return;
            var size = (int)BitOperations.RoundUpToPowerOf2((uint)n);
            Keys = new ulong[size];
            Ranks = new int[size];
            _distinct = new string?[size];
            _rankOf = new int[size];
            _met = new int[size];
            _table = new int[size * 2];
        }

        /// <summary>
        /// Sets <paramref name="ranks"/>[i] to the rank of <paramref name="labels"/>[i][<paramref name="p"/>] among the
        /// position's values (equal values, one rank); returns how many ranks there are.
        /// </summary>
        public int Rank(ReadOnlySpan<string[]> labels, int p, Span<int> ranks)
        {
            var n = labels.Length;
            // At most half full: twice the window's series, rounded up to a power of two.
            var bits = BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)n)) + 1;
            var table = _table.AsSpan(0, 1 << bits);
            var mask = table.Length - 1;
            table.Fill(-1);
            var distinct = 0;
            for (var i = 0; i < n; i++)
            {
                var value = labels[i][p];
                // A value moved by the collector between two of its series hashes elsewhere: it is then two
                // instances here, and gets one rank below, being equal.
                var slot = value is null ? 0 : IdentityHash.Of(value, bits);
                int at;
                while ((at = table[slot]) >= 0 && !ReferenceEquals(_distinct[at], value)) slot = (slot + 1) & mask;
                if (at < 0)
                {
                    at = distinct++;
                    table[slot] = at;
                    _distinct[at] = value;
                }
                ranks[i] = at;
            }
            // The instances in value order (each with where it was met), equal values sharing a rank.
            var values = _distinct.AsSpan(0, distinct);
            var met = _met.AsSpan(0, distinct);
            for (var k = 0; k < distinct; k++) met[k] = k;
            values.Sort(met, StringComparer.Ordinal);
            var rank = -1;
            for (var k = 0; k < distinct; k++)
            {
                if (k == 0 || !string.Equals(values[k - 1], values[k], StringComparison.Ordinal)) rank++;
                _rankOf[met[k]] = rank;
            }
            for (var i = 0; i < n; i++) ranks[i] = _rankOf[ranks[i]];
            values.Clear();
            return rank + 1;
        }
    }
}
