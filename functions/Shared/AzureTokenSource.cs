using Azure.Core;
using Azure.Identity;
using LogMetrics.Core.Write;

namespace LogMetrics.Azure;

/// <summary>
/// Entra tokens for remote write from Azure.Identity, shared by the console and the Functions app
/// (linked into both; the core never references the Azure SDK). The core only knows
/// <see cref="IAccessTokenSource"/>, so it stays free of the Azure SDK; caching and refresh-on-401
/// live in <see cref="EntraRemoteWriteAuth"/>.
/// </summary>
public sealed class AzureTokenSource(TokenCredential credential) : IAccessTokenSource
{
    /// <summary>
    /// A user-assigned managed identity when <paramref name="clientId"/> is set (Azure), otherwise
    /// <see cref="DefaultAzureCredential"/> (az login / Visual Studio locally, system identity in Azure).
    /// </summary>
    public static IAccessTokenSource Create(string? clientId) => new AzureTokenSource(CredentialFor(clientId));

    /// <summary>The credential <see cref="Create"/> uses, for other Azure clients of the same host (Table Storage).</summary>
    public static TokenCredential CredentialFor(string? clientId) =>
        string.IsNullOrWhiteSpace(clientId)
            ? new DefaultAzureCredential()
            : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId));

    public async ValueTask<RemoteWriteAccessToken> GetTokenAsync(string scope, CancellationToken cancellationToken)
    {
        var token = await credential.GetTokenAsync(new TokenRequestContext([scope]), cancellationToken).ConfigureAwait(false);
        return new RemoteWriteAccessToken(token.Token, token.ExpiresOn);
    }
}
