using System.Net.Sockets;
using LogMetrics.Core.Write;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

public class RemoteWriteResponseClassifierTests
{
    private sealed class StubAuth(string kind, bool canRefresh) : IRemoteWriteAuth
    {
        public string Kind => kind;
        public bool CanRefresh => canRefresh;
        public ValueTask ApplyAsync(HttpRequestMessage request, CancellationToken cancellationToken) => ValueTask.CompletedTask;
        public ValueTask RefreshAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    private static IRemoteWriteAuth Auth(string kind) => kind switch
    {
        "none" => NoRemoteWriteAuth.Instance,
        "basic" => new BasicRemoteWriteAuth("u", "p"),
        "bearer-env" => BearerRemoteWriteAuth.FromToken("t"),
        "bearer-file" => new StubAuth("bearer", canRefresh: true), // same CanRefresh as BearerRemoteWriteAuth.FromFile
        "entra" => new StubAuth("entra", canRefresh: true),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    // status × auth kind → outcome on the first attempt, and after the one refresh was spent.
    public static TheoryData<int, string, RemoteWriteOutcome, RemoteWriteOutcome> Table => new()
    {
        { 200, "none", RemoteWriteOutcome.Success, RemoteWriteOutcome.Success },
        { 204, "entra", RemoteWriteOutcome.Success, RemoteWriteOutcome.Success },
        { 400, "none", RemoteWriteOutcome.Permanent, RemoteWriteOutcome.Permanent },
        { 400, "entra", RemoteWriteOutcome.Permanent, RemoteWriteOutcome.Permanent },
        { 404, "basic", RemoteWriteOutcome.Permanent, RemoteWriteOutcome.Permanent },
        { 413, "none", RemoteWriteOutcome.Permanent, RemoteWriteOutcome.Permanent },
        { 401, "none", RemoteWriteOutcome.Fatal, RemoteWriteOutcome.Fatal },
        { 401, "basic", RemoteWriteOutcome.Fatal, RemoteWriteOutcome.Fatal },
        { 401, "bearer-env", RemoteWriteOutcome.Fatal, RemoteWriteOutcome.Fatal },
        { 401, "bearer-file", RemoteWriteOutcome.Retryable, RemoteWriteOutcome.Fatal },
        { 401, "entra", RemoteWriteOutcome.Retryable, RemoteWriteOutcome.Fatal },
        { 403, "basic", RemoteWriteOutcome.Fatal, RemoteWriteOutcome.Fatal },
        { 403, "entra", RemoteWriteOutcome.Retryable, RemoteWriteOutcome.Fatal },
        { 408, "none", RemoteWriteOutcome.Retryable, RemoteWriteOutcome.Retryable },
        { 429, "none", RemoteWriteOutcome.Retryable, RemoteWriteOutcome.Retryable },
        { 429, "entra", RemoteWriteOutcome.Retryable, RemoteWriteOutcome.Retryable },
        { 500, "none", RemoteWriteOutcome.Retryable, RemoteWriteOutcome.Retryable },
        { 502, "basic", RemoteWriteOutcome.Retryable, RemoteWriteOutcome.Retryable },
        { 503, "entra", RemoteWriteOutcome.Retryable, RemoteWriteOutcome.Retryable },
        { 301, "none", RemoteWriteOutcome.Permanent, RemoteWriteOutcome.Permanent },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Classify_StatusAndAuthKind_GivesOutcome(int status, string authKind, RemoteWriteOutcome first, RemoteWriteOutcome afterRefresh)
    {
        var auth = Auth(authKind);

        Assert.Equal(first, RemoteWriteResponseClassifier.Classify(status, auth.CanRefresh && !false));
        Assert.Equal(afterRefresh, RemoteWriteResponseClassifier.Classify(status, auth.CanRefresh && !true));
        Assert.Equal(first == RemoteWriteOutcome.Retryable && status is 401 or 403,
            RemoteWriteRetryPolicy.ShouldRefreshAuth(status, auth, alreadyRefreshed: false));
        Assert.False(RemoteWriteRetryPolicy.ShouldRefreshAuth(status, auth, alreadyRefreshed: true));
    }

    public static TheoryData<string, RemoteWriteOutcome> Exceptions => new()
    {
        { "timeout", RemoteWriteOutcome.Retryable },
        { "refused", RemoteWriteOutcome.Retryable },
        { "canceled", RemoteWriteOutcome.Retryable },
        { "reset", RemoteWriteOutcome.Retryable },
        { "bug", RemoteWriteOutcome.Fatal },
    };

    [Theory]
    [MemberData(nameof(Exceptions))]
    public void Classify_TransportFailure_GivesOutcome(string failure, RemoteWriteOutcome expected)
    {
        Exception exception = failure switch
        {
            "timeout" => new TimeoutException(),
            "refused" => new HttpRequestException("refused", new SocketException((int)SocketError.ConnectionRefused)),
            "canceled" => new TaskCanceledException(),
            "reset" => new IOException("reset"),
            _ => new InvalidOperationException(),
        };

        Assert.Equal(expected, RemoteWriteResponseClassifier.Classify(exception));
    }
}
