using System.Diagnostics.CodeAnalysis;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Telemetry;
using Microsoft.Extensions.Logging;

namespace LogMetrics.Core.Hosting;

/// <summary>
/// Runs the <see cref="FlushCoordinator"/> for a host whose shard store is only available per call
/// (the Functions timer gets its durable client as a binding): the store is a parameter of each tick.
/// It lives as long as the host: it remembers when it started, which bounds how long missing lanes may
/// hold the watermark back (<see cref="FlushOptions.ExpectedLanes"/>). Nothing else is kept between
/// ticks, so a tick may run on any instance. Ticks of one instance never overlap.
/// </summary>
[SuppressMessage("Reliability", "CA1001", Justification = "The SemaphoreSlim never allocates a wait handle (AvailableWaitHandle is not used).")]
public sealed class FlushTicker(CompiledPipeline pipeline, int shardCount, ISampleWriter writer, PipelineCounters counters,
    TimeProvider clock, FlushOptions options, ILogger? logger = null)
{
    private readonly FlushCoordinator _coordinator = new(pipeline, null, writer, counters, clock, options, logger);
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>One flush against <paramref name="store"/> (read shards → close → roll up → write → evict and seal).</summary>
    public async Task<FlushReport> TickAsync(IShardStore store, bool endOfInput, CancellationToken cancellationToken)
    {
        if (store.ShardCount != shardCount)
        {
            throw new ArgumentException($"the shard store has {store.ShardCount} shards; the flusher was configured for {shardCount}.", nameof(store));
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await _coordinator.FlushAsync(store, endOfInput, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }
}
