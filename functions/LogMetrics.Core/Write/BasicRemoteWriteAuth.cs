using System.Net.Http.Headers;
using System.Text;

namespace LogMetrics.Core.Write;

/// <summary>HTTP Basic auth (Mimir, a reverse proxy); username and password come from environment variables.</summary>
public sealed class BasicRemoteWriteAuth : IRemoteWriteAuth
{
    private readonly AuthenticationHeaderValue _header;

    public BasicRemoteWriteAuth(string username, string password)
    {
        _header = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(username + ":" + password)));
    }

    public string Kind => "basic";

    public bool CanRefresh => false;

    public ValueTask ApplyAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Authorization = _header;
        return ValueTask.CompletedTask;
    }

    public ValueTask RefreshAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
