using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using LogMetrics.Core.Tests.Write.Proto;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

/// <summary>One request as the fake server saw it.</summary>
internal sealed record ReceivedRequest(int Index, IReadOnlyDictionary<string, string> Headers, WriteRequest Body, int Status);

/// <summary>What the fake server answers; <see cref="Stall"/> delays the answer (to provoke a client timeout).</summary>
internal sealed record ServerReply(int Status, string? RetryAfter = null, TimeSpan Stall = default, string Body = "");

/// <summary>
/// A minimal remote-write receiver on 127.0.0.1 (System.Net.HttpListener). Every request is decoded
/// (snappy block → WriteRequest) and recorded with the status it was answered with.
/// </summary>
internal sealed class FakeRemoteWriteServer : IDisposable
{
    private readonly Func<int, WriteRequest, ServerReply> _reply;
    private readonly ConcurrentQueue<ReceivedRequest> _received = new();
    private readonly CancellationTokenSource _stop = new();
    private HttpListener? _listener;
    private Socket? _reservation;
    private int _count;

    /// <param name="start">False: the port is only reserved (bound, not listening), so clients get
    /// "connection refused" and nothing else can take the port, until <see cref="Start"/>.</param>
    public FakeRemoteWriteServer(Func<int, WriteRequest, ServerReply> reply, int? port = null, bool start = true)
    {
        _reply = reply;
        Port = port ?? FreePort();
        if (start)
        {
            Start();
        }
        else
        {
            _reservation = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _reservation.Bind(new IPEndPoint(IPAddress.Loopback, Port));
        }
    }

    public int Port { get; }

    public Uri Endpoint => new($"http://127.0.0.1:{Port}/api/v1/write");

    public IReadOnlyList<ReceivedRequest> Received => _received.OrderBy(r => r.Index).ToList();

    /// <summary>Every point received, whatever the answer.</summary>
    public IEnumerable<ReceivedPoint> AllPoints => Received.SelectMany(r => WriteTestData.Points(r.Body));

    /// <summary>Points of requests answered 2xx.</summary>
    public IEnumerable<ReceivedPoint> AcceptedPoints => Received.Where(r => r.Status is >= 200 and < 300).SelectMany(r => WriteTestData.Points(r.Body));

    private static readonly HashSet<int> Handed = [];
    private static readonly Random Ports = new();

    /// <summary>
    /// A port that is free now, below the kernel's ephemeral range (32768–60999 on Linux): ports the OS
    /// hands out for "port 0" and for outgoing connections (a client retrying a refused port can even
    /// connect to itself there) never collide with it. Never the same port twice in one process.
    /// </summary>
    public static int FreePort()
    {
        lock (Handed)
        {
            for (var attempt = 0; attempt < 1000; attempt++)
            {
                var port = Ports.Next(20_000, 32_000);
                if (Handed.Contains(port)) continue;
                try
                {
                    using var probe = new TcpListener(IPAddress.Loopback, port);
                    probe.Start();
                }
                catch (SocketException)
                {
                    continue;
                }
                Handed.Add(port);
                return port;
            }
        }
        throw new InvalidOperationException("no free loopback port found in 20000-32000");
    }

    /// <summary>Starts listening; idempotent (concurrent retry chains may all decide it is time).</summary>
    public void Start()
    {
        lock (_received)
        {
            if (_listener is not null) return;
            _reservation?.Dispose();
            _reservation = null;
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            listener.Start();
            _listener = listener;
        }
        _ = HttpListenerLoop.AcceptAsync(_listener!, Handle, _stop.Token);
    }

    private async Task Handle(HttpListenerContext context)
    {
        try
        {
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var headers = context.Request.Headers.AllKeys.Where(k => k is not null)
                .ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);
            var request = WriteTestData.DecodeBody(body.ToArray());
            var index = Interlocked.Increment(ref _count) - 1;
            var reply = _reply(index, request);
            _received.Enqueue(new ReceivedRequest(index, headers, request, reply.Status));
            if (reply.Stall > TimeSpan.Zero) await Task.Delay(reply.Stall, _stop.Token);
            context.Response.StatusCode = reply.Status;
            if (reply.RetryAfter is not null) context.Response.AddHeader("Retry-After", reply.RetryAfter);
            var bytes = System.Text.Encoding.UTF8.GetBytes(reply.Body);
            context.Response.ContentLength64 = bytes.Length;
            if (bytes.Length > 0) await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
        catch (HttpListenerException)
        {
            // The client gave up (timeout) and closed the connection.
        }
        catch (IOException)
        {
        }
    }

    public void Dispose()
    {
        _reservation?.Dispose();
        _stop.Cancel();
        try
        {
            _listener?.Stop();
            _listener?.Close();
        }
        catch (ObjectDisposedException)
        {
        }
        _stop.Dispose();
    }
}
