using System.Diagnostics.Metrics;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Write;
using Microsoft.ApplicationInsights;
using Microsoft.ApplicationInsights.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LogMetrics.Functions;

/// <summary>
/// Exports the core's <c>LogMetrics</c> meter (<see cref="PipelineMeter"/>, every self-metric) two ways:
/// <list type="bullet">
/// <item>to Application Insights as custom metrics: a <see cref="MeterListener"/> feeds each measurement
/// to <c>TelemetryClient.GetMetric(name, tag names…)</c>, which pre-aggregates per minute (the
/// Application Insights 2.x SDK does not collect System.Diagnostics.Metrics instruments by itself);</item>
/// <item>as Prometheus series through the app's remote write, every 30 s (<see cref="SelfMetricsCollector"/>),
/// labelled <c>job="logmetrics"</c> and <c>instance</c> (this worker), so the pipeline dashboard and
/// alert rules work in Azure as they do locally. Every instance runs this, ingest-only ones included.
/// Timestamps here are wall-clock: live event time is close to it, and an instance that only ingests
/// never closes a window to stamp them with.</item>
/// </list>
/// Observable instruments (lookup counts) are collected on the same 30 s tick.
/// </summary>
internal sealed class MeterExport(TelemetryClient telemetry, RemoteWriteClient remoteWrite, TimeProvider clock, ILogger<MeterExport> logger) : IHostedService, IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);
    private readonly MeterListener _listener = new();
    private readonly SelfMetricsCollector _self = new([new Label("instance", InstanceName()), new Label("job", "logmetrics")]);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ITimer? _collect;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == PipelineMeter.Name) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Track(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Track(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Track(instrument, value, tags));
        _listener.Start();
        _collect = clock.CreateTimer(_ => _ = TickAsync(), null, Interval, Interval);
        return Task.CompletedTask;
    }

    private async Task TickAsync()
    {
        if (!await _gate.WaitAsync(0).ConfigureAwait(false)) return; // the previous tick is still writing
        try
        {
            _listener.RecordObservableInstruments();
            var samples = _self.Collect(clock.GetUtcNow().ToUnixTimeMilliseconds());
            await remoteWrite.WriteAsync(samples, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RemoteWriteFatalException or HttpRequestException or IOException or TimeoutException or OperationCanceledException)
        {
            // Counted by the write stage's own counters; the next tick writes the totals again.
            Log.SelfMetricsFailed(logger, e.Message);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Every tag becomes a metric dimension (at most four per instrument in the core: stage, lane, reason or lookup/result/outcome).</summary>
    private void Track(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var names = new string[tags.Length];
        var values = new string[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            names[i] = tags[i].Key;
            values[i] = tags[i].Value?.ToString() ?? "";
        }
        var metric = telemetry.GetMetric(new MetricIdentifier(MetricIdentifier.DefaultMetricNamespace, instrument.Name, names));
        if (metric.TryGetDataSeries(out var series, true, values)) series.TrackValue(value);
    }

    private static string InstanceName()
    {
        var id = Environment.GetEnvironmentVariable("WEBSITE_INSTANCE_ID");
        return string.IsNullOrEmpty(id) ? Environment.MachineName : id[..Math.Min(12, id.Length)];
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _collect?.Dispose();
        _listener.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _collect?.Dispose();
        _listener.Dispose();
        _self.Dispose();
        _gate.Dispose();
    }
}
