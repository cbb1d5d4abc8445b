namespace LogMetrics.Core.Tests.Flush;

/// <summary>The one watermark type: hand-computed cases of DESIGN §3.</summary>
public sealed class WatermarkTests
{
    [Fact]
    public void Of_NewestEventMinusOutOfOrderness_NoneBeforeAnyEvent()
    {
        Assert.Equal(new Watermark(25_000), Watermark.Of(30_000, 5_000));
        Assert.Equal(Watermark.None, Watermark.Of(long.MinValue, 5_000));
    }

    [Theory]
    [InlineData(20_000, 10_000, 10_000, true)]   // [10 s, 20 s) ends at the watermark: sealed
    [InlineData(19_999, 10_000, 10_000, false)]  // one millisecond short
    [InlineData(60_000, 0, 60_000, true)]        // a 60-s window [0, 60 s)
    [InlineData(long.MaxValue, 1_768_484_000_000, 10_000, true)]
    [InlineData(long.MinValue, -10_000, 10_000, false)] // nothing seen seals nothing, even before the epoch
    public void Seals_WindowEndingAtOrBeforeTheWatermark(long watermarkMs, long startMs, long lengthMs, bool sealedExpected)
    {
        Assert.Equal(sealedExpected, new Watermark(watermarkMs).Seals(startMs, lengthMs));
    }

    [Fact]
    public void Global_MinimumOfTheLiveLanes_NoneWhenNoLaneIsLive()
    {
        Assert.Equal(new Watermark(7), Watermark.Global([new Watermark(9), new Watermark(7), Watermark.Final]));
        Assert.Equal(Watermark.None, Watermark.Global([new Watermark(9), Watermark.None]));
        Assert.Equal(Watermark.None, Watermark.Global([]));
        Assert.Equal(new Watermark(9), Watermark.Max(new Watermark(9), Watermark.None));
    }
}
