using System.Diagnostics.CodeAnalysis;
using System.Text;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.EndToEnd;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Enrich;

/// <summary>
/// A batch's lookups are joined into its records before the late check (in prepare) when every cache
/// can answer without counting, and in lane order otherwise; either way a late record's lookups are
/// not counted, and the other records' are, once each.
/// </summary>
public class LateLookupCountTests
{
    private static readonly Flagship.MemorySource Dimensions = new(new()
    {
        ["gateway_cluster"] = [new() { ["local_ip"] = "10.0.0.1", ["app_group"] = "g", ["region_id"] = "r" }],
        ["user_level"] = [],
        ["api_meta"] = [],
    });

    private static LaneEvent Line(long sequence, long timeSeconds, string ip) => new(sequence, Encoding.UTF8.GetBytes(
        $"{{\"__time__\":{timeSeconds},\"Product\":\"p\",\"Api\":\"a\",\"HttpCode\":200,\"TotalUsedTime\":1,\"LocalIp\":\"{ip}\",\"CallerUid\":\"u\"}}"));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Ingest_LateRecords_TheirLookupsNotCounted(bool peekingCaches)
    {
        var compiled = Flagship.Pipeline;
        var caches = compiled.Lookups.Select(l => LookupCacheFactory.Create(l.Definition, Dimensions, TimeProvider.System)).ToList();
        var enricher = new Enricher(compiled, peekingCaches ? caches : [.. caches.Select(c => (ILookupCache)new CountingOnly(c))]);
        var counters = new PipelineCounters();
        var pipeline = new Pipeline(compiled, enricher, counters, NullDeadLetterSink.Instance, 4);
        var lane = new LaneState("a");
        const long fresh = 1_700_000_000;
        // Two on-time records (one row found, one not) move the watermark a day on; the two after them are late.
        var signals = await pipeline.IngestAsync(lane,
            [Line(1, fresh, "10.0.0.1"), Line(2, fresh, "10.0.0.9"), Line(3, fresh - 86_400, "10.0.0.1"), Line(4, fresh - 86_400, "10.0.0.1")],
            new IngestHorizon(Watermark.None, Watermark.Final), long.MaxValue, CancellationToken.None);

        Assert.Equal(2, counters.Late);
        var stats = enricher.Stats.ToDictionary(s => s.Name, s => s.Stats);
        Assert.Equal((1, 1, 0), (stats["gateway_cluster"].Hits, stats["gateway_cluster"].Misses, stats["gateway_cluster"].Errors));
        Assert.Equal((0, 2, 0), (stats["user_level"].Hits, stats["user_level"].Misses, stats["user_level"].Errors));
        Assert.Equal((0, 2, 0), (stats["api_meta"].Hits, stats["api_meta"].Misses, stats["api_meta"].Errors));
        // The found row's output is in the on-time records' series.
        var labels = signals.SelectMany(s => s.Partials).SelectMany(p => p.Labels).ToHashSet();
        Assert.Contains("r", labels);
    }

    [Fact]
    public async Task Ingest_JoinedInPrepare_SameSignalsAndCountsAsJoinedInLaneOrder()
    {
        var lines = File.ReadLines(Path.Combine(GoldenCorpusTests.GoldenDir, "lane-0.jsonl")).ToList();
        var source = new CsvDimensionSource(Path.Combine(GoldenCorpusTests.GoldenDir, "dimensions"));
        var compiled = Flagship.Pipeline;
        var early = new Enricher(compiled, source, TimeProvider.System);
        var inOrder = new Enricher(compiled, [.. compiled.Lookups.Select(l => (ILookupCache)new CountingOnly(LookupCacheFactory.Create(l.Definition, source, TimeProvider.System)))]);
        var earlyCounters = new PipelineCounters();
        var inOrderCounters = new PipelineCounters();
        var earlyPipeline = new Pipeline(compiled, early, earlyCounters, NullDeadLetterSink.Instance, 4);
        var inOrderPipeline = new Pipeline(compiled, inOrder, inOrderCounters, NullDeadLetterSink.Instance, 4);
        var earlyLane = new LaneState("a");
        var inOrderLane = new LaneState("a");
        // The lane's batches in order, each followed by the one three before it again: those are (partly) late.
        const int batchLines = 97;
        var batches = lines.Chunk(batchLines).Select((chunk, k) => chunk.Select((l, i) => new LaneEvent(k * batchLines + i + 1, Encoding.UTF8.GetBytes(l))).ToList()).ToList();
        var order = batches.SelectMany((b, k) => k >= 3 ? [b, [.. batches[k - 3].Select(e => e with { Sequence = e.Sequence + 1_000_000 })]] : new[] { b });
        foreach (var batch in order)
        {
            var expected = System.Text.Json.JsonSerializer.Serialize(await inOrderPipeline.IngestAsync(inOrderLane, batch, new IngestHorizon(Watermark.None, Watermark.Final), long.MaxValue, CancellationToken.None));
            var actual = System.Text.Json.JsonSerializer.Serialize(await earlyPipeline.IngestAsync(earlyLane, batch, new IngestHorizon(Watermark.None, Watermark.Final), long.MaxValue, CancellationToken.None));
            Assert.Equal(expected, actual);
        }

        Assert.True(earlyCounters.Late > 100, $"late {earlyCounters.Late}");
        Assert.True(earlyCounters.Accepted - earlyCounters.Late > 100, $"accepted {earlyCounters.Accepted}, late {earlyCounters.Late}");
        Assert.Equal((inOrderCounters.Late, inOrderCounters.PartialsSignalled), (earlyCounters.Late, earlyCounters.PartialsSignalled));
        var counted = early.Stats.Zip(inOrder.Stats, (e, o) => (e.Name, Early: (e.Stats.Hits, e.Stats.Misses, e.Stats.Errors), InOrder: (o.Stats.Hits, o.Stats.Misses, o.Stats.Errors))).ToList();
        Assert.All(counted, c => Assert.Equal(c.InOrder, c.Early));
        Assert.Contains(counted, c => c.Early.Hits > 0);
    }

    /// <summary>A cache that can only answer by counting (no <c>ILookupPeek</c>): the enricher asks it per record, in lane order.</summary>
    private sealed class CountingOnly(ILookupCache inner) : ILookupCache
    {
        public TableSpec Table => inner.Table;

        public LookupStats Stats => inner.Stats;

        public ValueTask WarmAsync(IReadOnlyCollection<DimensionKey> keys, CancellationToken cancellationToken) => inner.WarmAsync(keys, cancellationToken);

        public bool TryGet(DimensionKey key, [MaybeNullWhen(false)] out IReadOnlyDictionary<string, string> row) => inner.TryGet(key, out row);
    }
}
