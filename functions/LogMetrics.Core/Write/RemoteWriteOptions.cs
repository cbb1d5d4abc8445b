using LogMetrics.Core.Definition;

namespace LogMetrics.Core.Write;

/// <summary>Validated remote-write settings (see <see cref="RemoteWriteDefinition"/> for the JSON form).</summary>
public sealed record RemoteWriteOptions(
    Uri Endpoint,
    int MaxSamplesPerRequest,
    int MaxBytesPerRequest,
    int Concurrency,
    TimeSpan Timeout,
    TimeSpan InitialBackoff,
    TimeSpan MaxBackoff,
    TimeSpan MaxElapsed)
{
    /// <summary>
    /// A retry budget for the client's whole life (the console sets one per run); null = the
    /// Functions app's behaviour: each request retries for up to <see cref="MaxElapsed"/>, then stays pending.
    /// </summary>
    public TimeSpan? RunRetryBudget { get; init; }

    /// <summary>Checks <paramref name="definition"/>; a failure names the setting key, e.g. <c>remoteWrite.maxSamplesPerRequest</c>.</summary>
    public static RemoteWriteOptions From(RemoteWriteDefinition definition, string? endpointOverride)
    {
        var endpoint = string.IsNullOrWhiteSpace(endpointOverride) ? definition.Endpoint : endpointOverride;
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            throw new RemoteWriteConfigurationException("remoteWrite.endpoint",
                "remoteWrite.endpoint is required (set it in pipeline.json, or override it with --remote-write-url / the REMOTE_WRITE_URL setting).");
        }
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new RemoteWriteConfigurationException("remoteWrite.endpoint", $"remoteWrite.endpoint must be an absolute http or https URL, not '{endpoint}'.");
        }
        Positive(definition.MaxSamplesPerRequest, "remoteWrite.maxSamplesPerRequest");
        Positive(definition.MaxBytesPerRequest, "remoteWrite.maxBytesPerRequest");
        Positive(definition.Concurrency, "remoteWrite.concurrency");
        Positive(definition.TimeoutSeconds, "remoteWrite.timeoutSeconds");
        Positive(definition.InitialBackoffMs, "remoteWrite.initialBackoffMs");
        if (definition.MaxBackoffMs < definition.InitialBackoffMs)
        {
            throw new RemoteWriteConfigurationException("remoteWrite.maxBackoffMs",
                $"remoteWrite.maxBackoffMs must be >= remoteWrite.initialBackoffMs ({definition.InitialBackoffMs}), not {definition.MaxBackoffMs}.");
        }
        if (definition.MaxElapsedSeconds < 0)
        {
            throw new RemoteWriteConfigurationException("remoteWrite.maxElapsedSeconds", $"remoteWrite.maxElapsedSeconds must be >= 0, not {definition.MaxElapsedSeconds}.");
        }
        return new RemoteWriteOptions(
            uri,
            definition.MaxSamplesPerRequest,
            definition.MaxBytesPerRequest,
            definition.Concurrency,
            TimeSpan.FromSeconds(definition.TimeoutSeconds),
            TimeSpan.FromMilliseconds(definition.InitialBackoffMs),
            TimeSpan.FromMilliseconds(definition.MaxBackoffMs),
            TimeSpan.FromSeconds(definition.MaxElapsedSeconds));
    }

    private static void Positive(int value, string setting)
    {
        if (value <= 0) throw new RemoteWriteConfigurationException(setting, $"{setting} must be > 0, not {value}.");
    }
}

/// <summary>A remote-write setting is missing or wrong; <see cref="Setting"/> is its key (e.g. <c>remoteWrite.auth</c>).</summary>
public sealed class RemoteWriteConfigurationException(string setting, string message) : Exception(message)
{
    public string Setting { get; } = setting;
}

/// <summary>
/// The endpoint refused the credentials (401/403 that a refresh could not fix) or the request could not
/// be built: retrying will not help until the configuration changes. Nothing was evicted.
/// </summary>
public sealed class RemoteWriteFatalException(string message, Exception? inner = null) : Exception(message, inner);
