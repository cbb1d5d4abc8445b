using System.Diagnostics;

namespace LogMetrics.IntegrationTests.Console;

/// <summary>
/// Runs the real <c>logmetrics</c> console as a child process: its dll beside the tests (the build
/// <c>dotnet run</c> starts), or the program <c>LOGMETRICS_BIN</c> names (e.g. the Native AOT
/// <c>dotnet publish</c> output), so the same tests check the shipped binary.
/// </summary>
public static class Cli
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static string Repo(params string[] parts) => Path.Combine([AppContext.BaseDirectory, .. parts]);

    public static Task<Result> RunAsync(params string[] args) => RunAsync(new Dictionary<string, string>(), args);

    /// <summary>As <see cref="RunAsync(string[])"/>, with <paramref name="environment"/>'s variables set for the console.</summary>
    public static async Task<Result> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var psi = StartInfo();
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(cts.Token);
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>How to start the console (output and error redirected); arguments go after it.</summary>
    public static ProcessStartInfo StartInfo()
    {
        var binary = Environment.GetEnvironmentVariable("LOGMETRICS_BIN") is { Length: > 0 } b ? Path.GetFullPath(b) : null;
        var psi = new ProcessStartInfo(binary ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        if (binary is null) psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "logmetrics.dll"));
        return psi;
    }

    /// <summary>A new folder under the system's temporary folder (a test class removes its own: <see cref="TempDirTests"/>).</summary>
    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "logmetrics-it-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}

/// <summary>
/// A test class whose temporary folders (<see cref="TempDir"/>) are removed, with everything in them, after each of its
/// tests (xUnit disposes the class's instance after each test). A corpus, samples and reports are up to a few hundred MB
/// a run: left behind, some hundreds of runs of the suite filled a development machine's disk.
/// </summary>
public abstract class TempDirTests : IDisposable
{
    private readonly List<string> _dirs = [];

    /// <summary>A new folder for this test, removed after it.</summary>
    protected string TempDir()
    {
        var dir = Cli.TempDir();
        lock (_dirs) _dirs.Add(dir);
        return dir;
    }

    public void Dispose()
    {
        lock (_dirs)
        {
            foreach (var dir in _dirs)
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Still held by a process the test started: left to the system's temporary-file cleanup.
                }
            }
            _dirs.Clear();
        }
        GC.SuppressFinalize(this);
    }
}
