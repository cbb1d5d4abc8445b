using System.Text;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Write;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

[Collection(LocalServers.Name)]
public class RemoteWriteAuthTests
{
    private static readonly List<Sample> Samples = WriteTestData.Flagship(series: 4, points: 2);

    /// <summary>Hands out token-1, token-2, … each valid for an hour from the clock's now.</summary>
    private sealed class CountingTokenSource(TimeProvider time) : IAccessTokenSource
    {
        private int _calls;

        public int Calls => _calls;

        public List<string> Scopes { get; } = [];

        public ValueTask<RemoteWriteAccessToken> GetTokenAsync(string scope, CancellationToken cancellationToken)
        {
            var n = Interlocked.Increment(ref _calls);
            lock (Scopes) Scopes.Add(scope);
            return ValueTask.FromResult(new RemoteWriteAccessToken("token-" + n, time.GetUtcNow().AddHours(1)));
        }
    }

    private static async Task<string?> AuthorizationSentAsync(IRemoteWriteAuth auth)
    {
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(204));
        using var client = new RemoteWriteClientTestHarness().Client(server.Endpoint, auth: auth);
        await client.WriteAsync(Samples, CancellationToken.None);
        return server.Received[0].Headers.GetValueOrDefault("Authorization");
    }

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public async Task Basic_FromEnvironment_SendsBasicHeader()
    {
        var definition = new RemoteWriteDefinition { Auth = "basic", UsernameEnv = "RW_USER", PasswordEnv = "RW_PASS" };
        var auth = RemoteWriteAuthFactory.Create(definition, null, Env(("RW_USER", "team-a"), ("RW_PASS", "s3cr:et")), null, TimeProvider.System);

        var header = await AuthorizationSentAsync(auth);

        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("team-a:s3cr:et")), header);
    }

    [Fact]
    public void Basic_PasswordVariableMissing_ErrorNamesVariableAndSetting()
    {
        var definition = new RemoteWriteDefinition { Auth = "basic", UsernameEnv = "RW_USER", PasswordEnv = "RW_PASS" };

        var ex = Assert.Throws<RemoteWriteConfigurationException>(() =>
            RemoteWriteAuthFactory.Create(definition, null, Env(("RW_USER", "team-a")), null, TimeProvider.System));

        Assert.Equal("remoteWrite.passwordEnv", ex.Setting);
        Assert.Contains("'RW_PASS'", ex.Message);
        Assert.Contains("not set", ex.Message);
    }

    [Fact]
    public async Task Bearer_FromEnvironment_SendsBearerHeader()
    {
        var definition = new RemoteWriteDefinition { Auth = "bearer", BearerTokenEnv = "RW_TOKEN" };
        var auth = RemoteWriteAuthFactory.Create(definition, null, Env(("RW_TOKEN", "abc.def")), null, TimeProvider.System);

        Assert.False(auth.CanRefresh);
        Assert.Equal("Bearer abc.def", await AuthorizationSentAsync(auth));
    }

    [Fact]
    public async Task Bearer_FromFileRotatedBefore401_RereadsFileAndRetriesOnce()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "old-token\n");
            var definition = new RemoteWriteDefinition { Auth = "bearer", BearerTokenFile = file };
            var auth = RemoteWriteAuthFactory.Create(definition, null, Env(), null, TimeProvider.System);
            await File.WriteAllTextAsync(file, "new-token\n"); // rotated after it was first read
            using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(204));
            using var rejecting = new FakeRemoteWriteServer((i, _) => i == 0 ? new ServerReply(401) : new ServerReply(204));
            var harness = new RemoteWriteClientTestHarness();
            using var client = harness.Client(rejecting.Endpoint, auth: auth);

            var result = await client.WriteAsync(Samples, CancellationToken.None);

            Assert.Equal(WriteOutcome.Written, result.Outcome);
            Assert.Equal(["Bearer old-token", "Bearer new-token"], rejecting.Received.Select(r => r.Headers["Authorization"]));
            Assert.Empty(harness.Delays); // a refresh retries at once
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Bearer_FileMissing_ErrorNamesSetting()
    {
        var definition = new RemoteWriteDefinition { Auth = "bearer", BearerTokenFile = "/nonexistent/token" };

        var ex = Assert.Throws<RemoteWriteConfigurationException>(() => RemoteWriteAuthFactory.Create(definition, null, Env(), null, TimeProvider.System));

        Assert.Equal("remoteWrite.bearerTokenFile", ex.Setting);
        Assert.Contains("/nonexistent/token", ex.Message);
    }

    [Fact]
    public async Task Entra_TokenCachedUntilFiveMinutesBeforeExpiry()
    {
        var harness = new RemoteWriteClientTestHarness();
        var source = new CountingTokenSource(harness.Time);
        using var auth = new EntraRemoteWriteAuth(source, "https://monitor.azure.com//.default", harness.Time);
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(204));
        using var client = harness.Client(server.Endpoint, auth: auth, maxSamples: 2);

        await client.WriteAsync(Samples, CancellationToken.None);          // 4 requests, one token
        harness.Time.Advance(TimeSpan.FromMinutes(54));
        await client.WriteAsync(Samples, CancellationToken.None);          // 6 min left: still cached
        harness.Time.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        await client.WriteAsync(Samples, CancellationToken.None);          // < 5 min left: new token

        Assert.Equal(2, source.Calls);
        Assert.All(source.Scopes, s => Assert.Equal("https://monitor.azure.com//.default", s));
        var tokens = server.Received.Select(r => r.Headers["Authorization"]).ToList();
        Assert.Equal(8, tokens.Count(t => t == "Bearer token-1"));
        Assert.Equal(4, tokens.Count(t => t == "Bearer token-2"));
    }

    [Fact]
    public async Task Entra_401_RefreshesOnceAndRetries()
    {
        var harness = new RemoteWriteClientTestHarness();
        var source = new CountingTokenSource(harness.Time);
        using var auth = new EntraRemoteWriteAuth(source, "scope/.default", harness.Time);
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(204));
        using var rejecting = new FakeRemoteWriteServer((i, _) => i == 0 ? new ServerReply(401) : new ServerReply(204));
        using var client = harness.Client(rejecting.Endpoint, auth: auth, concurrency: 1);

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Written, result.Outcome);
        Assert.Equal(2, source.Calls);
        Assert.Equal(["Bearer token-1", "Bearer token-2"], rejecting.Received.Select(r => r.Headers["Authorization"]));
        Assert.Equal(WriteTestData.Expected(Samples), rejecting.AcceptedPoints.ToHashSet());
    }

    [Fact]
    public async Task Entra_401AfterRefresh_ThrowsFatalWithoutFurtherRetries()
    {
        var harness = new RemoteWriteClientTestHarness();
        var source = new CountingTokenSource(harness.Time);
        using var auth = new EntraRemoteWriteAuth(source, "scope/.default", harness.Time);
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(403, Body: "missing role Monitoring Metrics Publisher"));
        using var client = harness.Client(server.Endpoint, auth: auth, concurrency: 1);

        var ex = await Assert.ThrowsAsync<RemoteWriteFatalException>(() => client.WriteAsync(Samples, CancellationToken.None));

        Assert.Contains("403", ex.Message);
        Assert.Contains("Monitoring Metrics Publisher", ex.Message);
        Assert.Equal(2, server.Received.Count);
        Assert.Equal(2, source.Calls);
    }

    [Fact]
    public void Entra_ClientIdVariableSet_PassesClientIdToHostTokenSource()
    {
        string? seen = "unset";
        var definition = new RemoteWriteDefinition { Auth = "entra", ClientIdEnv = "AZURE_CLIENT_ID" };

        var auth = RemoteWriteAuthFactory.Create(definition, null, Env(("AZURE_CLIENT_ID", "11111111-2222")),
            clientId => { seen = clientId; return new CountingTokenSource(TimeProvider.System); }, TimeProvider.System);

        Assert.Equal("entra", auth.Kind);
        Assert.Equal("11111111-2222", seen);
    }

    [Fact]
    public void Entra_ClientIdVariableUnset_UsesDefaultCredentialChain()
    {
        string? seen = "unset";
        var definition = new RemoteWriteDefinition { Auth = "entra", ClientIdEnv = "AZURE_CLIENT_ID" };

        RemoteWriteAuthFactory.Create(definition, null, Env(), clientId => { seen = clientId; return new CountingTokenSource(TimeProvider.System); }, TimeProvider.System);

        Assert.Null(seen);
    }

    [Fact]
    public void Entra_NoHostTokenSource_ErrorNamesAuthSetting()
    {
        var ex = Assert.Throws<RemoteWriteConfigurationException>(() =>
            RemoteWriteAuthFactory.Create(new RemoteWriteDefinition { Auth = "entra" }, null, Env(), null, TimeProvider.System));

        Assert.Equal("remoteWrite.auth", ex.Setting);
    }
}
