using Azure.Core;
using LogMetrics.Core.Write;
using LogMetrics.Azure;
using Xunit;

namespace LogMetrics.IntegrationTests.Write;

/// <summary>The host's Azure.Identity adapter under <see cref="EntraRemoteWriteAuth"/>, with a fake Azure.Core credential.</summary>
public sealed class AzureTokenSourceTests
{
    /// <summary>A TokenCredential that hands out numbered tokens valid for one hour and records the scopes asked for.</summary>
    private sealed class FakeCredential(Func<DateTimeOffset> now) : TokenCredential
    {
        private int _calls;

        public int Calls => _calls;

        public List<string[]> Scopes { get; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            Next(requestContext);

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Next(requestContext));

        private AccessToken Next(TokenRequestContext context)
        {
            var n = Interlocked.Increment(ref _calls);
            lock (Scopes) Scopes.Add(context.Scopes);
            return new AccessToken("aad-" + n, now().AddHours(1));
        }
    }

    private sealed class Clock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task EntraAuth_FakeTokenCredential_CachesUntilFiveMinutesBeforeExpiryAndRefreshesOnDemand()
    {
        var clock = new Clock(new DateTimeOffset(2026, 1, 15, 12, 0, 0, TimeSpan.Zero));
        var credential = new FakeCredential(() => clock.Now);
        using var auth = new EntraRemoteWriteAuth(new AzureTokenSource(credential), "https://monitor.azure.com//.default", clock);

        async Task<string?> Header()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1/");
            await auth.ApplyAsync(request, CancellationToken.None);
            return request.Headers.Authorization?.ToString();
        }

        Assert.Equal("Bearer aad-1", await Header());
        clock.Now += TimeSpan.FromMinutes(54);
        Assert.Equal("Bearer aad-1", await Header());
        clock.Now += TimeSpan.FromMinutes(2);
        Assert.Equal("Bearer aad-2", await Header());
        await auth.RefreshAsync(CancellationToken.None);
        Assert.Equal("Bearer aad-3", await Header());

        Assert.Equal(3, credential.Calls);
        Assert.All(credential.Scopes, s => Assert.Equal(["https://monitor.azure.com//.default"], s));
    }
}
