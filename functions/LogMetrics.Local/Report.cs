using System.Globalization;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Local.Html;
using Spectre.Console;

namespace LogMetrics.Local;

/// <summary>What the console prints: the final report of a replay, the metric catalog, the demo's metrics.</summary>
public static class Report
{
    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Prints the final report; returns its rows (the HTML report shows the same table).</summary>
    public static IReadOnlyList<ReportRow> Final(ReplayOutcome o, RemoteWriterHandle? remote)
    {
        var rows = Rows(o, remote);
        var profile = AnsiConsole.Profile;
        if (ReportTable.TryRender(rows, profile.Capabilities, profile.Width, out var text))
        {
            // Spectre's bytes for this table, without its layout passes (ReportTable).
            profile.Out.Writer.Write(text);
            profile.Out.Writer.Flush();
        }
        else
        {
            AnsiConsole.Write(FinalTable(rows));
        }
        return rows;
    }

    /// <summary>The final report's table of <paramref name="rows"/> (alerts in red), as Spectre renders it.</summary>
    internal static Table FinalTable(IReadOnlyList<ReportRow> rows)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]replay report[/]");
        table.AddColumn("stage");
        table.AddColumn("counter");
        table.AddColumn(new TableColumn("value").RightAligned());
        foreach (var r in rows)
        {
            var stage = Markup.Escape(r.Stage);
            var counter = Markup.Escape(r.Counter);
            if (r.Alert) table.AddRow($"[red]{stage}[/]", $"[red]{counter}[/]", Markup.Escape(r.Value));
            else table.AddRow(stage, counter, Markup.Escape(r.Value));
        }
        return table;
    }

    /// <summary>The final report's rows: stage, counter, value.</summary>
    public static List<ReportRow> Rows(ReplayOutcome o, RemoteWriterHandle? remote)
    {
        var c = o.Counters;
        var seconds = Math.Max(o.Elapsed.TotalSeconds, 1e-9);
        var rows = new List<ReportRow>
        {
            new("Parse", "events (non-blank lines)", N(c.Events)),
            new("Parse", "malformed (dead-lettered)", N(c.Malformed)),
            new("Prune", "filtered", N(c.Filtered)),
            new("Prune", "accepted", N(c.Accepted)),
            new("Accumulate", "late (left out of every sample)", N(c.Late)),
            new("Accumulate", "partials signalled", N(c.PartialsSignalled)),
        };
        if (c.ShardLateContributions > 0) rows.Add(new("Accumulate", "late contributions refused by shards", N(c.ShardLateContributions)));
        foreach (var (name, stats) in o.Enricher.Stats)
        {
            rows.Add(new("Enrich", $"{name}: hit / miss / error", $"{N(stats.Hits)} / {N(stats.Misses)} / {N(stats.Errors)}"));
        }
        rows.Add(new("Flush", "windows closed", N(c.WindowsClosed)));
        rows.Add(new("Flush", "samples", N(c.Samples)));
        if (c.SamplesDroppedBacklog > 0) rows.Add(new("Flush", "samples dropped (backlog bound)", N(c.SamplesDroppedBacklog), Alert: true));
        if (remote is not null)
        {
            var s = remote.Snapshot();
            rows.Add(new("Write", "endpoint", remote.Endpoint));
            rows.Add(new("Write", "samples written", N(s.SamplesWritten)));
            rows.Add(new("Write", "samples retried", N(s.SamplesRetried)));
            foreach (var (reason, n) in s.SamplesDroppedByReason) rows.Add(new("Write", $"dropped: {reason}", N(n), Alert: true));
            if (s.BatchesFailed > 0) rows.Add(new("Write", "requests failed after their last retry", N(s.BatchesFailed), Alert: true));
            rows.Add(new("Write", "requests (failed)", $"{N(s.Requests)} ({N(s.RequestsFailed)})"));
            rows.Add(new("Write", "bytes sent (snappy)", N(s.BytesSent)));
            rows.Add(new("Write", "request latency mean / max", $"{s.MeanRequestLatency.TotalMilliseconds:N1} / {s.MaxRequestLatency.TotalMilliseconds:N1} ms"));
            if (s.MaxFreshness is { } fresh) rows.Add(new("Write", "freshness (event → 2xx) max", $"{fresh.TotalSeconds:N1} s"));
        }
        foreach (var (family, n) in o.Summary.Overflow ?? new Dictionary<string, long>())
        {
            rows.Add(new("Accumulate", $"{family}: records folded into the {LogMetrics.Core.Accumulate.SeriesBudget.Overflow} series (maxSeries)", N(n), Alert: true));
        }
        foreach (var output in o.Summary.Outputs)
        {
            var extra = output.SelfMetrics > 0 ? $" (+ {N(output.SelfMetrics)} self-metrics)" : "";
            rows.Add(new("Account", $"{output.Output}: samples{(output.SelfMetrics > 0 ? " + self-metrics" : "")} = written + dropped",
                $"{N(o.Summary.Samples)}{extra} = {N(output.Written)} + {N(output.DroppedTotal)}", Alert: output.DroppedTotal > 0));
            foreach (var (reason, n) in output.Dropped) rows.Add(new("Account", $"{output.Output}: dropped {reason}", N(n), Alert: true));
        }
        foreach (var lane in o.Summary.Lanes.Where(l => !l.ReadToEnd))
        {
            rows.Add(new("Account", $"lane not read to its end: {lane.File}", lane.Error ?? "stopped", Alert: true));
        }
        rows.Add(new("Run", "status (exit code)", $"{o.Summary.Status} ({o.Summary.ExitCode})", Alert: o.Summary.ExitCode != 0));
        rows.Add(new("Run", "lanes", N(o.Lanes)));
        rows.Add(new("Run", "elapsed", $"{o.Elapsed.TotalSeconds:N2} s"));
        rows.Add(new("Run", "throughput", $"{c.Events / seconds:N0} events/s, {o.Bytes / 1e6 / seconds:N1} MB/s (uncompressed input)"));
        rows.Add(new("Run", "time in read / ingest / flush+write (summed over lanes)", $"{o.Last.ReadTime.TotalSeconds:N2} / {o.Last.IngestTime.TotalSeconds:N2} / {o.Last.FlushTime.TotalSeconds:N2} s"));
        return rows;
    }

    /// <summary>One line naming what was lost: dropped samples by output and reason, lanes not read to their end.</summary>
    public static string Losses(RunSummary summary)
    {
        var parts = summary.Outputs.Where(o => o.DroppedTotal > 0)
            .Select(o => $"{o.Output}: {N(o.DroppedTotal)} of {N(summary.Samples)} samples dropped ({string.Join(", ", o.Dropped.Select(kv => $"{kv.Key} {N(kv.Value)}"))})")
            .Concat(summary.Lanes.Where(l => !l.ReadToEnd).Select(l => $"lane {l.File} not read to its end ({l.Error ?? "stopped"})"));
        return string.Join("; ", parts);
    }

    public static void Catalog(CompiledPipeline p)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"[bold]{Markup.Escape(p.Definition.Name)}[/]: window {p.WindowMs / 1000} s, out-of-orderness {p.OutOfOrdernessMs / 1000} s");
        table.AddColumn("metric");
        table.AddColumn("labels");
        table.AddColumn("resolution");
        table.AddColumn("aggregate");
        foreach (var family in p.Families)
        {
            var where = p.Definition.Metrics[family.Index].Where;
            foreach (var m in family.Metrics)
            {
                table.AddRow(
                    Markup.Escape(m.Name),
                    Markup.Escape(string.Join(", ", family.LabelNames)),
                    $"{family.ResolutionMs / 1000} s",
                    Markup.Escape(m.Aggregate + (where is null ? "" : $"  where {where}")));
            }
        }
        AnsiConsole.Write(table);
        var steps = p.Definition.Processor.Count;
        var notRun = steps - p.Steps.Count;
        AnsiConsole.MarkupLine($"[green]ok[/]: {p.Families.Sum(f => f.Metrics.Count)} metrics in {p.Families.Count} families, {p.Lookups.Count} lookups, {steps} processor steps"
            + (notRun > 0 ? $" ({notRun} not run)" : ""));
        // What nothing reads: not an error (no sample depends on it), said so that a team knows what it does not get.
        foreach (var note in p.Unused)
        {
            AnsiConsole.MarkupLine($"[yellow]unused[/] {Markup.Escape(note.Path)}: {Markup.Escape(note.Message)}");
        }
    }

    public static void DemoMetrics(IReadOnlyList<Sample> samples)
    {
        var perProduct = samples.Where(s => s.Name == "namespace_product_gw_http_req")
            .GroupBy(s => s.Labels.First(l => l.Name == "product").Value)
            .OrderBy(g => g.Key, StringComparer.Ordinal);
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]sum(namespace_product_gw_http_req) by (product)[/] over the whole run");
        table.AddColumn("product");
        table.AddColumn(new TableColumn("requests").RightAligned());
        table.AddColumn(new TableColumn("5xx").RightAligned());
        table.AddColumn(new TableColumn("mean rt (ms)").RightAligned());
        foreach (var g in perProduct)
        {
            var req = g.Sum(s => s.Value);
            var errors = samples.Where(s => s.Name == "namespace_product_gw_http_5xx" && s.Labels.Any(l => l.Name == "product" && l.Value == g.Key)).Sum(s => s.Value);
            // Weighted mean over windows and series: Σ(mean·count)/Σcount.
            var rt = samples.Where(s => s.Name == "namespace_product_gw_rt_mean" && s.Labels.Any(l => l.Name == "product" && l.Value == g.Key))
                .Join(g, a => (a.SeriesId[(a.Name.Length)..], a.TimestampMs), b => (b.SeriesId[(b.Name.Length)..], b.TimestampMs), (a, b) => a.Value * b.Value).Sum();
            table.AddRow(Markup.Escape(g.Key), N((long)req), N((long)errors), (rt / Math.Max(req, 1)).ToString("N1", CultureInfo.InvariantCulture));
        }
        AnsiConsole.Write(table);
        var names = samples.GroupBy(s => s.Name).OrderBy(g => g.Key, StringComparer.Ordinal);
        var catalog = new Table().Border(TableBorder.Simple).Title("samples per metric");
        catalog.AddColumn("metric");
        catalog.AddColumn(new TableColumn("samples").RightAligned());
        catalog.AddColumn(new TableColumn("series").RightAligned());
        foreach (var g in names) catalog.AddRow(Markup.Escape(g.Key), N(g.Count()), N(g.Select(s => s.SeriesId).Distinct().Count()));
        AnsiConsole.Write(catalog);
    }
}
