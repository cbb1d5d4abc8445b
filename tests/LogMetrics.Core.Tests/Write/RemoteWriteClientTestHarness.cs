using System.Collections.Concurrent;
using LogMetrics.Core.Write;
using FlushSample = LogMetrics.Core.Flush.Sample;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

/// <summary>Builds clients whose retry waits are recorded and advance a manual clock instead of sleeping.</summary>
internal sealed class RemoteWriteClientTestHarness
{
    private readonly ConcurrentQueue<TimeSpan> _delays = new();

    public ManualTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 16, 0, 0, 0, TimeSpan.Zero));

    /// <summary>Called with the number of waits so far, after each wait.</summary>
    public Action<int>? OnDelay { get; set; }

    public IReadOnlyList<TimeSpan> Delays => _delays.ToList();

    public RemoteWriteClient Client(
        Uri endpoint,
        IRemoteWriteAuth? auth = null,
        int maxSamples = 50,
        int concurrency = 2,
        TimeSpan? timeout = null,
        int maxElapsedSeconds = 300,
        RemoteWriteMetrics? metrics = null,
        TimeSpan? runBudget = null)
    {
        var options = new RemoteWriteOptions(endpoint, maxSamples, 1 << 20, concurrency, timeout ?? TimeSpan.FromSeconds(10),
            TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(maxElapsedSeconds)) { RunRetryBudget = runBudget };
        return new RemoteWriteClient(options, auth ?? NoRemoteWriteAuth.Instance, new RemoteWriteServices
        {
            Time = Time,
            Random = new Random(7),
            Delay = (delay, _) =>
            {
                _delays.Enqueue(delay);
                Time.Advance(delay);
                OnDelay?.Invoke(_delays.Count);
                return Task.CompletedTask;
            },
            Metrics = metrics,
        });
    }

    /// <summary>What a healthy server receives for <paramref name="samples"/>: the reference every fault run is compared with.</summary>
    public static async Task<HashSet<ReceivedPoint>> CleanRunAsync(IReadOnlyList<FlushSample> samples)
    {
        using var server = new FakeRemoteWriteServer((_, _) => new ServerReply(204));
        using var client = new RemoteWriteClientTestHarness().Client(server.Endpoint);
        var result = await client.WriteAsync(samples, CancellationToken.None);
        Assert.Equal(global::LogMetrics.Core.Flush.WriteOutcome.Written, result.Outcome);
        var points = server.AllPoints.ToHashSet();
        Assert.Equal(WriteTestData.Expected(samples), points);
        return points;
    }
}
