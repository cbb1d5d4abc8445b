using System.Text.Json;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Flush;

/// <summary>The in-memory store's shards, each behind a lock of its own: a batch's signals and a flush's advances applied in parallel.</summary>
public class InMemoryShardStoreTests
{
    private static CompiledPipeline P => Flagship.Pipeline;

    private const long T0 = 1_768_483_980_000;

    [Theory]
    [InlineData(1, 3000)]  // batches big enough to be applied in parallel
    [InlineData(2, 40)]    // small batches, on the calling thread
    [InlineData(3, 1500)]
    public async Task SignalAllAndAdvanceAll_SameStatesHeadersAndSamplesAsShardByShard(int seed, int partialsPerBatch)
    {
        const int shards = 8;
        var parallel = new InMemoryShardStore(P, shards);
        var oneByOne = new InMemoryShardStore(P, shards);
        var parallelSink = new CollectingSampleWriter();
        var oneByOneSink = new CollectingSampleWriter();
        var clock = new FakeTimeProvider();
        var parallelFlush = new FlushCoordinator(P, parallel, parallelSink, new PipelineCounters(), clock);
        // The reference advances the shards one after another too (the interface's AdvanceAllAsync).
        var oneByOneFlush = new FlushCoordinator(P, new OneByOne(oneByOne), oneByOneSink, new PipelineCounters(), clock);

        foreach (var batch in Batches(new Random(seed), shards, partialsPerBatch))
        {
            parallel.SignalAll(batch.Signals);
            for (var shard = 0; shard < shards; shard++) await oneByOne.SignalAsync(shard, batch.Signals[shard], CancellationToken.None);
            if (batch.FlushAfter)
            {
                await parallelFlush.FlushAsync(false, CancellationToken.None);
                await oneByOneFlush.FlushAsync(false, CancellationToken.None);
            }
        }
        await parallelFlush.FlushAsync(true, CancellationToken.None);
        await oneByOneFlush.FlushAsync(true, CancellationToken.None);

        Assert.NotEmpty(oneByOneSink.Samples);
        Assert.Equal(oneByOneSink.Samples.Select(Text), parallelSink.Samples.Select(Text));
        for (var shard = 0; shard < shards; shard++)
        {
            Assert.Equal(Json(oneByOne.States[shard]), Json(parallel.States[shard]));
        }
        Assert.Equal(
            (await oneByOne.ReadHeadersAsync(CancellationToken.None)).Select(h => JsonSerializer.Serialize(h, ShardStateJsonContext.Default.ShardHeader)),
            (await parallel.ReadHeadersAsync(CancellationToken.None)).Select(h => JsonSerializer.Serialize(h, ShardStateJsonContext.Default.ShardHeader)));
    }

    [Theory]
    [InlineData(1, 3000)]
    [InlineData(4, 40)]
    [InlineData(5, 800)]
    [InlineData(6, 1500)]
    public async Task FlushAsync_AnnouncesTheSealItLeaves_OnceAndBeforeItWritesAWindow(int seed, int partialsPerBatch)
    {
        var store = new InMemoryShardStore(P, 8);
        var sink = new AnnouncedFirstWriter();
        var flush = new FlushCoordinator(P, store, sink, new PipelineCounters(), new FakeTimeProvider());
        var (flushes, writing, raised) = (0, 0, 0);
        foreach (var batch in Batches(new Random(seed), 8, partialsPerBatch).Append(new Batch([], true)))
        {
            store.SignalAll(batch.Signals);
            if (!batch.FlushAfter) continue;
            var announced = new List<Watermark>();
            var before = flush.Sealed;
            sink.Announced = () => announced.Count > 0;
            var writes = sink.Writes;
            await flush.FlushAsync(false, announced.Add, CancellationToken.None);
            // Exactly once, the seal the flush left (what ingest is horizoned by afterwards).
            Assert.Equal([flush.Sealed], announced);
            flushes++;
            if (sink.Writes > writes) writing++;
            if (flush.Sealed != before) raised++;
        }
        // Every write came after its flush announced the seal, and the runs wrote windows and raised the seal.
        Assert.Equal(0, sink.WritesBeforeAnnounced);
        Assert.True(writing > 0 && raised > 0 && flushes > writing, $"{flushes} flushes, {writing} wrote windows, {raised} raised the seal");
    }

    [Theory]
    [InlineData(1, 3000)]
    [InlineData(2, 40)]
    [InlineData(7, 900)]
    public async Task ClosingBehind_SameSamplesCountsAndStatesAsClosingInTheFlush(int seed, int partialsPerBatch)
    {
        const int shards = 8;
        var inFlush = new InMemoryShardStore(P, shards);
        var behindStore = new InMemoryShardStore(P, shards);
        var inFlushSink = new CollectingSampleWriter();
        var behindSink = new CollectingSampleWriter();
        var (inFlushCounters, behindCounters) = (new PipelineCounters(), new PipelineCounters());
        var clock = new FakeTimeProvider();
        await using var behind = new WriteBehindSampleWriter(new PausingWriter(behindSink, new Random(seed)), capacity: 1);
        var inFlushFlush = new FlushCoordinator(P, inFlush, inFlushSink, inFlushCounters, clock);
        var behindFlush = new FlushCoordinator(P, behindStore, behind, behindCounters, clock);
        long reported = 0;
        foreach (var batch in Batches(new Random(seed), shards, partialsPerBatch))
        {
            inFlush.SignalAll(batch.Signals);
            behindStore.SignalAll(batch.Signals);
            if (batch.FlushAfter)
            {
                var expected = await inFlushFlush.FlushAsync(false, CancellationToken.None);
                var actual = await behindFlush.FlushAsync(false, CancellationToken.None);
                Assert.Equal(expected.WindowsClosed, actual.WindowsClosed);
                Assert.Equal(inFlushFlush.Sealed, behindFlush.Sealed);
                reported += actual.SamplesWritten;
            }
        }
        await inFlushFlush.FlushAsync(true, CancellationToken.None);
        await behindFlush.FlushAsync(true, CancellationToken.None);
        await behind.CompleteAsync();

        Assert.NotEmpty(inFlushSink.Samples);
        Assert.Equal(inFlushSink.Samples.Select(Text), behindSink.Samples.Select(Text));
        Assert.Equal((inFlushCounters.WindowsClosed, inFlushCounters.Samples), (behindCounters.WindowsClosed, behindCounters.Samples));
        // Closed behind: counted by the coordinator, not in the flushes' reports.
        Assert.Equal((0L, (long)behindSink.Samples.Count), (reported, behindFlush.SamplesClosedBehind));
        for (var shard = 0; shard < shards; shard++)
        {
            Assert.Equal(Json(inFlush.States[shard]), Json(behindStore.States[shard]));
        }
    }

    /// <summary>Collects samples; counts writes made before the flush under way had announced its seal.</summary>
    private sealed class AnnouncedFirstWriter : ISampleWriter
    {
        public Func<bool> Announced { get; set; } = () => true;

        public int Writes { get; private set; }

        public int WritesBeforeAnnounced { get; private set; }

        public Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
        {
            Writes++;
            if (!Announced()) WritesBeforeAnnounced++;
            return Task.FromResult(WriteResult.Ok(samples.Count));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ParallelWork_AFailingItem_ThrowsItsOwnException_NotAnAggregate(bool parallel)
    {
        var ran = new bool[16];

        var e = Assert.Throws<InvalidOperationException>(() => ParallelWork.For(ran.Length, parallel, i =>
        {
            if (i == 15) throw new InvalidOperationException("metric window 0 (60000 ms) was exported twice");
            ran[i] = true;
        }));

        Assert.Contains("exported twice", e.Message, StringComparison.Ordinal);
    }

    /// <summary>The store, with shards signalled and advanced one at a time.</summary>
    private sealed class OneByOne(IShardStore inner) : IShardStore
    {
        public int ShardCount => inner.ShardCount;

        public bool AppliesImmediately => inner.AppliesImmediately;

        public Task<IReadOnlyList<ShardHeader>> ReadHeadersAsync(CancellationToken cancellationToken) => inner.ReadHeadersAsync(cancellationToken);

        public Task<ClosedWindow?> ReadClosedAsync(int shard, ClosedWindowRef window, CancellationToken cancellationToken) =>
            inner.ReadClosedAsync(shard, window, cancellationToken);

        public Task SignalAsync(int shard, ShardSignal signal, CancellationToken cancellationToken) => inner.SignalAsync(shard, signal, cancellationToken);

        public Task AdvanceAsync(int shard, FlushAdvance advance, CancellationToken cancellationToken) => inner.AdvanceAsync(shard, advance, cancellationToken);
    }

    private static string Json(WindowShardState state) => JsonSerializer.Serialize(state, ShardStateJsonContext.Default.WindowShardState);

    private static string Text(Sample s) => $"{s.SeriesId}@{s.TimestampMs}={s.Value:R}";

    private sealed record Batch(ShardSignal[] Signals, bool FlushAfter);

    /// <summary>
    /// Two lanes, batches in turn, each a signal per shard (the series' shard, as ingest splits them) with
    /// partials of random families, series and base windows around the lane's time; now and then a
    /// batch signalled twice (a duplicate) and a flush after a batch.
    /// </summary>
    private static IEnumerable<Batch> Batches(Random random, int shards, int partialsPerBatch)
    {
        string[] lanes = ["lane-a", "lane-b"];
        var next = new long[lanes.Length];
        var labels = P.Families.Select(f => Enumerable.Range(0, 500)
            .Select(i => f.LabelNames.Select((_, l) => $"v{(i * (l + 3)) % 97}-{i % (l + 2)}").ToArray())
            .DistinctBy(l => string.Join(",", l)).ToArray()).ToArray();
        for (var b = 0; b < 24; b++)
        {
            var lane = b % lanes.Length;
            var time = T0 + b / 2 * 7_000;
            var signals = new ShardSignal[shards];
            for (var shard = 0; shard < shards; shard++)
            {
                signals[shard] = new ShardSignal
                {
                    Lane = lanes[lane], FirstSequence = next[lane], LastSequence = next[lane] + 99,
                    LaneWatermarkMs = time - 5_000, LaneFinished = b >= 22,
                };
            }
            for (var p = 0; p < partialsPerBatch; p++)
            {
                var family = P.Families[random.Next(P.Families.Count)];
                var series = labels[family.Index][random.Next(labels[family.Index].Length)];
                var values = family.NewValues();
                values[0] = random.Next(1, 9);
                for (var v = 1; v < values.Length; v++) values[v] = random.Next(0, 3) == 0 ? values[v] : random.Next(0, 2000);
                var shard = BatchAccumulator.ShardOf(family.Index, series, shards);
                signals[shard].Partials.Add(new SeriesPartial
                {
                    Family = family.Index, Labels = series, Values = values,
                    WindowStartMs = P.WindowStart(time - random.Next(0, 12_000)), NewestEventMs = time,
                });
            }
            next[lane] += 100;
            yield return new Batch(signals, random.Next(3) == 0);
            if (random.Next(6) == 0) yield return new Batch(signals, false);
        }
    }
}
