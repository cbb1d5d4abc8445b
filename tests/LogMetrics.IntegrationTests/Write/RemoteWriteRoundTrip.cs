using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Write;
using Xunit;

namespace LogMetrics.IntegrationTests.Write;

/// <summary>A hand-built sample set written through <see cref="RemoteWriteClient"/> and read back exactly.</summary>
internal static class RemoteWriteRoundTrip
{
    /// <summary>
    /// 3 metrics × 2 label sets × 4 timestamps within the last 20 minutes (so Prometheus accepts them).
    /// Values are integers and fractions exact in binary and decimal, because VictoriaMetrics stores
    /// values as decimal mantissa/exponent.
    /// </summary>
    /// <param name="now">Timestamps fall in the 20 minutes before it.</param>
    /// <param name="run">Value of a <c>run</c> label, so tests sharing a server write distinct series
    /// (Prometheus rejects an older timestamp on a series it already holds newer samples for).</param>
    public static List<Sample> Build(DateTimeOffset now, string run)
    {
        var baseMs = now.ToUnixTimeMilliseconds() / 10_000 * 10_000 - 20 * 60_000;
        (string Name, Func<int, int, double> Value)[] metrics =
        [
            ("namespace_product_gw_http_req", (s, t) => 100 + 10 * s + t),
            ("namespace_product_gw_rt_mean", (s, t) => 12.5 + s * 0.25 + t * 0.125),
            ("namespace_product_gw_success_rate", (s, t) => 1 - 0.0625 * (s + t)),
        ];
        Label[][] labelSets =
        [
            [new("biz_region_id", "cn-huhehaote"), new("product", "acc"), new("region_id", "cn-huhehaote"), new("run", run)],
            [new("biz_region_id", "unknown"), new("product", "ecs"), new("region_id", "cn-hangzhou"), new("run", run)],
        ];
        var samples = new List<Sample>();
        foreach (var (name, value) in metrics)
        {
            for (var s = 0; s < labelSets.Length; s++)
            {
                for (var t = 0; t < 4; t++)
                {
                    var ts = baseMs + t * 5 * 60_000L;
                    samples.Add(new Sample(name, labelSets[s], ts, value(s, t)) { NewestEventTimeMs = ts + 9_000 });
                }
            }
        }
        return samples;
    }

    public static async Task WriteAsync(Uri endpoint, IReadOnlyList<Sample> samples)
    {
        var definition = new RemoteWriteDefinition { Auth = "none", MaxSamplesPerRequest = 5, Concurrency = 2 };
        using var client = RemoteWriteClient.Create(definition, endpoint.ToString(), null);
        var result = await client.WriteAsync(samples, CancellationToken.None);
        Assert.True(result.Outcome == WriteOutcome.Written,
            $"{result.Outcome}: dropped {string.Join(", ", result.DroppedByReason.Select(d => $"{d.Key}={d.Value}"))}");
        Assert.Equal(samples.Count, result.SamplesWritten);
    }

    /// <summary>Reads every sample back with an instant query at its own timestamp; value and timestamp must match exactly.</summary>
    public static async Task AssertReadBackAsync(PromQuery query, IReadOnlyList<Sample> samples, TimeSpan visibilityLimit)
    {
        foreach (var sample in samples)
        {
            var selector = PromQuery.Selector(sample.Name, sample.Labels.Select(l => KeyValuePair.Create(l.Name, l.Value)));
            var points = await query.InstantEventuallyAsync(selector, DateTimeOffset.FromUnixTimeMilliseconds(sample.TimestampMs), visibilityLimit);
            var point = Assert.Single(points);
            Assert.Equal(sample.Name, point.Labels["__name__"]);
            Assert.Equal(sample.TimestampMs, point.TimestampMs);
            Assert.True(BitConverter.DoubleToInt64Bits(sample.Value) == BitConverter.DoubleToInt64Bits(point.Value),
                $"{selector} @ {sample.TimestampMs}: wrote {sample.Value:R}, read {point.Value:R}");
        }
    }
}
