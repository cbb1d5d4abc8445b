using System.Globalization;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Tests.Write.Proto;
using FlushLabel = LogMetrics.Core.Flush.Label;
using FlushSample = LogMetrics.Core.Flush.Sample;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

/// <summary>One received sample: series (sorted labels as text), timestamp and value bits.</summary>
internal readonly record struct ReceivedPoint(string Series, long TimestampMs, long ValueBits)
{
    public override string ToString() => $"{Series}@{TimestampMs}={BitConverter.Int64BitsToDouble(ValueBits).ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>Samples shaped like the flagship pipeline's, and decoding of what a server received.</summary>
internal static class WriteTestData
{
    public const long BaseTimestampMs = 1_768_484_240_000;

    /// <summary><paramref name="series"/> series × <paramref name="points"/> timestamps, 10 s apart, fractional values.</summary>
    public static List<FlushSample> Flagship(int series, int points, long baseMs = BaseTimestampMs)
    {
        var samples = new List<FlushSample>(series * points);
        for (var p = 0; p < points; p++)
        {
            for (var s = 0; s < series; s++)
            {
                var labels = new List<FlushLabel>
                {
                    new("api", "DescribeCustomResourceDetail" + s.ToString(CultureInfo.InvariantCulture)),
                    new("priority", (s % 3).ToString(CultureInfo.InvariantCulture)),
                    new("product", "acc"),
                    new("version", "2024-04-02"),
                };
                var name = s % 2 == 0 ? "namespace_api_gw_http_req" : "namespace_api_gw_http503_rate";
                var value = s % 2 == 0 ? s * 10 + p : (s + p) / 7.0;
                var ts = baseMs + p * 10_000L;
                samples.Add(new FlushSample(name, labels, ts, value) { NewestEventTimeMs = ts + 9_000 });
            }
        }
        return samples;
    }

    public static WriteRequest DecodeBody(byte[] snappyBody) =>
        WriteRequest.Parser.ParseFrom(Snappier.Snappy.DecompressToArray(snappyBody));

    public static IEnumerable<ReceivedPoint> Points(WriteRequest request)
    {
        foreach (var ts in request.Timeseries)
        {
            var series = string.Join(",", ts.Labels.Select(l => l.Name + "=" + l.Value));
            foreach (var s in ts.Samples) yield return new ReceivedPoint(series, s.Timestamp, BitConverter.DoubleToInt64Bits(s.Value));
        }
    }

    /// <summary>What a correct write of <paramref name="samples"/> must deliver, as points.</summary>
    public static HashSet<ReceivedPoint> Expected(IEnumerable<FlushSample> samples) =>
        samples.Select(s =>
        {
            var labels = s.Labels.Where(l => l.Value.Length > 0).Append(new FlushLabel("__name__", s.Name))
                .OrderBy(l => l.Name, StringComparer.Ordinal);
            return new ReceivedPoint(string.Join(",", labels.Select(l => l.Name + "=" + l.Value)), s.TimestampMs, BitConverter.DoubleToInt64Bits(s.Value));
        }).ToHashSet();

    /// <summary>Asserts no (series, timestamp) was sent with two different values (identical re-sends are fine).</summary>
    public static void AssertNoConflicts(IEnumerable<ReceivedPoint> points)
    {
        var conflicts = points.GroupBy(p => (p.Series, p.TimestampMs)).Where(g => g.Select(p => p.ValueBits).Distinct().Count() > 1).ToList();
        Assert.True(conflicts.Count == 0, "conflicting values: " + string.Join("; ", conflicts.Select(g => g.Key.ToString())));
    }
}

/// <summary>A clock tests move by hand; the retry delay function advances it instead of sleeping.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private readonly Lock _lock = new();
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock) return _now;
    }

    public override long GetTimestamp() => GetUtcNow().UtcTicks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public void Advance(TimeSpan by)
    {
        lock (_lock) _now += by;
    }
}
