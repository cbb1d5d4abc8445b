using System.Diagnostics.Metrics;
using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Telemetry;

/// <summary>
/// Turns the <see cref="PipelineMeter"/> instruments into Prometheus samples, so the pipeline's own
/// counters travel through the same remote write as the metrics it produces (issue 11 §2). A
/// <see cref="MeterListener"/> keeps, per instrument and tag set, the cumulative value: counters and
/// up-down counters add their measurements, observable counters report their total when collected,
/// histograms count into their advised buckets (written as <c>_bucket{le}</c>, <c>_sum</c>,
/// <c>_count</c>). Tags become labels; <paramref name="constantLabels"/> (e.g. <c>job</c>,
/// <c>instance</c>) are added to every series. Thread-safe.
/// </summary>
public sealed class SelfMetricsCollector : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Series> _series = new(StringComparer.Ordinal);
    private readonly IReadOnlyList<Label> _constantLabels;

    public SelfMetricsCollector(IReadOnlyList<Label> constantLabels)
    {
        _constantLabels = constantLabels;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == PipelineMeter.Name) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>
    /// The cumulative value of every series seen so far, stamped <paramref name="timestampMs"/>
    /// (observable instruments are read first). Labels sorted by name, as <see cref="Sample"/> wants.
    /// </summary>
    public List<Sample> Collect(long timestampMs)
    {
        _listener.RecordObservableInstruments();
        var samples = new List<Sample>();
        lock (_gate)
        {
            foreach (var s in _series.Values)
            {
                if (s.Bounds is null)
                {
                    samples.Add(new Sample(s.Name, s.Labels, timestampMs, s.Value));
                    continue;
                }
                long cumulative = 0;
                for (var i = 0; i <= s.Bounds.Count; i++)
                {
                    cumulative += s.Buckets![i];
                    var le = i < s.Bounds.Count ? s.Bounds[i].ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "+Inf";
                    samples.Add(new Sample(s.Name + "_bucket", Sorted([.. s.Labels, new Label("le", le)]), timestampMs, cumulative));
                }
                samples.Add(new Sample(s.Name + "_sum", s.Labels, timestampMs, s.Value));
                samples.Add(new Sample(s.Name + "_count", s.Labels, timestampMs, cumulative));
            }
        }
        samples.Sort(SampleOrder.Instance);
        return samples;
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labels = new List<Label>(tags.Length + _constantLabels.Count);
        foreach (var tag in tags)
        {
            if (tag.Value?.ToString() is { Length: > 0 } text) labels.Add(new Label(tag.Key, text));
        }
        foreach (var label in _constantLabels)
        {
            if (!labels.Exists(l => l.Name == label.Name)) labels.Add(label);
        }
        var sorted = Sorted(labels);
        var key = Sample.SeriesIdOf(instrument.Name, sorted);
        lock (_gate)
        {
            if (!_series.TryGetValue(key, out var series))
            {
                var bounds = (instrument as Histogram<double>)?.Advice?.HistogramBucketBoundaries;
                series = new Series(instrument.Name, sorted, bounds);
                _series[key] = series;
            }
            switch (instrument)
            {
                case ObservableCounter<long> or ObservableCounter<double> or ObservableGauge<long> or ObservableGauge<double>:
                    series.Value = value;
                    break;
                case Histogram<double>:
                    series.Value += value;
                    series.Buckets![BucketOf(series.Bounds!, value)]++;
                    break;
                default:
                    series.Value += value;
                    break;
            }
        }
    }

    private static int BucketOf(IReadOnlyList<double> bounds, double value)
    {
        for (var i = 0; i < bounds.Count; i++)
        {
            if (value <= bounds[i]) return i;
        }
        return bounds.Count;
    }

    private static Label[] Sorted(List<Label> labels)
    {
        var array = labels.ToArray();
        Array.Sort(array, (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return array;
    }

    public void Dispose() => _listener.Dispose();

    private sealed class Series(string name, IReadOnlyList<Label> labels, IReadOnlyList<double>? bounds)
    {
        public string Name { get; } = name;
        public IReadOnlyList<Label> Labels { get; } = labels;
        public IReadOnlyList<double>? Bounds { get; } = bounds;
        public long[]? Buckets { get; } = bounds is null ? null : new long[bounds.Count + 1];
        public double Value { get; set; }
    }
}

/// <summary>
/// A sample writer that, after each successful write of closed windows, writes the pipeline's own
/// counters (<see cref="SelfMetricsCollector"/>) through the same writer, in a request of their own
/// (a rejected self-metric never takes the windows' samples down with it).
/// <para>Timestamps: each snapshot is stamped with the start of the newest window the flush closed,
/// i.e. in event time, like every sample the pipeline writes. A replay of an old corpus then puts its
/// self-metrics in the same time band as its samples (Prometheus refuses samples about 1 h older than
/// the newest it holds), the dashboards plot both over the same axis, and per series the timestamps
/// only increase (a snapshot is written only when the newest closed window moved forward). Use
/// <see cref="WriteFinalAsync"/> after the last flush to record the final totals.</para>
/// </summary>
public sealed class SelfMetricsWriter(ISampleWriter inner, SelfMetricsCollector collector) : ISampleWriter
{
    private long _lastMs = long.MinValue;

    /// <summary>Self-metric samples written (or offered) so far.</summary>
    public long SamplesOffered { get; private set; }

    public async Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        var result = await inner.WriteAsync(samples, cancellationToken).ConfigureAwait(false);
        if (result.Outcome == WriteOutcome.Failed || samples.Count == 0) return result;
        var newest = samples.Max(s => s.TimestampMs);
        if (newest > _lastMs) await WriteSnapshotAsync(newest, cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>Writes the final totals, stamped one second after the last snapshot (nothing when there was none).</summary>
    public async Task WriteFinalAsync(CancellationToken cancellationToken)
    {
        if (_lastMs != long.MinValue) await WriteSnapshotAsync(_lastMs + 1000, cancellationToken).ConfigureAwait(false);
    }

    private async Task WriteSnapshotAsync(long timestampMs, CancellationToken cancellationToken)
    {
        // Never reuse a timestamp, even when this write fails: a different value at the same
        // timestamp would be refused as a duplicate.
        _lastMs = timestampMs;
        var self = collector.Collect(timestampMs);
        SamplesOffered += self.Count;
        await inner.WriteAsync(self, cancellationToken).ConfigureAwait(false);
    }
}
