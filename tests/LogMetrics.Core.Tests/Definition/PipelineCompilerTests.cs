using System.Text.Json.Nodes;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Definition;

public class PipelineCompilerTests
{
    private static JsonNode Flagship() => JsonNode.Parse(File.ReadAllText(Support.Flagship.PipelinePath))!;

    private static DefinitionException Reject(JsonNode definition) =>
        Assert.Throws<DefinitionException>(() => PipelineCompiler.Compile(DefinitionLoader.Load(definition.ToJsonString())));

    [Fact]
    public void Compile_Flagship_HasEveryDesignMetric()
    {
        var p = Support.Flagship.Pipeline;
        var metrics = p.Families.SelectMany(f => f.Metrics.Select(m => (m.Name, Labels: string.Join(",", f.LabelNames), f.ResolutionMs))).ToList();
        // DESIGN §4's table, row by row (labels sorted by name, as samples carry them).
        (string, string, long)[] expected =
        [
            ("namespace_product_gw_http_req", "biz_region_id,product,region_id", 10_000),
            ("namespace_product_gw_http_5xx", "biz_region_id,product,region_id", 10_000),
            ("namespace_product_gw_rt_mean", "biz_region_id,product,region_id", 10_000),
            ("namespace_product_gw_success_rate", "biz_region_id,product,region_id", 10_000),
            ("namespace_api_gw_http_req", "api,priority,product,version", 60_000),
            ("namespace_api_gw_http_5xx", "api,priority,product,version", 60_000),
            ("namespace_api_gw_slow_http_req", "api,priority,product,version", 60_000),
            ("namespace_api_gw_http503_rate", "api,priority,product,version", 60_000),
            ("namespace_error_code_gw_http_code", "api,http_code,product", 60_000),
            ("namespace_error_code_gw_error_code", "api,error_code,product", 60_000),
            ("namespace_tenant_gw_http_req", "gc_level,uid", 60_000),
            ("namespace_tenant_gw_api_req_limiting_rate", "gc_level,uid", 60_000),
        ];
        Assert.Equal(expected.OrderBy(x => x.Item1, StringComparer.Ordinal), metrics.OrderBy(x => x.Name, StringComparer.Ordinal));
        Assert.Equal(10_000, p.WindowMs);
        Assert.Equal(5_000, p.OutOfOrdernessMs);
    }

    [Fact]
    public void Compile_InvalidMetricName_NamesJsonPath()
    {
        var d = Flagship();
        d["metrics"]![1]!["metrics"]![2]!["name"] = "slow-http-req";
        var e = Reject(d);
        var error = Assert.Single(e.Errors);
        Assert.Equal("$.metrics[1].metrics[2].name", error.Path);
        Assert.Contains("not a valid Prometheus metric name", error.Message);
    }

    [Fact]
    public void Compile_LabelFromMissingLookup_NamesJsonPath()
    {
        var d = Flagship();
        var lookups = d["lookups"]!.AsArray();
        lookups.RemoveAt(2); // api_meta, which produces `priority`
        var e = Reject(d);
        var error = Assert.Single(e.Errors);
        Assert.Equal("$.metrics[1].labels.priority", error.Path);
        Assert.Contains("'priority'", error.Message);
    }

    [Fact]
    public void Compile_InvalidLabelName_NamesJsonPath()
    {
        var d = Flagship();
        d["metrics"]![4]!["labels"]!["__uid"] = "CallerUid";
        d["metrics"]![4]!["labels"]!["gc-level"] = "gc_level";
        var e = Reject(d);
        Assert.Contains(e.Errors, x => x.Path == "$.metrics[4].labels.__uid" && x.Message.Contains("reserved"));
        Assert.Contains(e.Errors, x => x.Path == "$.metrics[4].labels.gc-level" && x.Message.Contains("label name"));
    }

    [Fact]
    public void Compile_ResolutionNotMultipleOfWindow_Rejected()
    {
        var d = Flagship();
        d["metrics"]![1]!["resolutionSeconds"] = 25;
        Assert.Equal("$.metrics[1].resolutionSeconds", Assert.Single(Reject(d).Errors).Path);
    }

    [Fact]
    public void Compile_BadExpression_NamesPathAndOffset()
    {
        var d = Flagship();
        d["metrics"]![0]!["metrics"]![1]!["aggregate"] = "count(HttpCode >=)";
        var error = Assert.Single(Reject(d).Errors);
        Assert.Equal("$.metrics[0].metrics[1].aggregate", error.Path);
        Assert.Contains("offset", error.Message);
    }

    [Fact]
    public void Compile_FieldDroppedByProject_Rejected()
    {
        var d = Flagship();
        d["metrics"]![0]!["labels"]!["domain"] = "Domain";
        var error = Assert.Single(Reject(d).Errors);
        Assert.Equal("$.metrics[0].labels.domain", error.Path);
        Assert.Contains("$.processor[3].project", error.Message);
    }

    [Fact]
    public void Compile_DuplicateMetric_Rejected()
    {
        var d = Flagship();
        d["metrics"]![2]!["metrics"]![0]!["name"] = "error_code";
        Assert.Contains(Reject(d).Errors, x => x.Path == "$.metrics[3].metrics[0].name" && x.Message.Contains("already defined"));
    }

    [Fact]
    public void Compile_UnknownCachePolicy_Rejected()
    {
        var d = Flagship();
        d["lookups"]![1]!["cache"]!["policy"] = "sometimes";
        Assert.Equal("$.lookups[1].cache.policy", Assert.Single(Reject(d).Errors).Path);
    }

    [Fact]
    public void Load_UnknownPropertyAndWrongType_AllReported()
    {
        var d = Flagship();
        d["source"]!["windowSecs"] = 10;
        d["source"]!["outOfOrdernessSeconds"] = "5";
        var e = Assert.Throws<DefinitionException>(() => DefinitionLoader.Load(d.ToJsonString()));
        Assert.Contains(e.Errors, x => x.Path == "$.source.windowSecs" && x.Message.Contains("unknown property"));
        Assert.Contains(e.Errors, x => x.Path == "$.source.outOfOrdernessSeconds" && x.Message.Contains("expected an integer"));
    }

    [Fact]
    public void Load_NotJson_ReportsPosition()
    {
        var e = Assert.Throws<DefinitionException>(() => DefinitionLoader.Load("{\n  \"name\": \"x\",\n  oops\n}"));
        Assert.StartsWith("$ (line 3", Assert.Single(e.Errors).Path);
    }

    [Fact]
    public void LoadFile_ReadsUtf8AsItIs_ByteOrderMarkSkipped_InvalidUtf8ReadAsText_NotJsonAtItsPosition()
    {
        var dir = Directory.CreateTempSubdirectory("logmetrics-definition-").FullName;
        try
        {
            var text = Flagship().ToJsonString().Replace("\"gateway\"", "\"gäteway ✓\"", StringComparison.Ordinal);
            var expected = System.Text.Json.JsonSerializer.Serialize(DefinitionLoader.Load(text));
            var path = Path.Combine(dir, "pipeline.json");
            foreach (var bom in new[] { false, true })
            {
                var bytes = System.Text.Encoding.UTF8.GetBytes(text);
                File.WriteAllBytes(path, bom ? [0xEF, 0xBB, 0xBF, .. bytes] : bytes);
                var loaded = DefinitionLoader.LoadFile(path);
                Assert.Equal("gäteway ✓", loaded.Name);
                Assert.Equal(expected, System.Text.Json.JsonSerializer.Serialize(loaded));
            }
            // A byte that is not UTF-8 in a string: read as text (U+FFFD), as File.ReadAllText reads it.
            var invalid = System.Text.Encoding.UTF8.GetBytes(text.Replace("gäteway ✓", "gate#way", StringComparison.Ordinal));
            invalid[Array.IndexOf(invalid, (byte)'#')] = 0xFF;
            File.WriteAllBytes(path, invalid);
            Assert.Equal("gate\uFFFDway", DefinitionLoader.LoadFile(path).Name);
            // Not JSON: the line and byte of the problem, as Load names them.
            File.WriteAllText(path, "{\n  \"name\": \"x\",\n  oops\n}");
            var e = Assert.Throws<DefinitionException>(() => DefinitionLoader.LoadFile(path));
            Assert.Equal(Assert.Single(Assert.Throws<DefinitionException>(() => DefinitionLoader.Load(File.ReadAllText(path))).Errors), Assert.Single(e.Errors));
            Assert.StartsWith("$ (line 3", Assert.Single(e.Errors).Path);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Compile_RemoteWriteLimits_Validated()
    {
        var d = Flagship();
        d["remoteWrite"]!["maxSamplesPerRequest"] = 0;
        d["remoteWrite"]!["auth"] = "kerberos";
        var e = Reject(d);
        Assert.Contains(e.Errors, x => x.Path == "$.remoteWrite.maxSamplesPerRequest");
        Assert.Contains(e.Errors, x => x.Path == "$.remoteWrite.auth");
    }

    [Fact]
    public void Compile_OutOfOrdernessOverAnHour_RejectedWithPath()
    {
        var d = Flagship();
        d["source"]!["outOfOrdernessSeconds"] = 3601;
        var error = Assert.Single(Reject(d).Errors);
        Assert.Equal("$.source.outOfOrdernessSeconds", error.Path);
        Assert.Contains("3600", error.Message);
    }

    [Fact]
    public void Compile_OutOfOrdernessOfExactlyAnHour_Accepted()
    {
        var d = Flagship();
        d["source"]!["outOfOrdernessSeconds"] = 3600;
        Assert.Equal(3_600_000, PipelineCompiler.Compile(DefinitionLoader.Load(d.ToJsonString())).OutOfOrdernessMs);
    }

    [Fact]
    public void Compile_MoreThanAThousandMetrics_RejectedWithPath()
    {
        var d = Flagship();
        var family = d["metrics"]![0]!;
        var metrics = new System.Text.Json.Nodes.JsonArray();
        for (var i = 0; i < 1001; i++) metrics.Add(new System.Text.Json.Nodes.JsonObject { ["name"] = $"m{i}", ["aggregate"] = "count" });
        family["metrics"] = metrics;
        Assert.Contains(Reject(d).Errors, x => x.Path == "$.metrics" && x.Message.Contains("1000"));
    }

    [Fact]
    public void Load_MissingSource_RejectedWithPath()
    {
        var d = Flagship();
        d.AsObject().Remove("source");
        var e = Assert.Throws<DefinitionException>(() => DefinitionLoader.Load(d.ToJsonString()));
        Assert.Contains(e.Errors, x => x.Path == "$.source" && x.Message.StartsWith("missing", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_MissingAggregate_RejectedWithPath()
    {
        var d = Flagship();
        d["metrics"]![0]!["metrics"]![1]!.AsObject().Remove("aggregate");
        var e = Assert.Throws<DefinitionException>(() => DefinitionLoader.Load(d.ToJsonString()));
        Assert.Equal("$.metrics[0].metrics[1].aggregate", Assert.Single(e.Errors).Path);
    }

    [Fact]
    public void Compile_ClockGuardsAndRecordLimit_Validated()
    {
        var d = Flagship();
        d["source"]!["maxFutureSeconds"] = 0;
        d["source"]!["laneJumpConfirmations"] = 0;
        d["source"]!["maxRecordBytes"] = 10;
        var e = Reject(d);
        Assert.Contains(e.Errors, x => x.Path == "$.source.maxFutureSeconds");
        Assert.Contains(e.Errors, x => x.Path == "$.source.laneJumpConfirmations");
        Assert.Contains(e.Errors, x => x.Path == "$.source.maxRecordBytes");
    }

    private static CompiledPipeline Compile(JsonNode definition, bool keepUnused = false) =>
        PipelineCompiler.Compile(DefinitionLoader.Load(definition.ToJsonString()), keepUnused);

    private static int Slot(CompiledPipeline p, string field) => p.Fields.TryGet(field, out var slot) ? slot : throw new KeyNotFoundException(field);

    [Fact]
    public void Compile_Flagship_LeavesOutTheParseJsonNothingReads()
    {
        // ext5_appGroup is only projected and the fallback of gateway_cluster's app_group, which no metric, filter or
        // lookup key reads (DESIGN §4's labels do not include it): the parse-json of Ext5 does not run.
        var p = Support.Flagship.Pipeline;
        Assert.Equal(["where", "parse-kv", "project"], p.Steps.Select(Kind));
        Assert.Equal(
            [
                ("$.processor[1].parse-json", "not run: nothing reads a field it sets (ext5_appGroup: kept by $.processor[3].project[11], fallback of lookup 'gateway_cluster' output 'app_group')"),
                ("$.lookups[0].outputs[0]", "'app_group' of lookup 'gateway_cluster' is not read by any metric, filter, lookup key or step: its fallback 'ext5_appGroup' is not read"),
            ],
            p.Unused.Select(u => (u.Path, u.Message)));
        var cluster = p.Lookups.Single(l => l.Table.Name == "gateway_cluster");
        Assert.Equal([null, Slot(p, "RegionId")], cluster.Outputs.Select(o => o.FallbackSlot));
        // The fields nothing reads: the parser only checks their strings decode.
        Assert.Equal(["Ext5", "app_group", "ext5_appGroup"], p.UnreadSlots.Select(s => p.Fields.Names[s]).Order(StringComparer.Ordinal));
        // keepUnused builds every step and keeps every fallback, and reads every field.
        var all = Support.Flagship.AllSteps;
        Assert.Equal(["where", "parse-json", "parse-kv", "project"], all.Steps.Select(Kind));
        Assert.Equal([Slot(all, "ext5_appGroup"), Slot(all, "RegionId")], all.Lookups.Single(l => l.Table.Name == "gateway_cluster").Outputs.Select(o => o.FallbackSlot));
        Assert.Empty(all.UnreadSlots);
        Assert.Equal(p.Unused, all.Unused);
    }

    private static string Kind(LogMetrics.Core.Prune.ProcessorStep step) => step switch
    {
        LogMetrics.Core.Prune.WhereStep => "where",
        LogMetrics.Core.Prune.ParseJsonStep => "parse-json",
        LogMetrics.Core.Prune.ParseKvStep => "parse-kv",
        LogMetrics.Core.Prune.ParseRegexpStep => "parse-regexp",
        LogMetrics.Core.Prune.ProjectStep => "project",
        _ => step.GetType().Name,
    };

    [Fact]
    public void Compile_AppGroupALabel_ParseJsonRunsAndTheFallbackIsRead()
    {
        var d = Flagship();
        d["metrics"]![0]!["labels"]!["app_group"] = "app_group";
        var p = Compile(d);
        Assert.Equal(["where", "parse-json", "parse-kv", "project"], p.Steps.Select(Kind));
        Assert.Empty(p.Unused);
        Assert.Equal([Slot(p, "ext5_appGroup"), Slot(p, "RegionId")], p.Lookups.Single(l => l.Table.Name == "gateway_cluster").Outputs.Select(o => o.FallbackSlot));
        Assert.Empty(p.UnreadSlots);
    }

    [Fact]
    public void Compile_ChainsOfSteps_RunWhenTheirLastFieldIsRead()
    {
        // parse-json sets ext5_kv, parse-kv reads it and sets zone; zone is a label only in the first definition.
        var d = Flagship();
        var processor = d["processor"]!.AsArray();
        processor.Insert(3, JsonNode.Parse("""{ "parse-kv": { "field": "ext5_kv", "pairDelimiter": ";", "keyValueDelimiter": "=", "keys": { "zone": "zone" } } }"""));
        processor.Insert(4, JsonNode.Parse("""{ "parse-regexp": { "field": "Api", "pattern": "^(?<verb>[A-Z][a-z]+)" } }"""));
        processor[5]!["project"]!.AsArray().Add("zone");
        var read = d.DeepClone();
        read["metrics"]![0]!["labels"]!["zone"] = "zone";
        var p = Compile(read);
        Assert.Equal(["where", "parse-json", "parse-kv", "parse-kv", "parse-regexp", "project"], p.Steps.Select(Kind));
        Assert.DoesNotContain(p.Unused, u => u.Path.StartsWith("$.processor", StringComparison.Ordinal));
        // zone unread: neither parse-kv of ext5_kv nor the parse-json that sets ext5_kv runs; the parse-regexp, whose
        // group nothing reads either, always runs (a pattern can time out, which dead-letters the record).
        var q = Compile(d);
        Assert.Equal(["where", "parse-kv", "parse-regexp", "project"], q.Steps.Select(Kind));
        Assert.Equal(["$.processor[1].parse-json", "$.processor[3].parse-kv"], q.Unused.Where(u => u.Path.StartsWith("$.processor", StringComparison.Ordinal)).Select(u => u.Path));
        Assert.EndsWith("(zone: kept by $.processor[5].project[12])", q.Unused.Single(u => u.Path == "$.processor[3].parse-kv").Message, StringComparison.Ordinal);
        Assert.Contains(Slot(q, "ext5_kv"), q.UnreadSlots);
        Assert.DoesNotContain(Slot(q, "Api"), q.UnreadSlots);
        // A where step reading a field a step sets makes the step run.
        var filtered = d.DeepClone();
        filtered["processor"]!.AsArray().Insert(5, JsonNode.Parse("""{ "where": "zone != 'z0'" }"""));
        Assert.Equal(["where", "parse-json", "parse-kv", "parse-kv", "parse-regexp", "where", "project"], Compile(filtered).Steps.Select(Kind));
    }
}
