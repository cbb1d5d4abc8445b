using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Accumulate;

public class WindowShardStateTests
{
    private static CompiledPipeline P => Flagship.Pipeline;

    private static SeriesPartial Partial(int family, string[] labels, long window, params double[] values)
    {
        var v = P.Families[family].NewValues();
        for (var i = 0; i < values.Length; i++) v[i] = values[i];
        return new SeriesPartial { Family = family, Labels = labels, WindowStartMs = window, Values = v };
    }

    private static ShardSignal Signal(string lane, long first, long last, long watermark, params SeriesPartial[] partials) =>
        new() { Lane = lane, FirstSequence = first, LastSequence = last, LaneWatermarkMs = watermark, Partials = [.. partials] };

    private static string Canonical(WindowShardState s) => string.Join("\n", s.Partials
        .Select(p => $"{p.Family}|{string.Join(",", p.Labels)}|{p.WindowStartMs}|{string.Join(",", p.Values)}")
        .OrderBy(x => x, StringComparer.Ordinal));

    [Fact]
    public void Apply_SameRangeTwice_IgnoredAsDuplicate()
    {
        var state = new WindowShardState();
        var signal = Signal("p0", 1, 10, 5_000, Partial(0, ["ecs", "r", "b"], 0, 3, 1, 60, 30, 2));
        Assert.Equal(ApplyOutcome.Applied, state.Apply(signal, P));
        Assert.Equal(ApplyOutcome.Duplicate, state.Apply(signal, P));
        Assert.Equal(3, Assert.Single(state.Partials).Values[0]);
        Assert.Equal(1, state.DuplicateSignals);
    }

    [Fact]
    public void Apply_PartlyOverlappingRange_IgnoredAndCounted()
    {
        var state = new WindowShardState();
        state.Apply(Signal("p0", 1, 10, 0, Partial(0, ["a", "b", "c"], 0, 2)), P);
        Assert.Equal(ApplyOutcome.Overlap, state.Apply(Signal("p0", 5, 20, 0, Partial(0, ["a", "b", "c"], 0, 4)), P));
        Assert.Equal(2, state.Partials[0].Values[0]);
        Assert.Equal(1, state.OverlappingSignals);
        Assert.Equal(4, state.OverlapContributions);
    }

    [Fact]
    public void Apply_PartialForSealedWindow_CountedLateNotMerged()
    {
        var state = new WindowShardState();
        state.Advance(new FlushAdvance { SealThroughMs = 20_000 }, P);
        state.Apply(Signal("p0", 1, 1, 0, Partial(0, ["a", "b", "c"], 10_000, 5), Partial(0, ["a", "b", "c"], 20_000, 1)), P);
        Assert.Equal(5, state.LateContributions);
        Assert.Equal(20_000, Assert.Single(state.Partials).WindowStartMs);
    }

    [Fact]
    public void Advance_EvictsOnlyClosedMetricWindows()
    {
        var state = new WindowShardState();
        // Family 0 is 10 s, family 1 is 60 s.
        state.Apply(Signal("p0", 1, 1, 0, Partial(0, ["a", "b", "c"], 10_000, 1), Partial(1, ["a", "b", "c", "d"], 10_000, 1), Partial(0, ["a", "b", "c"], 20_000, 1)), P);
        state.Advance(new FlushAdvance { EvictThroughMs = 20_000, SealThroughMs = 20_000 }, P);
        // The 10-s window [10,20) is evicted; [20,30) stays, and so does the 60-s window [0,60).
        Assert.Equal(["0@20000", "1@10000"], state.Partials.Select(p => $"{p.Family}@{p.WindowStartMs}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public void State_JsonRoundTrip_Preserved()
    {
        var state = new WindowShardState();
        state.Apply(Signal("p0", 1, 9, 123, Partial(0, ["a", "b", "c"], 10_000, 1, 0, 14, 1, 1)), P);
        state.Advance(new FlushAdvance { SealThroughMs = 5_000 }, P);
        var copy = JsonSerializer.Deserialize<WindowShardState>(JsonSerializer.Serialize(state))!;
        Assert.Equal(Canonical(state), Canonical(copy));
        Assert.Equal(9, copy.Lanes["p0"].HighestSequence);
        Assert.Equal(5_000, copy.SealedThroughMs);
        // The index is rebuilt after deserialization: merging still finds the existing partial.
        copy.Apply(Signal("p0", 10, 10, 200, Partial(0, ["a", "b", "c"], 10_000, 2)), P);
        Assert.Equal(3, Assert.Single(copy.Partials).Values[0]);
    }

    /// <summary>
    /// Property: for any set of batches from several lanes, delivering the signals in any order,
    /// any number of times, gives the same partials as delivering each once in order.
    /// </summary>
    [Fact]
    public void Apply_AnyInterleavingAndDuplication_SameState()
    {
        var lanes = new[] { "p0", "p1", "p2" };
        var labels = new[] { new[] { "a", "x", "1" }, ["b", "x", "1"], ["a", "y", "2"] };
        var batchGen =
            from lane in Gen.Choose(0, 2)
            from count in Gen.Choose(1, 4)
            from picks in Gen.Choose(0, 2).Zip(Gen.Choose(0, 5)).Zip(Gen.Choose(1, 9)).ArrayOf(count)
            select (lane, picks);
        var scenario =
            from batches in batchGen.ArrayOf()
            from seed in Gen.Choose(0, int.MaxValue)
            from dupes in Gen.Choose(0, 3)
            select (batches, seed, dupes);

        Prop.ForAll(scenario.ToArbitrary(), s =>
        {
            // Each lane's batches get consecutive sequence ranges, as Event Hubs partitions do.
            var next = new long[3];
            var signals = s.batches.Select(b =>
            {
                var first = next[b.lane] + 1;
                next[b.lane] += 10;
                var parts = b.picks.Select(p => Partial(0, labels[p.Item1.Item1], p.Item1.Item2 * 10_000L, p.Item2, p.Item2 % 2, p.Item2 * 7, p.Item2, p.Item2 % 3)).ToArray();
                return Signal(lanes[b.lane], first, first + 9, 0, parts);
            }).ToList();

            var inOrder = new WindowShardState();
            foreach (var sig in signals) inOrder.Apply(sig, P);

            // Shuffle across lanes but keep each lane's own order (entity messages from one sender arrive
            // in order); then redeliver some signals again, late.
            var rng = new Random(s.seed);
            var byLane = signals.GroupBy(x => x.Lane).Select(g => new Queue<ShardSignal>(g)).ToList();
            var delivered = new List<ShardSignal>();
            while (byLane.Any(q => q.Count > 0))
            {
                var open = byLane.Where(q => q.Count > 0).ToList();
                delivered.Add(open[rng.Next(open.Count)].Dequeue());
            }
            for (var i = 0; i < s.dupes && signals.Count > 0; i++) delivered.Add(signals[rng.Next(signals.Count)]);
            var shuffled = new WindowShardState();
            foreach (var sig in delivered) shuffled.Apply(sig, P);

            return Canonical(inOrder) == Canonical(shuffled);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    /// <summary>Property: merging partial vectors is commutative and associative (min/max/sum slots alike).</summary>
    [Fact]
    public void Merge_AnyOrder_SameVector()
    {
        var family = new MetricFamily
        {
            Index = 0, Prefix = "x_", LabelNames = ["a"], LabelSlots = [0], ResolutionMs = 10_000, Where = null, Metrics = [],
            MergeOps = [MergeOp.Sum, MergeOp.Min, MergeOp.Max, MergeOp.Sum],
        };
        var vectors = Gen.Choose(-1000, 1000).Select(x => (double)x).ArrayOf(4).ArrayOf();
        Prop.ForAll(vectors.ToArbitrary(), Gen.Choose(0, 10_000).ToArbitrary(), (double[][] vs, int seed) =>
        {
            var a = family.NewValues();
            foreach (var v in vs) family.Merge(a, v);
            var b = family.NewValues();
            var rng = new Random(seed);
            foreach (var v in vs.OrderBy(_ => rng.Next())) family.Merge(b, v);
            return a.SequenceEqual(b);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }
}
