using LogMetrics.Core.Parse;
using Xunit;

namespace LogMetrics.Core.Tests.Parse;

public sealed class FreshPagesTests
{
    private readonly record struct Wide(string? Text, long A, long B, object? Ref);

    /// <summary>Every length around the page size, for elements of 1, 8 and 32 bytes (with references): the array is as long as asked, all default, and usable.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(127)]
    [InlineData(128)]
    [InlineData(129)]
    [InlineData(511)]
    [InlineData(512)]
    [InlineData(513)]
    [InlineData(4095)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(100_003)]
    public void Array_AsLongAsAsked_AllDefault(int length)
    {
        var bytes = FreshPages.Array<byte>(length);
        var refs = FreshPages.Array<object?>(length);
        var wide = FreshPages.Array<Wide>(length);

        Assert.Equal(length, bytes.Length);
        Assert.Equal(length, refs.Length);
        Assert.Equal(length, wide.Length);
        Assert.All(bytes, b => Assert.Equal(0, b));
        Assert.All(refs, Assert.Null);
        Assert.All(wide, w => Assert.Equal(default, w));
        if (length == 0) return;
        refs[^1] = "last";
        wide[^1] = new Wide("x", 1, 2, refs);
        Assert.Equal("last", refs[^1]);
        Assert.Same(refs, wide[^1].Ref);
    }
}
