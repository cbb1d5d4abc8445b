using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using LogMetrics.IntegrationTests.Console;

namespace LogMetrics.IntegrationTests.Monitoring;

/// <summary>
/// A real Prometheus with monitoring/rules/*.yml loaded (<c>rule_files</c>). The rule files are used
/// as committed, except that each group's <c>interval: 1m</c> becomes 2 s so the recording rules
/// have evaluated shortly after the data arrives.
/// </summary>
public sealed class PrometheusWithRulesFixture : ServerProcess
{
    public PrometheusWithRulesFixture()
        : base(PrometheusFixture.Binary, "apt-get update && apt-get install -y --no-install-recommends prometheus", Arguments, "-/ready")
    {
    }

    public Uri RemoteWriteUri => new(BaseUri, "api/v1/write");

    public static string RulesDirectory => Cli.Repo("monitoring", "rules");

    private static IEnumerable<string> Arguments(int port, string dataDirectory)
    {
        var rules = Directory.CreateDirectory(Path.Combine(dataDirectory, "rules")).FullName;
        foreach (var file in Directory.GetFiles(RulesDirectory, "*.rules.yml"))
        {
            var text = File.ReadAllText(file);
            Assert.Contains("interval: 1m", text);
            File.WriteAllText(Path.Combine(rules, Path.GetFileName(file)), text.Replace("interval: 1m", "interval: 2s", StringComparison.Ordinal));
        }
        var config = Path.Combine(dataDirectory, "prometheus.yml");
        File.WriteAllText(config, $"global:\n  scrape_interval: 1m\n  evaluation_interval: 2s\nrule_files:\n  - {rules}/*.yml\nscrape_configs: []\n");
        return
        [
            "--config.file=" + config,
            "--storage.tsdb.path=" + Path.Combine(dataDirectory, "tsdb"),
            $"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
        ];
    }
}

/// <summary>
/// Issue 11's "must show": a synthetic corpus of the last 10 minutes replayed with
/// <c>--self-metrics</c> into Prometheus with the rules loaded, then every panel query of both
/// dashboards, template variables substituted, through <c>/api/v1/query_range</c>: no query fails,
/// every panel returns data (the gateway panels from the recording rules, the pipeline panels from
/// the pipeline's own counters written through the same remote write).
/// </summary>
public sealed partial class DashboardQueriesTests(PrometheusWithRulesFixture prometheus) : TempDirTests, IClassFixture<PrometheusWithRulesFixture>
{
    /// <summary>Grafana's $__rate_interval for this data: the replay writes self-metrics at each flush, one to two minutes of event time apart.</summary>
    private const string RateInterval = "5m";

    private sealed record Panel(string Dashboard, string Title, IReadOnlyList<string> Queries);

    private sealed record Variable(string Name, string Query);

    [Fact]
    public async Task Replay_WithSelfMetrics_EveryPanelOfBothDashboardsReturnsData()
    {
        var dir = TempDir();
        // Enough records that the pipelined replay's read-ahead (a few 2,048-line chunks per lane, parsed
        // and counted before the windows they feed close) is a small part of the run: the self-metric
        // snapshots, stamped with the closed windows, then show the counters rising and every rate panel has data.
        var generated = await Cli.RunAsync("generate", "--out", dir, "--lanes", "2", "--records", "96000", "--start", "now-10m", "--duration-seconds", "590", "--seed", "11");
        Assert.True(generated.ExitCode == 0, generated.Stderr);
        var lanes = generated.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        var replay = await Cli.RunAsync(["replay", "--pipeline", Cli.Repo("pipeline.json"), "--dimensions", Path.Combine(dir, "dimensions"),
            "--remote-write", prometheus.RemoteWriteUri.ToString(), "--self-metrics", "--quiet", .. lanes]);
        Assert.True(replay.ExitCode == 0, replay.Stderr + replay.Stdout); // 0: nothing dropped at any output
        Assert.DoesNotContain("dropped:", replay.Stdout);
        Assert.DoesNotContain("remoteWrite: dropped", replay.Stdout);
        var written = DateTimeOffset.UtcNow;

        await WaitForRuleEvaluationAfterAsync(written);
        // The range ends now and starts 12 minutes (48 steps) before it, so its last step is now: the
        // recording rules only have values from their evaluations after the data arrived.
        var end = DateTimeOffset.UtcNow;
        var start = end.AddSeconds(-48 * 15);

        var failures = new List<string>();
        foreach (var dashboard in new[] { "gateway", "pipeline" })
        {
            var (variables, panels) = Load(dashboard);
            Assert.NotEmpty(panels);
            // Template variables: each variable's own query returns values; panels are run with "All" (.*),
            // and the gateway board again with the first product, region and API, as Grafana preselects them.
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var v in variables)
            {
                var options = await LabelValuesAsync(Substitute(v.Query, values, allValues: true), start, end);
                if (options.Count == 0) failures.Add($"{dashboard}: variable ${v.Name} ({v.Query}) has no values");
                else values[v.Name] = Regex.Escape(options[0]);
            }
            foreach (var all in dashboard == "gateway" ? new[] { true, false } : [true])
            {
                foreach (var panel in panels)
                {
                    foreach (var query in panel.Queries)
                    {
                        var promql = Substitute(query, values, all);
                        var (error, series, points) = await QueryRangeAsync(promql, start, end);
                        if (error is not null) failures.Add($"{dashboard} / {panel.Title}: {promql}: {error}");
                        else if (points == 0) failures.Add($"{dashboard} / {panel.Title} ({(all ? "All" : "first values")}): no data from {promql}");
                        _ = series;
                    }
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // The pipeline's own counters arrived tagged by stage and lane, with the final totals.
        var events = await InstantAsync("sum(logmetrics_parse_events_total)", end);
        var summaryEvents = long.Parse(Regex.Match(replay.Stdout, @"events \(non-blank lines\)\s*│?\s*([0-9,]+)").Groups[1].Value.Replace(",", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);
        Assert.Equal(summaryEvents, events);
        Assert.Equal(2, (await InstantVectorAsync("count by (lane) (logmetrics_parse_events_total)", end)).Count);
        Assert.Equal(["accumulate", "enrich", "flush", "parse", "prune", "write"],
            (await InstantVectorAsync("count by (stage) ({__name__=~\"logmetrics_.+\"})", end)).Select(l => l["stage"]).Order(StringComparer.Ordinal));
    }

    private static (List<Variable> Variables, List<Panel> Panels) Load(string dashboard)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Cli.Repo("monitoring", "grafana", dashboard + ".json")));
        var variables = doc.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Where(v => v.GetProperty("type").GetString() == "query")
            .Select(v => new Variable(v.GetProperty("name").GetString()!, v.GetProperty("definition").GetString()!)).ToList();
        var panels = new List<Panel>();
        void Walk(JsonElement list)
        {
            foreach (var p in list.EnumerateArray())
            {
                if (p.TryGetProperty("panels", out var nested)) Walk(nested);
                if (!p.TryGetProperty("targets", out var targets)) continue;
                panels.Add(new Panel(dashboard, p.GetProperty("title").GetString()!, [.. targets.EnumerateArray().Select(t => t.GetProperty("expr").GetString()!)]));
            }
        }
        Walk(doc.RootElement.GetProperty("panels"));
        return (variables, panels);
    }

    private static string Substitute(string query, Dictionary<string, string> values, bool allValues)
    {
        var text = query.Replace("$__rate_interval", RateInterval, StringComparison.Ordinal);
        text = VariableReference().Replace(text, m => allValues || !values.TryGetValue(m.Groups[1].Value, out var v) ? ".*" : v);
        Assert.DoesNotContain("$", text);
        return text;
    }

    [GeneratedRegex(@"\$([a-z]+)")]
    private static partial Regex VariableReference();

    /// <summary>Waits (bounded) until every rule group has been evaluated after <paramref name="after"/>.</summary>
    private async Task WaitForRuleEvaluationAfterAsync(DateTimeOffset after)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            last = await prometheus.Http.GetStringAsync(new Uri(prometheus.BaseUri, "api/v1/rules"));
            using var doc = JsonDocument.Parse(last);
            var groups = doc.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray().ToList();
            if (groups.Count == 4 && groups.All(g => DateTimeOffset.Parse(g.GetProperty("lastEvaluation").GetString()!, CultureInfo.InvariantCulture) > after.AddSeconds(1)))
            {
                Assert.All(groups.SelectMany(g => g.GetProperty("rules").EnumerateArray()), r => Assert.Equal("ok", r.GetProperty("health").GetString()));
                return;
            }
            await Task.Delay(500);
        }
        Assert.Fail("the rule groups were not all loaded and evaluated after the replay:\n" + last + "\n" + prometheus.Log);
    }

    private async Task<List<string>> LabelValuesAsync(string labelValuesQuery, DateTimeOffset start, DateTimeOffset end)
    {
        var m = Regex.Match(labelValuesQuery, @"^label_values\((.+), *([a-z_]+)\)$");
        Assert.True(m.Success, labelValuesQuery);
        var uri = new Uri(prometheus.BaseUri, $"api/v1/label/{m.Groups[2].Value}/values?match[]={Uri.EscapeDataString(m.Groups[1].Value)}&start={Seconds(start)}&end={Seconds(end)}");
        using var doc = JsonDocument.Parse(await prometheus.Http.GetStringAsync(uri));
        return [.. doc.RootElement.GetProperty("data").EnumerateArray().Select(v => v.GetString()!)];
    }

    private async Task<(string? Error, int Series, int Points)> QueryRangeAsync(string promql, DateTimeOffset start, DateTimeOffset end)
    {
        var uri = new Uri(prometheus.BaseUri, $"api/v1/query_range?query={Uri.EscapeDataString(promql)}&start={Seconds(start)}&end={Seconds(end)}&step=15");
        using var response = await prometheus.Http.GetAsync(uri);
        var body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        if (doc.RootElement.GetProperty("status").GetString() != "success") return (body, 0, 0);
        var result = doc.RootElement.GetProperty("data").GetProperty("result").EnumerateArray().ToList();
        var points = result.Sum(s => s.GetProperty("values").EnumerateArray().Count(v => v[1].GetString() is not ("NaN" or null)));
        return (null, result.Count, points);
    }

    private async Task<double> InstantAsync(string promql, DateTimeOffset at)
    {
        var points = await new PromQuery(prometheus.Http, prometheus.BaseUri).InstantAsync(promql, at);
        return Assert.Single(points).Value;
    }

    private async Task<List<IReadOnlyDictionary<string, string>>> InstantVectorAsync(string promql, DateTimeOffset at) =>
        [.. (await new PromQuery(prometheus.Http, prometheus.BaseUri).InstantAsync(promql, at)).Select(p => p.Labels)];

    private static string Seconds(DateTimeOffset t) => (t.ToUnixTimeMilliseconds() / 1000m).ToString(CultureInfo.InvariantCulture);
}
