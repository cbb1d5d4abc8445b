using Google.Protobuf;
using LogMetrics.Core.Write;
using LogMetrics.Core.Tests.Write.Proto;
using FlushLabel = LogMetrics.Core.Flush.Label;
using FlushSample = LogMetrics.Core.Flush.Sample;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

public class RemoteWriteEncoderTests
{
    private static byte[] EncodeRaw(IReadOnlyList<FlushSample> samples)
    {
        var chunks = RemoteWriteBatcher.GroupBySeries(samples).Select(SeriesChunk.All).ToList();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var length = RemoteWriteEncoder.Encode(chunks, buffer);
        Assert.Equal(length, buffer.WrittenCount);
        Assert.Equal(RemoteWriteEncoder.GetEncodedSize(chunks), length);
        return buffer.WrittenSpan.ToArray();
    }

    private static readonly List<FlushSample> Tricky =
    [
        // Unsorted labels, an upper-case name that sorts before "__name__", an empty value, unicode.
        new("http_req", [new("zone", "b"), new("Region", "cn-杭州"), new("empty", ""), new("api", "Describe\"x\"")], 2_000, 1.5),
        new("http_req", [new("zone", "b"), new("Region", "cn-杭州"), new("empty", ""), new("api", "Describe\"x\"")], 1_000, 0.25),
        new("rate", [new("a", "1")], 0, 0d),
        new("rate", [new("a", "1")], -5_000, double.NaN),
        new("rate", [new("a", "1")], 3_000, double.PositiveInfinity),
        new("rate", [new("a", "1")], 4_000, -1e-300),
        new("big", [], long.MaxValue, double.MaxValue),
    ];

    [Fact]
    public void Encode_TrickySeries_DecodesToSortedLabelsWithNameAndNoEmptyValues()
    {
        var decoded = WriteRequest.Parser.ParseFrom(EncodeRaw(Tricky));

        Assert.Equal(3, decoded.Timeseries.Count);
        var first = decoded.Timeseries[0];
        Assert.Equal(["Region", "__name__", "api", "zone"], first.Labels.Select(l => l.Name));
        Assert.Equal(["cn-杭州", "http_req", "Describe\"x\"", "b"], first.Labels.Select(l => l.Value));
        Assert.Equal([1_000L, 2_000L], first.Samples.Select(s => s.Timestamp));
        Assert.Equal([0.25, 1.5], first.Samples.Select(s => s.Value));

        var second = decoded.Timeseries[1];
        Assert.Equal(["__name__", "a"], second.Labels.Select(l => l.Name));
        Assert.Equal([-5_000L, 0L, 3_000L, 4_000L], second.Samples.Select(s => s.Timestamp));
        Assert.True(double.IsNaN(second.Samples[0].Value));
        Assert.Equal(0d, second.Samples[1].Value);
        Assert.Equal(double.PositiveInfinity, second.Samples[2].Value);
        Assert.Equal(-1e-300, second.Samples[3].Value);

        var third = decoded.Timeseries[2];
        Assert.Equal(["__name__"], third.Labels.Select(l => l.Name));
        Assert.Equal(long.MaxValue, third.Samples[0].Timestamp);
        Assert.Equal(double.MaxValue, third.Samples[0].Value);
    }

    [Fact]
    public void Encode_TrickySeries_BytesEqualGeneratedToByteArray()
    {
        var expected = new WriteRequest();
        foreach (var series in RemoteWriteBatcher.GroupBySeries(Tricky))
        {
            var ts = new TimeSeries();
            ts.Labels.AddRange(series.Labels.Select(l => new Proto.Label { Name = l.Name, Value = l.Value }));
            ts.Samples.AddRange(series.Samples.Select(s => new Proto.Sample { Value = s.Value, Timestamp = s.TimestampMs }));
            expected.Timeseries.Add(ts);
        }

        Assert.Equal(expected.ToByteArray(), EncodeRaw(Tricky));
    }

    [Fact]
    public void Encode_FlagshipBatch_DecodesToExactlyTheInput()
    {
        var samples = WriteTestData.Flagship(series: 40, points: 6);

        var decoded = WriteRequest.Parser.ParseFrom(EncodeRaw(samples));

        Assert.Equal(WriteTestData.Expected(samples), WriteTestData.Points(decoded).ToHashSet());
        Assert.Equal(samples.Count, decoded.Timeseries.Sum(t => t.Samples.Count));
        Assert.All(decoded.Timeseries, t => Assert.Equal(t.Labels.Select(l => l.Name).Order(StringComparer.Ordinal), t.Labels.Select(l => l.Name)));
    }

    [Fact]
    public void Encode_OneSeries_MatchesByteSnapshot()
    {
        FlushSample[] samples = [new("up", [new FlushLabel("job", "a")], 1_000, 1.0)];

        var hex = Convert.ToHexString(EncodeRaw(samples));

        // timeseries(1) len 40 { label len 14 { name "__name__" value "up" } label len 8 { name "job" value "a" }
        //                        sample len 12 { double 1.0, int64 1000 } }
        Assert.Equal(
            "0A28" + "0A0E" + "0A085F5F6E616D655F5F" + "12027570" + "0A08" + "0A036A6F62" + "120161" + "120C" + "09000000000000F03F" + "10E807",
            hex);
    }

    [Fact]
    public void EncodeCompressed_FlagshipBatch_SnappyBlockRoundTrips()
    {
        var samples = WriteTestData.Flagship(series: 200, points: 10);
        var chunks = RemoteWriteBatcher.GroupBySeries(samples).Select(SeriesChunk.All).ToList();

        var body = RemoteWriteEncoder.EncodeCompressed(chunks, out var uncompressed);

        Assert.True(body.Length < uncompressed, $"compressed {body.Length} >= raw {uncompressed}");
        Assert.Equal(WriteTestData.Expected(samples), WriteTestData.Points(WriteTestData.DecodeBody(body)).ToHashSet());
    }
}
