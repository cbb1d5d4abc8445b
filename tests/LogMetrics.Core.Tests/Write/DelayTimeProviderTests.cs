using LogMetrics.Core.Write;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

/// <summary>
/// The retry pipelines' wait seam: a timer fires when its delay ends, however it ends, and not after it
/// was disposed. A delay that threw once left the retry waiting forever (a test hung CI for its whole
/// budget: the fake server's start inside the delay failed).
/// </summary>
public sealed class DelayTimeProviderTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task DelayEnds_TimerFiresOnce()
    {
        var waits = new List<TimeSpan>();
        var provider = new DelayTimeProvider(TimeProvider.System, (d, _) =>
        {
            waits.Add(d);
            return Task.CompletedTask;
        });

        await Task.Delay(TimeSpan.FromHours(1), provider).WaitAsync(Generous);

        Assert.Equal([TimeSpan.FromHours(1)], waits);
    }

    [Fact]
    public async Task DelayThrows_TimerFiresAnyway()
    {
        var provider = new DelayTimeProvider(TimeProvider.System, (_, _) => throw new InvalidOperationException("the delay failed"));

        await Task.Delay(TimeSpan.FromHours(1), provider).WaitAsync(Generous);
    }

    [Fact]
    public async Task DelayFaultsLater_TimerFiresAnyway()
    {
        var provider = new DelayTimeProvider(TimeProvider.System, async (_, _) =>
        {
            await Task.Yield();
            throw new InvalidOperationException("the delay failed");
        });

        await Task.Delay(TimeSpan.FromHours(1), provider).WaitAsync(Generous);
    }

    [Fact]
    public async Task DelayCancelledByAnotherToken_TimerFiresAnyway()
    {
        using var other = new CancellationTokenSource();
        other.Cancel();
        var provider = new DelayTimeProvider(TimeProvider.System, (d, _) => Task.Delay(d, other.Token));

        await Task.Delay(TimeSpan.FromHours(1), provider).WaitAsync(Generous);
    }

    [Fact]
    public async Task TimerDisposed_DelayCancelled_CallbackNeverRuns()
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var provider = new DelayTimeProvider(TimeProvider.System, async (_, token) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            finally
            {
                ended.TrySetResult();
            }
        });
        var fired = 0;

        var timer = provider.CreateTimer(_ => Interlocked.Increment(ref fired), null, TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan);
        await timer.DisposeAsync();
        await ended.Task.WaitAsync(Generous);
        await Task.Delay(100); // a timer that fired after its disposal would have done so by now

        Assert.Equal(0, Volatile.Read(ref fired));
    }

    [Fact]
    public void InfiniteDueTime_DelayNeverStarted()
    {
        var calls = 0;
        var provider = new DelayTimeProvider(TimeProvider.System, (_, _) =>
        {
            calls++;
            return Task.CompletedTask;
        });

        using var timer = provider.CreateTimer(_ => { }, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        Assert.Equal(0, calls);
    }
}
