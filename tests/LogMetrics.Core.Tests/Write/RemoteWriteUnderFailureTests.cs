using LogMetrics.Core.Flush;
using LogMetrics.Core.Write;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

/// <summary>
/// Remote write when the endpoint fails for good: one retry budget for the whole run, every sample
/// ends written or dropped with a reason, a 413 is halved, a refused credential stops the run
/// with every sample of the call counted.
/// </summary>
[Collection(LocalServers.Name)]
public class RemoteWriteUnderFailureTests
{
    private static readonly List<Sample> Samples = WriteTestData.Flagship(series: 30, points: 8); // 240 samples, 50 per request

    private static long Dropped(WriteResult r) => r.DroppedByReason.Values.Sum();

    [Fact]
    public async Task DeadEndpoint_RunBudgetSpentOnce_EverySampleDroppedWithReasonAcrossFlushes()
    {
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(503));
        var harness = new RemoteWriteClientTestHarness();
        var budget = TimeSpan.FromSeconds(20);
        using var client = harness.Client(server.Endpoint, maxElapsedSeconds: 3600, runBudget: budget);

        var first = await client.WriteAsync(Samples, CancellationToken.None);
        var requestsAfterFirst = server.Received.Count;
        var second = await client.WriteAsync(Samples, CancellationToken.None);

        // Nothing is left pending (no Failed): each flush's samples are all counted as dropped.
        Assert.Equal(WriteOutcome.Dropped, first.Outcome);
        Assert.Equal(0, first.SamplesWritten);
        Assert.Equal(Samples.Count, Dropped(first));
        Assert.True(first.DroppedByReason[DropReasons.GaveUp] > 0);
        Assert.Subset(new HashSet<string> { DropReasons.GaveUp, DropReasons.OverBudget }, first.DroppedByReason.Keys.ToHashSet());
        // The budget is one for the run: the waits of all requests together stay within it,
        // and the next flush sends nothing.
        Assert.True(harness.Delays.Aggregate(TimeSpan.Zero, (a, d) => a + d) <= budget);
        Assert.True(client.Budget!.Exhausted);
        Assert.Equal(new Dictionary<string, long> { [DropReasons.OverBudget] = Samples.Count }, second.DroppedByReason);
        Assert.Equal(requestsAfterFirst, server.Received.Count);
        var snapshot = client.Metrics.Snapshot();
        Assert.Equal(2L * Samples.Count, snapshot.SamplesWritten + snapshot.SamplesDropped);
    }

    [Fact]
    public async Task RefusedConnection_RunBudgetSpent_DroppedAsUnreachable()
    {
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(204), start: false);
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint, concurrency: 1, runBudget: TimeSpan.FromSeconds(5));

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Dropped, result.Outcome);
        Assert.Equal(Samples.Count, Dropped(result));
        Assert.True(result.DroppedByReason[DropReasons.Unreachable] > 0);
        Assert.Equal(Samples.Count - result.DroppedByReason[DropReasons.Unreachable], result.DroppedByReason.GetValueOrDefault(DropReasons.OverBudget));
    }

    [Fact]
    public async Task TransientOutageWithinBudget_NothingLost()
    {
        var clean = await RemoteWriteClientTestHarness.CleanRunAsync(Samples);
        using var server = new FakeRemoteWriteServer((i, _) => i < 4 ? new ServerReply(503) : new ServerReply(204));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint, runBudget: TimeSpan.FromSeconds(60));

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Written, result.Outcome);
        Assert.Equal(clean, server.AcceptedPoints.ToHashSet());
        Assert.False(client.Budget!.Exhausted);
        Assert.True(client.Budget.Spent > TimeSpan.Zero);
    }

    [Fact]
    public async Task PayloadTooLarge_HalvedUntilAccepted_NothingLostNothingRepeatedAfterAcceptance()
    {
        var clean = await RemoteWriteClientTestHarness.CleanRunAsync(Samples);
        // The receiver takes at most 12 samples per request.
        using var server = new FakeRemoteWriteServer((_, body) =>
            body.Timeseries.Sum(t => t.Samples.Count) > 12 ? new ServerReply(413, Body: "too large") : new ServerReply(204));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint, runBudget: TimeSpan.FromSeconds(60));

        var result = await client.WriteAsync(Samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Written, result.Outcome);
        Assert.Equal(Samples.Count, result.SamplesWritten);
        Assert.Equal(clean, server.AcceptedPoints.ToHashSet());
        Assert.Equal(Samples.Count, server.AcceptedPoints.Count()); // each sample accepted exactly once
        Assert.Empty(harness.Delays); // a 413 is not a retry with backoff
    }

    [Fact]
    public async Task PayloadTooLargeForOneSample_DroppedAsHttp413()
    {
        var one = WriteTestData.Flagship(series: 1, points: 2);
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(413));
        var harness = new RemoteWriteClientTestHarness();
        using var client = harness.Client(server.Endpoint, runBudget: TimeSpan.FromSeconds(60));

        var result = await client.WriteAsync(one, CancellationToken.None);

        Assert.Equal(new Dictionary<string, long> { ["http_413"] = 2 }, result.DroppedByReason);
        Assert.Equal(3, server.Received.Count); // 2 samples, then 1 + 1
    }

    [Fact]
    public async Task Halve_SplitsInsideASeriesKeepingOrder()
    {
        var series = WriteTestData.Flagship(series: 1, points: 7);
        var batch = Assert.Single(Assert.Single(new RemoteWriteBatcher(50, 1 << 20).Plan(series)));

        var (first, second) = RemoteWriteClient.Halve(batch);

        Assert.Equal(3, first.SampleCount);
        Assert.Equal(4, second.SampleCount);
        var chunks = first.Chunks.Concat(second.Chunks).ToList();
        Assert.Equal([0, 3], chunks.Select(c => c.Start));
        Assert.Equal([3, 4], chunks.Select(c => c.Count));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Unauthorized_AfterOneRefresh_StopsWithEverySampleCounted()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, "stale-token");
        try
        {
            using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(401, Body: "bad token"));
            var harness = new RemoteWriteClientTestHarness();
            using var client = harness.Client(server.Endpoint, auth: BearerRemoteWriteAuth.FromFile(file), runBudget: TimeSpan.FromSeconds(60));

            var ex = await Assert.ThrowsAsync<RemoteWriteFatalException>(() => client.WriteAsync(Samples, CancellationToken.None));

            Assert.Contains("401", ex.Message);
            Assert.Contains("after refreshing", ex.Message);
            var snapshot = client.Metrics.Snapshot();
            Assert.Equal(0, snapshot.SamplesWritten);
            Assert.Equal(new Dictionary<string, long> { [DropReasons.Unauthorized] = Samples.Count }, snapshot.SamplesDroppedByReason);
            // Each request that reached the server was sent at most twice (before and after the refresh).
            Assert.All(server.Received.GroupBy(r => string.Join(",", WriteTestData.Points(r.Body))), g => Assert.InRange(g.Count(), 1, 2));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
