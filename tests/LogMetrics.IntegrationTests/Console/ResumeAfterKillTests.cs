using System.Diagnostics;
using System.Text.Json;

namespace LogMetrics.IntegrationTests.Console;

/// <summary>
/// `logmetrics replay --state DIR` killed with SIGKILL (Process.Kill) at seeded points of the remote
/// write (a relay in front of the server holds the write there, so the kill never races the run's end),
/// then resumed with the same command: --out ends byte-identical to an uninterrupted run, the
/// summary's counts are the same, and every sample read back from a real Prometheus equals the oracle
/// (a sample written twice with a different value, or lost, fails the comparison; a resend of a
/// series' newest sample that Prometheus did not take identically would be counted as dropped and
/// fail the exit code).
/// </summary>
public sealed class ResumeAfterKillTests(PrometheusFixture prometheus) : TempDirTests, IClassFixture<PrometheusFixture>
{
    private static readonly string Golden = Cli.Repo("TestData", "golden");

    private string? _pipeline;

    /// <summary>
    /// The flagship pipeline with 10 samples per remote-write request: the same samples, in hundreds of
    /// acknowledged requests instead of a handful, so the kill points spread over the write.
    /// </summary>
    private string Pipeline => _pipeline ??= WritePipeline();

    private string WritePipeline()
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Cli.Repo("pipeline.json")))!;
        node["remoteWrite"]!["maxSamplesPerRequest"] = 10;
        var path = Path.Combine(TempDir(), "pipeline.json");
        File.WriteAllText(path, node.ToJsonString());
        return path;
    }

    private string[] Args(string dir, Uri? remote, string outName = "samples.jsonl")
    {
        List<string> args =
        [
            "replay", "--pipeline", Pipeline, "--dimensions", Path.Combine(Golden, "dimensions"),
            "--out", Path.Combine(dir, outName), "--summary", Path.Combine(dir, "summary.json"),
            "--dead-letter", Path.Combine(dir, "dead.jsonl"), "--quiet",
        ];
        if (remote is not null) args.AddRange(["--remote-write", remote.ToString(), "--auth", "none", "--state", Path.Combine(dir, "state")]);
        args.AddRange([Path.Combine(Golden, "lane-0.jsonl"), Path.Combine(Golden, "lane-1.jsonl.gz")]);
        return [.. args];
    }

    private static long RemoteWritten(string stateDir)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(stateDir, "state.json")));
            return doc.RootElement.GetProperty("remoteWritten").GetInt64();
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return -1; // not written yet
        }
    }

    private static bool StateCompleted(string stateDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(stateDir, "state.json")));
        return doc.RootElement.GetProperty("status").GetString() == "complete";
    }

    /// <summary>
    /// Starts the replay with the relay armed to hold the write after <paramref name="pass"/> requests, and kills
    /// it (SIGKILL, whole tree) once a request is held: the run cannot end before, since it waits for that answer.
    /// Killed: true if the kill interrupted the run (its state is not marked completed); false if the run ended
    /// without reaching the point, and then Run is its outcome.
    /// </summary>
    private static async Task<(bool Killed, Cli.Result Run)> RunAndKillAsync(string[] args, string stateDir, HoldingProxy relay, int pass, bool forwardHeld)
    {
        relay.Arm(pass, forwardHeld);
        var psi = Cli.StartInfo();
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(psi)!;
        var drainOut = process.StandardOutput.ReadToEndAsync();
        var drainErr = process.StandardError.ReadToEndAsync();
        var exited = process.WaitForExitAsync();
        var killed = await Task.WhenAny(exited, relay.Holding) != exited && !process.HasExited;
        if (killed) process.Kill(entireProcessTree: true);
        await exited;
        var run = new Cli.Result(process.ExitCode, await drainOut, await drainErr);
        // A kill counts only if it interrupted the run: its state is not marked completed.
        return (killed && !StateCompleted(stateDir), run);
    }

    private static JsonElement Counts(string summaryPath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(summaryPath));
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task KilledAtSeededPoints_Resumed_OutByteIdentical_PrometheusEqualsOracle_NoDrops()
    {
        var reference = TempDir();
        var r = await Cli.RunAsync(Args(reference, remote: null));
        Assert.True(r.ExitCode == 0, r.Stderr);

        using var relay = new HoldingProxy(prometheus.BaseUri);
        var dir = TempDir();
        var args = Args(dir, relay.Uri);
        var stateDir = Path.Combine(dir, "state");
        var expected = ReplayIntoServer.Expected();
        // Kill points, in requests answered in that attempt: seeded, the first 0 (the first write is held). Each
        // attempt moves the write on by its point, and the four together stay well under the run's ~700 requests
        // (10 samples each), so each kill lands while work is left. The held request is kept from the server at
        // even points and taken by it, unacknowledged, at odd ones: the resend is then a duplicate it must accept.
        var random = new Random(20261129);
        int[] points = [0, .. Enumerable.Range(0, 3).Select(_ => random.Next(1, expected.Count / 80))];
        for (var i = 0; i < points.Length; i++)
        {
            var (killed, run) = await RunAndKillAsync(args, stateDir, relay, points[i], forwardHeld: i % 2 == 1);
            Assert.True(killed, $"attempt {i + 1} was not killed at {points[i]} requests: it ended with exit {run.ExitCode}\n{run.Stderr}");
            Assert.True(relay.Held > 0);
            if (i % 2 == 1) Assert.True(relay.HeldTaken > 0, "the held request did not reach the server"); // its resend is a duplicate
        }
        Assert.True(RemoteWritten(stateDir) > 0, "the killed attempts recorded no acknowledged write"); // the resume has something to skip

        relay.PassAll();
        var final = await Cli.RunAsync(args);
        Assert.True(final.ExitCode == 0, final.Stderr + final.Stdout); // 0: nothing dropped, no resend refused
        Assert.Contains("resuming", final.Stderr);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(reference, "samples.jsonl")), await File.ReadAllBytesAsync(Path.Combine(dir, "samples.jsonl")));
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(reference, "dead.jsonl")), await File.ReadAllBytesAsync(Path.Combine(dir, "dead.jsonl")));
        var want = Counts(Path.Combine(reference, "summary.json"));
        var got = Counts(Path.Combine(dir, "summary.json"));
        foreach (var name in new[] { "events", "accepted", "malformed", "filtered", "late", "samples", "status" })
        {
            Assert.Equal(want.GetProperty(name).ToString(), got.GetProperty(name).ToString());
        }
        var remoteAccount = got.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("output").GetString() == "remoteWrite");
        Assert.Equal(expected.Count, remoteAccount.GetProperty("written").GetInt64());
        Assert.Empty(Directory.GetFiles(dir, ".*.tmp")); // the killed attempts' temporary outputs are gone

        await ReplayIntoServer.AssertStoredAsync(prometheus.Query, expected, relativeTolerance: 0);

        // Completed: a rerun says so and runs nothing.
        var again = await Cli.RunAsync(args);
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("already completed", again.Stderr);
    }

    [Fact]
    public async Task StateOfAnotherCommand_RefusedWithExit2()
    {
        var dir = TempDir();
        var args = Args(dir, new Uri("http://127.0.0.1:9/api/v1/write"));
        Directory.CreateDirectory(Path.Combine(dir, "state"));
        await File.WriteAllTextAsync(Path.Combine(dir, "state", "state.json"),
            """{"version":1,"command":"0000","commandText":"pipeline=/elsewhere.json\n","status":"running","attempts":1,"pid":1,"remoteWritten":5}""");
        var r = await Cli.RunAsync(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("belongs to a different command", r.Stderr);
        Assert.Contains("pipeline=/elsewhere.json", r.Stderr);
        Assert.False(File.Exists(Path.Combine(dir, "samples.jsonl")));
    }
}
