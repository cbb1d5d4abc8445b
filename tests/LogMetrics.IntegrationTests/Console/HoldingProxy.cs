using System.Net;
using LogMetrics.Core.Tests.Write;

namespace LogMetrics.IntegrationTests.Console;

/// <summary>
/// A remote-write relay on 127.0.0.1 in front of a real server, for killing a client at a chosen point
/// of its write without racing it. Armed with <see cref="Arm"/>, it passes the first N requests through
/// (the server's answer goes back to the client), then holds every later one: the client waits for an
/// answer that never comes, so it cannot finish its run, and <see cref="Holding"/> tells the test that
/// the point is reached. A held request is either kept from the server (a write lost in flight) or
/// handed to it first, its answer withheld (a write the server took but the client never saw
/// acknowledged). Unarmed, it passes everything.
/// </summary>
public sealed class HoldingProxy : IDisposable
{
    private static readonly string[] ForwardedHeaders = ["Content-Encoding", "X-Prometheus-Remote-Write-Version", "User-Agent"];

    private readonly Uri _target;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private int _pass = int.MaxValue;
    private bool _forwardHeld;
    private int _seen;
    private TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource _release = new();

    public HoldingProxy(Uri target)
    {
        _target = target;
        var port = ServerProcess.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        Uri = new Uri($"http://127.0.0.1:{port}/api/v1/write");
        _ = HttpListenerLoop.AcceptAsync(_listener, Handle, _stop.Token);
    }

    /// <summary>The address the client writes to.</summary>
    public Uri Uri { get; }

    /// <summary>Requests held since the last <see cref="Arm"/> or <see cref="PassAll"/>.</summary>
    public int Held { get; private set; }

    /// <summary>Of <see cref="Held"/>, the requests the server took (its answer withheld from the client).</summary>
    public int HeldTaken { get; private set; }

    /// <summary>Completes when a request is held after the last <see cref="Arm"/>.</summary>
    public Task Holding
    {
        get
        {
            lock (_gate) return _holding.Task;
        }
    }

    /// <summary>
    /// From now on: the next <paramref name="pass"/> requests go through, every later one is held
    /// (handed to the server first when <paramref name="forwardHeld"/>). Requests held before are let go
    /// (their connections dropped).
    /// </summary>
    public void Arm(int pass, bool forwardHeld)
    {
        lock (_gate)
        {
            _release.Cancel();
            _release = new CancellationTokenSource();
            _holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _seen = 0;
            Held = 0;
            HeldTaken = 0;
            _pass = pass;
            _forwardHeld = forwardHeld;
        }
    }

    /// <summary>Unarmed: every request goes through; requests held before are let go.</summary>
    public void PassAll() => Arm(int.MaxValue, forwardHeld: false);

    private async Task Handle(HttpListenerContext context)
    {
        try
        {
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            bool hold, forward;
            CancellationToken release;
            TaskCompletionSource holding;
            lock (_gate)
            {
                hold = _seen++ >= _pass;
                forward = !hold || _forwardHeld;
                release = _release.Token;
                holding = _holding;
            }
            HttpResponseMessage? answer = null;
            if (forward)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_target, context.Request.Url!.PathAndQuery))
                {
                    Content = new ByteArrayContent(body.ToArray()),
                };
                request.Content.Headers.TryAddWithoutValidation("Content-Type", context.Request.ContentType);
                foreach (var name in ForwardedHeaders)
                {
                    var value = context.Request.Headers[name];
                    if (value is null) continue;
                    if (!request.Headers.TryAddWithoutValidation(name, value)) request.Content.Headers.TryAddWithoutValidation(name, value);
                }
                answer = await _http.SendAsync(request, _stop.Token);
            }
            using (answer)
            {
                if (hold)
                {
                    lock (_gate)
                    {
                        Held++;
                        if (forward && answer!.IsSuccessStatusCode) HeldTaken++;
                    }
                    holding.TrySetResult();
                    using var released = CancellationTokenSource.CreateLinkedTokenSource(release, _stop.Token);
                    try
                    {
                        await Task.Delay(Timeout.Infinite, released.Token);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                    context.Response.Abort();
                    return;
                }
                context.Response.StatusCode = (int)answer!.StatusCode;
                var bytes = await answer.Content.ReadAsByteArrayAsync();
                context.Response.ContentLength64 = bytes.Length;
                if (bytes.Length > 0) await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        }
        catch (Exception e) when (e is HttpListenerException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away (killed), or the relay is stopping.
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _release.Cancel();
        _listener.Close();
        _http.Dispose();
    }
}
