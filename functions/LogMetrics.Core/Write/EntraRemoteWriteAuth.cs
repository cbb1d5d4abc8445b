using System.Net.Http.Headers;

namespace LogMetrics.Core.Write;

/// <summary>An access token and when it expires.</summary>
public readonly record struct RemoteWriteAccessToken(string Token, DateTimeOffset ExpiresOn);

/// <summary>
/// Obtains Entra access tokens. The host implements it over Azure.Identity
/// (ManagedIdentityCredential / DefaultAzureCredential), so the core references no Azure SDK.
/// </summary>
public interface IAccessTokenSource
{
    ValueTask<RemoteWriteAccessToken> GetTokenAsync(string scope, CancellationToken cancellationToken);
}

/// <summary>
/// Entra bearer tokens for Azure Monitor managed Prometheus (scope
/// <c>https://monitor.azure.com//.default</c>). A token is reused until five minutes before it
/// expires; concurrent requests share one fetch.
/// </summary>
public sealed class EntraRemoteWriteAuth : IRemoteWriteAuth, IDisposable
{
    /// <summary>How long before expiry a cached token is replaced.</summary>
    public static readonly TimeSpan RefreshMargin = TimeSpan.FromMinutes(5);

    private readonly IAccessTokenSource _source;
    private readonly string _scope;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private RemoteWriteAccessToken? _cached;

    public EntraRemoteWriteAuth(IAccessTokenSource source, string scope, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scope);
        _source = source;
        _scope = scope;
        _time = time ?? TimeProvider.System;
    }

    public string Kind => "entra";

    public bool CanRefresh => true;

    public async ValueTask ApplyAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var token = await GetAsync(force: false, cancellationToken).ConfigureAwait(false);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Token);
    }

    public async ValueTask RefreshAsync(CancellationToken cancellationToken) =>
        await GetAsync(force: true, cancellationToken).ConfigureAwait(false);

    private async ValueTask<RemoteWriteAccessToken> GetAsync(bool force, CancellationToken cancellationToken)
    {
        var seen = _cached;
        if (!force && IsFresh(seen)) return seen!.Value;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Another request may have fetched while we waited; a forced refresh only needs a token
            // newer than the one that was rejected.
            var now = _cached;
            if (force ? !Equals(now, seen) && now is not null : IsFresh(now)) return now!.Value;
            var token = await _source.GetTokenAsync(_scope, cancellationToken).ConfigureAwait(false);
            _cached = token;
            return token;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    private bool IsFresh(RemoteWriteAccessToken? token) =>
        token is { } t && _time.GetUtcNow() < t.ExpiresOn - RefreshMargin;
}
