using System.Net.Http.Headers;
using LogMetrics.Core.Write;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

public class RemoteWriteRetryPolicyTests
{
    /// <summary>Returns a fixed fraction so the jittered delay is predictable.</summary>
    private sealed class FixedRandom(double value) : Random
    {
        public override double NextDouble() => value;
    }

    private static RemoteWriteRetryPolicy Policy(double jitter, int maxElapsedSeconds = 300) =>
        new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(maxElapsedSeconds), new FixedRandom(jitter));

    [Theory]
    [InlineData(0, 200)]
    [InlineData(1, 400)]
    [InlineData(3, 1_600)]
    [InlineData(7, 25_600)]
    [InlineData(8, 30_000)]
    [InlineData(40, 30_000)]
    public void NextDelay_MaximalJitter_IsExponentialCappedAtMax(int attempt, int expectedMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), Policy(jitter: 1.0).NextDelay(attempt, TimeSpan.Zero, null));
    }

    [Fact]
    public void NextDelay_FullJitter_IsFractionOfCap()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(400), Policy(jitter: 0.25).NextDelay(3, TimeSpan.Zero, null));
        Assert.Equal(TimeSpan.Zero, Policy(jitter: 0).NextDelay(5, TimeSpan.Zero, null));
    }

    [Fact]
    public void NextDelay_RetryAfterLongerThanBackoff_WaitsRetryAfter()
    {
        Assert.Equal(TimeSpan.FromSeconds(12), Policy(jitter: 0.5).NextDelay(0, TimeSpan.Zero, TimeSpan.FromSeconds(12)));
    }

    [Fact]
    public void NextDelay_RetryAfterShorterThanBackoff_WaitsBackoff()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(1_600), Policy(jitter: 1).NextDelay(3, TimeSpan.Zero, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void NextDelay_WaitWouldEndPastBudget_GivesUp()
    {
        var policy = Policy(jitter: 1, maxElapsedSeconds: 10);

        Assert.Equal(TimeSpan.FromMilliseconds(800), policy.NextDelay(2, TimeSpan.FromSeconds(9), null));
        Assert.Null(policy.NextDelay(3, TimeSpan.FromSeconds(9), null));
        Assert.Null(policy.NextDelay(0, TimeSpan.Zero, TimeSpan.FromSeconds(11)));
    }

    [Fact]
    public void RetryAfter_DeltaSeconds_IsThatDelay()
    {
        Assert.Equal(TimeSpan.FromSeconds(7), RemoteWriteRetryPolicy.RetryAfter(RetryConditionHeaderValue.Parse("7"), DateTimeOffset.UnixEpoch));
    }

    [Fact]
    public void RetryAfter_HttpDate_IsTimeUntilThatDate()
    {
        var now = new DateTimeOffset(2026, 1, 15, 12, 0, 0, TimeSpan.Zero);

        Assert.Equal(TimeSpan.FromSeconds(90), RemoteWriteRetryPolicy.RetryAfter(RetryConditionHeaderValue.Parse("Thu, 15 Jan 2026 12:01:30 GMT"), now));
        Assert.Equal(TimeSpan.Zero, RemoteWriteRetryPolicy.RetryAfter(RetryConditionHeaderValue.Parse("Thu, 15 Jan 2026 11:00:00 GMT"), now));
        Assert.Null(RemoteWriteRetryPolicy.RetryAfter(null, now));
    }
}
