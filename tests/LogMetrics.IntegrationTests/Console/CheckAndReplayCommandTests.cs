using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LogMetrics.IntegrationTests.Console;

/// <summary>The console's contract: exit codes, messages that name the problem, and the output files' shapes.</summary>
public sealed class CheckAndReplayCommandTests : TempDirTests
{
    private static string Golden(params string[] parts) => Cli.Repo(["TestData", "golden", .. parts]);

    private string BrokenPipeline(Action<JsonNode> edit)
    {
        var node = JsonNode.Parse(File.ReadAllText(Cli.Repo("pipeline.json")))!;
        edit(node);
        var path = Path.Combine(TempDir(), "pipeline.json");
        File.WriteAllText(path, node.ToJsonString());
        return path;
    }

    [Fact]
    public async Task Check_Flagship_PrintsCatalogAndExitsZero()
    {
        var r = await Cli.RunAsync("check", Cli.Repo("pipeline.json"));
        Assert.Equal(0, r.ExitCode);
        foreach (var name in new[] { "namespace_product_gw_http_req", "namespace_api_gw_http503_rate", "namespace_tenant_gw_api_req_limiting_rate", "namespace_error_code_gw_error_code" })
        {
            Assert.Contains(name, r.Stdout);
        }
        Assert.Contains("12 metrics in 5 families", r.Stdout);
        // What nothing reads is named with its JSON path: the flagship's parse-json of Ext5 (app_group is no label).
        Assert.Contains("4 processor steps (1 not run)", r.Stdout);
        Assert.Contains("unused $.processor[1].parse-json: not run: nothing reads a field it sets (ext5_appGroup:", r.Stdout);
        Assert.Contains("unused $.lookups[0].outputs[0]: 'app_group' of lookup 'gateway_cluster' is not read", r.Stdout);
    }

    [Fact]
    public async Task Check_AppGroupALabel_EveryStepRuns()
    {
        var path = BrokenPipeline(n => n["metrics"]![0]!["labels"]!["app_group"] = "app_group");
        var r = await Cli.RunAsync("check", path);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("4 processor steps", r.Stdout);
        Assert.DoesNotContain("not run", r.Stdout);
        Assert.DoesNotContain("unused", r.Stdout);
    }

    public static TheoryData<string, string> BadDefinitions => new()
    {
        { "metric-name", "$.metrics[0].metrics[0].name" },
        { "missing-lookup", "$.metrics[1].labels.priority" },
    };

    private string Break(string kind) => kind switch
    {
        "metric-name" => BrokenPipeline(n => n["metrics"]![0]!["metrics"]![0]!["name"] = "http req"),
        _ => BrokenPipeline(n => n["lookups"]!.AsArray().RemoveAt(2)),
    };

    [Theory]
    [MemberData(nameof(BadDefinitions))]
    public async Task Check_BadDefinition_NamesJsonPathAndFails(string kind, string path)
    {
        var r = await Cli.RunAsync("check", Break(kind));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(path, r.Stderr);
    }

    [Theory]
    [MemberData(nameof(BadDefinitions))]
    public async Task Replay_BadDefinition_RejectedBeforeReading(string kind, string path)
    {
        var dir = TempDir();
        var r = await Cli.RunAsync("replay", "--pipeline", Break(kind), "--dimensions", Golden("dimensions"), "--out", Path.Combine(dir, "s.jsonl"), Golden("lane-0.jsonl"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(path, r.Stderr);
        Assert.False(File.Exists(Path.Combine(dir, "s.jsonl")), "nothing may run on a bad definition");
    }

    [Fact]
    public async Task Replay_MissingInput_NamesTheFile()
    {
        var dir = TempDir();
        var missing = Path.Combine(dir, "nope.jsonl");
        var r = await Cli.RunAsync("replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", Golden("dimensions"), "--out", Path.Combine(dir, "s.jsonl"), missing);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("nope.jsonl", r.Stderr);
    }

    [Fact]
    public async Task Replay_MissingDimensionTable_NamesTheLookup()
    {
        var dims = TempDir();
        File.Copy(Golden("dimensions", "gateway_cluster.csv"), Path.Combine(dims, "gateway_cluster.csv"));
        File.Copy(Golden("dimensions", "api_meta.csv"), Path.Combine(dims, "api_meta.csv"));
        var r = await Cli.RunAsync("replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", dims, "--out", Path.Combine(dims, "s.jsonl"), Golden("lane-0.jsonl"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("user_level", r.Stderr);
    }

    [Fact]
    public async Task Replay_UnknownOption_ExitsTwoNamingIt()
    {
        var r = await Cli.RunAsync("replay", "--pipelin", "x");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--pipelin", r.Stderr + r.Stdout);
    }

    [Fact]
    public async Task Replay_ProgressToRedirectedStderr_LastLineCountsEverySample()
    {
        // The samples file closes the last flushes' windows behind them; the last progress line must still show
        // every sample (the oracle's count for this corpus), not those closed when the ingest ended. A race: three runs.
        using var expected = JsonDocument.Parse(File.ReadAllText(Golden("expected-summary.json")));
        var samples = expected.RootElement.GetProperty("samples").GetInt64().ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
        for (var run = 0; run < 3; run++)
        {
            var r = await Cli.RunAsync("replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", Golden("dimensions"),
                "--out", Path.Combine(TempDir(), "samples.jsonl"), Golden("lane-0.jsonl"), Golden("lane-1.jsonl.gz"));
            Assert.True(r.ExitCode == 0, r.Stderr);
            var last = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last(l => l.Contains(" events ", StringComparison.Ordinal));
            Assert.Contains($"  samples {samples}  ", last);
        }
    }

    [Fact]
    public async Task Replay_UnderASmallMemoryLimit_SameSamplesAsWithout()
    {
        // A long replay commits a no-collection region of 128 MiB for its heap (HugePageHeap) unless the collector may
        // use less than 1 GiB. Under a limit of 128 MiB (a small container's) the region would leave the run's large
        // objects no room: it ran out of memory. The run must go on without it, and write what it writes unlimited.
        string[] Args(string samples) => ["replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", Golden("dimensions"),
            "--out", samples, Golden("lane-0.jsonl"), Golden("lane-1.jsonl.gz")];
        var dir = TempDir();
        var unlimited = await Cli.RunAsync(Args(Path.Combine(dir, "unlimited.jsonl")));
        Assert.True(unlimited.ExitCode == 0, unlimited.Stderr);

        // DOTNET_GCHeapHardLimit is hexadecimal: 128 MiB.
        var limitedRun = await Cli.RunAsync(new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "8000000" }, Args(Path.Combine(dir, "limited.jsonl")));
        Assert.True(limitedRun.ExitCode == 0, limitedRun.Stderr + limitedRun.Stdout);

        using var expected = JsonDocument.Parse(File.ReadAllText(Golden("expected-summary.json")));
        var limited = File.ReadAllBytes(Path.Combine(dir, "limited.jsonl"));
        Assert.Equal(expected.RootElement.GetProperty("samples").GetInt64(), limited.Count(b => b == (byte)'\n'));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "unlimited.jsonl")), limited);
    }

    [Fact]
    public async Task Replay_GoldenCorpus_WritesContractFiles()
    {
        var dir = TempDir();
        var (samples, summary, dead) = (Path.Combine(dir, "samples.jsonl"), Path.Combine(dir, "summary.json"), Path.Combine(dir, "dead.jsonl"));
        var r = await Cli.RunAsync("replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", Golden("dimensions"),
            "--out", samples, "--summary", summary, "--dead-letter", dead, Golden("lane-0.jsonl"), Golden("lane-1.jsonl.gz"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("replay report", r.Stdout);

        // summary.json: the six counts, equal to the oracle's (tools/oracle/reference.py) for this corpus,
        // then how the run ended and where every sample went.
        using var s = JsonDocument.Parse(File.ReadAllText(summary));
        using var expected = JsonDocument.Parse(File.ReadAllText(Golden("expected-summary.json")));
        Assert.Equal(["accepted", "error", "events", "exitCode", "filtered", "lanes", "late", "malformed", "outputs", "samples", "status"],
            s.RootElement.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal("complete", s.RootElement.GetProperty("status").GetString());
        Assert.Equal(0, s.RootElement.GetProperty("exitCode").GetInt32());
        var output = Assert.Single(s.RootElement.GetProperty("outputs").EnumerateArray());
        Assert.Equal("out", output.GetProperty("output").GetString());
        Assert.Equal(expected.RootElement.GetProperty("samples").GetInt64(), output.GetProperty("written").GetInt64());
        Assert.Empty(output.GetProperty("dropped").EnumerateObject());
        Assert.All(s.RootElement.GetProperty("lanes").EnumerateArray(), l => Assert.True(l.GetProperty("readToEnd").GetBoolean()));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp").Concat(Directory.GetFiles(dir, "*.lock")));
        foreach (var key in new[] { "events", "accepted", "malformed", "filtered", "late", "samples" })
        {
            Assert.Equal(expected.RootElement.GetProperty(key).GetInt64(), s.RootElement.GetProperty(key).GetInt64());
        }

        // samples.jsonl: one object per line with name, labels (no __name__), integer ms timestamp, number value.
        var lines = File.ReadAllLines(samples);
        Assert.Equal(s.RootElement.GetProperty("samples").GetInt64(), lines.Length);
        foreach (var line in lines.Take(200))
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            Assert.Equal(["labels", "name", "timestamp", "value"], root.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
            Assert.False(root.GetProperty("labels").TryGetProperty("__name__", out _));
            Assert.Equal(0, root.GetProperty("timestamp").GetInt64() % 10_000);
            Assert.Equal(JsonValueKind.Number, root.GetProperty("value").ValueKind);
        }

        // dead.jsonl: one object per malformed line: lane, line number, reason, raw (base64 when not UTF-8).
        var letters = File.ReadAllLines(dead).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(s.RootElement.GetProperty("malformed").GetInt64(), letters.Count);
        foreach (var letter in letters)
        {
            var lane = letter.GetProperty("lane").GetString()!;
            var lineNo = letter.GetProperty("line").GetInt64();
            Assert.False(string.IsNullOrEmpty(letter.GetProperty("reason").GetString()));
            var raw = letter.GetProperty("encoding").GetString() == "base64"
                ? Convert.FromBase64String(letter.GetProperty("raw").GetString()!)
                : Encoding.UTF8.GetBytes(letter.GetProperty("raw").GetString()!);
            // The raw bytes are exactly the input file's line at that number.
            Assert.Equal(LineOf(lane, lineNo), raw);
        }
    }

    private static byte[] LineOf(string path, long lineNo)
    {
        using Stream file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.Ordinal) ? new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionMode.Decompress) : file;
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        var lines = ms.ToArray().AsSpan();
        for (var n = 1L; ; n++)
        {
            var nl = lines.IndexOf((byte)'\n');
            var line = nl < 0 ? lines : lines[..nl];
            if (n == lineNo) return line.TrimEnd((byte)'\r').ToArray();
            lines = lines[(nl + 1)..];
        }
    }
}
