using LogMetrics.Core.Definition;

namespace LogMetrics.Core.Write;

/// <summary>Builds the <see cref="IRemoteWriteAuth"/> a definition asks for; secrets come only from environment variables or files.</summary>
public static class RemoteWriteAuthFactory
{
    /// <summary>The auth kinds a definition may name.</summary>
    public static readonly IReadOnlyList<string> Kinds = ["none", "basic", "bearer", "entra"];

    /// <param name="definition">The remoteWrite section.</param>
    /// <param name="authOverride">Replaces <c>remoteWrite.auth</c> when set (e.g. <c>--auth none</c> against a local Prometheus).</param>
    /// <param name="getEnvironmentVariable">Reads an environment variable (injectable for tests).</param>
    /// <param name="entraTokenSource">
    /// Host-supplied Entra token source, given the managed-identity client id (null = default credential chain).
    /// </param>
    /// <param name="time">Clock for token expiry.</param>
    public static IRemoteWriteAuth Create(
        RemoteWriteDefinition definition,
        string? authOverride,
        Func<string, string?> getEnvironmentVariable,
        Func<string?, IAccessTokenSource>? entraTokenSource,
        TimeProvider time)
    {
        var kind = (string.IsNullOrWhiteSpace(authOverride) ? definition.Auth : authOverride)?.Trim().ToLowerInvariant();
        switch (kind)
        {
            case "none" or "" or null:
                return NoRemoteWriteAuth.Instance;
            case "basic":
                return new BasicRemoteWriteAuth(
                    RequiredEnv(definition.UsernameEnv, "remoteWrite.usernameEnv", getEnvironmentVariable),
                    RequiredEnv(definition.PasswordEnv, "remoteWrite.passwordEnv", getEnvironmentVariable));
            case "bearer":
                if (!string.IsNullOrWhiteSpace(definition.BearerTokenEnv))
                {
                    return BearerRemoteWriteAuth.FromToken(RequiredEnv(definition.BearerTokenEnv, "remoteWrite.bearerTokenEnv", getEnvironmentVariable));
                }
                if (!string.IsNullOrWhiteSpace(definition.BearerTokenFile))
                {
                    if (!File.Exists(definition.BearerTokenFile))
                    {
                        throw new RemoteWriteConfigurationException("remoteWrite.bearerTokenFile", $"remoteWrite.bearerTokenFile '{definition.BearerTokenFile}' does not exist.");
                    }
                    return BearerRemoteWriteAuth.FromFile(definition.BearerTokenFile);
                }
                throw new RemoteWriteConfigurationException("remoteWrite.bearerTokenEnv",
                    "remoteWrite.auth 'bearer' needs remoteWrite.bearerTokenEnv or remoteWrite.bearerTokenFile.");
            case "entra":
                if (string.IsNullOrWhiteSpace(definition.Scope))
                {
                    throw new RemoteWriteConfigurationException("remoteWrite.scope", "remoteWrite.scope must not be empty for auth 'entra' (Azure Monitor: https://monitor.azure.com//.default).");
                }
                if (entraTokenSource is null)
                {
                    throw new RemoteWriteConfigurationException("remoteWrite.auth",
                        "remoteWrite.auth 'entra' needs an Entra token source from the host (Azure.Identity lives in the host, not the core); this host supplies none.");
                }
                // A user-assigned managed identity when the named variable holds a client id; otherwise
                // the default chain (developer sign-in locally, system-assigned identity in Azure).
                var clientId = string.IsNullOrWhiteSpace(definition.ClientIdEnv) ? null : getEnvironmentVariable(definition.ClientIdEnv);
                return new EntraRemoteWriteAuth(entraTokenSource(string.IsNullOrWhiteSpace(clientId) ? null : clientId), definition.Scope, time);
            default:
                throw new RemoteWriteConfigurationException("remoteWrite.auth", $"remoteWrite.auth must be one of {string.Join(", ", Kinds)}, not '{kind}'.");
        }
    }

    private static string RequiredEnv(string? name, string setting, Func<string, string?> getEnvironmentVariable)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            throw new RemoteWriteConfigurationException(setting, $"{setting} is required for this remoteWrite.auth (the name of an environment variable).");
        }
        var value = getEnvironmentVariable(name);
        if (string.IsNullOrEmpty(value))
        {
            throw new RemoteWriteConfigurationException(setting, $"environment variable '{name}' (named by {setting}) is not set.");
        }
        return value;
    }
}
