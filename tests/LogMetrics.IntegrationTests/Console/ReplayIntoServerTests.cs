using System.Globalization;
using System.Text.Json;

namespace LogMetrics.IntegrationTests.Console;

/// <summary>
/// `logmetrics replay --remote-write` of the committed corpus into a real server, then every stored
/// sample is read back through the HTTP query API and compared with the independent oracle's
/// expectation (tools/oracle/reference.py output committed beside the corpus).
/// </summary>
public static class ReplayIntoServer
{
    public static Dictionary<string, double> Expected()
    {
        var expected = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(Cli.Repo("TestData", "golden", "expected.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            var labels = r.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
            expected[Key(r.GetProperty("name").GetString()!, labels, r.GetProperty("timestamp").GetInt64())] = r.GetProperty("value").GetDouble();
        }
        return expected;
    }

    public static string Key(string name, IReadOnlyDictionary<string, string> labels, long ts) =>
        name + "{" + string.Join(",", labels.Where(l => l.Key != "__name__").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)) + "}@" + ts;

    public static async Task<Cli.Result> ReplayAsync(Uri remoteWrite)
    {
        var golden = Cli.Repo("TestData", "golden");
        return await Cli.RunAsync("replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", Path.Combine(golden, "dimensions"),
            "--remote-write", remoteWrite.ToString(), "--auth", "none", "--quiet",
            Path.Combine(golden, "lane-0.jsonl"), Path.Combine(golden, "lane-1.jsonl.gz"));
    }

    /// <summary>Reads back every sample of every expected metric name and compares.</summary>
    public static async Task AssertStoredAsync(PromQuery query, Dictionary<string, double> expected, double relativeTolerance)
    {
        var end = DateTimeOffset.FromUnixTimeMilliseconds(expected.Keys.Max(k => long.Parse(k[(k.LastIndexOf('@') + 1)..], CultureInfo.InvariantCulture)) + 1000);
        var names = expected.Keys.Select(k => k[..k.IndexOf('{')]).Distinct().ToList();
        var stored = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            foreach (var p in await query.RawAsync($"{name}[1d]", end))
            {
                Assert.True(stored.TryAdd(Key(name, p.Labels, p.TimestampMs), p.Value), $"duplicate sample {name} {p.TimestampMs}");
            }
        }
        Assert.Empty(expected.Keys.Except(stored.Keys).Take(5));
        Assert.Empty(stored.Keys.Except(expected.Keys).Take(5));
        foreach (var (key, value) in expected)
        {
            var got = stored[key];
            if (relativeTolerance == 0) Assert.True(value == got, $"{key}: expected {value:R}, stored {got:R}");
            else Assert.True(Math.Abs(value - got) <= relativeTolerance * Math.Max(1, Math.Abs(value)), $"{key}: expected {value:R}, stored {got:R}");
        }
    }

    /// <summary>The README's demo query: per-product totals over the run equal the oracle's sums.</summary>
    public static async Task AssertPerProductTotalsAsync(PromQuery query, Dictionary<string, double> expected)
    {
        var end = DateTimeOffset.FromUnixTimeMilliseconds(expected.Keys.Max(k => long.Parse(k[(k.LastIndexOf('@') + 1)..], CultureInfo.InvariantCulture)) + 1000);
        var want = expected.Where(e => e.Key.StartsWith("namespace_product_gw_http_req{", StringComparison.Ordinal))
            .GroupBy(e => e.Key.Split("product=")[1].Split([',', '}'])[0])
            .ToDictionary(g => g.Key, g => g.Sum(e => e.Value));
        var got = (await query.InstantAsync("sum by (product) (sum_over_time(namespace_product_gw_http_req[1d]))", end))
            .ToDictionary(p => p.Labels["product"], p => p.Value);
        Assert.Equal(want.OrderBy(x => x.Key, StringComparer.Ordinal), got.OrderBy(x => x.Key, StringComparer.Ordinal));
    }
}

public sealed class ReplayIntoPrometheusTests(PrometheusFixture prometheus) : IClassFixture<PrometheusFixture>
{
    [Fact]
    public async Task Replay_GoldenCorpusIntoPrometheus_EverySampleReadBackExactly()
    {
        var r = await ReplayIntoServer.ReplayAsync(prometheus.RemoteWriteUri);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout); // 0: nothing dropped at any output
        Assert.DoesNotContain("dropped:", r.Stdout);
        Assert.DoesNotContain("remoteWrite: dropped", r.Stdout);
        var expected = ReplayIntoServer.Expected();
        Assert.Equal(12, expected.Keys.Select(k => k[..k.IndexOf('{')]).Distinct().Count());
        await ReplayIntoServer.AssertStoredAsync(prometheus.Query, expected, relativeTolerance: 0);
        await ReplayIntoServer.AssertPerProductTotalsAsync(prometheus.Query, expected);
    }
}

public sealed class ReplayIntoVictoriaMetricsTests(VictoriaMetricsFixture vm) : IClassFixture<VictoriaMetricsFixture>
{
    /// <summary>VictoriaMetrics keeps values as decimals of 12 significant digits: counts are exact, ratios agree to 1e-9.</summary>
    [Fact]
    public async Task Replay_GoldenCorpusIntoVictoriaMetrics_EverySampleReadBack()
    {
        var r = await ReplayIntoServer.ReplayAsync(vm.RemoteWriteUri);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        await vm.FlushAsync();
        var expected = ReplayIntoServer.Expected();
        var counts = expected.Where(e => !e.Key.Contains("_rate{", StringComparison.Ordinal) && !e.Key.Contains("_mean{", StringComparison.Ordinal)).ToDictionary();
        await ReplayIntoServer.AssertStoredAsync(vm.Query, expected, relativeTolerance: 1e-9);
        await ReplayIntoServer.AssertStoredAsync(vm.Query, counts, relativeTolerance: 0);
        await ReplayIntoServer.AssertPerProductTotalsAsync(vm.Query, expected);
    }
}
