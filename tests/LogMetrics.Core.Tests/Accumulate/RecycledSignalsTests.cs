using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Accumulate;

/// <summary>
/// Signals handed back through <see cref="Pipeline.Recycle"/> are reused by later batches: what a
/// recycling host receives is, batch for batch, what a host that never recycles receives, and the label
/// arrays a shard may keep are never changed.
/// </summary>
public class RecycledSignalsTests
{
    /// <param name="misshapen">Every fifth partial handed back has a values array one longer or one shorter than its
    /// family's, or a family the pipeline does not have: such partials are not reused.</param>
    [Theory]
    [InlineData(37, 4, false)]
    [InlineData(200, 16, false)]
    [InlineData(37, 4, true)]
    public async Task Ingest_RecyclingHost_SameSignalsAsNonRecyclingHost_KeptLabelsUnchanged(int batchLines, int shards, bool misshapen)
    {
        var handedBack = 0;
        var plain = GoldenBatches.NewPipeline(shards);
        var recycling = GoldenBatches.NewPipeline(shards);
        var plainLane = new LaneState("a");
        var recyclingLane = new LaneState("a");
        var keptLabels = new List<(string[] Array, string Copy)>();
        // Each batch's lines come again in a second batch, so series meet again across batches.
        foreach (var batch in GoldenBatches.Of(batchLines))
        {
            var expected = GoldenBatches.Snapshot(await plain.IngestAsync(plainLane, batch, IngestHorizon.Unknown, long.MaxValue, CancellationToken.None));
            var signals = await recycling.IngestAsync(recyclingLane, batch, IngestHorizon.Unknown, long.MaxValue, CancellationToken.None);
            Assert.Equal(expected, GoldenBatches.Snapshot(signals));
            foreach (var partial in signals.SelectMany(s => s.Partials))
            {
                keptLabels.Add((partial.Labels, string.Join('|', partial.Labels)));
                if (misshapen && handedBack++ % 5 == 0)
                {
                    switch (handedBack / 5 % 3)
                    {
                        case 0: partial.Values = new double[partial.Values.Length + 1]; break;
                        case 1: partial.Values = new double[partial.Values.Length - 1]; break;
                        default: partial.Family = 99; break;
                    }
                }
            }
            recycling.Recycle(signals);
        }
        Assert.All(keptLabels, k => Assert.Equal(k.Copy, string.Join('|', k.Array)));
        Assert.True(keptLabels.Count > 1_000, $"{keptLabels.Count} partials");
    }
}
