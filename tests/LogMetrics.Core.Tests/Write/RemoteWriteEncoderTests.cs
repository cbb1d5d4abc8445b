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

    /// <summary>
    /// The request remote write 1.0 defines for <paramref name="samples"/>, built here from the spec and
    /// the generated types alone (no code under test): one TimeSeries per name + label set in order of
    /// first appearance, labels with <c>__name__</c> added, empty values left out, sorted by name
    /// (byte order); samples in time order.
    /// </summary>
    private static WriteRequest SpecRequest(IReadOnlyList<FlushSample> samples)
    {
        var order = new List<string>();
        var bySeries = new Dictionary<string, (List<Proto.Label> Labels, List<FlushSample> Samples)>(StringComparer.Ordinal);
        foreach (var sample in samples)
        {
            var labels = sample.Labels.Where(l => l.Value.Length > 0).Select(l => new Proto.Label { Name = l.Name, Value = l.Value })
                .Append(new Proto.Label { Name = "__name__", Value = sample.Name })
                .OrderBy(l => l.Name, StringComparer.Ordinal).ToList();
            var id = string.Join("\u0000", labels.Select(l => l.Name + "=" + l.Value));
            if (!bySeries.TryGetValue(id, out var series))
            {
                bySeries[id] = series = (labels, []);
                order.Add(id);
            }
            series.Samples.Add(sample);
        }
        var request = new WriteRequest();
        foreach (var id in order)
        {
            var ts = new TimeSeries();
            ts.Labels.AddRange(bySeries[id].Labels);
            ts.Samples.AddRange(bySeries[id].Samples.OrderBy(x => x.TimestampMs).Select(x => new Proto.Sample { Value = x.Value, Timestamp = x.TimestampMs }));
            request.Timeseries.Add(ts);
        }
        return request;
    }

    [Fact]
    public void Encode_TrickySeries_BytesEqualTheSpecRequestFromGeneratedTypes()
    {
        Assert.Equal(SpecRequest(Tricky).ToByteArray(), EncodeRaw(Tricky));
    }

    [Fact]
    public void Encode_FlagshipBatch_BytesEqualTheSpecRequestFromGeneratedTypes()
    {
        var samples = WriteTestData.Flagship(series: 25, points: 4);

        Assert.Equal(SpecRequest(samples).ToByteArray(), EncodeRaw(samples));
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
