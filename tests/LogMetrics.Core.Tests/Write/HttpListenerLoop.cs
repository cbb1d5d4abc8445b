using System.Net;

namespace LogMetrics.Core.Tests.Write;

/// <summary>
/// The accept loop of the tests' loopback HTTP servers (the fake remote-write receiver here, the integration tests'
/// holding relay, which links this file): each request is handed to <c>handle</c> on the thread pool until the
/// listener is closed or <c>stop</c> is cancelled.
/// </summary>
internal static class HttpListenerLoop
{
    public static async Task AcceptAsync(HttpListener listener, Func<HttpListenerContext, Task> handle, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return; // the listener was closed
            }
            _ = Task.Run(() => handle(context), CancellationToken.None); // an accepted request is still answered; handlers watch stop themselves
        }
    }
}
