using LogMetrics.Core.Flush;
using LogMetrics.Core.Write;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

/// <summary>
/// The client against a real HTTP server on 127.0.0.1 that misbehaves on cue. Every case compares
/// the (series, timestamp, value) set the server received with a clean run's: re-sends of identical
/// samples are allowed, conflicting values and losses are not.
/// </summary>
[Collection(LocalServers.Name)]
public class RemoteWriteClientFaultTests
{
    private static readonly List<Sample> Samples = WriteTestData.Flagship(series: 30, points: 8); // 240 samples, 50 per request

    private static bool Contains(Proto.WriteRequest request, string api) =>
        request.Timeseries.Any(t => t.Labels.Any(l => l.Name == "api" && l.Value == api));

    [Fact]
    public async Task WriteAsync_HealthyServer_DeliversAllWithRemoteWriteHeaders()
    {
        var clean = await RemoteWriteClientTestHarness.CleanRunAsync(Samples);
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(200));
        using var client = new RemoteWriteClientTestHarness().Client(server.Endpoint);

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteResult.Ok(Samples.Count).Outcome, result.Outcome);
        Assert.Equal(Samples.Count, result.SamplesWritten);
        Assert.Equal(clean, server.AllPoints.ToHashSet());
        Assert.Equal(Samples.Count, server.AllPoints.Count());
        Assert.All(server.Received, r =>
        {
            Assert.Equal("snappy", r.Headers["Content-Encoding"]);
            Assert.Equal("application/x-protobuf", r.Headers["Content-Type"]);
            Assert.Equal("0.1.0", r.Headers["X-Prometheus-Remote-Write-Version"]);
            Assert.Equal("LogMetrics/1.0", r.Headers["User-Agent"]);
            Assert.False(r.Headers.ContainsKey("Authorization"));
        });
        Assert.All(server.Received, r => Assert.InRange(r.Body.Timeseries.Sum(t => t.Samples.Count), 1, 50));
    }

    [Fact]
    public async Task WriteAsync_RunOf500sThenSuccess_NothingLost()
    {
        var clean = await RemoteWriteClientTestHarness.CleanRunAsync(Samples);
        using var server = new FakeRemoteWriteServer((i, _) => i < 6 ? new ServerReply(500, Body: "internal") : new ServerReply(204));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint);

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Written, result.Outcome);
        Assert.Equal(Samples.Count, result.SamplesWritten);
        Assert.Equal(clean, server.AllPoints.ToHashSet());
        Assert.Equal(clean, server.AcceptedPoints.ToHashSet());
        WriteTestData.AssertNoConflicts(server.AllPoints);
        Assert.Equal(6, harness.Delays.Count);
        var snapshot = client.Metrics.Snapshot();
        Assert.Equal(Samples.Count, snapshot.SamplesWritten);
        Assert.True(snapshot.SamplesRetried > 0);
        Assert.Equal(6, snapshot.RequestsFailed);
    }

    [Fact]
    public async Task WriteAsync_429WithRetryAfterSeconds_WaitsRetryAfter()
    {
        var clean = await RemoteWriteClientTestHarness.CleanRunAsync(Samples);
        using var server = new FakeRemoteWriteServer((i, _) => i == 0 ? new ServerReply(429, RetryAfter: "7") : new ServerReply(204));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint);

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Written, result.Outcome);
        Assert.Equal([TimeSpan.FromSeconds(7)], harness.Delays);
        Assert.Equal(clean, server.AcceptedPoints.ToHashSet());
        WriteTestData.AssertNoConflicts(server.AllPoints);
    }

    [Fact]
    public async Task WriteAsync_429WithRetryAfterDate_WaitsUntilThatDate()
    {
        var clean = await RemoteWriteClientTestHarness.CleanRunAsync(Samples);
        var harness = new RemoteWriteClientTestHarness();
        var until = harness.Time.GetUtcNow().AddSeconds(45).ToString("R");
        using var server = new FakeRemoteWriteServer((i, _) => i == 0 ? new ServerReply(429, RetryAfter: until) : new ServerReply(204));
        using var client = harness.Client(server.Endpoint);

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Written, result.Outcome);
        Assert.Equal([TimeSpan.FromSeconds(45)], harness.Delays);
        Assert.Equal(clean, server.AcceptedPoints.ToHashSet());
    }

    [Fact]
    public async Task WriteAsync_400OnOneRequest_DropsAndCountsItsSamplesDeliversTheRest()
    {
        var clean = await RemoteWriteClientTestHarness.CleanRunAsync(Samples);
        const string poisoned = "DescribeCustomResourceDetail7";
        using var server = new FakeRemoteWriteServer((_, body) =>
            Contains(body, poisoned) ? new ServerReply(400, Body: "out of order sample") : new ServerReply(204));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint);

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        var rejected = Assert.Single(server.Received, r => r.Status == 400);
        var rejectedCount = rejected.Body.Timeseries.Sum(t => t.Samples.Count);
        Assert.Equal(WriteOutcome.Dropped, result.Outcome);
        Assert.Equal(new Dictionary<string, long> { ["http_400"] = rejectedCount }, result.DroppedByReason);
        Assert.Equal(Samples.Count - rejectedCount, result.SamplesWritten);
        Assert.Empty(harness.Delays); // never retried
        Assert.Equal(clean, server.AllPoints.ToHashSet());
        var expectedAccepted = clean.Except(WriteTestData.Points(rejected.Body)).ToHashSet();
        Assert.Equal(expectedAccepted, server.AcceptedPoints.ToHashSet());
        Assert.Equal(rejectedCount, client.Metrics.Snapshot().SamplesDroppedByReason["http_400"]);
    }

    [Fact]
    public async Task WriteAsync_ConnectionRefusedThenUp_NothingLost()
    {
        var clean = await RemoteWriteClientTestHarness.CleanRunAsync(Samples);
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(204), start: false);
        var harness = new RemoteWriteClientTestHarness();
        harness.OnDelay = waits =>
        {
            if (waits >= 4) server.Start();
        };
        // One request at a time: the server starts inside the client's retry wait, with no connection attempt in
        // flight. With two, the other chain's attempt could reach the port in the microseconds between the listener's
        // listen() and its first accept, and .NET's managed HttpListener then fails to start (its endpoint
        // listener's constructor accepts that connection before its fields are set) and leaks the bound port, so the
        // server could never come up (seen once in CI: the test waited for it for good).
        using var client = harness.Client(server.Endpoint, concurrency: 1);

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Written, result.Outcome);
        Assert.True(harness.Delays.Count >= 4);
        Assert.Equal(clean, server.AllPoints.ToHashSet());
        Assert.Equal(Samples.Count, result.SamplesWritten);
    }

    [Fact]
    public async Task WriteAsync_ServerSlowerThanTimeout_Retried()
    {
        var clean = await RemoteWriteClientTestHarness.CleanRunAsync(Samples);
        using var server = new FakeRemoteWriteServer((i, _) => i == 0 ? new ServerReply(204, Stall: TimeSpan.FromSeconds(30)) : new ServerReply(204));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint, timeout: TimeSpan.FromSeconds(2));

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Written, result.Outcome);
        Assert.NotEmpty(harness.Delays); // the stalled request was retried
        var stalled = server.Received.Single(r => r.Index == 0);
        Assert.Equal(2, server.Received.Count(r => WriteTestData.Points(r.Body).SequenceEqual(WriteTestData.Points(stalled.Body))));
        Assert.Equal(clean, server.AllPoints.ToHashSet());
        WriteTestData.AssertNoConflicts(server.AllPoints);
    }

    [Fact]
    public async Task WriteAsync_RetryableBeyondBudget_FailsWithoutCountingDrops()
    {
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(503));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint, maxElapsedSeconds: 20);

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Failed, result.Outcome);
        Assert.Empty(result.DroppedByReason);
        Assert.Equal(0, result.SamplesWritten);
        Assert.NotEmpty(harness.Delays);
        Assert.Empty(client.Metrics.Snapshot().SamplesDroppedByReason);
        Assert.Equal(WriteTestData.Expected(Samples), server.AllPoints.ToHashSet());
    }

    [Fact]
    public async Task WriteAsync_FailsAfterSomeRequestsWereAccepted_CountsEachSampleOnceWhenOfferedAgain()
    {
        var healthy = false;
        // One request at a time: the first two (up to 50 samples each) are accepted, then the endpoint fails until it is healthy again.
        using var server = new FakeRemoteWriteServer((i, _) => healthy || i < 2 ? new ServerReply(204) : new ServerReply(503));
        using var client = new RemoteWriteClientTestHarness().Client(server.Endpoint, concurrency: 1, maxElapsedSeconds: 20);

        var failed = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Failed, failed.Outcome);
        Assert.InRange(failed.SamplesWritten, 1, Samples.Count - 1);
        Assert.Equal(server.AcceptedPoints.Count(), failed.SamplesWritten); // what the server took, reported to the caller
        Assert.Equal(0, client.Metrics.Snapshot().SamplesWritten); // not counted: the flusher offers the whole call again

        healthy = true;
        var written = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Written, written.Outcome);
        Assert.Equal(Samples.Count, client.Metrics.Snapshot().SamplesWritten); // 240, not 240 + the first call's part
        Assert.Equal(WriteTestData.Expected(Samples), server.AcceptedPoints.ToHashSet());
    }

    [Fact]
    public async Task WriteAsync_FailsAfterSomeRequestsWereAccepted_SettlingCountsWhatTheServerTook()
    {
        // The flush gives the call up (its backlog bound): what the server accepted is counted written then, once.
        using var server = new FakeRemoteWriteServer((i, _) => i < 2 ? new ServerReply(204) : new ServerReply(503));
        using var client = new RemoteWriteClientTestHarness().Client(server.Endpoint, concurrency: 1, maxElapsedSeconds: 20);

        var failed = await client.WriteAsync(Samples, CancellationToken.None);
        Assert.Equal(0, client.Metrics.Snapshot().SamplesWritten);
        failed.SettlePartial!();
        failed.SettlePartial!();

        Assert.Equal(server.AcceptedPoints.Count(), client.Metrics.Snapshot().SamplesWritten);
        Assert.InRange(client.Metrics.Snapshot().SamplesWritten, 1, Samples.Count - 1);
        Assert.Empty(client.Metrics.Snapshot().SamplesDroppedByReason);
    }

    [Fact]
    public async Task WriteAsync_401WithNonRefreshableAuth_ThrowsFatalNamingStatus()
    {
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(401, Body: "no"));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint, auth: new BasicRemoteWriteAuth("u", "wrong"));

        var ex = await Assert.ThrowsAsync<RemoteWriteFatalException>(() => client.WriteAsync(Samples, CancellationToken.None));

        Assert.Contains("401", ex.Message);
        Assert.Contains("basic", ex.Message);
        Assert.Empty(harness.Delays);
    }

    [Fact]
    public async Task WriteAsync_OversizedSeriesWith500_ChunksArriveInTimeOrderOneAtATime()
    {
        var series = WriteTestData.Flagship(series: 1, points: 120);
        using var server = new FakeRemoteWriteServer((i, _) => i == 0 ? new ServerReply(500) : new ServerReply(204));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint, maxSamples: 50, concurrency: 4);

        var result = await client.WriteAsync(series, CancellationToken.None);

        Assert.Equal(WriteOutcome.Written, result.Outcome);
        var firstTimestamps = server.Received.Select(r => r.Body.Timeseries.Single().Samples[0].Timestamp).ToList();
        // Chunk 1 twice (500, then 204), chunks 2 and 3 once; had the chunks been in flight together,
        // chunk 2 or 3 would have arrived before chunk 1's retry.
        Assert.Equal(4, firstTimestamps.Count);
        Assert.Equal(firstTimestamps.Order(), firstTimestamps);
        Assert.Equal(WriteTestData.Expected(series), server.AcceptedPoints.ToHashSet());
    }

    [Fact]
    public async Task WriteAsync_OversizedSeriesChunkFailsBeyondBudget_LaterChunksNotSent()
    {
        var series = WriteTestData.Flagship(series: 1, points: 120);
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(503));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint, maxSamples: 50, maxElapsedSeconds: 5);

        var result = await client.WriteAsync(series, CancellationToken.None);

        Assert.Equal(WriteOutcome.Failed, result.Outcome);
        Assert.All(server.Received, r => Assert.Equal(WriteTestData.BaseTimestampMs, r.Body.Timeseries.Single().Samples[0].Timestamp));
    }

    [Fact]
    public async Task WriteAsync_Written_RecordsBytesLatencyAndFreshness()
    {
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(204));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint);
        var newest = Samples.Max(s => s.NewestEventTimeMs);
        var expectedFreshness = harness.Time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(newest);

        await client.WriteAsync(Samples, CancellationToken.None);

        var snapshot = client.Metrics.Snapshot();
        Assert.Equal(server.Received.Count, snapshot.Requests);
        Assert.Equal(0, snapshot.RequestsFailed);
        Assert.True(snapshot.BytesSent > 0);
        Assert.Equal(expectedFreshness, snapshot.MaxFreshness);
    }
}
