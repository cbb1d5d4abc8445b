namespace LogMetrics.Core.Write;

/// <summary>Adds credentials to a remote-write request.</summary>
public interface IRemoteWriteAuth
{
    /// <summary><c>none</c>, <c>basic</c>, <c>bearer</c> or <c>entra</c>.</summary>
    string Kind { get; }

    /// <summary>Whether <see cref="RefreshAsync"/> can yield a different credential (so a 401/403 is worth one retry).</summary>
    bool CanRefresh { get; }

    /// <summary>Sets the <c>Authorization</c> header (or nothing).</summary>
    ValueTask ApplyAsync(HttpRequestMessage request, CancellationToken cancellationToken);

    /// <summary>Drops any cached credential and obtains a fresh one.</summary>
    ValueTask RefreshAsync(CancellationToken cancellationToken);
}

/// <summary>No credentials (local Prometheus, VictoriaMetrics).</summary>
public sealed class NoRemoteWriteAuth : IRemoteWriteAuth
{
    public static readonly NoRemoteWriteAuth Instance = new();

    public string Kind => "none";

    public bool CanRefresh => false;

    public ValueTask ApplyAsync(HttpRequestMessage request, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask RefreshAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
