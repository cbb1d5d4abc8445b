using LogMetrics.Functions.Hosting;

namespace LogMetrics.Functions.Tests.Hosting;

public sealed class HostSettingsTests : IDisposable
{
    private readonly string _appDir = Directory.CreateTempSubdirectory("lm-settings-").FullName;

    public HostSettingsTests() => File.WriteAllText(Path.Combine(_appDir, "pipeline.json"), "{}");

    public void Dispose() => Directory.Delete(_appDir, recursive: true);

    /// <summary>The settings of a local run (local.settings.sample.json).</summary>
    private static Dictionary<string, string?> Valid() => new(StringComparer.Ordinal)
    {
        ["EVENTHUB_NAME"] = "accesslogs",
        ["EVENTHUB_CONSUMER_GROUP"] = "$Default",
        ["TASKHUB_NAME"] = "teamhub",
        ["FLUSH_SCHEDULE"] = "*/5 * * * * *",
        ["LOGMETRICS_SHARD_COUNT"] = "16",
        ["LOGMETRICS_EXPECTED_LANES"] = "8",
        ["REMOTE_WRITE_URL"] = "http://127.0.0.1:9090/api/v1/write",
        ["REMOTE_WRITE_AUTH"] = "none",
        ["DIMENSIONS_CONNECTION_STRING"] = "UseDevelopmentStorage=true",
        ["DEADLETTER_CONNECTION_STRING"] = "UseDevelopmentStorage=true",
    };

    private HostSettings Load(Dictionary<string, string?> values) => HostSettings.Load(k => values.GetValueOrDefault(k), _appDir);

    private HostSettingsException Fails(Dictionary<string, string?> values) => Assert.Throws<HostSettingsException>(() => Load(values));

    [Fact]
    public void Load_LocalSettings_ReadsEveryValue()
    {
        var settings = Load(Valid());

        Assert.Equal("accesslogs", settings.EventHubName);
        Assert.Equal("$Default", settings.EventHubConsumerGroup);
        Assert.Equal("teamhub", settings.TaskHubName);
        Assert.Equal(16, settings.ShardCount);
        Assert.Equal(8, settings.ExpectedLanes);
        Assert.Equal(new Uri("http://127.0.0.1:9090/api/v1/write"), settings.RemoteWriteUrl);
        Assert.Equal("none", settings.RemoteWriteAuth);
        Assert.Equal("UseDevelopmentStorage=true", settings.DimensionsConnectionString);
        Assert.Null(settings.DimensionsTableUri);
        Assert.Equal("UseDevelopmentStorage=true", settings.DeadLetterConnectionString);
        Assert.Null(settings.DeadLetterBlobUri);
        Assert.Equal("deadletter", settings.DeadLetterContainer);
        Assert.Equal(Path.Combine(_appDir, "pipeline.json"), settings.PipelinePath);
    }

    [Fact]
    public void Load_AzureSettings_ReadsIdentityBasedValues()
    {
        var values = Valid();
        values.Remove("DIMENSIONS_CONNECTION_STRING");
        values["DIMENSIONS_TABLE_URI"] = "https://stabc.table.core.windows.net/";
        values.Remove("DEADLETTER_CONNECTION_STRING");
        values["DEADLETTER_BLOB_URI"] = "https://stabc.blob.core.windows.net";
        values["DEADLETTER_CONTAINER"] = "team-a-deadletter";
        values["AZURE_CLIENT_ID"] = "6f1c2a9e-2b7d-4c4e-9a53-0d1e2f3a4b5c";
        values["REMOTE_WRITE_AUTH"] = "entra";

        var settings = Load(values);

        Assert.Equal(new Uri("https://stabc.table.core.windows.net/"), settings.DimensionsTableUri);
        Assert.Equal(new Uri("https://stabc.blob.core.windows.net"), settings.DeadLetterBlobUri);
        Assert.Null(settings.DeadLetterConnectionString);
        Assert.Equal("team-a-deadletter", settings.DeadLetterContainer);
        Assert.Equal("6f1c2a9e-2b7d-4c4e-9a53-0d1e2f3a4b5c", settings.AzureClientId);
        Assert.Equal("entra", settings.RemoteWriteAuth);
    }

    [Fact]
    public void Load_OptionalSettingsUnset_UsesDefaults()
    {
        var values = Valid();
        values.Remove("LOGMETRICS_SHARD_COUNT");
        values.Remove("LOGMETRICS_EXPECTED_LANES");
        values.Remove("REMOTE_WRITE_AUTH");

        var settings = Load(values);

        Assert.Equal(HostSettings.DefaultShardCount, settings.ShardCount);
        Assert.Equal(0, settings.ExpectedLanes);
        Assert.Null(settings.RemoteWriteAuth);   // pipeline.json's remoteWrite.auth applies
        Assert.Null(settings.AzureClientId);
    }

    [Theory]
    [InlineData("EVENTHUB_NAME")]
    [InlineData("EVENTHUB_CONSUMER_GROUP")]
    [InlineData("TASKHUB_NAME")]
    [InlineData("FLUSH_SCHEDULE")]
    [InlineData("REMOTE_WRITE_URL")]
    public void Load_RequiredSettingMissing_NamesIt(string key)
    {
        var values = Valid();
        values.Remove(key);

        var error = Fails(values);

        Assert.Equal(key, Assert.Single(error.Errors).Key);
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("LOGMETRICS_SHARD_COUNT", "0")]
    [InlineData("LOGMETRICS_SHARD_COUNT", "257")]
    [InlineData("LOGMETRICS_SHARD_COUNT", "sixteen")]
    [InlineData("LOGMETRICS_EXPECTED_LANES", "-1")]
    [InlineData("LOGMETRICS_EXPECTED_LANES", "8.5")]
    [InlineData("REMOTE_WRITE_URL", "/api/v1/write")]
    [InlineData("REMOTE_WRITE_URL", "ftp://example.com/write")]
    [InlineData("REMOTE_WRITE_AUTH", "oauth")]
    [InlineData("AZURE_CLIENT_ID", "not-a-guid")]
    [InlineData("TASKHUB_NAME", "team-hub")]
    [InlineData("TASKHUB_NAME", "1hub")]
    [InlineData("FLUSH_SCHEDULE", "every 5 seconds")]
    [InlineData("PIPELINE_PATH", "missing.json")]
    [InlineData("DEADLETTER_CONTAINER", "Dead_Letters")]
    [InlineData("DEADLETTER_CONTAINER", "dl")]
    [InlineData("DEADLETTER_CONTAINER", "dead--letter")]
    [InlineData("DEADLETTER_CONTAINER", "-deadletter")]
    public void Load_InvalidSetting_NamesIt(string key, string value)
    {
        var values = Valid();
        values[key] = value;

        var error = Fails(values);

        Assert.Equal(key, Assert.Single(error.Errors).Key);
        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_NoDimensionsSetting_NamesBothKeys()
    {
        var values = Valid();
        values.Remove("DIMENSIONS_CONNECTION_STRING");

        var error = Fails(values);

        Assert.Equal("DIMENSIONS_TABLE_URI", Assert.Single(error.Errors).Key);
        Assert.Contains("DIMENSIONS_CONNECTION_STRING", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BothDimensionsSettings_NamesTheConflict()
    {
        var values = Valid();
        values["DIMENSIONS_TABLE_URI"] = "https://stabc.table.core.windows.net/";

        var error = Fails(values);

        Assert.Equal("DIMENSIONS_CONNECTION_STRING", Assert.Single(error.Errors).Key);
        Assert.Contains("DIMENSIONS_TABLE_URI", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_DimensionsTableUriRelative_NamesIt()
    {
        var values = Valid();
        values.Remove("DIMENSIONS_CONNECTION_STRING");
        values["DIMENSIONS_TABLE_URI"] = "stabc.table.core.windows.net";

        Assert.Equal("DIMENSIONS_TABLE_URI", Assert.Single(Fails(values).Errors).Key);
    }

    [Fact]
    public void Load_NoDeadLetterSetting_NamesBothKeys()
    {
        var values = Valid();
        values.Remove("DEADLETTER_CONNECTION_STRING");

        var error = Fails(values);

        Assert.Equal("DEADLETTER_BLOB_URI", Assert.Single(error.Errors).Key);
        Assert.Contains("DEADLETTER_CONNECTION_STRING", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BothDeadLetterSettings_NamesTheConflict()
    {
        var values = Valid();
        values["DEADLETTER_BLOB_URI"] = "https://stabc.blob.core.windows.net";

        Assert.Equal("DEADLETTER_CONNECTION_STRING", Assert.Single(Fails(values).Errors).Key);
    }

    [Fact]
    public void Load_DeadLetterBlobUriNotHttp_NamesIt()
    {
        var values = Valid();
        values.Remove("DEADLETTER_CONNECTION_STRING");
        values["DEADLETTER_BLOB_URI"] = "stabc.blob.core.windows.net";

        var error = Fails(values);

        Assert.Equal("DEADLETTER_BLOB_URI", Assert.Single(error.Errors).Key);
        Assert.Contains("stabc.blob.core.windows.net", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_DefaultPipelineFileMissing_NamesPipelinePath()
    {
        File.Delete(Path.Combine(_appDir, "pipeline.json"));

        var error = Fails(Valid());

        Assert.Equal("PIPELINE_PATH", Assert.Single(error.Errors).Key);
        Assert.Contains("not set", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_PipelinePathRelative_ResolvesAgainstAppDirectory()
    {
        Directory.CreateDirectory(Path.Combine(_appDir, "conf"));
        File.WriteAllText(Path.Combine(_appDir, "conf", "team.json"), "{}");
        var values = Valid();
        values["PIPELINE_PATH"] = "conf/team.json";

        Assert.Equal(Path.Combine(_appDir, "conf", "team.json"), Load(values).PipelinePath);
    }

    [Fact]
    public void Load_SeveralProblems_ReportsAllTogether()
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal) { ["LOGMETRICS_SHARD_COUNT"] = "0", ["REMOTE_WRITE_AUTH"] = "magic" };

        var error = Fails(values);

        Assert.Equal(
            ["EVENTHUB_NAME", "EVENTHUB_CONSUMER_GROUP", "TASKHUB_NAME", "FLUSH_SCHEDULE", "LOGMETRICS_SHARD_COUNT", "REMOTE_WRITE_URL", "REMOTE_WRITE_AUTH", "DIMENSIONS_TABLE_URI", "DEADLETTER_BLOB_URI"],
            error.Errors.Select(e => e.Key));
        foreach (var e in error.Errors) Assert.Contains(e.Key + ": ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BlankValue_TreatedAsMissing()
    {
        var values = Valid();
        values["EVENTHUB_NAME"] = "   ";

        Assert.Equal("EVENTHUB_NAME", Assert.Single(Fails(values).Errors).Key);
    }
}
