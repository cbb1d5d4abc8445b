using System.Net.Http.Headers;

namespace LogMetrics.Core.Write;

/// <summary>
/// A bearer token from an environment variable (fixed) or from a file (re-read on refresh, so a
/// rotated token — e.g. a projected service-account token — is picked up after a 401).
/// </summary>
public sealed class BearerRemoteWriteAuth : IRemoteWriteAuth
{
    private readonly string? _file;
    private volatile AuthenticationHeaderValue _header;

    private BearerRemoteWriteAuth(string token, string? file)
    {
        _file = file;
        _header = Header(token);
    }

    /// <summary>A token that never changes.</summary>
    public static BearerRemoteWriteAuth FromToken(string token) => new(token, null);

    /// <summary>A token read from <paramref name="path"/> now and again on every refresh.</summary>
    public static BearerRemoteWriteAuth FromFile(string path) => new(ReadToken(path), path);

    public string Kind => "bearer";

    public bool CanRefresh => _file is not null;

    public ValueTask ApplyAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Authorization = _header;
        return ValueTask.CompletedTask;
    }

    public async ValueTask RefreshAsync(CancellationToken cancellationToken)
    {
        if (_file is null) return;
        _header = Header(await ReadTokenAsync(_file, cancellationToken).ConfigureAwait(false));
    }

    private static AuthenticationHeaderValue Header(string token) => new("Bearer", token);

    private static string ReadToken(string path) => Check(File.ReadAllText(path).Trim(), path);

    private static async Task<string> ReadTokenAsync(string path, CancellationToken ct) =>
        Check((await File.ReadAllTextAsync(path, ct).ConfigureAwait(false)).Trim(), path);

    private static string Check(string token, string path) =>
        token.Length > 0 ? token : throw new InvalidOperationException($"remoteWrite.bearerTokenFile '{path}' is empty.");
}
