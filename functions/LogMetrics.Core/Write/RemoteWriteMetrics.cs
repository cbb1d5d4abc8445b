using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using LogMetrics.Core.Telemetry;

namespace LogMetrics.Core.Write;

/// <summary>Write-stage counters at one moment, for the console's final report.</summary>
public sealed record RemoteWriteMetricsSnapshot(
    long SamplesWritten,
    long SamplesRetried,
    IReadOnlyDictionary<string, long> SamplesDroppedByReason,
    long Requests,
    long RequestsFailed,
    long BytesSent,
    TimeSpan MeanRequestLatency,
    TimeSpan MaxRequestLatency,
    TimeSpan? LastFreshness,
    TimeSpan? MaxFreshness)
{
    public long SamplesDropped => SamplesDroppedByReason.Values.Sum();

    /// <summary>Requests that still failed after their last retry.</summary>
    public long BatchesFailed { get; init; }
}

/// <summary>
/// Self-metrics of the Write stage: running totals (for <see cref="Snapshot"/>, the console's report)
/// recorded on the instruments of <see cref="PipelineMeter"/>, the one definition of every
/// self-metric, each with <c>stage="write"</c>.
/// </summary>
public sealed class RemoteWriteMetrics : IDisposable
{
    /// <summary>The meter every LogMetrics stage reports on.</summary>
    public const string MeterName = PipelineMeter.Name;

    private static readonly KeyValuePair<string, object?> Stage = new(PipelineMeter.StageTag, PipelineMeter.Stage.Write);
    private readonly ConcurrentDictionary<string, StrongBox<long>> _droppedByReason = new(StringComparer.Ordinal);
    private long _samplesWritten, _samplesRetried, _requestCount, _requestsFailed, _bytesSent, _batchesFailed;
    private long _latencyTicksSum, _latencyTicksMax, _lastFreshnessMs = -1, _maxFreshnessMs = -1;

    /// <summary>Records one HTTP attempt (any outcome) and its latency.</summary>
    public void RequestCompleted(RemoteWriteOutcome outcome, long compressedBytes, TimeSpan latency)
    {
        Interlocked.Increment(ref _requestCount);
        if (outcome != RemoteWriteOutcome.Success) Interlocked.Increment(ref _requestsFailed);
        Interlocked.Add(ref _bytesSent, compressedBytes);
        Interlocked.Add(ref _latencyTicksSum, latency.Ticks);
        Max(ref _latencyTicksMax, latency.Ticks);
        PipelineMeter.Requests.Add(1, Stage, new KeyValuePair<string, object?>("outcome", OutcomeTag(outcome)));
        PipelineMeter.Bytes.Add(compressedBytes, Stage);
        PipelineMeter.RequestDuration.Record(latency.TotalSeconds, Stage);
    }

    /// <summary>Samples of a 2xx request, and its freshness (null when no sample carried an event time).</summary>
    public void SamplesWritten(long samples, TimeSpan? freshness)
    {
        Interlocked.Add(ref _samplesWritten, samples);
        PipelineMeter.Written.Add(samples, Stage);
        if (freshness is { } f)
        {
            var ms = (long)f.TotalMilliseconds;
            Interlocked.Exchange(ref _lastFreshnessMs, ms);
            Max(ref _maxFreshnessMs, ms);
            PipelineMeter.Freshness.Record(f.TotalSeconds, Stage);
        }
    }

    /// <summary>Samples about to be sent again after a retryable failure.</summary>
    public void SamplesRetried(long samples)
    {
        Interlocked.Add(ref _samplesRetried, samples);
        PipelineMeter.Retried.Add(samples, Stage);
    }

    /// <summary>A request that still failed after its last retry (its samples stay pending in the flush).</summary>
    public void BatchFailed()
    {
        Interlocked.Increment(ref _batchesFailed);
        PipelineMeter.BatchesFailed.Add(1, Stage);
    }

    /// <summary>Requests that failed after their last retry so far.</summary>
    public long BatchesFailed => Interlocked.Read(ref _batchesFailed);

    /// <summary>Samples rejected for good; <paramref name="reason"/> is e.g. <c>http_400</c>.</summary>
    public void SamplesDropped(string reason, long samples)
    {
        var box = _droppedByReason.GetOrAdd(reason, static _ => new StrongBox<long>());
        Interlocked.Add(ref box.Value, samples);
        PipelineMeter.WriteDropped.Add(samples, Stage, new KeyValuePair<string, object?>("reason", reason));
    }

    public RemoteWriteMetricsSnapshot Snapshot()
    {
        var requests = Interlocked.Read(ref _requestCount);
        var last = Interlocked.Read(ref _lastFreshnessMs);
        var max = Interlocked.Read(ref _maxFreshnessMs);
        return new RemoteWriteMetricsSnapshot(
            Interlocked.Read(ref _samplesWritten),
            Interlocked.Read(ref _samplesRetried),
            _droppedByReason.ToDictionary(kv => kv.Key, kv => Interlocked.Read(ref kv.Value.Value), StringComparer.Ordinal),
            requests,
            Interlocked.Read(ref _requestsFailed),
            Interlocked.Read(ref _bytesSent),
            requests == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicksSum) / requests),
            TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicksMax)),
            last < 0 ? null : TimeSpan.FromMilliseconds(last),
            max < 0 ? null : TimeSpan.FromMilliseconds(max))
        {
            BatchesFailed = Interlocked.Read(ref _batchesFailed),
        };
    }

    /// <summary>Nothing to release: the instruments belong to <see cref="PipelineMeter"/>.</summary>
    public void Dispose()
    {
    }

    private static string OutcomeTag(RemoteWriteOutcome outcome) => outcome switch
    {
        RemoteWriteOutcome.Success => "success",
        RemoteWriteOutcome.Retryable => "retryable",
        RemoteWriteOutcome.Permanent => "permanent",
        _ => "fatal",
    };

    private static void Max(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current) return;
            current = seen;
        }
    }
}
