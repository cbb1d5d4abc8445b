using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace LogMetrics.IntegrationTests.Console;

/// <summary>
/// Crash-safe outputs, end to end with the real console: a run whose only lane is a FIFO is held
/// at a known point (reading its input) without any timing, so a second run on the same output and
/// a SIGTERM can be tested deterministically.
/// </summary>
public sealed class CrashSafeOutputTests : TempDirTests
{
    private static string Golden(params string[] parts) => Cli.Repo(["TestData", "golden", .. parts]);

    private static Process Start(params string[] args)
    {
        var psi = Cli.StartInfo();
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        return Process.Start(psi)!;
    }

    private static string Fifo(string dir)
    {
        var path = Path.Combine(dir, "lane.jsonl");
        using var mkfifo = Process.Start("mkfifo", path);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    private static string[] Replay(string dir, string lane) =>
        ["replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", Golden("dimensions"),
         "--out", Path.Combine(dir, "samples.jsonl"), "--summary", Path.Combine(dir, "summary.json"), "--quiet", lane];

    /// <summary>Golden lane 0, <paramref name="copies"/> times over: valid records.</summary>
    private static byte[] Lines(int copies) =>
        Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(File.ReadAllText(Golden("lane-0.jsonl")).TrimEnd('\n') + "\n", copies)));

    [Fact]
    public async Task SecondRunOnSameOutput_FailsFastNamingTheFile_FirstRunUnharmed()
    {
        var dir = TempDir();
        var fifo = Fifo(dir);
        using var first = Start(Replay(dir, fifo));
        var firstOut = first.StandardOutput.ReadToEndAsync();
        var firstErr = first.StandardError.ReadToEndAsync();
        // Opening the FIFO for writing returns once the first run opened it for reading: it holds its locks now.
        await using (var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write))
        {
            var second = await Cli.RunAsync(Replay(dir, Golden("lane-0.jsonl")));
            Assert.Equal(2, second.ExitCode);
            Assert.Contains("samples.jsonl is being written by another run", second.Stderr);
            await writer.WriteAsync(Lines(1));
        }
        await first.WaitForExitAsync();

        Assert.True(first.ExitCode == 0, await firstErr);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")));
        Assert.Equal("complete", summary.RootElement.GetProperty("status").GetString());
        var samples = File.ReadAllLines(Path.Combine(dir, "samples.jsonl"));
        Assert.Equal(summary.RootElement.GetProperty("samples").GetInt64(), samples.Length);
        Assert.All(samples, l => JsonDocument.Parse(l).Dispose()); // whole lines only, no NUL bytes
        Assert.Empty(Directory.GetFiles(dir, "*.tmp").Concat(Directory.GetFiles(dir, ".*.tmp")).Concat(Directory.GetFiles(dir, "*.lock")));
        _ = await firstOut;
    }

    [Fact]
    public async Task Sigterm_StopsCleanly_SummaryInterrupted_Exit143_StaleSummaryGone()
    {
        var dir = TempDir();
        var summaryPath = Path.Combine(dir, "summary.json");
        await File.WriteAllTextAsync(summaryPath, """{"events":999999,"samples":999999}""");
        var fifo = Fifo(dir);
        using var run = Start(Replay(dir, fifo));
        var stdout = run.StandardOutput.ReadToEndAsync();
        var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write);
        try
        {
            // The run has opened its input, so its outputs are set up and the old summary is gone.
            Assert.False(File.Exists(summaryPath));
            using (var kill = Process.Start("kill", ["-TERM", run.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
            // Wait until the run says it is stopping, then give it more input than one chunk.
            var line = await run.StandardError.ReadLineAsync();
            Assert.StartsWith("SIGTERM: stopping", line);
            await writer.WriteAsync(Lines(8));
            await writer.FlushAsync();
        }
        catch (IOException)
        {
            // Broken pipe: the run stopped reading after its first chunk, as it should.
        }
        finally
        {
            try { await writer.DisposeAsync(); } catch (IOException) { }
        }
        await run.WaitForExitAsync();
        var stderr = await run.StandardError.ReadToEndAsync();

        Assert.Equal(143, run.ExitCode);
        Assert.Contains("interrupted", stderr);
        using var summary = JsonDocument.Parse(File.ReadAllText(summaryPath));
        Assert.Equal("interrupted", summary.RootElement.GetProperty("status").GetString());
        Assert.Equal(143, summary.RootElement.GetProperty("exitCode").GetInt32());
        Assert.Contains("SIGTERM", summary.RootElement.GetProperty("error").GetString());
        Assert.True(summary.RootElement.GetProperty("events").GetInt64() < 8 * 600);
        Assert.False(summary.RootElement.GetProperty("lanes")[0].GetProperty("readToEnd").GetBoolean());
        // The samples file is in place and whole: every line parses.
        Assert.All(File.ReadAllLines(Path.Combine(dir, "samples.jsonl")), l => JsonDocument.Parse(l).Dispose());
        _ = await stdout;
    }

    [Fact]
    public async Task OutToDevStdout_WrittenInPlace_DeviceNotReplaced()
    {
        var before = new FileInfo("/dev/stdout").LinkTarget;
        var r = await Cli.RunAsync("replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", Golden("dimensions"),
            "--out", "/dev/stdout", "--quiet", Golden("lane-0.jsonl"));

        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("{\"name\":\"namespace_product_gw_http_req\"", r.Stdout);
        Assert.Equal(before, new FileInfo("/dev/stdout").LinkTarget); // still the link it was, not a file renamed onto it
    }

    [Fact]
    public async Task EndpointDownForTheWholeRun_Exit3_EverySampleCountedAsDroppedWithReason()
    {
        // A port bound but not listening: every connection is refused, for the whole run.
        using var reserved = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        reserved.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var port = ((System.Net.IPEndPoint)reserved.LocalEndPoint!).Port;
        var dir = TempDir();
        var summaryPath = Path.Combine(dir, "summary.json");

        var r = await Cli.RunAsync("replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", Golden("dimensions"),
            "--out", Path.Combine(dir, "samples.jsonl"), "--summary", summaryPath, "--quiet",
            "--remote-write", $"http://127.0.0.1:{port}/api/v1/write", "--retry-budget-seconds", "2",
            Golden("lane-0.jsonl"), Golden("lane-1.jsonl.gz"));

        Assert.True(r.ExitCode == 3, r.Stderr);
        Assert.Contains("lost data: remoteWrite:", r.Stderr);
        using var summary = JsonDocument.Parse(File.ReadAllText(summaryPath));
        var root = summary.RootElement;
        Assert.Equal("lost-data", root.GetProperty("status").GetString());
        var samples = root.GetProperty("samples").GetInt64();
        var outputs = root.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("output").GetString()!);
        Assert.Equal(samples, outputs["out"].GetProperty("written").GetInt64());
        var remote = outputs["remoteWrite"];
        Assert.Equal(0, remote.GetProperty("written").GetInt64());
        var dropped = remote.GetProperty("dropped").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());
        Assert.Equal(samples, dropped.Values.Sum());
        Assert.Subset(new HashSet<string> { "unreachable", "over_budget" }, dropped.Keys.ToHashSet());
        Assert.True(dropped.GetValueOrDefault("unreachable") > 0);
    }

    /// <summary>
    /// An output that cannot be written (a full disk, a quota, a size limit) fails the run (exit 1), names the file, and
    /// gives the output up: the previous file stays, no temporary file is left, and the summary counts every sample as
    /// dropped. The failure is made with a file size limit (bash's <c>ulimit -f</c>, in KiB, with SIGXFSZ ignored, so a
    /// write past it fails with EFBIG), which needs no small disk; a full disk (ENOSPC) takes the same path.
    /// </summary>
    [Fact]
    public async Task OutputThatCannotBeWritten_FailsTheRun_NamesTheFile_KeepsThePreviousOne_LeavesNoTemporaryFile()
    {
        var dir = TempDir();
        var samplesPath = Path.Combine(dir, "samples.jsonl");
        await File.WriteAllTextAsync(samplesPath, "previous\n");
        var console = Cli.StartInfo();
        var psi = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = console.WorkingDirectory,
        };
        // The golden lane's samples are about 660 KB, its summary under 1 KB: the limit is met by the samples only.
        foreach (var a in (string[])["-c", "trap '' XFSZ; ulimit -f 200; exec \"$@\"", "bash", console.FileName, .. console.ArgumentList, .. Replay(dir, Golden("lane-0.jsonl"))])
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["NO_COLOR"] = "1";
        // The JIT runtime's double-mapped code memory is a file too, which the limit would refuse.
        psi.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        using var run = Process.Start(psi)!;
        var stdout = run.StandardOutput.ReadToEndAsync();
        var stderr = run.StandardError.ReadToEndAsync();
        await run.WaitForExitAsync();
        var err = await stderr;
        _ = await stdout;

        Assert.True(run.ExitCode == 1, $"exit {run.ExitCode}: {err}");
        Assert.Contains($"error: writing {samplesPath}: the file reached the process's file size limit", err);
        Assert.Equal("previous\n", await File.ReadAllTextAsync(samplesPath));
        Assert.Empty(Directory.GetFiles(dir, ".*.tmp").Concat(Directory.GetFiles(dir, "*.lock")));
        using var summary = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "summary.json")));
        var root = summary.RootElement;
        Assert.Equal("failed", root.GetProperty("status").GetString());
        Assert.Equal(1, root.GetProperty("exitCode").GetInt32());
        Assert.StartsWith($"writing {samplesPath}: ", root.GetProperty("error").GetString());
        var output = root.GetProperty("outputs")[0];
        Assert.Equal(0, output.GetProperty("written").GetInt64());
        var samples = root.GetProperty("samples").GetInt64();
        Assert.True(samples > 0);
        Assert.Equal(samples, output.GetProperty("dropped").GetProperty("output not written").GetInt64());
    }
}
