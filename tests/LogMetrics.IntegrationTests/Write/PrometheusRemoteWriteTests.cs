using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Write;
using Xunit;

namespace LogMetrics.IntegrationTests.Write;

public sealed class PrometheusRemoteWriteTests(PrometheusFixture prometheus) : IClassFixture<PrometheusFixture>
{
    [Fact]
    public async Task WriteAsync_HandBuiltSamples_ReadBackExactlyFromPrometheus()
    {
        var samples = RemoteWriteRoundTrip.Build(DateTimeOffset.UtcNow, "once");

        await RemoteWriteRoundTrip.WriteAsync(prometheus.RemoteWriteUri, samples);

        // Prometheus appends synchronously: a 2xx means the samples are queryable.
        await RemoteWriteRoundTrip.AssertReadBackAsync(prometheus.Query, samples, TimeSpan.Zero);
    }

    [Fact]
    public async Task WriteAsync_ResendNewestSampleOfEachSeries_AcceptedAsIdentical()
    {
        var samples = RemoteWriteRoundTrip.Build(DateTimeOffset.UtcNow, "resend-newest");
        var newest = samples.GroupBy(s => s.SeriesId).Select(g => g.MaxBy(s => s.TimestampMs)!).ToList();

        await RemoteWriteRoundTrip.WriteAsync(prometheus.RemoteWriteUri, samples);
        await RemoteWriteRoundTrip.WriteAsync(prometheus.RemoteWriteUri, newest);

        await RemoteWriteRoundTrip.AssertReadBackAsync(prometheus.Query, samples, TimeSpan.Zero);
    }

    /// <summary>
    /// Prometheus (without an out-of-order window) accepts an identical re-send only for a series'
    /// newest sample; an older one, even identical, is "out of order" (400). The client counts those
    /// as dropped although the server already holds them.
    /// </summary>
    [Fact]
    public async Task WriteAsync_ResendOlderSamples_RejectedAs400AndCountedDropped()
    {
        var samples = RemoteWriteRoundTrip.Build(DateTimeOffset.UtcNow, "resend-all");
        var older = samples.GroupBy(s => s.SeriesId).SelectMany(g => g.OrderBy(s => s.TimestampMs).SkipLast(1)).ToList();
        await RemoteWriteRoundTrip.WriteAsync(prometheus.RemoteWriteUri, samples);
        using var client = RemoteWriteClient.Create(new RemoteWriteDefinition { MaxSamplesPerRequest = 3 }, prometheus.RemoteWriteUri.ToString(), "none");

        var result = await client.WriteAsync(older, CancellationToken.None);

        Assert.Equal(WriteOutcome.Dropped, result.Outcome);
        Assert.Equal(new Dictionary<string, long> { ["http_400"] = older.Count }, result.DroppedByReason);
        await RemoteWriteRoundTrip.AssertReadBackAsync(prometheus.Query, samples, TimeSpan.Zero);
    }
}
