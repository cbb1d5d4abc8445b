using System.Buffers;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Write;

namespace LogMetrics.Benchmarks.Write;

/// <summary>
/// Encode + snappy-compress one remote-write request of 2000 samples shaped like the flagship's
/// API-family metrics (product, api, version, priority; 500 series × 4 windows).
/// samples/s = 2000 / mean; MB/s = <see cref="UncompressedBytes"/> / mean.
/// </summary>
[MemoryDiagnoser]
public class RemoteWriteBenchmarks
{
    private const int SamplesPerRequest = 2000;
    private List<Sample> _samples = [];
    private IReadOnlyList<SeriesChunk> _chunks = [];
    private readonly ArrayBufferWriter<byte> _buffer = new(1 << 20);
    private RemoteWriteBatcher _batcher = new(SamplesPerRequest, 1 << 20);

    /// <summary>Protobuf bytes of the request (printed at setup, for MB/s).</summary>
    public int UncompressedBytes { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        string[] metrics = ["namespace_api_gw_http_req", "namespace_api_gw_http_5xx", "namespace_api_gw_slow_http_req", "namespace_api_gw_http503_rate"];
        string[] products = ["acc", "ecs", "rds", "slb", "oss"];
        var start = 1_768_484_220_000L;
        _samples = new List<Sample>(SamplesPerRequest);
        for (var s = 0; s < 500; s++)
        {
            Label[] labels =
            [
                new("api", "DescribeCustomResourceDetail" + (s / 4).ToString(CultureInfo.InvariantCulture)),
                new("priority", "P" + (s % 3).ToString(CultureInfo.InvariantCulture)),
                new("product", products[s % products.Length]),
                new("version", "2024-04-02"),
            ];
            for (var w = 0; w < 4; w++)
            {
                var value = s % 4 == 3 ? (s % 17) / 113.0 : s * 3 + w;
                _samples.Add(new Sample(metrics[s % 4], labels, start + w * 60_000L, value) { NewestEventTimeMs = start + w * 60_000L + 59_000 });
            }
        }
        _batcher = new RemoteWriteBatcher(SamplesPerRequest, 1 << 20);
        _chunks = RemoteWriteBatcher.GroupBySeries(_samples).Select(SeriesChunk.All).ToList();
        UncompressedBytes = RemoteWriteEncoder.GetEncodedSize(_chunks);
        var compressed = RemoteWriteEncoder.EncodeCompressed(_chunks, out _).Length;
        Console.WriteLine($"// request: {SamplesPerRequest} samples, {UncompressedBytes} protobuf bytes, {compressed} snappy bytes");
    }

    [Benchmark(Baseline = true)]
    public int Encode()
    {
        _buffer.ResetWrittenCount();
        return RemoteWriteEncoder.Encode(_chunks, _buffer);
    }

    [Benchmark]
    public int EncodeAndCompress() => RemoteWriteEncoder.EncodeCompressed(_chunks, out _).Length;

    /// <summary>From the flusher's flat sample list: group by series, sort, plan, encode, compress.</summary>
    [Benchmark]
    public int PlanEncodeAndCompress()
    {
        var total = 0;
        foreach (var chain in _batcher.Plan(_samples))
        {
            foreach (var batch in chain) total += RemoteWriteEncoder.EncodeCompressed(batch.Chunks, out _).Length;
        }
        return total;
    }
}
