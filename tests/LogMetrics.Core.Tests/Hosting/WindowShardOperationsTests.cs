using System.Text.Json;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Hosting;
using LogMetrics.Core.Tests.Flush;

namespace LogMetrics.Core.Tests.Hosting;

public sealed class WindowShardOperationsTests
{
    private static ShardSignal Signal(string lane, long first, long last, long windowStartMs, double count) => new()
    {
        Lane = lane,
        FirstSequence = first,
        LastSequence = last,
        LaneWatermarkMs = windowStartMs,
        SentAtMs = 1_000,
        Partials = [new SeriesPartial { Family = 0, Labels = ["acc"], WindowStartMs = windowStartMs, Values = [count, 0], NewestEventMs = windowStartMs + 1 }],
    };

    private static T RoundTrip<T>(T value) => JsonSerializer.Deserialize<T>(JsonSerializer.Serialize(value))!;

    [Theory]
    [InlineData(0, "shard-00")]
    [InlineData(7, "shard-07")]
    [InlineData(255, "shard-255")]
    public void ShardKey_Index_FormatsAndParsesBack(int shard, string key)
    {
        Assert.Equal(key, WindowShardOperations.ShardKey(shard));
        Assert.Equal(shard, WindowShardOperations.ShardOf(key));
    }

    [Theory]
    [InlineData("shard7")]
    [InlineData("shard-")]
    [InlineData("shard--1")]
    public void ShardOf_ForeignKey_Throws(string key)
    {
        Assert.Throws<FormatException>(() => WindowShardOperations.ShardOf(key));
    }

    private static ShardSignal End(string lane, long next) => new() { Lane = lane, FirstSequence = next, LastSequence = next - 1, LaneFinished = true };

    [Fact]
    public void Apply_NoState_CreatesStateWithTheRangeHeld()
    {
        var state = WindowShardOperations.Apply(null, Signal("0", 1, 10, 1_000_000, 3), CoordinatorTestKit.Compiled);

        Assert.Equal(10, Assert.Single(state.Lanes["0"].Held).Last);
        Assert.Equal(long.MinValue, state.Lanes["0"].CommittedThrough);
    }

    [Fact]
    public void Apply_StateAndSignalThroughJson_RedeliveryIgnored()
    {
        var p = CoordinatorTestKit.Compiled;
        var state = WindowShardOperations.Apply(null, RoundTrip(Signal("0", 1, 10, 1_000_000, 3)), p);
        state = WindowShardOperations.Apply(RoundTrip(state), RoundTrip(Signal("1", 1, 4, 1_000_000, 2)), p);
        state = WindowShardOperations.Apply(RoundTrip(state), RoundTrip(Signal("0", 1, 10, 1_000_000, 3)), p); // redelivered
        state = WindowShardOperations.Apply(RoundTrip(state), RoundTrip(Signal("0", 11, 12, 1_000_000, 1)), p);
        state = WindowShardOperations.Apply(RoundTrip(state), RoundTrip(End("0", 13)), p);
        state = WindowShardOperations.Apply(RoundTrip(state), RoundTrip(End("1", 5)), p);

        Assert.Equal(6, CoordinatorTestKit.Contributions([state]));
        Assert.Equal(1, state.DuplicateSignals);
        Assert.Equal(12, state.Lanes["0"].CommittedThrough);
    }

    [Fact]
    public void Apply_RangeStartingInsideTheCommittedOnes_SupersededAndCounted()
    {
        var p = CoordinatorTestKit.Compiled;
        var state = WindowShardOperations.Apply(null, Signal("0", 1, 10, 1_000_000, 3), p);
        state = WindowShardOperations.Apply(RoundTrip(state), Signal("0", 11, 12, 1_000_000, 1), p);

        state = WindowShardOperations.Apply(RoundTrip(state), Signal("0", 5, 20, 1_000_000, 4), p);

        Assert.Equal(3, CoordinatorTestKit.Contributions([state]));
        Assert.Equal(1, state.SupersededSignals);
    }

    [Fact]
    public void Advance_ThroughJson_SealsAndEvicts()
    {
        var p = CoordinatorTestKit.Compiled;
        var state = WindowShardOperations.Apply(null, Signal("0", 1, 10, 1_000_000, 3), p);
        state = WindowShardOperations.Apply(RoundTrip(state), End("0", 11), p);

        state = WindowShardOperations.Advance(RoundTrip(state), RoundTrip(new FlushAdvance { WrittenThroughMs = [1_010_000, long.MinValue], SealThroughMs = 1_010_000 }), p, 0).State;
        state = WindowShardOperations.Apply(RoundTrip(state), Signal("1", 1, 1, 1_000_000, 1), p);
        state = WindowShardOperations.Apply(RoundTrip(state), End("1", 2), p);

        Assert.Empty(state.Windows); // written and evicted; lane 1's cell came for a sealed window
        Assert.Equal(1_010_000, state.SealedThroughMs);
        Assert.Equal(1, state.LateContributions);
    }

    [Fact]
    public void Advance_NoState_SealsEmptyState()
    {
        var state = WindowShardOperations.Advance(null, new FlushAdvance { SealThroughMs = 5 }, CoordinatorTestKit.Compiled, 0).State;

        Assert.Equal(5, state.SealedThroughMs);
        Assert.Empty(state.Windows);
    }
}
