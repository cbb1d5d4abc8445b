using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
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
/// (a batch is a bounded stream: same code, same results). Lanes are read in rounds, a chunk of
/// each lane per round.
/// <para>Sequentially (one <see cref="Pipeline"/>), each chunk sees the other lanes' watermarks as
/// they are at that moment. With <c>pipelinePerLane</c>, a round's chunks are read and ingested in
/// parallel, each by its lane's own pipeline, against the watermarks frozen at the start of the
/// round; their signals are then applied in lane order. Both are deterministic, and with disorder
/// below the out-of-orderness they give the same samples (no event can be late either way).</para>
/// </summary>
public sealed class ReplayEngine(Pipeline pipeline, InMemoryShardStore store, FlushCoordinator coordinator, TimeProvider clock,
    int chunkLines = 2048, Func<Pipeline>? pipelinePerLane = null)
{
    public async Task<ReplayProgress> RunAsync(IReadOnlyList<LaneReader> readers, Action<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        var started = clock.GetTimestamp();
        var lanes = readers.Select(r => new LaneState(r.Path)).ToArray();
        var parallel = pipelinePerLane is not null && readers.Count > 1;
        var pipelines = parallel ? readers.Select(_ => pipelinePerLane!()).ToArray() : null;
        var ooo = pipeline.Compiled.OutOfOrdernessMs;
        var window = pipeline.Compiled.WindowMs;
        var flushedBoundary = long.MinValue;
        var lastReport = started;
        long windowsClosed = 0, samples = 0;
        long readTicks = 0, ingestTicks = 0, flushTicks = 0;

        while (lanes.Any(l => !l.Finished))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var active = Enumerable.Range(0, readers.Count).Where(i => !lanes[i].Finished).ToList();
            if (parallel)
            {
                var frozen = lanes.Select(l => l.Finished ? long.MaxValue : l.WatermarkMs(ooo)).ToArray();
                var sealedThrough = coordinator.SealedThroughMs;
                var rounds = await Task.WhenAll(active.Select(i => Task.Run(
                    () => IngestChunkAsync(i, pipelines![i], new IngestHorizon(sealedThrough, OthersMin(frozen, i))), cancellationToken))).ConfigureAwait(false);
                foreach (var signals in rounds)
                {
                    await ApplyAsync(signals).ConfigureAwait(false);
                }
                await FlushIfWatermarkMovedAsync().ConfigureAwait(false);
                Report();
            }
            else
            {
                foreach (var i in active)
                {
                    var current = lanes.Select(l => l.Finished ? long.MaxValue : l.WatermarkMs(ooo)).ToArray();
                    var signals = await IngestChunkAsync(i, pipeline, new IngestHorizon(coordinator.SealedThroughMs, OthersMin(current, i))).ConfigureAwait(false);
                    await ApplyAsync(signals).ConfigureAwait(false);
                    await FlushIfWatermarkMovedAsync().ConfigureAwait(false);
                    Report();
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

        async Task<ShardSignal[]> IngestChunkAsync(int i, Pipeline lanePipeline, IngestHorizon horizon)
        {
            var t0 = clock.GetTimestamp();
            var events = readers[i].ReadChunk(chunkLines);
            lanes[i].Finished = readers[i].Finished;
            var t1 = clock.GetTimestamp();
            var signals = await lanePipeline.IngestAsync(lanes[i], events, horizon, clock.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref readTicks, t1 - t0);
            Interlocked.Add(ref ingestTicks, clock.GetTimestamp() - t1);
            return signals;
        }

        async Task ApplyAsync(ShardSignal[] signals)
        {
            for (var shard = 0; shard < signals.Length; shard++)
            {
                await store.SignalAsync(shard, signals[shard], cancellationToken).ConfigureAwait(false);
            }
        }

        // Flush whenever the global watermark crosses a base-window boundary.
        async Task FlushIfWatermarkMovedAsync()
        {
            var live = lanes.Where(l => !l.Finished).ToList();
            var global = live.Count == 0 ? long.MinValue : live.Min(l => l.WatermarkMs(ooo));
            if (global == long.MinValue || CompiledPipeline.FloorTo(global, window) <= flushedBoundary) return;
            flushedBoundary = CompiledPipeline.FloorTo(global, window);
            var t = clock.GetTimestamp();
            var report = await coordinator.FlushAsync(false, cancellationToken).ConfigureAwait(false);
            windowsClosed += report.WindowsClosed;
            samples += report.SamplesWritten;
            flushTicks += clock.GetTimestamp() - t;
        }

        void Report()
        {
            if (progress is not null && clock.GetElapsedTime(lastReport) > TimeSpan.FromMilliseconds(500))
            {
                lastReport = clock.GetTimestamp();
                progress(Snapshot());
            }
        }

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

    /// <summary>Min watermark over the other lanes still open (finished lanes are +∞).</summary>
    private static long OthersMin(long[] watermarks, int self)
    {
        var min = long.MaxValue;
        for (var j = 0; j < watermarks.Length; j++)
        {
            if (j != self) min = Math.Min(min, watermarks[j]);
        }
        return min;
    }
}
