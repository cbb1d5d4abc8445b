using System.Diagnostics;
using System.Text.RegularExpressions;
using LogMetrics.IntegrationTests.Console;

namespace LogMetrics.IntegrationTests.Monitoring;

/// <summary>
/// Issue 11 §4: <c>logmetrics replay --report report.html</c> writes one self-contained file that a
/// headless Chromium (Debian's <c>chromium</c>) renders offline: every chart drawn (a canvas each, a
/// status marker the page's script writes into the DOM), nothing logged to the console. The
/// screenshot is kept under out/ (git-ignored) as a CI artifact.
/// </summary>
public sealed partial class ReportInChromiumTests : TempDirTests
{
    private const string Chromium = "/usr/bin/chromium";

    /// <summary>Five metric families (the error-code family's two metrics count apart) and four pipeline charts.</summary>
    private const int ExpectedCharts = 9;

    [Fact]
    public async Task Replay_Report_RendersEveryChartOffline_WithNoConsoleMessage()
    {
        var dir = TempDir();
        var generated = await Cli.RunAsync("generate", "--out", dir, "--lanes", "2", "--records", "20000", "--seed", "5");
        Assert.True(generated.ExitCode == 0, generated.Stderr);
        var lanes = generated.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var report = Path.Combine(dir, "report.html");
        var replay = await Cli.RunAsync(["replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", Path.Combine(dir, "dimensions"),
            "--out", Path.Combine(dir, "samples.jsonl"), "--report", report, "--quiet", .. lanes]);
        Assert.True(replay.ExitCode == 0, replay.Stderr + replay.Stdout);

        var html = await File.ReadAllTextAsync(report);
        // Self-contained: no external script, stylesheet or image.
        Assert.DoesNotMatch(ExternalReference(), html);
        Assert.Contains("uPlot", html);
        // The final report's table is beside the charts.
        Assert.Contains("events (non-blank lines)", html);
        Assert.Contains("namespace_tenant_gw_http_req", html);

        var (dom, log) = await RunChromiumAsync(report, "--dump-dom");
        var status = StatusMarker().Match(dom);
        Assert.True(status.Success, "no status marker in the rendered DOM:\n" + dom[..Math.Min(dom.Length, 2000)]);
        Assert.Equal("ok", status.Groups[1].Value);
        Assert.Equal($"rendered {ExpectedCharts} charts, {ExpectedCharts} canvases", status.Groups[2].Value);
        Assert.Equal(ExpectedCharts, Regex.Count(dom, "<canvas"));
        Assert.Empty(ConsoleLines(log));

        var screenshot = Path.Combine(OutDirectory(), "report-screenshot.png");
        File.Delete(screenshot);
        var (_, shotLog) = await RunChromiumAsync(report, "--screenshot=" + screenshot, "--window-size=1800,1800", "--hide-scrollbars");
        Assert.True(File.Exists(screenshot) && new FileInfo(screenshot).Length > 10_000, "no screenshot written:\n" + shotLog);
        File.Copy(report, Path.Combine(OutDirectory(), "report.html"), overwrite: true);
    }

    /// <summary>The console check catches what it must: a page that logs an error or throws.</summary>
    [Fact]
    public async Task ConsoleCheck_DetectsAnErrorInThePage()
    {
        var page = Path.Combine(TempDir(), "broken.html");
        await File.WriteAllTextAsync(page, "<!DOCTYPE html><html><body><div id=\"x\"></div><script>console.error('bad'); null.x;</script></body></html>");
        var (_, log) = await RunChromiumAsync(page, "--dump-dom");
        var lines = ConsoleLines(log);
        Assert.Contains(lines, l => l.Contains("\"bad\"", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("Uncaught TypeError", StringComparison.Ordinal));
    }

    private static List<string> ConsoleLines(string log) => [.. log.Split('\n').Where(l => l.Contains(":CONSOLE", StringComparison.Ordinal))];

    /// <summary>Runs headless Chromium on a local file with a fresh profile and no network; returns stdout and its log (stderr).</summary>
    private static async Task<(string Stdout, string Log)> RunChromiumAsync(string file, params string[] extra)
    {
        if (!File.Exists(Chromium))
        {
            throw new InvalidOperationException($"{Chromium} was not found. Install it with `apt-get install -y chromium` (the report test needs a real browser).");
        }
        var profile = Directory.CreateTempSubdirectory("logmetrics-chromium-").FullName;
        var psi = new ProcessStartInfo(Chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
        })
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var a in extra) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(new Uri(file).AbsoluteUri);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            try
            {
                Directory.Delete(profile, recursive: true);
            }
            catch (IOException)
            {
            }
        }
        var log = await stderr;
        Assert.True(process.ExitCode == 0, $"chromium exited with {process.ExitCode}:\n{log}");
        return (await stdout, log);
    }

    /// <summary>out/ at the repository root (git-ignored; CI keeps it as an artifact), else beside the tests.</summary>
    private static string OutDirectory()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Functions.sln"))) dir = dir.Parent;
        var root = dir?.FullName ?? AppContext.BaseDirectory;
        return Directory.CreateDirectory(Path.Combine(root, "out")).FullName;
    }

    [GeneratedRegex("<(script|link|img)[^>]+(src|href)=", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalReference();

    [GeneratedRegex("id=\"status\" data-state=\"([a-z]+)\">([^<]*)<")]
    private static partial Regex StatusMarker();
}

/// <summary>The new options' contract: --self-metrics needs somewhere to write.</summary>
public sealed class SelfMetricsOptionTests : TempDirTests
{
    [Fact]
    public async Task SelfMetrics_WithoutRemoteWrite_IsABadArgument()
    {
        var golden = Cli.Repo("TestData", "golden");
        var r = await Cli.RunAsync("replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", Path.Combine(golden, "dimensions"),
            "--out", Path.Combine(TempDir(), "s.jsonl"), "--self-metrics", "--quiet", Path.Combine(golden, "lane-0.jsonl"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--self-metrics needs --remote-write URL", r.Stderr);
    }
}
