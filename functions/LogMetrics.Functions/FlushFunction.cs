using LogMetrics.Core.Hosting;
using LogMetrics.Functions.Hosting;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;

namespace LogMetrics.Functions;

/// <summary>
/// Timer → flush: read every shard entity, write the windows they have sealed, tell them to evict and
/// seal further. The coordinator lives in the <see cref="FlushTicker"/> singleton; this binds the
/// durable client of the invocation and calls it. The timer is a singleton across the scale-out and
/// its invocations never overlap (AZURE-API §3).
/// </summary>
public sealed class FlushFunction(FlushTicker ticker, HostSettings settings, ILogger<FlushFunction> logger)
{
    [Function("Flush")]
    public async Task RunAsync([TimerTrigger("%FLUSH_SCHEDULE%")] TimerInfo timer, [DurableClient] DurableTaskClient client, FunctionContext context)
    {
        if (timer.IsPastDue)
        {
            Log.FlushPastDue(logger, timer.ScheduleStatus?.Last ?? default);
        }
        var report = await ticker.TickAsync(new DurableShardStore(client, settings.ShardCount), endOfInput: false, context.CancellationToken).ConfigureAwait(false);
        if (report.WindowsClosed > 0 || report.Outcome is not null)
        {
            Log.Flushed(logger, report.WatermarkMs, report.WindowsClosed, report.SamplesWritten, report.SamplesDropped, report.PendingSamples, report.Outcome?.ToString() ?? "none");
        }
    }
}
