using Xunit;

namespace LogMetrics.IntegrationTests.Write;

public sealed class VictoriaMetricsRemoteWriteTests(VictoriaMetricsFixture victoria) : IClassFixture<VictoriaMetricsFixture>
{
    [Fact]
    public async Task WriteAsync_HandBuiltSamples_ReadBackExactlyFromVictoriaMetrics()
    {
        var samples = RemoteWriteRoundTrip.Build(DateTimeOffset.UtcNow, "recent");

        await RemoteWriteRoundTrip.WriteAsync(victoria.RemoteWriteUri, samples);
        await victoria.FlushAsync();

        // VictoriaMetrics makes ingested rows searchable asynchronously: poll (not a timing assertion).
        await RemoteWriteRoundTrip.AssertReadBackAsync(victoria.Query, samples, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task WriteAsync_DayOldBackfill_ReadBackExactlyFromVictoriaMetrics()
    {
        var samples = RemoteWriteRoundTrip.Build(DateTimeOffset.UtcNow.AddDays(-1), "backfill");

        await RemoteWriteRoundTrip.WriteAsync(victoria.RemoteWriteUri, samples);
        await victoria.FlushAsync();

        await RemoteWriteRoundTrip.AssertReadBackAsync(victoria.Query, samples, TimeSpan.FromSeconds(30));
    }
}
