using LogMetrics.Core.Definition;
using LogMetrics.Core.Write;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

[Collection(LocalServers.Name)]
public class RemoteWriteClientFactoryTests
{
    private static RemoteWriteDefinition Valid() => new() { Endpoint = "http://127.0.0.1:9090/api/v1/write", Auth = "none" };

    public static TheoryData<string, string> Invalid => new()
    {
        { "maxSamplesPerRequest=0", "remoteWrite.maxSamplesPerRequest must be > 0" },
        { "maxBytesPerRequest=-1", "remoteWrite.maxBytesPerRequest must be > 0" },
        { "concurrency=0", "remoteWrite.concurrency must be > 0" },
        { "timeoutSeconds=0", "remoteWrite.timeoutSeconds must be > 0" },
        { "initialBackoffMs=0", "remoteWrite.initialBackoffMs must be > 0" },
        { "maxBackoffMs=10", "remoteWrite.maxBackoffMs must be >= remoteWrite.initialBackoffMs" },
        { "maxElapsedSeconds=-1", "remoteWrite.maxElapsedSeconds must be >= 0" },
        { "endpoint=", "remoteWrite.endpoint is required" },
        { "endpoint=ftp://x/y", "remoteWrite.endpoint must be an absolute http or https URL" },
        { "auth=kerberos", "remoteWrite.auth must be one of none, basic, bearer, entra" },
        { "auth=bearer", "remoteWrite.auth 'bearer' needs remoteWrite.bearerTokenEnv or remoteWrite.bearerTokenFile" },
        { "auth=basic", "remoteWrite.usernameEnv is required" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Create_InvalidSetting_ThrowsNamingTheSetting(string change, string expectedMessage)
    {
        var definition = Valid();
        var (key, value) = (change.Split('=')[0], change.Split('=')[1]);
        switch (key)
        {
            case "maxSamplesPerRequest": definition.MaxSamplesPerRequest = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "maxBytesPerRequest": definition.MaxBytesPerRequest = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "concurrency": definition.Concurrency = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "timeoutSeconds": definition.TimeoutSeconds = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "initialBackoffMs": definition.InitialBackoffMs = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "maxBackoffMs": definition.MaxBackoffMs = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "maxElapsedSeconds": definition.MaxElapsedSeconds = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "endpoint": definition.Endpoint = value; break;
            case "auth": definition.Auth = value; break;
        }

        var ex = Assert.Throws<RemoteWriteConfigurationException>(() => RemoteWriteClient.Create(definition, null, null));

        Assert.StartsWith(expectedMessage, ex.Message);
        Assert.StartsWith("remoteWrite.", ex.Setting);
        Assert.Contains(ex.Setting, ex.Message);
    }

    [Fact]
    public void Create_Overrides_ReplaceEndpointAndAuth()
    {
        var definition = new RemoteWriteDefinition { Endpoint = null, Auth = "entra" };

        using var client = RemoteWriteClient.Create(definition, "https://mimir.example/api/v1/push", "none");

        Assert.Equal(new Uri("https://mimir.example/api/v1/push"), client.Options.Endpoint);
        Assert.Equal(2000, client.Options.MaxSamplesPerRequest);
        Assert.Equal(TimeSpan.FromSeconds(10), client.Options.Timeout);
    }

    [Fact]
    public async Task Create_ValidDefinition_WritesThroughToServer()
    {
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(204));
        var samples = WriteTestData.Flagship(series: 5, points: 3);

        using var client = RemoteWriteClient.Create(Valid(), server.Endpoint.ToString(), null);
        var result = await client.WriteAsync(samples, CancellationToken.None);

        Assert.Equal(global::LogMetrics.Core.Flush.WriteOutcome.Written, result.Outcome);
        Assert.Equal(WriteTestData.Expected(samples), server.AllPoints.ToHashSet());
    }

    [Fact]
    public async Task WriteAsync_NoSamples_SendsNothing()
    {
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(500));
        using var client = RemoteWriteClient.Create(Valid(), server.Endpoint.ToString(), null);

        var result = await client.WriteAsync([], CancellationToken.None);

        Assert.Equal(global::LogMetrics.Core.Flush.WriteOutcome.Written, result.Outcome);
        Assert.Empty(server.Received);
    }
}
