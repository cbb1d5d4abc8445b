using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Tests.Flush;

/// <summary>
/// <see cref="LabelOrder.Sort"/> (integer keys from per-position ranks) against a plain sort that compares the label
/// values as strings, value by value, then the number of values, then the index: random windows of series with few
/// or many distinct values per position, equal values held by different string instances, values that differ only
/// past their first characters or outside ASCII, and windows whose keys do not fit in 64 bits or whose series hold
/// different numbers of values (sorted by comparing).
/// </summary>
public class LabelOrderTests
{
    private static int[] Plain(string[][] labels)
    {
        var order = Enumerable.Range(0, labels.Length).ToArray();
        Array.Sort(order, (x, y) =>
        {
            var (a, b) = (labels[x], labels[y]);
            for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
            {
                // Ordinal: UTF-16 code unit by code unit.
                for (var c = 0; c < Math.Min(a[i].Length, b[i].Length); c++)
                {
                    if (a[i][c] != b[i][c]) return a[i][c].CompareTo(b[i][c]);
                }
                if (a[i].Length != b[i].Length) return a[i].Length.CompareTo(b[i].Length);
            }
            return a.Length != b.Length ? a.Length.CompareTo(b.Length) : x.CompareTo(y);
        });
        return order;
    }

    private static int[] Sorted(string[][] labels)
    {
        var order = new int[labels.Length];
        LabelOrder.Sort(labels, order);
        return order;
    }

    // Values close to each other: shared prefixes, one character apart, non-ASCII and surrogate code units, empty.
    private static readonly string[] Alphabet = ["a", "b", "ab", "aB", "é", "\uD83D\uDE00", "\uFFFF", "0", "z"];

    private static string Value(Random random, int distinct)
    {
        var k = random.Next(distinct);
        // A value's text from its number, with a common prefix, so that values differ only after it.
        var text = "gw-acc-cn-hangzhou-" + string.Concat(Enumerable.Range(0, 1 + (k % 3)).Select(i => Alphabet[(k / (i + 1)) % Alphabet.Length])) + k;
        // Mostly one instance per value (as a shard interns them), sometimes a copy (as a document read back holds).
        return random.Next(4) == 0 ? new string(text.AsSpan()) : string.Intern(text);
    }

    [Theory]
    [InlineData(1, 1, 3, 5)]
    [InlineData(2, 2, 3, 5)]
    [InlineData(3, 50, 1, 3)]
    [InlineData(4, 200, 3, 40)]
    [InlineData(5, 2000, 4, 300)]
    [InlineData(6, 500, 0, 1)]
    [InlineData(7, 3000, 2, 1)]
    [InlineData(8, 70_000, 2, 400)] // more series than a thread keeps buffers for
    public void Sort_RandomWindows_SameOrderAsComparingTheStrings(int seed, int series, int width, int distinct)
    {
        var random = new Random(seed);
        for (var round = 0; round < (series > 10_000 ? 2 : 20); round++)
        {
            var labels = Enumerable.Range(0, series)
                .Select(_ => Enumerable.Range(0, width).Select(_ => Value(random, distinct)).ToArray())
                .ToArray();
            // Some series twice, as a copy (the tie is broken by where each was met).
            for (var i = 0; i + 1 < series; i += 7) labels[i + 1] = [.. labels[i].Select(v => new string(v.AsSpan()))];

            Assert.Equal(Plain(labels), Sorted(labels));
        }
    }

    [Fact]
    public void Sort_KeysWiderThan64Bits_SameOrderByComparing()
    {
        // Six positions of up to 4,000 distinct values each: 12 bits a position, more than 64 with the index's.
        var random = new Random(11);
        var labels = Enumerable.Range(0, 4000).Select(_ => Enumerable.Range(0, 6).Select(_ => Value(random, 4000)).ToArray()).ToArray();

        Assert.Equal(Plain(labels), Sorted(labels));
    }

    [Fact]
    public void Sort_SeriesWithDifferentNumbersOfValues_ShorterFirstOnACommonPrefix()
    {
        string[][] labels = [["b", "a"], ["b"], ["a", "z"], ["b", "a"], [], ["a"]];

        Assert.Equal([4, 5, 2, 1, 0, 3], Sorted(labels));
        Assert.Equal(Plain(labels), Sorted(labels));
    }

    [Fact]
    public void Sort_EqualValuesInDifferentInstances_OneRank()
    {
        // "b" twice as two instances in the first position: the second position decides, then the index.
        var b1 = new string('b', 1);
        var b2 = new string('b', 1);
        string[][] labels = [[b1, "y"], ["a", "z"], [b2, "x"], [b1, "x"]];

        Assert.Equal([1, 2, 3, 0], Sorted(labels));
    }

    [Fact]
    public void Sort_OrderOfAnotherLength_Refused() =>
        Assert.Throws<ArgumentException>(() => LabelOrder.Sort(new[] { new[] { "a" } }, new int[2]));
}
