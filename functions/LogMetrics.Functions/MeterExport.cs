using System.Diagnostics.Metrics;
using LogMetrics.Core.Telemetry;
using Microsoft.ApplicationInsights;
using Microsoft.Extensions.Hosting;

namespace LogMetrics.Functions;

/// <summary>
/// Exports the core's <c>LogMetrics</c> meter (stage self-metrics, DESIGN §6) to Application Insights
/// as custom metrics: a <see cref="MeterListener"/> feeds each measurement to
/// <c>TelemetryClient.GetMetric(name[, dimension…])</c>, which pre-aggregates per minute. Observable
/// instruments (lookup counts) are collected every 30 s. (The Application Insights 2.x SDK does not
/// collect System.Diagnostics.Metrics instruments by itself.)
/// </summary>
internal sealed class MeterExport(TelemetryClient telemetry) : IHostedService, IDisposable
{
    private readonly MeterListener _listener = new();
    private Timer? _collect;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == PipelineCounters.MeterName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Track(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Track(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Track(instrument, value, tags));
        _listener.Start();
        _collect = new Timer(_ => _listener.RecordObservableInstruments(), null, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));
        return Task.CompletedTask;
    }

    /// <summary>Up to two tags become metric dimensions (lookup, result); others are not used by the core.</summary>
    private void Track(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        switch (tags.Length)
        {
            case 0:
                telemetry.GetMetric(instrument.Name).TrackValue(value);
                break;
            case 1:
                telemetry.GetMetric(instrument.Name, tags[0].Key).TrackValue(value, tags[0].Value?.ToString());
                break;
            default:
                telemetry.GetMetric(instrument.Name, tags[0].Key, tags[1].Key).TrackValue(value, tags[0].Value?.ToString(), tags[1].Value?.ToString());
                break;
        }
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
    }
}
