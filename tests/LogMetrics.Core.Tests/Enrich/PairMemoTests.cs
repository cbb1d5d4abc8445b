using System.Runtime.InteropServices;
using LogMetrics.Core.Enrich;

namespace LogMetrics.Core.Tests.Enrich;

/// <summary>The two-part key memo starts small and grows: whatever its size, a hit is always the key of that pair.</summary>
public class PairMemoTests
{
    [Theory]
    [InlineData(10)]
    [InlineData(600)]
    [InlineData(20_000)]
    public void Memo_GrowingThroughItsSizes_AHitIsAlwaysThatPairsKey(int pairs)
    {
        var memo = new PairMemo();
        var random = new Random(pairs);
        // Distinct string instances; some pairs share a part, some parts are equal text in other instances.
        var firsts = Enumerable.Range(0, 50).Select(i => new string('f', 1 + i % 7) + i).ToArray();
        var seconds = Enumerable.Range(0, pairs).Select(i => (i % 3 == 0 ? "same" : "s") + (i % 97)).Select(t => new string(t.AsSpan())).ToArray();
        // The memo finds a pair by its parts' addresses, so a part the GC moves misses once (a garbage collection run by
        // the tests beside this one, between an Add and its TryGet, made the hit asserted below fail): pinned, they stay.
        var pins = firsts.Concat(seconds).Select(p => GCHandle.Alloc(p, GCHandleType.Pinned)).ToList();
        try
        {
            Check(memo, random, firsts, seconds, pairs);
        }
        finally
        {
            foreach (var pin in pins) pin.Free();
        }
    }

    private static void Check(PairMemo memo, Random random, string[] firsts, string[] seconds, int pairs)
    {
        var added = new List<(string First, string Second, DimensionKey Key)>();
        for (var i = 0; i < pairs; i++)
        {
            var first = firsts[random.Next(firsts.Length)];
            var second = seconds[i];
            var key = new DimensionKey([first, second, i.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            memo.Add(first, second, key);
            added.Add((first, second, key));
            Assert.True(memo.TryGet(first, second, out var found));
            Assert.Equal(key, found);
        }
        var hits = 0;
        foreach (var (first, second, key) in added)
        {
            if (!memo.TryGet(first, second, out var found)) continue;
            hits++;
            // The same pair of instances may have been added again later with another key: the last one wins.
            var last = added.FindLast(a => ReferenceEquals(a.First, first) && ReferenceEquals(a.Second, second));
            Assert.Equal(last.Key, found);
        }
        Assert.True(hits > 0);
        // Pairs never added are not found, even with parts equal in text to added ones.
        Assert.False(memo.TryGet(new string(firsts[0].AsSpan()), seconds[0], out _));
    }
}
