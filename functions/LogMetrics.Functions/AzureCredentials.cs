using Azure.Core;
using Azure.Identity;
using LogMetrics.Core.Write;

namespace LogMetrics.Functions;

/// <summary>The app's own Entra credentials (dimension tables, remote write); the host's connections use their own settings.</summary>
internal static class AzureCredentials
{
    /// <summary>
    /// The user-assigned managed identity when a client id is given (AZURE_CLIENT_ID in Azure), else
    /// the default chain (developer sign-in locally).
    /// </summary>
    public static TokenCredential For(string? clientId) =>
        string.IsNullOrWhiteSpace(clientId) ? new DefaultAzureCredential() : new ManagedIdentityCredential(clientId);
}

/// <summary>Entra tokens for remote write (Azure Monitor: scope https://monitor.azure.com//.default), over Azure.Identity.</summary>
internal sealed class AzureAccessTokenSource(TokenCredential credential) : IAccessTokenSource
{
    public async ValueTask<RemoteWriteAccessToken> GetTokenAsync(string scope, CancellationToken cancellationToken)
    {
        // AZURE-API §7: credential.GetTokenAsync(new TokenRequestContext(new[] { scope })).
        var token = await credential.GetTokenAsync(new TokenRequestContext([scope]), cancellationToken).ConfigureAwait(false);
        return new RemoteWriteAccessToken(token.Token, token.ExpiresOn);
    }
}
