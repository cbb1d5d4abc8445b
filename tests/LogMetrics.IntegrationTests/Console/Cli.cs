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

    public static async Task<Result> RunAsync(params string[] args)
    {
        var psi = StartInfo();
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
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

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "logmetrics-it-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
