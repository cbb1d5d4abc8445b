using System.Net;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Telemetry;

namespace LogMetrics.Local.Html;

/// <summary>
/// The plotted report (<c>--report report.html</c>): one self-contained HTML file, readable offline,
/// with the main series of each metric family and the pipeline's own counters over event time, and
/// the final report's table beside them. Charts are drawn by uPlot (MIT, inlined from the embedded
/// <c>uPlot.iife.min.js</c>/<c>uPlot.min.css</c>; no CDN).
/// <para>As a sample writer it sees every flush: it sums each family's first metric per window,
/// broken down by the family's lowest-cardinality label (top 6, the rest as "other"), and takes a
/// snapshot of the pipeline's counters (<see cref="SelfMetricsCollector"/>) stamped with the newest
/// window closed, as <c>--self-metrics</c> does.</para>
/// </summary>
public sealed class HtmlReport : ISampleWriter
{
    private const int TopSeries = 6;
    private static readonly string[] PipelineCounters =
    [
        "logmetrics_parse_events_total", "logmetrics_parse_malformed_total", "logmetrics_prune_filtered_total", "logmetrics_accumulate_late_total",
        "logmetrics_flush_windows_closed_total", "logmetrics_flush_samples_total", "logmetrics_flush_open_windows",
    ];

    private readonly CompiledPipeline _pipeline;
    private readonly SelfMetricsCollector _collector;
    private readonly Lock _gate = new();
    // main metric of a family → label name → label value of the breakdown label → timestamp (ms) → sum
    private readonly Dictionary<string, Dictionary<string, Dictionary<string, SortedDictionary<long, double>>>> _families = new(StringComparer.Ordinal);
    private readonly SortedDictionary<long, Dictionary<string, double>> _self = [];

    public HtmlReport(CompiledPipeline pipeline, SelfMetricsCollector collector)
    {
        _pipeline = pipeline;
        _collector = collector;
    }

    public Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        if (samples.Count == 0) return Task.FromResult(WriteResult.Ok(0));
        var main = _pipeline.Families.Select(f => f.Metrics[0].Name).ToHashSet(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var s in samples)
            {
                if (!main.Contains(s.Name)) continue;
                var family = s.Name;
                if (!_families.TryGetValue(family, out var byLabel)) _families[family] = byLabel = new(StringComparer.Ordinal);
                foreach (var label in s.Labels)
                {
                    if (!byLabel.TryGetValue(label.Name, out var byValue)) byLabel[label.Name] = byValue = new(StringComparer.Ordinal);
                    if (!byValue.TryGetValue(label.Value, out var series)) byValue[label.Value] = series = [];
                    series[s.TimestampMs] = series.GetValueOrDefault(s.TimestampMs) + s.Value;
                }
            }
            var newest = samples.Max(s => s.TimestampMs);
            if (_self.Count == 0 || newest > _self.Keys.Last()) Snapshot(newest);
        }
        return Task.FromResult(WriteResult.Ok(samples.Count));
    }

    private void Snapshot(long timestampMs)
    {
        var totals = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var s in _collector.Collect(timestampMs))
        {
            if (Array.IndexOf(PipelineCounters, s.Name) >= 0) totals[s.Name] = totals.GetValueOrDefault(s.Name) + s.Value;
        }
        _self[timestampMs] = totals;
    }

    /// <summary>Writes the file: charts plus the final report's rows (stage, counter, value).</summary>
    public void Write(string path, string title, IReadOnlyList<ReportRow> rows)
    {
        var charts = new List<ReportChart>();
        lock (_gate)
        {
            foreach (var family in _pipeline.Families)
            {
                if (!_families.TryGetValue(family.Metrics[0].Name, out var byLabel)) continue;
                charts.Add(FamilyChart(family, byLabel));
            }
            charts.AddRange(SelfCharts());
        }
        var data = JsonSerializer.Serialize(new ReportData(title, charts), HtmlReportJsonContext.Default.ReportData);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(WebUtility.HtmlEncode(title)).Append("</title>\n<style>")
            .Append(Resource("uPlot.min.css")).Append('\n').Append(Css).Append("</style></head>\n<body>\n<h1>").Append(WebUtility.HtmlEncode(title)).Append("</h1>\n")
            .Append("<div id=\"layout\"><div id=\"charts\"></div><div id=\"side\"><table id=\"final\"><thead><tr><th>stage</th><th>counter</th><th>value</th></tr></thead><tbody>\n");
        foreach (var row in rows)
        {
            html.Append(row.Alert ? "<tr class=\"alert\">" : "<tr>")
                .Append("<td>").Append(WebUtility.HtmlEncode(row.Stage)).Append("</td><td>").Append(WebUtility.HtmlEncode(row.Counter))
                .Append("</td><td class=\"num\">").Append(WebUtility.HtmlEncode(row.Value)).Append("</td></tr>\n");
        }
        html.Append("</tbody></table></div></div>\n<div id=\"status\">loading</div>\n<script>")
            .Append(Resource("uPlot.iife.min.js")).Append("</script>\n<script>const REPORT = ")
            .Append(data.Replace("</", "<\\/", StringComparison.Ordinal)).Append(";\n").Append(Script).Append("</script>\n</body></html>\n");
        File.WriteAllText(path, html.ToString(), new UTF8Encoding(false));
    }

    private static ReportChart FamilyChart(MetricFamily family, Dictionary<string, Dictionary<string, SortedDictionary<long, double>>> byLabel)
    {
        // Break down by the label with the fewest distinct values (more than one if any has more).
        var label = byLabel.OrderBy(kv => kv.Value.Count > 1 ? 0 : 1).ThenBy(kv => kv.Value.Count).ThenBy(kv => kv.Key, StringComparer.Ordinal).First();
        var top = label.Value.OrderByDescending(kv => kv.Value.Values.Sum()).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var shown = top.Take(TopSeries).ToList();
        var rest = top.Skip(TopSeries).ToList();
        var times = label.Value.Values.SelectMany(s => s.Keys).Distinct().Order().ToList();
        var series = shown.Select(kv => new ReportSeries($"{label.Key}={kv.Key}", null, times.Select(t => kv.Value.TryGetValue(t, out var v) ? (double?)v : null).ToList())).ToList();
        if (rest.Count > 0)
        {
            series.Add(new ReportSeries($"{label.Key}=other ({rest.Count})", null, times.Select(t => (double?)rest.Sum(kv => kv.Value.GetValueOrDefault(t))).ToList()));
        }
        return new ReportChart(
            $"{family.Metrics[0].Name} by {label.Key} (per {family.ResolutionMs / 1000} s window)",
            times.Select(t => t / 1000.0).ToList(),
            series);
    }

    private IEnumerable<ReportChart> SelfCharts()
    {
        var times = _self.Keys.ToList();
        // names prefixed with "r:" are drawn against the right-hand axis.
        ReportChart Chart(string title, bool cumulative, params string[] names)
        {
            var series = names.Select(entry =>
            {
                var right = entry.StartsWith("r:", StringComparison.Ordinal);
                var name = right ? entry[2..] : entry;
                return new ReportSeries(
                    name,
                    right ? "r" : "y",
                    times.Select((t, i) =>
                    {
                        var v = _self[t].GetValueOrDefault(name);
                        return (double?)(cumulative || i == 0 ? v : v - _self[times[i - 1]].GetValueOrDefault(name));
                    }).ToList());
            }).ToList();
            return new ReportChart(title, times.Select(t => t / 1000.0).ToList(), series);
        }
        yield return Chart("Pipeline: events read (per flush)", false, "logmetrics_parse_events_total");
        yield return Chart("Pipeline: malformed, filtered, late (per flush)", false,
            "logmetrics_parse_malformed_total", "logmetrics_prune_filtered_total", "logmetrics_accumulate_late_total");
        yield return Chart("Pipeline: samples (left) and windows closed (right), per flush", false, "logmetrics_flush_samples_total", "r:logmetrics_flush_windows_closed_total");
        yield return Chart("Pipeline: open windows (at each flush)", true, "logmetrics_flush_open_windows");
    }

    private static string Resource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("report/" + name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing from the build");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private const string Css = """
        body { font-family: system-ui, sans-serif; margin: 16px; color: #222; }
        h1 { font-size: 20px; }
        #layout { display: flex; gap: 24px; align-items: flex-start; }
        #charts { flex: 0 0 auto; display: grid; grid-template-columns: repeat(2, 560px); gap: 16px; }
        .chart h2 { font-size: 13px; margin: 4px 0; }
        #side { flex: 1 1 360px; max-width: 640px; }
        table { border-collapse: collapse; font-size: 12px; }
        td, th { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        tr.alert td { color: #b00; font-weight: bold; }
        #status { color: #888; font-size: 11px; margin-top: 12px; }
        """;

    private const string Script = """
        (function () {
          const palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f"];
          const status = document.getElementById("status");
          window.addEventListener("error", e => { status.textContent = "error: " + e.message; status.setAttribute("data-state", "error"); });
          try {
            const host = document.getElementById("charts");
            let drawn = 0;
            for (const c of REPORT.charts) {
              const box = document.createElement("div");
              box.className = "chart";
              const h = document.createElement("h2");
              h.textContent = c.title;
              box.appendChild(h);
              host.appendChild(box);
              const opts = {
                width: 560, height: 240,
                series: [{}].concat(c.series.map((s, i) => ({ label: s.label, scale: s.scale || "y", stroke: palette[i % palette.length], width: 1.5, spanGaps: false }))),
                axes: [{}, { scale: "y", size: 60 }].concat(c.series.some(s => s.scale === "r") ? [{ scale: "r", side: 1, size: 50, grid: { show: false } }] : []),
                legend: { live: false },
              };
              new uPlot(opts, [c.x].concat(c.series.map(s => s.values)), box);
              drawn++;
            }
            const canvases = document.querySelectorAll("canvas").length;
            status.textContent = "rendered " + drawn + " charts, " + canvases + " canvases";
            status.setAttribute("data-state", drawn > 0 && canvases >= drawn ? "ok" : "empty");
          } catch (e) {
            status.textContent = "error: " + e;
            status.setAttribute("data-state", "error");
            throw e;
          }
        })();
        """;
}

/// <summary>One row of the final report: stage, counter, value; <see cref="Alert"/> marks losses.</summary>
public sealed record ReportRow(string Stage, string Counter, string Value, bool Alert = false);

/// <summary>The report's data (<c>REPORT</c> in the page): <c>{"title","charts":[…]}</c>.</summary>
internal sealed record ReportData(string Title, IReadOnlyList<ReportChart> Charts);

/// <summary>One chart: <c>{"title","x":[seconds…],"series":[…]}</c>.</summary>
internal sealed record ReportChart(string Title, IReadOnlyList<double> X, IReadOnlyList<ReportSeries> Series);

/// <summary>One line: <c>{"label","scale","values":[…]}</c>; <c>scale</c> ("y" left, "r" right axis) only on the pipeline's charts.</summary>
internal sealed record ReportSeries(
    string Label,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Scale,
    IReadOnlyList<double?> Values);

/// <summary>Source-generated serializer of the report's data (camelCase names, as the anonymous objects before): no reflection (Native AOT).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ReportData))]
internal sealed partial class HtmlReportJsonContext : JsonSerializerContext;
