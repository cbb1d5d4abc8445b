using System.Diagnostics.Metrics;
using System.Text;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Enrich;

public class EnricherTests
{
    private static readonly string[] Ips = ["10.0.0.1", "10.0.0.2", "10.0.0.1"];

    [Fact]
    public async Task Stats_LookupsCounted_ReportedOnTheLogMetricsMeter()
    {
        var compiled = Flagship.Pipeline;
        var dims = new Flagship.MemorySource(new()
        {
            ["gateway_cluster"] = [new() { ["local_ip"] = "10.0.0.1", ["app_group"] = "g", ["region_id"] = "r" }],
            ["user_level"] = [],
            ["api_meta"] = [],
        });
        var enricher = new Enricher(compiled, dims, TimeProvider.System);
        var parser = compiled.CreateParser();
        var records = Ips.Select(ip =>
        {
            var r = compiled.CreateRecord();
            Assert.Null(parser.Parse(Encoding.UTF8.GetBytes($"{{\"__time__\":1,\"Product\":\"p\",\"Api\":\"a\",\"HttpCode\":200,\"TotalUsedTime\":1,\"LocalIp\":\"{ip}\",\"CallerUid\":\"u\"}}"), r));
            return r;
        }).ToList();
        var batch = await enricher.WarmAsync(records, CancellationToken.None);
        for (var i = 0; i < records.Count; i++) enricher.Apply(batch, i, records[i]);

        var seen = new Dictionary<(string, string), long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PipelineCounters.MeterName && instrument.Name == "logmetrics_enrich_lookups_total") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var t = tags.ToArray().ToDictionary(x => x.Key, x => x.Value?.ToString());
            // Several enrichers may be alive in this test process: keep the largest (this one's counts are exact).
            var key = (t["lookup"]!, t["result"]!);
            seen[key] = Math.Max(seen.GetValueOrDefault(key), value);
        });
        listener.Start();
        listener.RecordObservableInstruments();

        var stats = enricher.Stats.ToDictionary(s => s.Name, s => s.Stats);
        Assert.Equal((2, 1, 0), (stats["gateway_cluster"].Hits, stats["gateway_cluster"].Misses, stats["gateway_cluster"].Errors));
        Assert.Equal(3, stats["user_level"].Misses);
        Assert.True(seen[("gateway_cluster", "hit")] >= 2);
        Assert.True(seen.ContainsKey(("api_meta", "miss")));
    }
}
