using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.Hosting;
using LogMetrics.Core.Tests.Support;
using static LogMetrics.Core.Tests.Flush.CoordinatorTestKit;

namespace LogMetrics.Core.Tests.Flush;

/// <summary>
/// What the flush coordinator guarantees over any <see cref="IShardStore"/>: written once per store
/// kind, run against the in-memory store (console) and a durable-entity double (Functions). Ingest
/// uses <see cref="IngestHorizon.Unknown"/> as the Functions host does, so lateness is the shards' call.
/// </summary>
public abstract class CoordinatorContractTests
{
    private const int Shards = 4;

    /// <summary>The store under test.</summary>
    private protected abstract IShardStore NewStore(int shards);

    /// <summary>Lets queued operations take effect (durable entities process their queues).</summary>
    private protected abstract void Settle(IShardStore store);

    /// <summary>The shards' states as the store holds them.</summary>
    private protected abstract IReadOnlyList<WindowShardState> StatesOf(IShardStore store);

    /// <summary>Everything <see cref="SendAllAsync"/> produces once every window has closed.</summary>
    private static readonly Dictionary<string, double> ExpectedAll = new(StringComparer.Ordinal)
    {
        [Key("t_req", "acc", 0)] = 3, [Key("t_err", "acc", 0)] = 1,
        [Key("t_req", "acc", 10)] = 1, [Key("t_err", "acc", 10)] = 0,
        [Key("t_req", "ecs", 10)] = 1, [Key("t_err", "ecs", 10)] = 1,
        [Key("t_req", "ecs", 20)] = 1, [Key("t_err", "ecs", 20)] = 0,
        [Key("t_req", "acc", 20)] = 1, [Key("t_err", "acc", 20)] = 0,
        [Key("m_req", "acc", 0)] = 5,
        [Key("m_req", "ecs", 0)] = 2,
    };

    /// <summary>The part of <see cref="ExpectedAll"/> closed once the watermark is T0+20 s (base windows T0 and T0+10 s).</summary>
    private static readonly Dictionary<string, double> ExpectedFirstTwoWindows = ExpectedAll
        .Where(kv => kv.Key.StartsWith("t_", StringComparison.Ordinal) && !kv.Key.EndsWith(((T0 + 20) * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal))
        .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    private protected sealed class Rig
    {
        private readonly CoordinatorContractTests _owner;
        private readonly IShardStore _inner;
        private readonly Dictionary<string, (LaneState State, Pipeline Pipeline)> _lanes = new(StringComparer.Ordinal);
        private readonly Dictionary<string, long> _nextSequence = new(StringComparer.Ordinal);

        public Rig(CoordinatorContractTests owner, int expectedLanes = 0, long maxPendingSamples = 1_000_000)
        {
            _owner = owner;
            _inner = owner.NewStore(Shards);
            Store = new LossyShardStore(_inner);
            Coordinator = new FlushCoordinator(Compiled, Store, Writer, Counters, Clock, new FlushOptions { ExpectedLanes = expectedLanes, MaxPendingSamples = maxPendingSamples });
        }

        public FakeTimeProvider Clock { get; } = new();
        public PipelineCounters Counters { get; } = new();
        public RecordingWriter Writer { get; } = new();
        public LossyShardStore Store { get; }
        public FlushCoordinator Coordinator { get; private set; }

        /// <summary>The flusher process restarts: a new coordinator with no memory of what it wrote.</summary>
        public void RestartFlusher(int expectedLanes = 0) =>
            Coordinator = new FlushCoordinator(Compiled, Store, Writer, Counters, Clock, new FlushOptions { ExpectedLanes = expectedLanes });

        /// <summary>Ingests one batch of a lane (next sequence numbers) and returns its signals, not yet sent.</summary>
        public async Task<ShardSignal[]> IngestAsync(string lane, params byte[][] lines)
        {
            if (!_lanes.TryGetValue(lane, out var l))
            {
                var enricher = new Enricher(Compiled, new NoDimensions(), Clock);
                l = (new LaneState(lane), new Pipeline(Compiled, enricher, Counters, NullDeadLetterSink.Instance, Shards));
                _lanes[lane] = l;
            }
            var first = _nextSequence.GetValueOrDefault(lane, 1);
            _nextSequence[lane] = first + lines.Length;
            var events = lines.Select((line, i) => new LaneEvent(first + i, line)).ToList();
            return await l.Pipeline.IngestAsync(l.State, events, IngestHorizon.Unknown, Clock.GetUtcNow().ToUnixTimeMilliseconds(), CancellationToken.None);
        }

        /// <summary>Sends signals to the given shards (all by default), in the given order.</summary>
        public async Task SendAsync(ShardSignal[] signals, params int[] shards)
        {
            foreach (var shard in shards.Length == 0 ? Enumerable.Range(0, signals.Length) : shards)
            {
                await Store.SignalAsync(shard, signals[shard], CancellationToken.None);
            }
        }

        public async Task IngestAndSendAsync(string lane, params byte[][] lines) => await SendAsync(await IngestAsync(lane, lines));

        /// <summary>
        /// Every lane's next batch begins (an empty range after its last one, at every shard): a shard
        /// folds a lane's newest range in only once a later range continues it, as traffic does in Azure.
        /// </summary>
        public async Task ContinueLanesAsync()
        {
            foreach (var (lane, next) in _nextSequence)
            {
                for (var shard = 0; shard < Shards; shard++)
                {
                    await Store.SignalAsync(shard, new ShardSignal { Lane = lane, FirstSequence = next, LastSequence = next - 1 }, CancellationToken.None);
                }
            }
        }

        public void Settle() => _owner.Settle(_inner);

        /// <summary>A few timer ticks with the entities catching up in between (a durable seal takes effect on the next tick).</summary>
        /// <summary>Flush ticks; a durable store needs one to publish the headers, one to seal and export, one per window to write.</summary>
        public async Task TickAsync(int ticks = 4)
        {
            await ContinueLanesAsync();
            for (var i = 0; i < ticks; i++)
            {
                Settle();
                await Coordinator.FlushAsync(false, CancellationToken.None);
                Settle();
            }
        }

        /// <summary>End of input: every window closes and is written.</summary>
        public async Task FinishAsync()
        {
            await ContinueLanesAsync();
            for (var i = 0; i < 8; i++)
            {
                Settle();
                await Coordinator.FlushAsync(true, CancellationToken.None);
                Settle();
            }
        }

        public Task<IReadOnlyList<WindowShardState>> StatesAsync()
        {
            Settle();
            return Task.FromResult(_owner.StatesOf(_inner));
        }
    }

    /// <summary>Lane a: T0+1, +2 then +12, +25; lane b: T0+3 then +14, +26. Watermark after all: T0+20.</summary>
    private static async Task SendAllAsync(Rig rig)
    {
        await rig.IngestAndSendAsync("a", Line(1, "acc", 200), Line(2, "acc", 500));
        await rig.IngestAndSendAsync("b", Line(3, "acc", 200));
        await rig.IngestAndSendAsync("a", Line(12, "acc", 200), Line(25, "ecs", 200));
        await rig.IngestAndSendAsync("b", Line(14, "ecs", 503), Line(26, "acc", 200));
    }

    [Fact]
    public async Task FlushAsync_ShardsReportOutOfOrder_ClosesOnlyWhatEveryShardHasSeen()
    {
        var rig = new Rig(this);
        await rig.IngestAndSendAsync("a", Line(1, "acc", 200), Line(2, "acc", 500));
        await rig.IngestAndSendAsync("b", Line(3, "acc", 200));
        var a2 = await rig.IngestAsync("a", Line(12, "acc", 200), Line(25, "ecs", 200));
        var b2 = await rig.IngestAsync("b", Line(14, "ecs", 503), Line(26, "acc", 200));
        await rig.SendAsync(a2, 0);                // only shard 0 has heard of lane a's second batch
        await rig.SendAsync(b2, 3, 2, 1, 0);

        await rig.TickAsync();

        Assert.Empty(rig.Writer.Accepted);         // shards 1-3 still see lane a at T0+2-5 s

        await rig.SendAsync(a2, 3, 2, 1);
        await rig.TickAsync();

        Assert.Equal(ExpectedFirstTwoWindows, rig.Writer.Distinct());

        await rig.FinishAsync();

        Assert.Equal(ExpectedAll, rig.Writer.Distinct());
        Assert.Empty(rig.Writer.Resent());
        Assert.Empty(rig.Writer.Conflicts);
    }

    [Fact]
    public async Task FlushAsync_SignalsRedelivered_CountsExact()
    {
        var rig = new Rig(this);
        var batches = new[]
        {
            await rig.IngestAsync("a", Line(1, "acc", 200), Line(2, "acc", 500)),
            await rig.IngestAsync("b", Line(3, "acc", 200)),
            await rig.IngestAsync("a", Line(12, "acc", 200), Line(25, "ecs", 200)),
            await rig.IngestAsync("b", Line(14, "ecs", 503), Line(26, "acc", 200)),
        };
        foreach (var signals in batches)
        {
            await rig.SendAsync(signals);
            await rig.SendAsync(signals);          // redelivered right away
        }
        await rig.TickAsync();
        foreach (var signals in batches)
        {
            await rig.SendAsync(signals);          // and again after a flush
        }

        await rig.FinishAsync();

        Assert.Equal(ExpectedAll, rig.Writer.Distinct());
        Assert.Empty(rig.Writer.Resent());
        var states = await rig.StatesAsync();
        Assert.True(states.Sum(s => s.DuplicateSignals) >= 2 * batches.Length * Shards);
        Assert.Equal(0, states.Sum(s => s.SupersededSignals));
    }

    [Fact]
    public async Task FlushAsync_WriteFailsThenSucceeds_NothingLostNothingDoubled()
    {
        var rig = new Rig(this);
        rig.Writer.FailuresLeft = 2;
        await SendAllAsync(rig);

        await rig.TickAsync(6);

        Assert.Equal(2, rig.Writer.FailedCalls);
        Assert.Equal(ExpectedFirstTwoWindows, rig.Writer.Distinct());

        await rig.FinishAsync();

        Assert.Equal(ExpectedAll, rig.Writer.Distinct());
        Assert.Empty(rig.Writer.Resent());
        Assert.Empty(rig.Writer.Conflicts);
        Assert.All(await rig.StatesAsync(), s => Assert.True(s.IsEmpty));
    }

    [Fact]
    public async Task FlushAsync_SinkDownPastBacklogBound_DropsOldestWindowsCountedRestWritten()
    {
        // At T0+20 the closed samples are t_* of windows T0 (2 samples) and T0+10 (4 samples).
        // With the sink down and room for 4 pending samples, exactly window T0 is dropped.
        var rig = new Rig(this, maxPendingSamples: 4);
        rig.Writer.FailuresLeft = 1_000;
        await SendAllAsync(rig);

        await rig.TickAsync(4);

        Assert.Empty(rig.Writer.Accepted);
        Assert.Equal(2, rig.Counters.SamplesDroppedBacklog);
        // The dropped window's samples were produced (closed) and then dropped: a run's account
        // (produced = written + dropped) must show them lost, not cancel them out.
        Assert.Equal(2, rig.Counters.Samples);

        rig.Writer.FailuresLeft = 0;
        await rig.FinishAsync();

        var dropped = new[] { Key("t_req", "acc", 0), Key("t_err", "acc", 0) };
        var remaining = ExpectedAll.Where(e => !dropped.Contains(e.Key)).OrderBy(e => e.Key, StringComparer.Ordinal);
        Assert.Equal(remaining, rig.Writer.Distinct().OrderBy(e => e.Key, StringComparer.Ordinal));
        Assert.Equal(2, rig.Counters.SamplesDroppedBacklog);
        Assert.Equal(ExpectedAll.Count, rig.Counters.Samples);
        Assert.Empty(rig.Writer.Conflicts);
        Assert.All(await rig.StatesAsync(), s => Assert.True(s.IsEmpty));
    }

    [Fact]
    public async Task FlushAsync_SinkDownPastBacklogBoundAfterDeliveringPart_CountsOnlyTheUndeliveredAsBacklog()
    {
        // As above, but each failing call delivers its first sample before it fails. Window T0's call holds
        // t_err and t_req of "acc" at T0, in that order (SampleTimeOrder: same time, then name): t_err went through.
        var rig = new Rig(this, maxPendingSamples: 4);
        rig.Writer.FailuresLeft = 1_000;
        rig.Writer.DeliveredBeforeFailing = 1;
        await SendAllAsync(rig);

        await rig.TickAsync(4);

        Assert.Equal(1, rig.Counters.SamplesDroppedBacklog);   // t_req of window T0 only
        Assert.Equal(2, rig.Counters.Samples);
        Assert.Equal(1, rig.Writer.Settled);                   // the given-up call, once; deferred calls are offered again instead
        Assert.Contains(Key("t_err", "acc", 0), rig.Writer.Distinct().Keys);

        rig.Writer.FailuresLeft = 0;
        await rig.FinishAsync();

        var expected = ExpectedAll.Where(e => e.Key != Key("t_req", "acc", 0)).OrderBy(e => e.Key, StringComparer.Ordinal);
        Assert.Equal(expected, rig.Writer.Distinct().OrderBy(e => e.Key, StringComparer.Ordinal));
        Assert.Equal(1, rig.Counters.SamplesDroppedBacklog);
        Assert.Equal(1, rig.Writer.Settled);
        Assert.Equal(ExpectedAll.Count, rig.Counters.Samples);
        Assert.Empty(rig.Writer.Conflicts);
        Assert.All(await rig.StatesAsync(), s => Assert.True(s.IsEmpty));
    }

    [Fact]
    public async Task FlushAsync_EvictionLostAfterWrite_ResendsOnlyEachSeriesNewestSample()
    {
        var rig = new Rig(this);
        await SendAllAsync(rig);
        rig.Store.LoseEvictions = true;            // the flusher "crashes" after each successful write

        await rig.TickAsync();

        // The progress never reached the shards, so every tick offers the oldest window again, and only it.
        var firstWindow = ExpectedFirstTwoWindows.Where(kv => kv.Key.EndsWith("@" + (T0 * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        Assert.Equal(firstWindow, rig.Writer.Distinct());
        Assert.True(rig.Store.LostAdvances > 0);

        // A late event for a written-but-not-evicted window must not change what is re-sent.
        await rig.IngestAndSendAsync("a", Line(4, "acc", 500));
        rig.Store.LoseEvictions = false;
        rig.RestartFlusher();                      // the crashed flusher comes back without memory
        await rig.FinishAsync();

        Assert.Equal(ExpectedAll, rig.Writer.Distinct());
        Assert.Subset(rig.Writer.Resent().ToHashSet(), firstWindow.Keys.ToHashSet());
        Assert.Empty(rig.Writer.OutOfOrder);       // every re-send was its series' newest sample: a 204 for Prometheus
        Assert.Empty(rig.Writer.Conflicts);
        var states = await rig.StatesAsync();
        Assert.Equal(2, states.Sum(s => s.LateContributions)); // one record × two families
        Assert.All(states, s => Assert.True(s.IsEmpty));
    }

    [Fact]
    public async Task FlushAsync_EvictionNotYetApplied_ResendIsHarmlessAndProgressIsDurable()
    {
        var rig = new Rig(this);
        await SendAllAsync(rig);
        rig.Store.LoseEvictions = true;            // the evict message is lost; the flusher keeps running

        await rig.TickAsync();
        rig.Store.LoseEvictions = false;
        rig.RestartFlusher();                      // and the next tick runs on another instance
        await rig.FinishAsync();

        Assert.Equal(ExpectedAll, rig.Writer.Distinct());
        Assert.Empty(rig.Writer.OutOfOrder);
        Assert.Empty(rig.Writer.Conflicts);
        Assert.All(await rig.StatesAsync(), s => Assert.True(s.IsEmpty));
    }

    [Fact]
    public async Task FlushAsync_ExpectedLaneNotYetSeen_HoldsWatermarkUntilItReports()
    {
        var rig = new Rig(this, expectedLanes: 2);
        await rig.IngestAndSendAsync("a", Line(1, "acc", 200), Line(2, "acc", 500));
        await rig.IngestAndSendAsync("a", Line(12, "acc", 200), Line(25, "ecs", 200));

        await rig.TickAsync();

        Assert.Empty(rig.Writer.Accepted);         // lane a alone is at T0+20, but lane b has not reported

        await rig.IngestAndSendAsync("b", Line(3, "acc", 200));
        await rig.IngestAndSendAsync("b", Line(14, "ecs", 503), Line(26, "acc", 200));
        await rig.TickAsync();

        Assert.Equal(ExpectedFirstTwoWindows, rig.Writer.Distinct());
    }

    [Fact]
    public async Task FlushAsync_ExpectedLaneNeverReports_StopsHoldingAfterIdleTimeout()
    {
        var rig = new Rig(this, expectedLanes: 2);
        await rig.IngestAndSendAsync("a", Line(1, "acc", 200), Line(2, "acc", 500), Line(3, "acc", 200));
        await rig.IngestAndSendAsync("a", Line(12, "acc", 200), Line(14, "ecs", 503), Line(25, "ecs", 200), Line(26, "acc", 200));

        await rig.TickAsync();
        Assert.Empty(rig.Writer.Accepted);

        rig.Clock.Advance(TimeSpan.FromSeconds(IdleSeconds + 1));
        await rig.TickAsync();

        // Same records as lanes a+b together, all in lane a.
        Assert.Equal(ExpectedFirstTwoWindows, rig.Writer.Distinct());
    }

    [Fact]
    public async Task FlushAsync_LaneIdlePastTimeout_StopsHoldingWatermark()
    {
        var rig = new Rig(this);
        await rig.IngestAndSendAsync("a", Line(1, "acc", 200), Line(2, "acc", 500));
        await rig.IngestAndSendAsync("b", Line(3, "acc", 200));                          // b: watermark T0-2, then silent
        await rig.IngestAndSendAsync("a", Line(12, "acc", 200), Line(25, "ecs", 200));  // a: watermark T0+20

        await rig.TickAsync();
        Assert.Empty(rig.Writer.Accepted);         // b holds the watermark at T0-2

        rig.Clock.Advance(TimeSpan.FromSeconds(IdleSeconds + 1));
        await rig.IngestAndSendAsync("a", Line(27, "acc", 200));                         // a is live, b idle
        await rig.TickAsync();

        Assert.Equal(new Dictionary<string, double>(StringComparer.Ordinal)
        {
            [Key("t_req", "acc", 0)] = 3, [Key("t_err", "acc", 0)] = 1,
            [Key("t_req", "acc", 10)] = 1, [Key("t_err", "acc", 10)] = 0,
        }, rig.Writer.Distinct());                 // T0+20 window ends at T0+30 > watermark T0+22: still open
    }
}

/// <summary>The contract over the console's in-memory store.</summary>
public sealed class CoordinatorInMemoryStoreTests : CoordinatorContractTests
{
    private protected override IShardStore NewStore(int shards) => new InMemoryShardStore(CoordinatorTestKit.Compiled, shards);

    private protected override void Settle(IShardStore store)
    {
    }

    private protected override IReadOnlyList<WindowShardState> StatesOf(IShardStore store) => ((InMemoryShardStore)store).States;
}

/// <summary>The contract over a durable-entity double: queued, reordered across shards and senders, some messages delivered twice, state in JSON.</summary>
public sealed class CoordinatorQueuedStoreTests : CoordinatorContractTests
{
    private protected override IShardStore NewStore(int shards) => new QueuedShardStore(CoordinatorTestKit.Compiled, shards, seed: 11) { DuplicateEvery = 3 };

    private protected override void Settle(IShardStore store) => ((QueuedShardStore)store).PumpAll();

    private protected override IReadOnlyList<WindowShardState> StatesOf(IShardStore store) => ((QueuedShardStore)store).States();
}
