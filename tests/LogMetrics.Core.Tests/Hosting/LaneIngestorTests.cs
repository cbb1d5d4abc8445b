using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Hosting;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.Flush;
using LogMetrics.Core.Tests.Support;
using static LogMetrics.Core.Tests.Flush.CoordinatorTestKit;

namespace LogMetrics.Core.Tests.Hosting;

public sealed class LaneIngestorTests
{
    private const int Shards = 4;
    private readonly FakeTimeProvider _clock = new();
    private readonly PipelineCounters _counters = new();

    private LaneIngestor NewIngestor() =>
        new(Compiled, new Enricher(Compiled, new NoDimensions(), _clock), _counters, NullDeadLetterSink.Instance, Shards, _clock);

    [Fact]
    public async Task IngestAsync_Batch_SignalsEveryShardOnce()
    {
        var store = new QueuedShardStore(Compiled, Shards);

        var signalled = await NewIngestor().IngestAsync("3", [Line(1, "acc", 200), Line(2, "ecs", 500)], [100, 101], store, CancellationToken.None);

        Assert.Equal(Shards, signalled);
        Assert.Equal(Shards, store.Pending);
        store.PumpAll();
        var states = store.States();
        Assert.All(states, s => Assert.Equal(101, Assert.Single(s.Lanes["3"].Held).Last));
        Assert.Equal(0, Contributions(states)); // held apart until a later range continues it
        await NewIngestor().EndLaneAsync("3", 102, store, CancellationToken.None);
        store.PumpAll();
        states = store.States();
        Assert.All(states, s => Assert.Equal(101, s.Lanes["3"].CommittedThrough));
        Assert.Equal(4, Contributions(states)); // 2 records × 2 families
    }

    [Fact]
    public async Task IngestAsync_EmptyBatch_SignalsNothing()
    {
        var store = new QueuedShardStore(Compiled, Shards);

        Assert.Equal(0, await NewIngestor().IngestAsync("0", [], [], store, CancellationToken.None));
        Assert.Equal(0, store.Pending);
    }

    [Fact]
    public async Task IngestAsync_SameBatchTwice_CountedOnce()
    {
        var store = new QueuedShardStore(Compiled, Shards);
        var ingestor = NewIngestor();
        byte[][] batch = [Line(1, "acc", 200), Line(2, "acc", 500)];

        await ingestor.IngestAsync("0", batch, [1, 2], store, CancellationToken.None);
        await ingestor.IngestAsync("0", batch, [1, 2], store, CancellationToken.None); // the trigger's retry or a redelivery
        await ingestor.EndLaneAsync("0", 3, store, CancellationToken.None);
        store.PumpAll();

        var states = store.States();
        Assert.Equal(4, Contributions(states));
        Assert.Equal(Shards, states.Sum(s => s.DuplicateSignals));
    }

    [Fact]
    public async Task IngestAsync_LengthsDiffer_Throws()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            NewIngestor().IngestAsync("0", [Line(1, "acc", 200)], [1, 2], new QueuedShardStore(Compiled, Shards), CancellationToken.None));

        Assert.Equal("sequenceNumbers", error.ParamName);
    }

    [Fact]
    public async Task IngestAsync_SequenceNotIncreasing_Throws()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            NewIngestor().IngestAsync("0", [Line(1, "acc", 200), Line(2, "acc", 200)], [5, 5], new QueuedShardStore(Compiled, Shards), CancellationToken.None));

        Assert.Contains("not increasing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IngestAsync_StoreWithOtherShardCount_Throws()
    {
        await Assert.ThrowsAsync<ArgumentException>(() =>
            NewIngestor().IngestAsync("0", [Line(1, "acc", 200)], [1], new QueuedShardStore(Compiled, Shards + 1), CancellationToken.None));
    }

    [Fact]
    public async Task TickAsync_StorePerCall_FlushesThroughIt()
    {
        var writer = new RecordingWriter();
        var ticker = new FlushTicker(Compiled, Shards, writer, _counters, _clock, new FlushOptions());
        var store = new QueuedShardStore(Compiled, Shards);
        var ingestor = NewIngestor();
        await ingestor.IngestAsync("0", [Line(1, "acc", 200), Line(2, "acc", 500), Line(30, "acc", 200)], [1, 2, 3], store, CancellationToken.None);
        await ingestor.IngestAsync("0", [Line(31, "acc", 200)], [4], store, CancellationToken.None); // continues (and so folds in) the first batch
        store.PumpAll();

        await ticker.TickAsync(store, endOfInput: false, CancellationToken.None);   // the shards publish their headers (queued)
        store.PumpAll();
        await ticker.TickAsync(store, endOfInput: false, CancellationToken.None);   // seals through T0+25 and exports what it closed
        store.PumpAll();
        var report = await ticker.TickAsync(store, endOfInput: false, CancellationToken.None); // writes what the seal closed

        Assert.True(report.WindowsClosed > 0);
        Assert.Equal(new Dictionary<string, double>(StringComparer.Ordinal)
        {
            [Key("t_req", "acc", 0)] = 2,
            [Key("t_err", "acc", 0)] = 1,
        }, writer.Distinct());                  // watermark T0+25: T0+30 is still open
    }

    [Fact]
    public async Task TickAsync_StoreWithOtherShardCount_Throws()
    {
        var ticker = new FlushTicker(Compiled, Shards, new RecordingWriter(), _counters, _clock, new FlushOptions());

        await Assert.ThrowsAsync<ArgumentException>(() => ticker.TickAsync(new QueuedShardStore(Compiled, 2), false, CancellationToken.None));
    }
}
