using System.Text.Json.Nodes;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Parse;
using LogMetrics.Functions.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace LogMetrics.Functions.Tests;

/// <summary>
/// Program.cs's composition (<see cref="AppServices"/>) without a Functions host: a bad app setting fails
/// startup naming its key, a bad pipeline.json naming its JSON path, and a good configuration gives a
/// container from which every function class and the start-up checks resolve.
/// </summary>
public sealed class AppServicesTests : IDisposable
{
    private readonly string _appDir = Directory.CreateTempSubdirectory("lm-app-").FullName;

    public AppServicesTests() => File.Copy(Path.Combine(AppContext.BaseDirectory, "pipeline.json"), Path.Combine(_appDir, "pipeline.json"));

    public void Dispose() => Directory.Delete(_appDir, recursive: true);

    /// <summary>local.settings.sample.json's values (no server is contacted while composing).</summary>
    private static Dictionary<string, string?> Valid() => new(StringComparer.Ordinal)
    {
        ["EVENTHUB_NAME"] = "accesslogs",
        ["EVENTHUB_CONSUMER_GROUP"] = "$Default",
        ["TASKHUB_NAME"] = "logmetricslocal",
        ["FLUSH_SCHEDULE"] = "*/5 * * * * *",
        ["LOGMETRICS_SHARD_COUNT"] = "16",
        ["LOGMETRICS_EXPECTED_LANES"] = "2",
        ["REMOTE_WRITE_URL"] = "http://127.0.0.1:9090/api/v1/write",
        ["REMOTE_WRITE_AUTH"] = "none",
        ["DIMENSIONS_CONNECTION_STRING"] = "UseDevelopmentStorage=true",
        ["DEADLETTER_CONNECTION_STRING"] = "UseDevelopmentStorage=true",
    };

    private ServiceProvider Compose(Dictionary<string, string?> values)
    {
        var services = new ServiceCollection().AddLogging();
        services.AddLogMetrics(k => values.GetValueOrDefault(k), _appDir);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
    }

    [Theory]
    [InlineData("EVENTHUB_NAME", null)]
    [InlineData("REMOTE_WRITE_URL", "not a url")]
    [InlineData("LOGMETRICS_SHARD_COUNT", "0")]
    [InlineData("DEADLETTER_CONTAINER", "Dead Letters")]
    [InlineData("REMOTE_WRITE_AUTH", "kerberos")]
    public void Compose_BadSetting_FailsNamingItsKey(string key, string? value)
    {
        var values = Valid();
        values[key] = value;

        var error = Assert.Throws<HostSettingsException>(() => Compose(values));

        Assert.Equal(key, Assert.Single(error.Errors).Key);
        Assert.Contains(key + ": ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compose_NoDeadLetterStorage_FailsNamingBothKeys()
    {
        var values = Valid();
        values.Remove("DEADLETTER_CONNECTION_STRING");

        var error = Assert.Throws<HostSettingsException>(() => Compose(values));

        Assert.Contains("DEADLETTER_BLOB_URI", error.Message, StringComparison.Ordinal);
        Assert.Contains("DEADLETTER_CONNECTION_STRING", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compose_BadPipeline_FailsWithItsJsonPath()
    {
        var path = Path.Combine(_appDir, "pipeline.json");
        var pipeline = JsonNode.Parse(File.ReadAllText(path))!;
        pipeline["metrics"]![0]!["metrics"]![0]!["name"] = "http req";
        File.WriteAllText(path, pipeline.ToJsonString());

        var error = Assert.Throws<InvalidOperationException>(() => Compose(Valid()));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("$.metrics[0].metrics[0].name: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("$.metrics[0].metrics[0].name", Assert.IsType<DefinitionException>(error.InnerException).Errors.Select(e => e.Path));
    }

    [Fact]
    public void Compose_PipelineNotJson_FailsNamingTheFileAndPosition()
    {
        var path = Path.Combine(_appDir, "pipeline.json");
        File.WriteAllText(path, "{ \"name\": ");

        var error = Assert.Throws<InvalidOperationException>(() => Compose(Valid()));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("$ (line 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compose_GoodConfiguration_EveryFunctionAndStartupCheckResolves()
    {
        using var provider = Compose(Valid());

        provider.StartLogMetrics();
        Assert.NotNull(ActivatorUtilities.CreateInstance<IngestFunction>(provider));
        Assert.NotNull(ActivatorUtilities.CreateInstance<FlushFunction>(provider));
        Assert.NotNull(ActivatorUtilities.CreateInstance<WindowShardEntity>(provider));
        Assert.Same(provider.GetRequiredService<IngestDeadLetters>(), provider.GetRequiredService<IDeadLetterSink>());
        var store = Assert.IsType<BlobDeadLetterStore>(provider.GetRequiredService<IDeadLetterStore>());
        Assert.Equal("deadletter", store.Container.Name);
        Assert.Equal(16, provider.GetRequiredService<HostSettings>().ShardCount);
        Assert.Equal("gateway", provider.GetRequiredService<CompiledPipeline>().Definition.Name);
    }
}
