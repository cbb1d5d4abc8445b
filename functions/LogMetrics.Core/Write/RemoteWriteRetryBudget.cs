namespace LogMetrics.Core.Write;

/// <summary>
/// One retry budget for a client's whole life (a replay run), not per flush: every retry takes its
/// failed attempt's duration plus its backoff wait from it. Once a retry would overdraw it, the
/// budget is spent for good: the failing request is dropped (<c>unreachable</c> or <c>gave_up</c>)
/// and later requests are not sent (<c>over_budget</c>). So a dead endpoint costs a run at most
/// about the budget, however many flushes the run has.
/// </summary>
public sealed class RemoteWriteRetryBudget(TimeSpan total)
{
    private readonly Lock _gate = new();
    private TimeSpan _spent;
    private bool _exhausted;

    public TimeSpan Total { get; } = total;

    public TimeSpan Spent
    {
        get { lock (_gate) return _spent; }
    }

    public bool Exhausted
    {
        get { lock (_gate) return _exhausted; }
    }

    /// <summary>Takes <paramref name="amount"/> if it fits; otherwise marks the budget spent and returns false.</summary>
    public bool TryTake(TimeSpan amount)
    {
        lock (_gate)
        {
            if (_exhausted) return false;
            if (_spent + amount > Total)
            {
                _exhausted = true;
                return false;
            }
            _spent += amount;
            return true;
        }
    }
}

/// <summary>Why remote write dropped samples: the keys of <c>dropped</c> in the summary and the final report.</summary>
public static class DropReasons
{
    /// <summary>The endpoint refused the credentials (401/403 after the one refresh); the run stops.</summary>
    public const string Unauthorized = "unauthorized";
    /// <summary>The retry budget ran out while the endpoint could not be reached (refused, reset, timeout).</summary>
    public const string Unreachable = "unreachable";
    /// <summary>The retry budget ran out while the endpoint kept answering 5xx or 429.</summary>
    public const string GaveUp = "gave_up";
    /// <summary>Not sent at all: the run's retry budget was already spent.</summary>
    public const string OverBudget = "over_budget";
    // Permanent rejections are "http_<status>", e.g. http_400 (a 413 only after halving down to one sample).
}

/// <summary>
/// A <see cref="TimeProvider"/> whose timers wait through a host-supplied delay (tests record and
/// skip waits); clock reads go to the inner provider. Used for the retry pipeline's waits.
/// A timer fires once its delay ends, however it ends, unless the timer itself was disposed: a delay
/// that throws (or is cancelled by a token of its own) ends the wait early rather than leaving the
/// retry waiting forever on a timer that never fires.
/// </summary>
internal sealed class DelayTimeProvider(TimeProvider inner, Func<TimeSpan, CancellationToken, Task> delay) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

    public override long GetTimestamp() => inner.GetTimestamp();

    public override long TimestampFrequency => inner.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new DelayTimer();
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            _ = RunAsync();
        }
        return timer;

        async Task RunAsync()
        {
            try
            {
                await delay(dueTime, timer.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // However the delay ended, the wait is over (see the summary); a disposed timer is checked below.
            }
            if (!timer.Token.IsCancellationRequested) callback(state);
        }
    }

    private sealed class DelayTimer : ITimer
    {
        private readonly CancellationTokenSource _cts = new();

        public CancellationToken Token => _cts.Token;

        public bool Change(TimeSpan dueTime, TimeSpan period) => false;

        public void Dispose() => _cts.Cancel();

        public ValueTask DisposeAsync()
        {
            _cts.Cancel();
            return ValueTask.CompletedTask;
        }
    }
}
