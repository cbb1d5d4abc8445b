using LogMetrics.Core.Write;
using FlushSample = LogMetrics.Core.Flush.Sample;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

public class RemoteWriteBatcherTests
{
    private static IEnumerable<WriteBatch> All(IReadOnlyList<IReadOnlyList<WriteBatch>> chains) => chains.SelectMany(c => c);

    private static List<FlushSample> Shuffled(List<FlushSample> samples, int seed)
    {
        var copy = samples.ToList();
        new Random(seed).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(copy));
        return copy;
    }

    [Fact]
    public void Plan_ManySmallSeries_RespectsSampleLimitAndKeepsSeriesWhole()
    {
        var samples = Shuffled(WriteTestData.Flagship(series: 97, points: 7), seed: 1);
        var batcher = new RemoteWriteBatcher(maxSamples: 50, maxBytes: 1 << 20);

        var chains = batcher.Plan(samples);

        Assert.All(chains, c => Assert.Single(c));
        Assert.All(All(chains), b => Assert.InRange(b.SampleCount, 1, 50));
        var seriesPerBatch = All(chains).SelectMany((b, i) => b.Chunks.Select(c => (c.Series.Id, i))).ToList();
        Assert.Equal(97, seriesPerBatch.Count);
        Assert.Equal(97, seriesPerBatch.Select(x => x.Id).Distinct().Count());
        Assert.All(All(chains).SelectMany(b => b.Chunks), c => Assert.Equal(7, c.Count));
        Assert.Equal(samples.Count, All(chains).Sum(b => b.SampleCount));
    }

    [Fact]
    public void Plan_ByteLimit_EveryRequestFitsAndSizeIsExact()
    {
        var samples = WriteTestData.Flagship(series: 300, points: 3);
        var batcher = new RemoteWriteBatcher(maxSamples: 10_000, maxBytes: 4_096);

        var chains = batcher.Plan(samples);

        Assert.True(chains.Count > 1);
        foreach (var batch in All(chains))
        {
            var encoded = RemoteWriteEncoder.GetEncodedSize(batch.Chunks);
            Assert.Equal(encoded, batch.EncodedSize);
            Assert.True(encoded <= 4_096, $"request of {encoded} bytes exceeds 4096");
        }
    }

    [Fact]
    public void Plan_SeriesLargerThanLimit_SplitsIntoOneTimeOrderedChain()
    {
        var big = Shuffled(WriteTestData.Flagship(series: 1, points: 125), seed: 2);
        var small = WriteTestData.Flagship(series: 6, points: 2).Where(s => s.Labels[0].Value != "DescribeCustomResourceDetail0").ToList();
        var batcher = new RemoteWriteBatcher(maxSamples: 50, maxBytes: 1 << 20);

        var chains = batcher.Plan([.. small, .. big]);

        var bigChains = chains.Where(c => c.Any(b => b.Chunks.Any(ch => ch.Series.Samples.Count == 125))).ToList();
        var chain = Assert.Single(bigChains);
        Assert.Equal([50, 50, 25], chain.Select(b => b.SampleCount));
        var timestamps = chain.SelectMany(b => b.Chunks.SelectMany(c => c.Series.Samples.Skip(c.Start).Take(c.Count))).Select(s => s.TimestampMs).ToList();
        Assert.Equal(timestamps.Order(), timestamps);
        Assert.Equal(125, timestamps.Distinct().Count());
        // No other request carries any of the big series' samples.
        Assert.All(chains.Except(bigChains).SelectMany(c => c).SelectMany(b => b.Chunks), c => Assert.NotEqual(125, c.Series.Samples.Count));
    }

    [Fact]
    public void Plan_SeriesLargerThanByteLimit_ChunksFitTheByteLimit()
    {
        var big = WriteTestData.Flagship(series: 1, points: 400);
        var batcher = new RemoteWriteBatcher(maxSamples: 10_000, maxBytes: 1_000);

        var chain = Assert.Single(batcher.Plan(big));

        Assert.True(chain.Count > 1);
        Assert.All(chain, b => Assert.True(RemoteWriteEncoder.GetEncodedSize(b.Chunks) <= 1_000));
        Assert.Equal(400, chain.Sum(b => b.SampleCount));
    }

    [Fact]
    public void Plan_SamplesOutOfOrder_EachSeriesInTimeOrder()
    {
        var samples = Shuffled(WriteTestData.Flagship(series: 20, points: 9), seed: 3);
        var batcher = new RemoteWriteBatcher(maxSamples: 2000, maxBytes: 1 << 20);

        var chains = batcher.Plan(samples);

        foreach (var chunk in All(chains).SelectMany(b => b.Chunks))
        {
            var ts = chunk.Series.Samples.Skip(chunk.Start).Take(chunk.Count).Select(s => s.TimestampMs).ToList();
            Assert.Equal(ts.Order(), ts);
        }
    }

    [Fact]
    public void Plan_NoSamples_NoRequests()
    {
        Assert.Empty(new RemoteWriteBatcher(10, 1000).Plan([]));
    }
}
