using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Replay;

/// <summary>Live progress of a replay.</summary>
public sealed record ReplayProgress(long Events, long BytesRead, int LanesOpen, int LanesTotal, int OpenWindows, int OpenPartials, long WindowsClosed, long SamplesWritten, long WatermarkMs, TimeSpan Elapsed)
{
    /// <summary>Wall time spent reading and decompressing input.</summary>
    public TimeSpan ReadTime { get; init; }
    /// <summary>Wall time in Parse → Prune → Enrich → Accumulate and signalling shards.</summary>
    public TimeSpan IngestTime { get; init; }
    /// <summary>Wall time in Flush (roll-up) and Write.</summary>
    public TimeSpan FlushTime { get; init; }
}

/// <summary>
/// Replays files as lanes through the same ingest → shard → flush path the Functions app runs
/// (a batch is a bounded stream: same code, same results). Lanes are read round-robin, a chunk at
/// a time; the watermark every batch sees is exact for that interleaving.
/// </summary>
public sealed class ReplayEngine(Pipeline pipeline, InMemoryShardStore store, FlushCoordinator coordinator, TimeProvider clock, int chunkLines = 2048)
{
    public async Task<ReplayProgress> RunAsync(IReadOnlyList<LaneReader> readers, Action<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        var started = clock.GetTimestamp();
        var lanes = readers.Select(r => new LaneState(r.Path)).ToArray();
        var ooo = pipeline.Compiled.OutOfOrdernessMs;
        var window = pipeline.Compiled.WindowMs;
        var flushedBoundary = long.MinValue;
        var lastReport = started;
        long windowsClosed = 0, samples = 0;
        long readTicks = 0, ingestTicks = 0, flushTicks = 0;

        while (lanes.Any(l => !l.Finished))
        {
            for (var i = 0; i < readers.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var lane = lanes[i];
                if (lane.Finished) continue;
                var t0 = clock.GetTimestamp();
                var events = readers[i].ReadChunk(chunkLines);
                lane.Finished = readers[i].Finished;
                var t1 = clock.GetTimestamp();
                readTicks += t1 - t0;

                var others = long.MaxValue;
                for (var j = 0; j < lanes.Length; j++)
                {
                    if (j != i && !lanes[j].Finished) others = Math.Min(others, lanes[j].WatermarkMs(ooo));
                }
                var horizon = new IngestHorizon(coordinator.SealedThroughMs, others);
                var signals = await pipeline.IngestAsync(lane, events, horizon, clock.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false);
                for (var shard = 0; shard < signals.Length; shard++)
                {
                    await store.SignalAsync(shard, signals[shard], cancellationToken).ConfigureAwait(false);
                }
                var t2 = clock.GetTimestamp();
                ingestTicks += t2 - t1;

                // Flush whenever the global watermark crosses a base-window boundary.
                var live = lanes.Where(l => !l.Finished).ToList();
                var global = live.Count == 0 ? long.MinValue : live.Min(l => l.WatermarkMs(ooo));
                if (global != long.MinValue && Compiled.FloorTo(global, window) > flushedBoundary)
                {
                    flushedBoundary = Compiled.FloorTo(global, window);
                    var report = await coordinator.FlushAsync(false, cancellationToken).ConfigureAwait(false);
                    windowsClosed += report.WindowsClosed;
                    samples += report.SamplesWritten;
                    flushTicks += clock.GetTimestamp() - t2;
                }

                if (progress is not null && clock.GetElapsedTime(lastReport) > TimeSpan.FromMilliseconds(500))
                {
                    lastReport = clock.GetTimestamp();
                    progress(Snapshot());
                }
            }
        }

        var tf = clock.GetTimestamp();
        var final = await coordinator.FlushAsync(true, cancellationToken).ConfigureAwait(false);
        flushTicks += clock.GetTimestamp() - tf;
        windowsClosed += final.WindowsClosed;
        samples += final.SamplesWritten;
        var last = Snapshot();
        progress?.Invoke(last);
        return last;

        ReplayProgress Snapshot() => new(
            pipeline.Counters.Events,
            readers.Sum(r => r.BytesRead),
            lanes.Count(l => !l.Finished),
            lanes.Length,
            store.OpenWindowCount,
            store.PartialCount,
            windowsClosed,
            samples,
            lanes.Where(l => !l.Finished).Select(l => l.WatermarkMs(ooo)).DefaultIfEmpty(long.MaxValue).Min(),
            clock.GetElapsedTime(started))
        {
            ReadTime = Ticks(readTicks),
            IngestTime = Ticks(ingestTicks),
            FlushTime = Ticks(flushTicks),
        };

        TimeSpan Ticks(long ticks) => TimeSpan.FromSeconds((double)ticks / clock.TimestampFrequency);
    }

    private static class Compiled
    {
        public static long FloorTo(long t, long size) => Definition.CompiledPipeline.FloorTo(t, size);
    }
}
