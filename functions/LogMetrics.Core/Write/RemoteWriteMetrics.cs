using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

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
}

/// <summary>
/// Self-metrics of the Write stage: plain thread-safe counters (for <see cref="Snapshot"/>) mirrored
/// to <c>System.Diagnostics.Metrics</c> instruments on the <c>LogMetrics</c> meter (for OpenTelemetry).
/// </summary>
public sealed class RemoteWriteMetrics : IDisposable
{
    /// <summary>The meter every LogMetrics stage reports on.</summary>
    public const string MeterName = "LogMetrics";

    private readonly Meter _meter;
    private readonly Counter<long> _written;
    private readonly Counter<long> _retried;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _bytes;
    private readonly Histogram<double> _latency;
    private readonly Histogram<double> _freshness;
    private readonly ConcurrentDictionary<string, StrongBox<long>> _droppedByReason = new(StringComparer.Ordinal);
    private long _samplesWritten, _samplesRetried, _requestCount, _requestsFailed, _bytesSent;
    private long _latencyTicksSum, _latencyTicksMax, _lastFreshnessMs = -1, _maxFreshnessMs = -1;

    public RemoteWriteMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _written = _meter.CreateCounter<long>("logmetrics_write_samples_written_total", "{sample}", "Samples accepted by the remote-write endpoint (2xx).");
        _retried = _meter.CreateCounter<long>("logmetrics_write_samples_retried_total", "{sample}", "Samples re-sent after a retryable failure.");
        _dropped = _meter.CreateCounter<long>("logmetrics_write_samples_dropped_total", "{sample}", "Samples rejected permanently, by reason (e.g. http_400).");
        _requests = _meter.CreateCounter<long>("logmetrics_write_requests_total", "{request}", "Remote-write HTTP attempts, by outcome.");
        _bytes = _meter.CreateCounter<long>("logmetrics_write_bytes_total", "By", "Compressed request bytes sent.");
        _latency = _meter.CreateHistogram<double>("logmetrics_write_request_duration_seconds", "s", "Remote-write request latency.");
        _freshness = _meter.CreateHistogram<double>("logmetrics_write_freshness_seconds", "s", "End-to-end freshness: now minus the newest event time of a written request.");
    }

    /// <summary>Records one HTTP attempt (any outcome) and its latency.</summary>
    public void RequestCompleted(RemoteWriteOutcome outcome, long compressedBytes, TimeSpan latency)
    {
        Interlocked.Increment(ref _requestCount);
        if (outcome != RemoteWriteOutcome.Success) Interlocked.Increment(ref _requestsFailed);
        Interlocked.Add(ref _bytesSent, compressedBytes);
        Interlocked.Add(ref _latencyTicksSum, latency.Ticks);
        Max(ref _latencyTicksMax, latency.Ticks);
        _requests.Add(1, new KeyValuePair<string, object?>("outcome", OutcomeTag(outcome)));
        _bytes.Add(compressedBytes);
        _latency.Record(latency.TotalSeconds);
    }

    /// <summary>Samples of a 2xx request, and its freshness (null when no sample carried an event time).</summary>
    public void SamplesWritten(long samples, TimeSpan? freshness)
    {
        Interlocked.Add(ref _samplesWritten, samples);
        _written.Add(samples);
        if (freshness is { } f)
        {
            var ms = (long)f.TotalMilliseconds;
            Interlocked.Exchange(ref _lastFreshnessMs, ms);
            Max(ref _maxFreshnessMs, ms);
            _freshness.Record(f.TotalSeconds);
        }
    }

    /// <summary>Samples about to be sent again after a retryable failure.</summary>
    public void SamplesRetried(long samples)
    {
        Interlocked.Add(ref _samplesRetried, samples);
        _retried.Add(samples);
    }

    /// <summary>Samples rejected for good; <paramref name="reason"/> is e.g. <c>http_400</c>.</summary>
    public void SamplesDropped(string reason, long samples)
    {
        var box = _droppedByReason.GetOrAdd(reason, static _ => new StrongBox<long>());
        Interlocked.Add(ref box.Value, samples);
        _dropped.Add(samples, new KeyValuePair<string, object?>("reason", reason));
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
            max < 0 ? null : TimeSpan.FromMilliseconds(max));
    }

    public void Dispose() => _meter.Dispose();

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
