using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.Support;
using LogMetrics.Core.Tests.Write;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Write;
using SampleLabel = LogMetrics.Core.Flush.Label;

namespace LogMetrics.Core.Tests.Telemetry;

/// <summary>
/// The <c>LogMetrics</c> meter is process-wide: these tests run alone (not in parallel with any other
/// test class), so a <see cref="MeterListener"/> sees only what they do.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeterCollection
{
    public const string Name = "LogMetrics meter";
}

/// <summary>
/// Every self-metric of issue 7 §6 read back from the one <c>LogMetrics</c> meter: Parse, Prune,
/// Enrich, Accumulate and Flush from a replay of the golden corpus (plus a late event and shard
/// totals), Write from a remote-write client against a fake server that retries, rejects and fails.
/// Each instrument's total equals the host-side counter the console reports, and carries its stage tag.
/// </summary>
[Collection(MeterCollection.Name)]
public sealed class PipelineMeterTests
{
    private static string Dir => Path.Combine(AppContext.BaseDirectory, "TestData", "golden");

    /// <summary>Every measurement of the meter: instrument, value, tags.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Lock _gate = new();

        public List<(string Name, double Value, Dictionary<string, string> Tags)> Measurements { get; } = [];

        public Recorder()
        {
            _listener.InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == PipelineMeter.Name) l.EnableMeasurementEvents(i);
            };
            _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Add(i, v, t));
            _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Add(i, v, t));
            _listener.Start();
        }

        public void Collect() => _listener.RecordObservableInstruments();

        private void Add(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var dict = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var t in tags) dict[t.Key] = t.Value?.ToString() ?? "";
            lock (_gate) Measurements.Add((i.Name, v, dict));
        }

        public double Sum(string name, Func<Dictionary<string, string>, bool>? where = null)
        {
            lock (_gate) return Measurements.Where(m => m.Name == name && (where is null || where(m.Tags))).Sum(m => m.Value);
        }

        public IEnumerable<Dictionary<string, string>> TagsOf(string name)
        {
            lock (_gate) return [.. Measurements.Where(m => m.Name == name).Select(m => m.Tags)];
        }

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public void Instruments_AreOnOneMeter_NamedByStage_WithPrometheusSuffixes()
    {
        var names = PipelineMeter.All.Select(i => i.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        foreach (var i in PipelineMeter.All)
        {
            Assert.Same(PipelineMeter.Meter, i.Meter);
            Assert.Matches(new Regex("^logmetrics_(parse|prune|enrich|accumulate|flush|write)_[a-z0-9_]+$"), i.Name);
            if (i is Counter<long> or ObservableCounter<long>) Assert.EndsWith("_total", i.Name);
            if (i is Histogram<double>) Assert.EndsWith("_seconds", i.Name);
            Assert.False(string.IsNullOrEmpty(i.Description), i.Name);
        }
    }

    [Theory]
    [InlineData("invalid UTF-8", "invalid_utf8")]
    [InlineData("invalid JSON: '}' is invalid", "invalid_json")]
    [InlineData("not a JSON object", "not_object")]
    [InlineData("HttpCode: missing", "missing_field")]
    [InlineData("Product: is null", "null_field")]
    [InlineData("HttpCode: expected an integer, got \"1.5\"", "wrong_type")]
    [InlineData("TotalUsedTime: -1 is below the minimum 0", "below_minimum")]
    [InlineData("__time__: 99999999999999 is out of range", "time_out_of_range")]
    [InlineData("time in the future", "time_in_future")]
    [InlineData("regex timeout", "regex_timeout")]
    [InlineData("record too large: 2000000 bytes > source.maxRecordBytes 1048576", "record_too_large")]
    [InlineData("something new", "other")]
    [InlineData("wrong_type", "wrong_type")]
    public void MalformedReason_IsALowCardinalityTag(string reason, string tag) => Assert.Equal(tag, PipelineMeter.MalformedReason(reason));

    [Fact]
    public async Task Replay_EveryPipelineCounter_ReadBackFromTheMeter()
    {
        // Lookups are observed from every live enricher; enrichers of earlier tests in this process
        // are unreachable but may not be collected yet. Collect them so only this test's one counts.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var recorder = new Recorder();
        var compiled = Flagship.Pipeline;
        var counters = new PipelineCounters();
        var enricher = new Enricher(compiled, new CsvDimensionSource(Path.Combine(Dir, "dimensions")), TimeProvider.System);
        var pipeline = new Pipeline(compiled, enricher, counters, NullDeadLetterSink.Instance, 4);
        var store = new InMemoryShardStore(compiled, 4);
        var coordinator = new FlushCoordinator(compiled, store, new CollectingSampleWriter(), counters, TimeProvider.System, new FlushOptions { ExpectedLanes = 2 });
        string[] lanes = ["lane-0.jsonl", "lane-1.jsonl.gz"];
        var readers = lanes.Select(l => new LaneReader(Path.Combine(Dir, l))).ToList();
        try
        {
            await new ReplayEngine(pipeline, store, coordinator, TimeProvider.System, 100).RunAsync(readers, null, CancellationToken.None);
        }
        finally
        {
            readers.ForEach(r => r.Dispose());
        }

        // A late event: its window closed long ago (the lane's watermark is past it).
        var lane = new LaneState("late-lane");
        var first = File.ReadLines(Path.Combine(Dir, "lane-0.jsonl")).First(l => l.Contains("\"HttpCode\"", StringComparison.Ordinal) && !l.Contains("popwarmup", StringComparison.Ordinal));
        var time = Regex.Match(first, "\"__time__\":\"([0-9]+)\"");
        var hourLater = first.Replace(time.Value, $"\"__time__\":\"{long.Parse(time.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) + 3600}\"", StringComparison.Ordinal);
        var fresh = System.Text.Encoding.UTF8.GetBytes(hourLater);
        var stale = System.Text.Encoding.UTF8.GetBytes(first);
        await pipeline.IngestAsync(lane, [new LaneEvent(1, fresh), new LaneEvent(2, stale)], new IngestHorizon(Watermark.None, Watermark.Final), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), CancellationToken.None);
        // Shard totals as a durable store reports them (redelivered and overlapping signals).
        counters.SetShardTotals(late: 3, duplicates: 2, overlaps: 1);
        counters.SetShardTotals(late: 5, duplicates: 2, overlaps: 4);
        counters.AddSamplesDroppedBacklog(6);
        recorder.Collect();

        Assert.True(counters.Events > 1000, $"events {counters.Events}");
        Assert.Equal(1, counters.Late);
        AssertStage("logmetrics_parse_events_total", "parse", counters.Events, byLane: true);
        AssertStage("logmetrics_parse_malformed_total", "parse", counters.Malformed, byLane: true);
        AssertStage("logmetrics_prune_filtered_total", "prune", counters.Filtered, byLane: true);
        AssertStage("logmetrics_prune_accepted_total", "prune", counters.Accepted, byLane: true);
        AssertStage("logmetrics_accumulate_late_total", "accumulate", counters.Late, byLane: true);
        AssertStage("logmetrics_accumulate_partials_total", "accumulate", counters.PartialsSignalled, byLane: true);
        AssertStage("logmetrics_flush_windows_closed_total", "flush", counters.WindowsClosed);
        AssertStage("logmetrics_flush_samples_total", "flush", counters.Samples);
        AssertStage("logmetrics_accumulate_shard_late_total", "accumulate", 5);
        AssertStage("logmetrics_accumulate_duplicate_signals_total", "accumulate", 2);
        AssertStage("logmetrics_accumulate_overlapping_signals_total", "accumulate", 4);
        AssertStage("logmetrics_flush_samples_dropped_total", "flush", 6);
        Assert.All(recorder.TagsOf("logmetrics_flush_samples_dropped_total"), t => Assert.Equal("backlog", t["reason"]));

        // Malformed by reason: every reason a known tag, and the per-reason totals add up.
        var reasons = recorder.TagsOf("logmetrics_parse_malformed_total").Select(t => t["reason"]).Distinct().ToList();
        Assert.True(reasons.Count >= 2, string.Join(",", reasons));
        Assert.All(reasons, r => Assert.Contains(r, PipelineMeter.MalformedReasons));
        Assert.Equal(counters.Malformed, reasons.Sum(r => recorder.Sum("logmetrics_parse_malformed_total", t => t["reason"] == r)));
        Assert.Equal(["lane-0.jsonl", "lane-1.jsonl.gz", "late-lane"], recorder.TagsOf("logmetrics_parse_events_total").Select(t => t["lane"]).Distinct().Order(StringComparer.Ordinal));

        // Entity operations: one signal per shard per batch, one advance per shard sealed or evicted.
        Assert.True(recorder.Sum("logmetrics_accumulate_shard_signals_total") > 0);
        Assert.True(recorder.Sum("logmetrics_flush_shard_advances_total") > 0);
        Assert.All(recorder.TagsOf("logmetrics_flush_shard_advances_total"), t => Assert.Equal("flush", t["stage"]));
        // Open windows: an up-down counter whose running sum is the last flush's count (0 after the final flush).
        Assert.Equal(counters.OpenWindows, recorder.Sum("logmetrics_flush_open_windows"));
        Assert.Contains(recorder.Measurements, m => m.Name == "logmetrics_flush_open_windows" && m.Value > 0);

        // Lookups: observed totals per lookup and result equal the caches' own counts.
        foreach (var (name, stats) in enricher.Stats)
        {
            Assert.Equal(stats.Hits, Last("logmetrics_enrich_lookups_total", name, "hit"));
            Assert.Equal(stats.Misses, Last("logmetrics_enrich_lookups_total", name, "miss"));
            Assert.Equal(stats.Errors, Last("logmetrics_enrich_lookups_total", name, "error"));
        }
        Assert.True(enricher.Stats.Sum(s => s.Stats.Misses) > 0);
        GC.KeepAlive(enricher);

        void AssertStage(string name, string stage, long expected, bool byLane = false)
        {
            Assert.True(expected > 0, $"{name}: the scenario must exercise it");
            Assert.Equal(expected, recorder.Sum(name));
            Assert.All(recorder.TagsOf(name), t =>
            {
                Assert.Equal(stage, t["stage"]);
                if (byLane) Assert.False(string.IsNullOrEmpty(t["lane"]));
            });
        }

        double Last(string name, string lookup, string result) =>
            recorder.Measurements.Last(m => m.Name == name && m.Tags["lookup"] == lookup && m.Tags["result"] == result).Value;
    }

    [Fact]
    public async Task RemoteWrite_EveryWriteCounter_ReadBackFromTheMeter()
    {
        using var recorder = new Recorder();
        var metrics = new RemoteWriteMetrics();
        // Request 0: 503 then 204 (retried, written); request 2: 400 (dropped); from request 3 on: 503 forever (failed after the last retry).
        using var server = new FakeRemoteWriteServer((i, _) => i switch
        {
            0 => new ServerReply(503),
            1 => new ServerReply(204),
            2 => new ServerReply(400, Body: "out of order sample"),
            _ => new ServerReply(503),
        });
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint, maxSamples: 1000, concurrency: 1, maxElapsedSeconds: 5, metrics: metrics);
        var samples = WriteTestData.Flagship(4, 3, harness.Time.GetUtcNow().ToUnixTimeMilliseconds() - 60_000);
        Assert.Equal(WriteOutcome.Written, (await client.WriteAsync(samples, CancellationToken.None)).Outcome);
        Assert.Equal(WriteOutcome.Dropped, (await client.WriteAsync(samples, CancellationToken.None)).Outcome);
        Assert.Equal(WriteOutcome.Failed, (await client.WriteAsync(samples, CancellationToken.None)).Outcome);

        var s = metrics.Snapshot();
        Assert.Equal(12, s.SamplesWritten);
        Assert.Equal(12, s.SamplesDroppedByReason["http_400"]);
        Assert.Equal(1, s.BatchesFailed);
        Assert.True(s.SamplesRetried >= 24);
        Assert.Equal(s.SamplesWritten, recorder.Sum("logmetrics_write_samples_written_total"));
        Assert.Equal(s.SamplesRetried, recorder.Sum("logmetrics_write_samples_retried_total"));
        Assert.Equal(12, recorder.Sum("logmetrics_write_samples_dropped_total", t => t["reason"] == "http_400"));
        Assert.Equal(1, recorder.Sum("logmetrics_write_batches_failed_total"));
        Assert.Equal(s.Requests, recorder.Sum("logmetrics_write_requests_total"));
        Assert.Equal(1, recorder.Sum("logmetrics_write_requests_total", t => t["outcome"] == "success"));
        Assert.Equal(1, recorder.Sum("logmetrics_write_requests_total", t => t["outcome"] == "permanent"));
        Assert.Equal(s.BytesSent, recorder.Sum("logmetrics_write_bytes_total"));
        Assert.Equal(s.Requests, recorder.Measurements.Count(m => m.Name == "logmetrics_write_request_duration_seconds"));
        // Freshness: recorded once, for the one 2xx request.
        var freshness = Assert.Single(recorder.Measurements, m => m.Name == "logmetrics_write_freshness_seconds");
        Assert.InRange(freshness.Value - s.LastFreshness!.Value.TotalSeconds, 0, 0.001); // the snapshot keeps whole milliseconds
        foreach (var m in recorder.Measurements.Where(m => m.Name.StartsWith("logmetrics_write_", StringComparison.Ordinal)))
        {
            Assert.Equal("write", m.Tags["stage"]);
        }
    }

    [Fact]
    public void SelfMetricsCollector_WritesCountersAndHistogramsAsPrometheusSamples()
    {
        using var collector = new SelfMetricsCollector([new SampleLabel("job", "logmetrics"), new SampleLabel("instance", "test")]);
        var counters = new PipelineCounters();
        counters.AddEvents(7, "/data/lane-a.jsonl");
        counters.AddEvents(5, "/data/lane-a.jsonl");
        counters.AddMalformed(2, "/data/lane-a.jsonl", "HttpCode: missing");
        counters.SetOpenWindows(9);
        counters.SetOpenWindows(4);
        var metrics = new RemoteWriteMetrics();
        metrics.SamplesWritten(10, TimeSpan.FromSeconds(12));
        metrics.SamplesWritten(10, TimeSpan.FromSeconds(40));

        var samples = collector.Collect(123_000);
        Assert.All(samples, s => Assert.Equal(123_000, s.TimestampMs));
        Assert.All(samples, s => Assert.Equal(s.Labels.OrderBy(l => l.Name, StringComparer.Ordinal), s.Labels));
        var events = Assert.Single(samples, s => s.Name == "logmetrics_parse_events_total");
        Assert.Equal(12, events.Value);
        Assert.Equal("logmetrics_parse_events_total{instance=\"test\",job=\"logmetrics\",lane=\"lane-a.jsonl\",stage=\"parse\"}", events.SeriesId);
        Assert.Equal(2, Assert.Single(samples, s => s.Name == "logmetrics_parse_malformed_total" && s.Labels.Contains(new SampleLabel("reason", "missing_field"))).Value);
        Assert.Equal(4, Assert.Single(samples, s => s.Name == "logmetrics_flush_open_windows").Value);
        Assert.Equal(20, Assert.Single(samples, s => s.Name == "logmetrics_write_samples_written_total").Value);

        // Histogram: cumulative buckets by le, _sum and _count.
        double Bucket(string le) => Assert.Single(samples, s => s.Name == "logmetrics_write_freshness_seconds_bucket" && s.Labels.Contains(new SampleLabel("le", le))).Value;
        Assert.Equal(0, Bucket("10"));
        Assert.Equal(1, Bucket("15"));
        Assert.Equal(1, Bucket("30"));
        Assert.Equal(2, Bucket("45"));
        Assert.Equal(2, Bucket("+Inf"));
        Assert.Equal(52, Assert.Single(samples, s => s.Name == "logmetrics_write_freshness_seconds_sum").Value);
        Assert.Equal(2, Assert.Single(samples, s => s.Name == "logmetrics_write_freshness_seconds_count").Value);
    }

    [Fact]
    public async Task SelfMetricsWriter_StampsWithTheNewestClosedWindow_AfterTheSamples_NeverTwiceAtOneTime()
    {
        using var collector = new SelfMetricsCollector([new SampleLabel("job", "logmetrics")]);
        new PipelineCounters().AddEvents(3, "lane-x");
        var inner = new CollectingSampleWriter();
        var writer = new SelfMetricsWriter(inner, collector);
        Sample At(long ts) => new("m", [new SampleLabel("a", "b")], ts, 1);

        await writer.WriteAsync([At(10_000), At(20_000)], CancellationToken.None);
        await writer.WriteAsync([At(20_000)], CancellationToken.None); // no newer window: no snapshot
        await writer.WriteAsync([At(30_000)], CancellationToken.None);
        await writer.WriteFinalAsync(CancellationToken.None);

        var self = inner.Samples.Where(s => s.Name == "logmetrics_parse_events_total" && s.Labels.Contains(new SampleLabel("lane", "lane-x"))).ToList();
        Assert.Equal([20_000L, 30_000L, 31_000L], self.Select(s => s.TimestampMs));
        Assert.All(self, s => Assert.Equal(3, s.Value));
        // The closed windows' samples go first, in their own write.
        Assert.Equal("m", inner.Samples[0].Name);
    }
}
