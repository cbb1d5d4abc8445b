using System.Globalization;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using Spectre.Console;

namespace LogMetrics.Local;

/// <summary>What the console prints: the final report of a replay, the metric catalog, the demo's metrics.</summary>
public static class Report
{
    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    public static void Final(ReplayOutcome o, RemoteWriterHandle? remote)
    {
        var c = o.Counters;
        var seconds = Math.Max(o.Elapsed.TotalSeconds, 1e-9);
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]replay report[/]");
        table.AddColumn("stage");
        table.AddColumn("counter");
        table.AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("Parse", "events (non-blank lines)", N(c.Events));
        table.AddRow("Parse", "malformed (dead-lettered)", N(c.Malformed));
        table.AddRow("Prune", "filtered", N(c.Filtered));
        table.AddRow("Prune", "accepted", N(c.Accepted));
        table.AddRow("Accumulate", "late (left out of every sample)", N(c.Late));
        table.AddRow("Accumulate", "partials signalled", N(c.PartialsSignalled));
        if (c.ShardLateContributions > 0) table.AddRow("Accumulate", "late contributions refused by shards", N(c.ShardLateContributions));
        foreach (var (name, stats) in o.Enricher.Stats)
        {
            table.AddRow("Enrich", $"{name}: hit / miss / error", $"{N(stats.Hits)} / {N(stats.Misses)} / {N(stats.Errors)}");
        }
        table.AddRow("Flush", "windows closed", N(c.WindowsClosed));
        table.AddRow("Flush", "samples", N(c.Samples));
        if (c.SamplesDroppedBacklog > 0) table.AddRow("[red]Flush[/]", "[red]samples dropped (backlog bound)[/]", N(c.SamplesDroppedBacklog));
        if (remote is not null)
        {
            var s = remote.Snapshot();
            table.AddRow("Write", "endpoint", Markup.Escape(remote.Endpoint));
            table.AddRow("Write", "samples written", N(s.SamplesWritten));
            table.AddRow("Write", "samples retried", N(s.SamplesRetried));
            foreach (var (reason, n) in s.SamplesDroppedByReason) table.AddRow("[red]Write[/]", $"[red]dropped: {Markup.Escape(reason)}[/]", N(n));
            table.AddRow("Write", "requests (failed)", $"{N(s.Requests)} ({N(s.RequestsFailed)})");
            table.AddRow("Write", "bytes sent (snappy)", N(s.BytesSent));
            table.AddRow("Write", "request latency mean / max", $"{s.MeanRequestLatency.TotalMilliseconds:N1} / {s.MaxRequestLatency.TotalMilliseconds:N1} ms");
            if (s.MaxFreshness is { } fresh) table.AddRow("Write", "freshness (event → 2xx) max", $"{fresh.TotalSeconds:N1} s");
        }
        foreach (var output in o.Summary.Outputs)
        {
            var color = output.DroppedTotal > 0 ? "red" : "green";
            table.AddRow($"[{color}]Account[/]", Markup.Escape($"{output.Output}: samples = written + dropped"),
                Markup.Escape($"{N(c.Samples)} = {N(output.Written)} + {N(output.DroppedTotal)}"));
            foreach (var (reason, n) in output.Dropped) table.AddRow("[red]Account[/]", Markup.Escape($"{output.Output}: dropped {reason}"), N(n));
        }
        foreach (var lane in o.Summary.Lanes.Where(l => !l.ReadToEnd))
        {
            table.AddRow("[red]Account[/]", Markup.Escape($"lane not read to its end: {lane.File}"), Markup.Escape(lane.Error ?? "stopped"));
        }
        table.AddRow("Run", "status (exit code)", Markup.Escape($"{o.Summary.Status} ({o.Summary.ExitCode})"));
        table.AddRow("Run", "lanes", N(o.Lanes));
        table.AddRow("Run", "elapsed", $"{o.Elapsed.TotalSeconds:N2} s");
        table.AddRow("Run", "throughput", $"{c.Events / seconds:N0} events/s, {o.Bytes / 1e6 / seconds:N1} MB/s (uncompressed input)");
        table.AddRow("Run", "time in read / ingest / flush+write (summed over lanes)", $"{o.Last.ReadTime.TotalSeconds:N2} / {o.Last.IngestTime.TotalSeconds:N2} / {o.Last.FlushTime.TotalSeconds:N2} s");
        AnsiConsole.Write(table);
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
        AnsiConsole.MarkupLine($"[green]ok[/]: {p.Families.Sum(f => f.Metrics.Count)} metrics in {p.Families.Count} families, {p.Lookups.Count} lookups, {p.Steps.Count} processor steps");
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
