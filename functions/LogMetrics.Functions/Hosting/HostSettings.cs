using System.Globalization;
using LogMetrics.Core.Write;

namespace LogMetrics.Functions.Hosting;

/// <summary>
/// The app settings the Functions host reads (names fixed by <c>infra/app/api.bicep</c>, meanings in
/// <c>docs/AZURE.md</c>), validated once at startup. Read through a getter so that tests need no Azure
/// and no environment; every problem names its setting key, and all of them are reported together.
/// </summary>
public sealed record HostSettings
{
    public const string EventHubNameKey = "EVENTHUB_NAME";
    public const string EventHubConsumerGroupKey = "EVENTHUB_CONSUMER_GROUP";
    public const string TaskHubNameKey = "TASKHUB_NAME";
    public const string FlushScheduleKey = "FLUSH_SCHEDULE";
    public const string ShardCountKey = "LOGMETRICS_SHARD_COUNT";
    public const string ExpectedLanesKey = "LOGMETRICS_EXPECTED_LANES";
    public const string RemoteWriteUrlKey = "REMOTE_WRITE_URL";
    public const string RemoteWriteAuthKey = "REMOTE_WRITE_AUTH";
    public const string AzureClientIdKey = "AZURE_CLIENT_ID";
    public const string DimensionsTableUriKey = "DIMENSIONS_TABLE_URI";
    public const string DimensionsConnectionStringKey = "DIMENSIONS_CONNECTION_STRING";
    public const string PipelinePathKey = "PIPELINE_PATH";
    public const string DeadLetterBlobUriKey = "DEADLETTER_BLOB_URI";
    public const string DeadLetterConnectionStringKey = "DEADLETTER_CONNECTION_STRING";
    public const string DeadLetterContainerKey = "DEADLETTER_CONTAINER";

    /// <summary>Dead-letter container when <see cref="DeadLetterContainerKey"/> is not set.</summary>
    public const string DefaultDeadLetterContainer = "deadletter";

    /// <summary>Window shards when <see cref="ShardCountKey"/> is not set.</summary>
    public const int DefaultShardCount = 16;
    public const int MaxShardCount = 256;

    /// <summary>Hub name, used by the trigger as <c>%EVENTHUB_NAME%</c>.</summary>
    public required string EventHubName { get; init; }
    public required string EventHubConsumerGroup { get; init; }
    /// <summary>Durable task hub (<c>hubName: "%TASKHUB_NAME%"</c> in host.json).</summary>
    public required string TaskHubName { get; init; }
    /// <summary>NCRONTAB of the flush timer (<c>%FLUSH_SCHEDULE%</c>).</summary>
    public required string FlushSchedule { get; init; }
    public required int ShardCount { get; init; }
    /// <summary>Lanes the watermark waits for (the hub's partition count); 0 = no expectation.</summary>
    public required int ExpectedLanes { get; init; }
    public required Uri RemoteWriteUrl { get; init; }
    /// <summary>Overrides <c>remoteWrite.auth</c> of pipeline.json when set.</summary>
    public string? RemoteWriteAuth { get; init; }
    /// <summary>Client id of the user-assigned managed identity; null = the default credential chain.</summary>
    public string? AzureClientId { get; init; }
    /// <summary>Table endpoint of the dimension tables (identity-based); exclusive with <see cref="DimensionsConnectionString"/>.</summary>
    public Uri? DimensionsTableUri { get; init; }
    /// <summary>Connection string of the dimension tables (Azurite: <c>UseDevelopmentStorage=true</c>).</summary>
    public string? DimensionsConnectionString { get; init; }
    /// <summary>Blob service endpoint of the dead-letter container (identity-based); exclusive with <see cref="DeadLetterConnectionString"/>.</summary>
    public Uri? DeadLetterBlobUri { get; init; }
    /// <summary>Connection string of the dead-letter blob service (Azurite: <c>UseDevelopmentStorage=true</c>).</summary>
    public string? DeadLetterConnectionString { get; init; }
    /// <summary>Container of failed batches and malformed records (docs/FUNCTIONS.md "Dead letters").</summary>
    public string DeadLetterContainer { get; init; } = DefaultDeadLetterContainer;
    /// <summary>Absolute path of pipeline.json.</summary>
    public required string PipelinePath { get; init; }

    /// <summary>
    /// Reads and validates the settings. <paramref name="appDirectory"/> is where a relative (or
    /// missing) <see cref="PipelinePathKey"/> is resolved: the app's output directory.
    /// </summary>
    /// <exception cref="HostSettingsException">One or more settings are missing or invalid; each error names its key.</exception>
    public static HostSettings Load(Func<string, string?> get, string appDirectory)
    {
        var errors = new List<HostSettingError>();
        string? Read(string key) => get(key) is { } v && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;
        string Required(string key, string what)
        {
            var value = Read(key);
            if (value is null) errors.Add(new HostSettingError(key, $"is required ({what})"));
            return value ?? "";
        }
        int Int(string key, int fallback, int min, int max)
        {
            var raw = Read(key);
            if (raw is null) return fallback;
            if (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
            {
                errors.Add(new HostSettingError(key, $"must be an integer from {min} to {max}, got '{raw}'"));
                return fallback;
            }
            return n;
        }

        var eventHub = Required(EventHubNameKey, "the event hub the ingest trigger reads");
        var consumerGroup = Required(EventHubConsumerGroupKey, "the consumer group of the ingest trigger, e.g. $Default");

        var taskHub = Required(TaskHubNameKey, "the durable task hub name");
        if (taskHub.Length > 0 && (taskHub.Length is < 3 or > 45 || !char.IsAsciiLetter(taskHub[0]) || !taskHub.All(char.IsAsciiLetterOrDigit)))
        {
            errors.Add(new HostSettingError(TaskHubNameKey, $"must be 3 to 45 letters and digits starting with a letter, got '{taskHub}'"));
        }

        var schedule = Required(FlushScheduleKey, "NCRONTAB of the flush timer, e.g. */5 * * * * *");
        if (schedule.Length > 0 && schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length is not (5 or 6))
        {
            errors.Add(new HostSettingError(FlushScheduleKey, $"must be an NCRONTAB expression of 6 fields ({{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}) or 5 (no seconds), got '{schedule}'"));
        }

        var shards = Int(ShardCountKey, DefaultShardCount, 1, MaxShardCount);
        var lanes = Int(ExpectedLanesKey, 0, 0, int.MaxValue);

        Uri? remoteWrite = null;
        var url = Required(RemoteWriteUrlKey, "the remote-write endpoint");
        if (url.Length > 0)
        {
            if (Uri.TryCreate(url, UriKind.Absolute, out var parsed) && (parsed.Scheme == Uri.UriSchemeHttps || parsed.Scheme == Uri.UriSchemeHttp))
            {
                remoteWrite = parsed;
            }
            else
            {
                errors.Add(new HostSettingError(RemoteWriteUrlKey, $"must be an absolute http(s) URL, got '{url}'"));
            }
        }

        var auth = Read(RemoteWriteAuthKey)?.ToLowerInvariant();
        if (auth is not null && !RemoteWriteAuthFactory.Kinds.Contains(auth))
        {
            errors.Add(new HostSettingError(RemoteWriteAuthKey, $"must be one of {string.Join(", ", RemoteWriteAuthFactory.Kinds)}, got '{auth}'"));
        }

        var clientId = Read(AzureClientIdKey);
        if (clientId is not null && !Guid.TryParse(clientId, out _))
        {
            errors.Add(new HostSettingError(AzureClientIdKey, $"must be the managed identity's client id (a GUID), got '{clientId}'"));
        }

        (Uri? Uri, string? Connection) EndpointOrConnection(string uriKey, string connectionKey, string what)
        {
            var uriRaw = Read(uriKey);
            var connection = Read(connectionKey);
            if (uriRaw is null && connection is null)
            {
                errors.Add(new HostSettingError(uriKey, $"{uriKey} ({what} endpoint, identity-based) or {connectionKey} (e.g. UseDevelopmentStorage=true) is required"));
            }
            else if (uriRaw is not null && connection is not null)
            {
                errors.Add(new HostSettingError(connectionKey, $"set only one of {uriKey} and {connectionKey}"));
            }
            else if (uriRaw is not null)
            {
                if (Uri.TryCreate(uriRaw, UriKind.Absolute, out var parsed) && (parsed.Scheme == Uri.UriSchemeHttps || parsed.Scheme == Uri.UriSchemeHttp))
                {
                    return (parsed, null);
                }
                errors.Add(new HostSettingError(uriKey, $"must be an absolute http(s) URL of a {what} endpoint, got '{uriRaw}'"));
            }
            return (null, connection);
        }

        var (tableUri, tableConnection) = EndpointOrConnection(DimensionsTableUriKey, DimensionsConnectionStringKey, "table");

        var (deadLetterUri, deadLetterConnection) = EndpointOrConnection(DeadLetterBlobUriKey, DeadLetterConnectionStringKey, "blob");
        var container = Read(DeadLetterContainerKey) ?? DefaultDeadLetterContainer;
        if (!IsContainerName(container))
        {
            errors.Add(new HostSettingError(DeadLetterContainerKey,
                $"must be a blob container name (3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit), got '{container}'"));
        }

        var pipelineRaw = Read(PipelinePathKey);
        var pipelinePath = Path.GetFullPath(Path.Combine(appDirectory, pipelineRaw ?? "pipeline.json"));
        if (!File.Exists(pipelinePath))
        {
            errors.Add(new HostSettingError(PipelinePathKey, pipelineRaw is null
                ? $"is not set and the default '{pipelinePath}' does not exist"
                : $"file '{pipelinePath}' does not exist"));
        }

        if (errors.Count > 0) throw new HostSettingsException(errors);
        return new HostSettings
        {
            EventHubName = eventHub,
            EventHubConsumerGroup = consumerGroup,
            TaskHubName = taskHub,
            FlushSchedule = schedule,
            ShardCount = shards,
            ExpectedLanes = lanes,
            RemoteWriteUrl = remoteWrite!,
            RemoteWriteAuth = auth,
            AzureClientId = clientId,
            DimensionsTableUri = tableUri,
            DimensionsConnectionString = tableConnection,
            DeadLetterBlobUri = deadLetterUri,
            DeadLetterConnectionString = deadLetterConnection,
            DeadLetterContainer = container,
            PipelinePath = pipelinePath,
        };
    }

    private static bool IsContainerName(string name) =>
        name.Length is >= 3 and <= 63
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
        && name[0] != '-' && name[^1] != '-'
        && !name.Contains("--", StringComparison.Ordinal);
}

/// <summary>One invalid or missing app setting.</summary>
public sealed record HostSettingError(string Key, string Message)
{
    public override string ToString() => $"{Key}: {Message}";
}

/// <summary>App settings were rejected at startup. The message lists every error with its setting key.</summary>
public sealed class HostSettingsException(IReadOnlyList<HostSettingError> errors)
    : Exception("invalid app settings:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  " + e)))
{
    public IReadOnlyList<HostSettingError> Errors { get; } = errors;
}
