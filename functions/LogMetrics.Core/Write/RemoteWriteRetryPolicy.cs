using System.Net.Http.Headers;

namespace LogMetrics.Core.Write;

/// <summary>
/// Backoff for retryable remote-write attempts: exponential with full jitter
/// (delay = random(0, min(max, initial · 2^attempt))), never shorter than the server's
/// <c>Retry-After</c>, and no retry that would end past <c>maxElapsed</c> since the first attempt.
/// </summary>
public sealed class RemoteWriteRetryPolicy
{
    private readonly TimeSpan _initial;
    private readonly TimeSpan _max;
    private readonly TimeSpan _maxElapsed;
    private readonly Random _random;

    public RemoteWriteRetryPolicy(TimeSpan initialBackoff, TimeSpan maxBackoff, TimeSpan maxElapsed, Random? random = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(initialBackoff, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBackoff, initialBackoff);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxElapsed, TimeSpan.Zero);
        _initial = initialBackoff;
        _max = maxBackoff;
        _maxElapsed = maxElapsed;
        _random = random ?? Random.Shared;
    }

    /// <summary>
    /// The delay before retry number <paramref name="attempt"/> + 1 (attempt 0 = the first try failed),
    /// or null to give up because the wait would end past the elapsed budget.
    /// </summary>
    public TimeSpan? NextDelay(int attempt, TimeSpan elapsed, TimeSpan? retryAfter)
    {
        var delay = Backoff(attempt, retryAfter);
        return elapsed + delay > _maxElapsed ? null : delay;
    }

    /// <summary>The backoff before retry number <paramref name="attempt"/> + 1, at least the server's Retry-After; no limit applied.</summary>
    public TimeSpan Backoff(int attempt, TimeSpan? retryAfter)
    {
        var cap = Math.Min(_max.TotalMilliseconds, _initial.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 62)));
        double jitter;
        lock (_random) jitter = _random.NextDouble();
        var delay = TimeSpan.FromMilliseconds(jitter * cap);
        if (retryAfter is { } ra && ra > delay) delay = ra;
        return delay;
    }

    /// <summary>
    /// On 401/403: refresh the credential and retry at once, but only once per request, and only
    /// for an auth that can obtain a different credential (Entra token, bearer token file).
    /// </summary>
    public static bool ShouldRefreshAuth(int statusCode, IRemoteWriteAuth auth, bool alreadyRefreshed) =>
        statusCode is 401 or 403 && auth.CanRefresh && !alreadyRefreshed;

    /// <summary>The wait a <c>Retry-After</c> header asks for (delta seconds or an HTTP date), if any.</summary>
    public static TimeSpan? RetryAfter(RetryConditionHeaderValue? header, DateTimeOffset now)
    {
        if (header is null) return null;
        if (header.Delta is { } delta) return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        if (header.Date is { } date) return date > now ? date - now : TimeSpan.Zero;
        return null;
    }
}
