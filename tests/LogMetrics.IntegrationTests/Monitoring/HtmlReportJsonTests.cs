using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using LogMetrics.Local.Html;

namespace LogMetrics.IntegrationTests.Monitoring;

/// <summary>
/// The report's data is serialized by a source-generated context (no reflection, for the Native AOT
/// build): it writes exactly what the reflection serializer wrote for the anonymous objects the report
/// used before, a family chart's series without <c>scale</c> and a pipeline chart's with it.
/// </summary>
public sealed class HtmlReportJsonTests
{
    private static readonly JsonSerializerOptions Reflection = new() { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };

    [Fact]
    public void ReportData_WritesWhatTheAnonymousObjectsWrote()
    {
        const string title = "LogMetrics \"gw\" </script> é 東京: replay of 2 lane(s)";
        double[] x = [1768484050, 1768484060.5, 0.1];
        double?[] family = [1, null, 1.0 / 3];
        double?[] self = [0, -0.0, 1e300];

        var data = new ReportData(title,
        [
            new ReportChart("namespace_req by region (per 10 s window)", x,
            [
                new ReportSeries("biz_region_id=cn-hangzhou", null, family),
                new ReportSeries("biz_region_id=other (3)", null, [2, 5, null]),
            ]),
            new ReportChart("Pipeline: samples (left) and windows closed (right), per flush", x,
            [
                new ReportSeries("logmetrics_flush_samples_total", "y", self),
                new ReportSeries("logmetrics_flush_windows_closed_total", "r", self),
            ]),
        ]);
        var before = new
        {
            title,
            charts = new List<object>
            {
                new
                {
                    title = "namespace_req by region (per 10 s window)",
                    x = x.ToList(),
                    series = new[]
                    {
                        new { label = "biz_region_id=cn-hangzhou", values = family.ToList() },
                        new { label = "biz_region_id=other (3)", values = new List<double?> { 2, 5, null } },
                    }.ToList(),
                },
                new
                {
                    title = "Pipeline: samples (left) and windows closed (right), per flush",
                    x = x.ToList(),
                    series = new[]
                    {
                        new { label = "logmetrics_flush_samples_total", scale = "y", values = self.ToList() },
                        new { label = "logmetrics_flush_windows_closed_total", scale = "r", values = self.ToList() },
                    }.ToList(),
                },
            },
        };

        var expected = JsonSerializer.Serialize(before, Reflection);
        var actual = JsonSerializer.Serialize(data, HtmlReportJsonContext.Default.ReportData);
        Assert.Equal(expected, actual);
        Assert.Contains("{\"label\":\"biz_region_id=cn-hangzhou\",\"values\":[1,null,", actual, StringComparison.Ordinal);
        Assert.Contains("{\"label\":\"logmetrics_flush_samples_total\",\"scale\":\"y\",\"values\":", actual, StringComparison.Ordinal);
    }
}
