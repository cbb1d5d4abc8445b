using System.Globalization;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Flush;

/// <summary>Small inputs whose every expected sample was worked out by hand from DESIGN §3–§4.</summary>
public class HandComputedTests
{
    private static string Rec(long time, string product, string api, object code, object rt, string? error = null, string? ip = null, string? uid = null, string? content = null, string? domain = null) =>
        "{" + string.Join(",", new[]
        {
            $"\"__time__\":{time}",
            $"\"Product\":\"{product}\"",
            $"\"Api\":\"{api}\"",
            code is string c ? $"\"HttpCode\":\"{c}\"" : $"\"HttpCode\":{code}",
            rt is string r ? $"\"TotalUsedTime\":\"{r}\"" : $"\"TotalUsedTime\":{rt}",
            "\"Version\":\"v1\"",
            error is null ? null : $"\"ErrorCode\":\"{error}\"",
            ip is null ? null : $"\"LocalIp\":\"{ip}\"",
            uid is null ? null : $"\"CallerUid\":\"{uid}\"",
            content is null ? null : $"\"RequestContent\":\"{content}\"",
            domain is null ? null : $"\"Domain\":\"{domain}\"",
        }.Where(x => x is not null)) + "}";

    private static Flagship.MemorySource Dimensions() => new(new()
    {
        ["gateway_cluster"] = [new() { ["local_ip"] = "10.0.0.1", ["app_group"] = "g1", ["region_id"] = "cn-a" }],
        ["user_level"] = [new() { ["uid"] = "u1", ["gc_level"] = "GC7" }],
        ["api_meta"] = [new() { ["product"] = "ecs", ["api"] = "Run", ["priority"] = "P0" }],
    });

    private static double Value(IReadOnlyList<Sample> samples, string name, long ts, params (string, string)[] labels) =>
        Assert.Single(samples, s => s.Name == name && s.TimestampMs == ts && labels.All(l => s.Label(l.Item1) == l.Item2)).Value;

    [Fact]
    public async Task Flagship_ThreeRecords_EveryMetricByHand()
    {
        // t = 1000, 1003, 1009: one 10-s window [1000,1010) and one 60-s window [960,1020).
        string[] lane =
        [
            Rec(1000, "ecs", "Run", 200, 10, ip: "10.0.0.1", uid: "u1", content: "Action=Run;RegionId=cn-b"),
            Rec(1003, "ecs", "Run", "503", "20", error: "ServiceUnavailable", ip: "10.0.0.1", uid: "u1", content: "RegionId=cn-b"),
            Rec(1009, "ecs", "Run", "0429", 60, error: "Throttling.User", ip: "10.0.0.1", uid: "u1", content: "RegionId=cn-b"),
            Rec(1009, "ecs", "Run", 200, 5, domain: "popwarmup.aliyuncs.com"),
            "{\"__time__\":1005,\"Product\":\"ecs\"}",
        ];
        var (samples, counters, dead) = await Flagship.RunAsync(Flagship.Pipeline, Dimensions(), [lane]);

        (string, string)[] product = [("product", "ecs"), ("region_id", "cn-a"), ("biz_region_id", "cn-b")];
        Assert.Equal(3, Value(samples, "namespace_product_gw_http_req", 1_000_000, product));
        Assert.Equal(1, Value(samples, "namespace_product_gw_http_5xx", 1_000_000, product));
        Assert.Equal(30, Value(samples, "namespace_product_gw_rt_mean", 1_000_000, product));        // (10+20+60)/3
        Assert.Equal(1.0 / 3, Value(samples, "namespace_product_gw_success_rate", 1_000_000, product)); // one 200 of three

        (string, string)[] api = [("product", "ecs"), ("api", "Run"), ("version", "v1"), ("priority", "P0")];
        Assert.Equal(3, Value(samples, "namespace_api_gw_http_req", 960_000, api));
        Assert.Equal(1, Value(samples, "namespace_api_gw_http_5xx", 960_000, api));
        Assert.Equal(0, Value(samples, "namespace_api_gw_slow_http_req", 960_000, api));
        Assert.Equal(1.0 / 3, Value(samples, "namespace_api_gw_http503_rate", 960_000, api));

        Assert.Equal(1, Value(samples, "namespace_error_code_gw_http_code", 960_000, ("http_code", "429")));
        Assert.Equal(1, Value(samples, "namespace_error_code_gw_http_code", 960_000, ("http_code", "503")));
        Assert.Equal(1, Value(samples, "namespace_error_code_gw_http_code", 960_000, ("http_code", "200")));
        Assert.Equal(1, Value(samples, "namespace_error_code_gw_error_code", 960_000, ("error_code", "Throttling.User")));
        Assert.Equal(1, Value(samples, "namespace_error_code_gw_error_code", 960_000, ("error_code", "ServiceUnavailable")));
        Assert.DoesNotContain(samples, s => s.Name == "namespace_error_code_gw_error_code" && s.Label("error_code") == "unknown");

        Assert.Equal(3, Value(samples, "namespace_tenant_gw_http_req", 960_000, ("uid", "u1"), ("gc_level", "GC7")));
        Assert.Equal(1.0 / 3, Value(samples, "namespace_tenant_gw_api_req_limiting_rate", 960_000, ("uid", "u1")));

        // 4 + 4 + 3 (http codes) + 2 (error codes) + 2 = 15 samples, no more.
        Assert.Equal(15, samples.Count);
        Assert.Equal((5, 3, 1, 1), (counters.Events, counters.Accepted, counters.Malformed, counters.Filtered));
        Assert.Equal("Api: missing", Assert.Single(dead).Reason);
        Assert.Equal(5, Assert.Single(dead).Sequence);
    }

    [Fact]
    public async Task Flagship_MissingDimensions_FallBackThenUnknown()
    {
        // No cluster row for 10.9.9.9: region_id falls back to RegionId, app_group to ext5_appGroup;
        // no user row: gc_level unknown; no api row: priority unknown; no RequestContent: biz_region_id unknown.
        string[] lane = ["{\"__time__\":2000,\"Product\":\"oss\",\"Api\":\"Get\",\"HttpCode\":200,\"TotalUsedTime\":1,\"LocalIp\":\"10.9.9.9\",\"RegionId\":\"cn-z\",\"CallerUid\":\"u9\"}"];
        var (samples, _, _) = await Flagship.RunAsync(Flagship.Pipeline, Dimensions(), [lane]);
        var req = Assert.Single(samples, s => s.Name == "namespace_product_gw_http_req");
        Assert.Equal(("oss", "cn-z", "unknown"), (req.Label("product"), req.Label("region_id"), req.Label("biz_region_id")));
        Assert.Equal("unknown", Assert.Single(samples, s => s.Name == "namespace_tenant_gw_http_req").Label("gc_level"));
        Assert.Equal("unknown", Assert.Single(samples, s => s.Name == "namespace_api_gw_http_req").Label("priority"));
    }

    [Fact]
    public async Task Mean_OverSeveralBaseWindows_IsSumOverCountNotMeanOfMeans()
    {
        var definition = DefinitionLoader.Load("""
            {
              "source": { "fields": [ { "name": "__time__", "type": "int", "required": true }, { "name": "rt", "type": "int", "required": true } ] },
              "metrics": [ { "prefix": "t_", "labels": { "k": "k" }, "resolutionSeconds": 60,
                             "metrics": [ { "name": "rt_mean", "aggregate": "mean(rt)" }, { "name": "rt_min", "aggregate": "min(rt)" },
                                          { "name": "rt_max", "aggregate": "max(rt)" }, { "name": "rt_sum", "aggregate": "sum(rt)" } ] } ]
            }
            """);
        var compiled = PipelineCompiler.Compile(definition);
        // Base window [0,10): 10. Base window [20,30): 20, 30, 40. Mean = 100/4 = 25 (a mean of means would be 20).
        string[] lane = ["{\"__time__\":1,\"rt\":10,\"k\":\"a\"}", "{\"__time__\":21,\"rt\":20,\"k\":\"a\"}", "{\"__time__\":22,\"rt\":30,\"k\":\"a\"}", "{\"__time__\":23,\"rt\":40,\"k\":\"a\"}"];
        var (samples, _, _) = await Flagship.RunAsync(compiled, Flagship.EmptyDimensions(), [lane], batchLines: 1);
        Assert.Equal(25, Assert.Single(samples, s => s.Name == "t_rt_mean").Value);
        Assert.Equal(10, Assert.Single(samples, s => s.Name == "t_rt_min").Value);
        Assert.Equal(40, Assert.Single(samples, s => s.Name == "t_rt_max").Value);
        Assert.Equal(100, Assert.Single(samples, s => s.Name == "t_rt_sum").Value);
        Assert.Equal(0, Assert.Single(samples, s => s.Name == "t_rt_sum").TimestampMs);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    public async Task Late_EventSixtySecondsBehind_CountedAndExcluded(int batchLines)
    {
        // One lane: t = 100..160 every second, then 95 and 101 (60 s behind), then 161.
        // At that point the watermark is 160 - 5 = 155, so windows [90,100) and [100,110) are closed:
        // both stragglers are late, whatever the batching.
        var lines = Enumerable.Range(100, 61).Select(t => Rec(t, "ecs", "Run", 200, 1)).ToList();
        lines.Add(Rec(95, "ecs", "Run", 500, 1));
        lines.Add(Rec(101, "ecs", "Run", 500, 1));
        lines.Add(Rec(161, "ecs", "Run", 200, 1));
        var (samples, counters, _) = await Flagship.RunAsync(Flagship.Pipeline, Dimensions(), [lines], batchLines);

        Assert.Equal(2, counters.Late);
        Assert.Equal(64, counters.Accepted);
        Assert.DoesNotContain(samples, s => s.Name == "namespace_product_gw_http_req" && s.TimestampMs == 90_000);
        var product = samples.Where(s => s.Name == "namespace_product_gw_http_req").ToDictionary(s => s.TimestampMs / 1000, s => s.Value);
        // 100..109 → 10 each window up to 150..159, then 160, 161 → 2.
        Assert.Equal(new Dictionary<long, double> { [100] = 10, [110] = 10, [120] = 10, [130] = 10, [140] = 10, [150] = 10, [160] = 2 }, product);
        Assert.Equal(0, samples.Where(s => s.Name == "namespace_product_gw_http_5xx").Sum(s => s.Value));
        // 60-s windows: [60,120) holds 100..119 = 20; [120,180) holds 120..161 = 42.
        var api = samples.Where(s => s.Name == "namespace_api_gw_http_req").ToDictionary(s => s.TimestampMs / 1000, s => s.Value);
        Assert.Equal(new Dictionary<long, double> { [60] = 20, [120] = 42 }, api);
    }

    [Fact]
    public async Task Lanes_FinishedLaneStopsHoldingBack_OtherLaneNotLate()
    {
        // Lane A is far ahead and ends; lane B then replays older data: nothing is late, because a
        // lane that has not reached a window holds the watermark back until it finishes.
        var a = Enumerable.Range(0, 30).Select(i => Rec(1000 + i * 10, "ecs", "Run", 200, 1)).ToList();
        var b = Enumerable.Range(0, 30).Select(i => Rec(700 + i * 5, "rds", "Run", 200, 1)).ToList();
        var (samples, counters, _) = await Flagship.RunAsync(Flagship.Pipeline, Dimensions(), [a, b], batchLines: 4);
        Assert.Equal(0, counters.Late);
        Assert.Equal(60, samples.Where(s => s.Name == "namespace_product_gw_http_req").Sum(s => s.Value));
        Assert.Equal(30, samples.Where(s => s.Name == "namespace_product_gw_http_req" && s.Label("product") == "rds").Sum(s => s.Value));
        Assert.Equal(string.Join(",", Enumerable.Range(0, 15).Select(i => (700 + i * 10).ToString(CultureInfo.InvariantCulture))),
            string.Join(",", samples.Where(s => s.Name == "namespace_product_gw_http_req" && s.Label("product") == "rds").Select(s => s.TimestampMs / 1000).Order()));
    }
}
