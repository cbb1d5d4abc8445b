using Microsoft.Extensions.Logging;

namespace LogMetrics.Core.Telemetry;

/// <summary>
/// Every log message of the core, as [LoggerMessage] methods, tagged by stage in the text and by
/// event id range (3xx Flush, 5xxx Write).
/// </summary>
internal static partial class Log
{
    // Flush (3xx)

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "Flush: the sink is failing and {Pending} closed samples exceed the pending bound {Bound}; the oldest {Samples} (windows ending at or before {ThroughMs} ms) are dropped and counted")]
    public static partial void BacklogDropped(ILogger logger, int samples, long throughMs, int pending, long bound);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Write: sink failed; {Samples} samples of {Windows} closed windows stay in state and are retried on the next flush")]
    public static partial void WriteDeferred(ILogger logger, int samples, int windows);

    // Write (5xxx)

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Write: {Samples} samples rejected by {Endpoint} with HTTP {Status}, dropped: {Body}")]
    public static partial void Rejected(ILogger logger, int samples, Uri endpoint, int status, string body);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Write: attempt {Attempt} to {Endpoint} failed ({Reason}); retrying {Samples} samples in {Delay}")]
    public static partial void Retrying(ILogger logger, int attempt, Uri endpoint, string reason, int samples, TimeSpan delay);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Write: giving up on {Samples} samples to {Endpoint} after {Attempts} attempts ({Reason}); the windows stay pending")]
    public static partial void GaveUp(ILogger logger, int samples, Uri endpoint, int attempts, string reason);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Information, Message = "Write: {Endpoint} answered HTTP {Status}; refreshing {Auth} credentials and retrying once")]
    public static partial void RefreshingAuth(ILogger logger, Uri endpoint, int status, string auth);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Error, Message = "Write: {Endpoint} refused the credentials (HTTP {Status}, auth {Auth}): {Body}")]
    public static partial void AuthRejected(ILogger logger, Uri endpoint, int status, string auth, string body);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "Write: {Endpoint} answered 413 for {Samples} samples; sending them as two requests of {First} and {Second}")]
    public static partial void Halving(ILogger logger, int samples, Uri endpoint, int first, int second);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Error, Message = "Write: the run's retry budget ({Budget}) is spent; {Samples} samples to {Endpoint} dropped as {Reason} ({LastError}); later requests are not sent")]
    public static partial void BudgetSpent(ILogger logger, int samples, Uri endpoint, string lastError, TimeSpan budget, string reason);
}
