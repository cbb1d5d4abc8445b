using System.Globalization;
using LogMetrics.Core.Replay;
using Spectre.Console;

namespace LogMetrics.Local;

/// <summary>
/// Live progress of a long run: events/s, MB/s, lanes, open partials, windows closed. A live table on
/// an interactive terminal; a plain line every few seconds on stderr when output is redirected (CI, logs).
/// </summary>
public static class ProgressView
{
    public static async Task<T> RunAsync<T>(bool quiet, Func<Action<ReplayProgress>?, Task<T>> run)
    {
        if (quiet)
        {
            return await run(null);
        }
        if (!AnsiConsole.Profile.Capabilities.Interactive || Console.IsErrorRedirected)
        {
            var last = DateTime.MinValue;
            return await run(p =>
            {
                if (DateTime.UtcNow - last < TimeSpan.FromSeconds(5) && p.LanesOpen > 0) return;
                last = DateTime.UtcNow;
                Console.Error.WriteLine(Line(p));
            });
        }
        T result = default!;
        await AnsiConsole.Live(new Markup("[grey]starting…[/]")).AutoClear(false).StartAsync(async ctx =>
        {
            result = await run(p =>
            {
                ctx.UpdateTarget(Table(p));
                ctx.Refresh();
            });
        });
        return result;
    }

    private static string Line(ReplayProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"[{p.Elapsed:mm\\:ss}] events {p.Events:N0} ({Rate(p.Events, p.Elapsed)}/s, {Rate(p.BytesRead / 1e6, p.Elapsed)} MB/s)  lanes {p.LanesOpen}/{p.LanesTotal} open  windows open {p.OpenWindows:N0} ({p.OpenPartials:N0} partials)  windows closed {p.WindowsClosed:N0}  samples {p.SamplesWritten:N0}  watermark {Watermark(p.WatermarkMs)}");

    private static Table Table(ReplayProgress p)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]logmetrics replay[/]");
        table.AddColumn("events");
        table.AddColumn("events/s");
        table.AddColumn("MB/s");
        table.AddColumn("lanes open");
        table.AddColumn("open windows (partials)");
        table.AddColumn("windows closed");
        table.AddColumn("samples");
        table.AddColumn("watermark");
        table.AddRow(
            p.Events.ToString("N0", CultureInfo.InvariantCulture),
            Rate(p.Events, p.Elapsed),
            Rate(p.BytesRead / 1e6, p.Elapsed),
            $"{p.LanesOpen}/{p.LanesTotal}",
            $"{p.OpenWindows.ToString("N0", CultureInfo.InvariantCulture)} ({p.OpenPartials.ToString("N0", CultureInfo.InvariantCulture)})",
            p.WindowsClosed.ToString("N0", CultureInfo.InvariantCulture),
            p.SamplesWritten.ToString("N0", CultureInfo.InvariantCulture),
            Watermark(p.WatermarkMs));
        return table;
    }

    private static string Rate(double n, TimeSpan t) => (n / Math.Max(t.TotalSeconds, 1e-3)).ToString("N1", CultureInfo.InvariantCulture);

    internal static string Watermark(long ms) => ms switch
    {
        long.MinValue => "-",
        long.MaxValue => "end",
        _ => DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
    };
}
