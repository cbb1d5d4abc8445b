using System.Net.Sockets;

namespace LogMetrics.Core.Write;

/// <summary>What one remote-write attempt means for the samples it carried.</summary>
public enum RemoteWriteOutcome
{
    /// <summary>2xx: the receiver holds the samples (or already held identical ones).</summary>
    Success,
    /// <summary>5xx, 429, timeout, connection failure, or a 401/403 the auth can still refresh: try again.</summary>
    Retryable,
    /// <summary>Any other 4xx: the receiver will never take these samples; drop and count them.</summary>
    Permanent,
    /// <summary>401/403 the auth cannot fix by refreshing: the configuration is wrong; stop and say so.</summary>
    Fatal,
}

/// <summary>
/// Maps an HTTP status or a transport failure to a <see cref="RemoteWriteOutcome"/>
/// (remote write 1.0: "retry on 5xx, MAY retry 429, MUST NOT retry other 4xx").
/// What to do about a retryable outcome is <see cref="RemoteWriteRetryPolicy"/>'s job.
/// </summary>
public static class RemoteWriteResponseClassifier
{
    /// <param name="statusCode">The response status.</param>
    /// <param name="authCanRefresh">Whether the auth may still refresh its credential for this request.</param>
    public static RemoteWriteOutcome Classify(int statusCode, bool authCanRefresh) => statusCode switch
    {
        >= 200 and < 300 => RemoteWriteOutcome.Success,
        401 or 403 => authCanRefresh ? RemoteWriteOutcome.Retryable : RemoteWriteOutcome.Fatal,
        429 or 408 => RemoteWriteOutcome.Retryable,
        >= 500 and < 600 => RemoteWriteOutcome.Retryable,
        // 1xx/3xx are not followed for a POST here; treat like a rejection that will not change.
        _ => RemoteWriteOutcome.Permanent,
    };

    /// <summary>
    /// A failure with no response: timeouts and connection errors (refused, reset, DNS) are retryable;
    /// anything else (a bug, a malformed URL) is fatal.
    /// </summary>
    public static RemoteWriteOutcome Classify(Exception exception) => exception switch
    {
        TimeoutException => RemoteWriteOutcome.Retryable,
        TaskCanceledException => RemoteWriteOutcome.Retryable,
        HttpRequestException => RemoteWriteOutcome.Retryable,
        IOException or SocketException => RemoteWriteOutcome.Retryable,
        _ => RemoteWriteOutcome.Fatal,
    };
}
