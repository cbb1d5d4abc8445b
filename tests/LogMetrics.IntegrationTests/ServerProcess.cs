using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LogMetrics.IntegrationTests;

/// <summary>
/// A real server binary started on 127.0.0.1 with a free port and a temporary data directory,
/// killed (with its process tree) and cleaned up on dispose. A missing binary fails the test
/// with what to install: these tests are never skipped.
/// </summary>
public abstract class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    protected ServerProcess(string binary, string install, Func<int, string, IEnumerable<string>> arguments, string readyPath, bool anyResponseIsReady = false)
    {
        if (!File.Exists(binary))
        {
            throw new InvalidOperationException($"{binary} was not found. Install it with `{install}` (the integration tests need the real server).");
        }
        Port = FreePort();
        DataDirectory = Directory.CreateTempSubdirectory("logmetrics-it-").FullName;
        BaseUri = new Uri($"http://127.0.0.1:{Port}/");
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = DataDirectory,
        };
        foreach (var argument in arguments(Port, DataDirectory)) start.ArgumentList.Add(argument);
        _process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {binary}");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        try
        {
            WaitUntilReady(readyPath, TimeSpan.FromSeconds(60), anyResponseIsReady);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Port { get; }

    public Uri BaseUri { get; }

    public string DataDirectory { get; }

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>What the server has logged so far (for failure messages).</summary>
    public string Log
    {
        get
        {
            lock (_log) return _log.ToString();
        }
    }

    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
    }

    private void WaitUntilReady(string readyPath, TimeSpan limit, bool anyResponseIsReady)
    {
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{_process.StartInfo.FileName} exited with code {_process.ExitCode}:\n{Log}");
            }
            try
            {
                using var response = Http.GetAsync(new Uri(BaseUri, readyPath)).GetAwaiter().GetResult();
                if (response.IsSuccessStatusCode || anyResponseIsReady) return;
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            Thread.Sleep(100);
        }
        throw new InvalidOperationException($"{_process.StartInfo.FileName} was not ready at {readyPath} within {limit.TotalSeconds} s:\n{Log}");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _process.Dispose();
        Http.Dispose();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        GC.SuppressFinalize(this);
    }
}
