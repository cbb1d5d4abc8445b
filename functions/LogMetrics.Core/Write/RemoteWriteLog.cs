using Microsoft.Extensions.Logging;

namespace LogMetrics.Core.Write;

/// <summary>Write-stage log messages.</summary>
internal static partial class RemoteWriteLog
{
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
}
