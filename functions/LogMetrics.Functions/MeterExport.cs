using System.Diagnostics.Metrics;
using LogMetrics.Core.Telemetry;
using Microsoft.ApplicationInsights;
using Microsoft.Extensions.Hosting;

namespace LogMetrics.Functions;

/// <summary>
/// Exports the core's <c>LogMetrics</c> meter (stage self-metrics, DESIGN §6) to Application Insights
/// as custom metrics: a <see cref="MeterListener"/> feeds each measurement to
/// <c>TelemetryClient.GetMetric(name)</c>, which pre-aggregates per minute. (The Application Insights
/// 2.x SDK does not collect System.Diagnostics.Metrics instruments by itself.)
/// </summary>
internal sealed class MeterExport(TelemetryClient telemetry) : IHostedService, IDisposable
{
    private readonly MeterListener _listener = new();

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == PipelineCounters.MeterName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => telemetry.GetMetric(instrument.Name).TrackValue(value));
        _listener.SetMeasurementEventCallback<int>((instrument, value, _, _) => telemetry.GetMetric(instrument.Name).TrackValue(value));
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) => telemetry.GetMetric(instrument.Name).TrackValue(value));
        _listener.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _listener.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _listener.Dispose();
}
