using System.Threading.Channels;
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
/// (a batch is a bounded stream: same code, same results).
/// <para>Sequentially (one <see cref="Pipeline"/>, no <c>pipelinePerLane</c>), lanes are read in rounds,
/// a chunk of each lane per round, and each chunk sees the other lanes' watermarks as they are at that
/// moment.</para>
/// <para>With <c>pipelinePerLane</c>, the replay is a pipeline of stages joined by bounded channels, so
/// reading, parsing, accumulating and flushing overlap and every core works (see RunPipelinedAsync).
/// Results do not depend on the scheduling: chunk k of a lane is accumulated against the other lanes'
/// watermarks after their chunk k − 1, in (chunk, lane) order, and signals are applied and flushed in
/// that order too.</para>
/// </summary>
public sealed class ReplayEngine(Pipeline pipeline, InMemoryShardStore store, FlushCoordinator coordinator, TimeProvider clock,
    int chunkLines = 2048, Func<Pipeline>? pipelinePerLane = null)
{
    public Task<ReplayProgress> RunAsync(IReadOnlyList<LaneReader> readers, Action<ReplayProgress>? progress, CancellationToken cancellationToken) =>
        pipelinePerLane is null
            ? RunSequentialAsync(readers, progress, cancellationToken)
            : RunPipelinedAsync(readers, pipelinePerLane, progress, cancellationToken);

    private async Task<ReplayProgress> RunSequentialAsync(IReadOnlyList<LaneReader> readers, Action<ReplayProgress>? progress, CancellationToken cancellationToken)
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
            cancellationToken.ThrowIfCancellationRequested();
            var active = Enumerable.Range(0, readers.Count).Where(i => !lanes[i].Finished).ToList();
            foreach (var i in active)
            {
                var current = lanes.Select(l => l.Finished ? long.MaxValue : l.WatermarkMs(ooo)).ToArray();
                var signals = await IngestChunkAsync(i, pipeline, new IngestHorizon(coordinator.SealedThroughMs, OthersMin(current, i))).ConfigureAwait(false);
                await ApplyAsync(signals).ConfigureAwait(false);
                await FlushIfWatermarkMovedAsync().ConfigureAwait(false);
                Report();
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

        ReplayProgress Snapshot() => Progress(readers, lanes, started, windowsClosed, samples, readTicks, ingestTicks, flushTicks);
    }

    /// <summary>A chunk of a lane: its events, the buffer they point into, and whether it is the lane's last.</summary>
    private sealed record Chunk(int Index, List<LaneEvent> Events, byte[] Arena, bool Last, long ReadTicks);

    /// <summary>A prepared chunk, waiting in its pipeline for completion in lane order.</summary>
    private sealed record Prepared(Chunk Chunk, Pipeline Pipeline, PreparedBatch Batch, long NowMs);

    /// <summary>What the apply stage receives from a lane: the signals of one chunk.</summary>
    private sealed record Completed(Chunk Chunk, ShardSignal[] Signals);

    /// <summary>
    /// Per round k (chunk k of every lane still open): each lane's watermark after its chunk k, and the
    /// sealed horizon after round k's flush. These are what make the replay deterministic: a chunk is
    /// ingested against values fixed by chunk indexes, never by how far another thread has got.
    /// </summary>
    private sealed class Rounds(int lanes, long ooo)
    {
        private readonly Lock _gate = new();
        private readonly List<Round> _rounds = [];

        public sealed class Round(bool[] active)
        {
            public bool[] Active { get; } = active;
            /// <summary>Per lane: watermark after this round (+∞ once the lane has finished).</summary>
            public long[] Watermarks { get; } = new long[active.Length];
            public int Remaining = active.Count(a => a);
            public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
            public TaskCompletionSource<long> Sealed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public Round Get(int k)
        {
            lock (_gate)
            {
                if (_rounds.Count == 0) _rounds.Add(new Round([.. Enumerable.Repeat(true, lanes)]));
                return _rounds[k];
            }
        }

        /// <summary>Lane <paramref name="lane"/> completed its chunk <paramref name="k"/>.</summary>
        public void Report(int k, int lane, LaneState state, bool finished)
        {
            lock (_gate)
            {
                var round = Get(k);
                round.Watermarks[lane] = finished ? long.MaxValue : state.WatermarkMs(ooo);
                if (--round.Remaining > 0) return;
                // Lanes that finished earlier keep +∞.
                var previous = k > 0 ? _rounds[k - 1] : null;
                var next = new bool[lanes];
                for (var j = 0; j < lanes; j++)
                {
                    if (!round.Active[j]) round.Watermarks[j] = previous?.Watermarks[j] ?? long.MaxValue;
                    next[j] = round.Active[j] && round.Watermarks[j] != long.MaxValue;
                }
                _rounds.Add(new Round(next));
                round.Done.SetResult();
            }
        }

        /// <summary>Lane <paramref name="lane"/>'s horizon for its chunk <paramref name="k"/>.</summary>
        public async Task<IngestHorizon> HorizonAsync(int k, int lane, CancellationToken cancellationToken)
        {
            var others = long.MaxValue;
            if (k > 0)
            {
                var previous = Get(k - 1);
                await previous.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                for (var j = 0; j < lanes; j++)
                {
                    if (j != lane) others = Math.Min(others, previous.Watermarks[j]);
                }
            }
            else if (lanes > 1)
            {
                others = long.MinValue;
            }
            // The sealed horizon two rounds back: fixed by the chunk index, and round k − 1's flush may still run.
            var sealedThrough = long.MinValue;
            if (k > 1)
            {
                sealedThrough = await Get(k - 2).Sealed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            return new IngestHorizon(sealedThrough, others);
        }
    }

    /// <summary>
    /// The pipelined replay. Stages, joined by bounded channels:
    /// <list type="number">
    /// <item>read: one thread per lane reads and decompresses chunks ahead;</item>
    /// <item>prepare: per lane, <c>workers</c> tasks run Parse → Prune and warm the lookups, chunk k on
    /// worker k mod workers, each in its own pipelines (a single big lane uses every core here);</item>
    /// <item>complete: in (chunk, lane) order, Enrich → Accumulate against the lane's watermark and the
    /// horizon of chunk k (other lanes after chunk k − 1, the sealed horizon after round k − 2), while
    /// later chunks are prepared and earlier rounds are applied and flushed;</item>
    /// <item>apply and flush (this method's loop): signals applied round by round in lane order, and a
    /// flush whenever the global watermark after a round crosses a window boundary, as the sequential
    /// replay does.</item>
    /// </list>
    /// </summary>
    private async Task<ReplayProgress> RunPipelinedAsync(IReadOnlyList<LaneReader> readers, Func<Pipeline> newPipeline, Action<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        var started = clock.GetTimestamp();
        var n = readers.Count;
        var lanes = readers.Select(r => new LaneState(r.Path)).ToArray();
        var ooo = pipeline.Compiled.OutOfOrdernessMs;
        var window = pipeline.Compiled.WindowMs;
        var workers = Math.Max(1, Environment.ProcessorCount / n);
        var rounds = new Rounds(n, ooo);
        var flushedBoundary = long.MinValue;
        var lastReport = started;
        long windowsClosed = 0, samples = 0;
        long readTicks = 0, ingestTicks = 0, flushTicks = 0;

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = stop.Token;
        Exception? failure = null;
        void Fail(Exception e)
        {
            Interlocked.CompareExchange(ref failure, e, null);
            stop.Cancel();
        }

        var arenas = new System.Collections.Concurrent.ConcurrentBag<byte[]>();
        var completed = Channel.CreateBounded<Completed>(new BoundedChannelOptions(2 * n) { SingleReader = true, SingleWriter = true });
        var fromWorkers = new Channel<Prepared>[n][];
        var slots = new Channel<Pipeline>[n][];
        var stages = new List<Task>();
        for (var lane = 0; lane < n; lane++)
        {
            var i = lane;
            var toWorkers = new Channel<Chunk>[workers];
            fromWorkers[i] = new Channel<Prepared>[workers];
            slots[i] = new Channel<Pipeline>[workers];
            for (var w = 0; w < workers; w++)
            {
                toWorkers[w] = Channel.CreateBounded<Chunk>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true });
                fromWorkers[i][w] = Channel.CreateBounded<Prepared>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true });
                // Two pipelines per worker: one chunk prepared while the previous one completes.
                slots[i][w] = Channel.CreateUnbounded<Pipeline>();
                slots[i][w].Writer.TryWrite(newPipeline());
                slots[i][w].Writer.TryWrite(newPipeline());
            }

            // Stages never fault (Guard records the first failure), so they are started without the token
            // and always awaited to their end.
            // Stage 1: read ahead (blocking file and gzip reads on a thread of its own).
            stages.Add(Task.Factory.StartNew(() => Guard(() =>
            {
                var reader = readers[i];
                for (var k = 0; ; k++)
                {
                    token.ThrowIfCancellationRequested();
                    var t0 = clock.GetTimestamp();
                    var events = reader.ReadChunk(chunkLines);
                    var arena = reader.SwapArena(arenas.TryTake(out var spare) ? spare : new byte[1 << 20]);
                    var chunk = new Chunk(k, events, arena, reader.Finished, clock.GetTimestamp() - t0);
                    var target = toWorkers[k % workers].Writer;
                    while (!target.TryWrite(chunk))
                    {
                        if (!target.WaitToWriteAsync(token).AsTask().GetAwaiter().GetResult()) return;
                    }
                    if (chunk.Last) return;
                }
            }, () => { foreach (var c in toWorkers) c.Writer.TryComplete(); }), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default));

            // Stage 2: prepare (Parse → Prune, lookups warmed), chunk k on worker k mod workers.
            for (var w = 0; w < workers; w++)
            {
                var input = toWorkers[w].Reader;
                var output = fromWorkers[i][w].Writer;
                var pool = slots[i][w].Reader;
                stages.Add(Task.Run(() => GuardAsync(async () =>
                {
                    await foreach (var chunk in input.ReadAllAsync(token).ConfigureAwait(false))
                    {
                        var slot = await pool.ReadAsync(token).ConfigureAwait(false);
                        var t0 = clock.GetTimestamp();
                        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
                        var batch = await slot.PrepareAsync(lanes[i].Lane, chunk.Events, now, deferDeadLetters: true, token).ConfigureAwait(false);
                        Interlocked.Add(ref ingestTicks, clock.GetTimestamp() - t0);
                        await output.WriteAsync(new Prepared(chunk, slot, batch, now), token).ConfigureAwait(false);
                    }
                }, () => output.TryComplete()), CancellationToken.None));
            }

        }

        // Stage 3: complete, one chunk at a time in (chunk, lane) order against the deterministic horizon.
        // One task: the cardinality budget admits series in that order too, so which series overflow
        // never depends on the scheduling.
        stages.Add(Task.Run(() => GuardAsync(async () =>
        {
            for (var k = 0; ; k++)
            {
                var round = rounds.Get(k);
                if (!round.Active.Any(a => a)) return;
                for (var i = 0; i < n; i++)
                {
                    if (!round.Active[i]) continue;
                    var w = k % workers;
                    if (!await fromWorkers[i][w].Reader.WaitToReadAsync(token).ConfigureAwait(false))
                    {
                        throw failure ?? new InvalidOperationException($"lane {lanes[i].Lane} stopped before its end");
                    }
                    var prepared = await fromWorkers[i][w].Reader.ReadAsync(token).ConfigureAwait(false);
                    var horizon = await rounds.HorizonAsync(k, i, token).ConfigureAwait(false);
                    var t0 = clock.GetTimestamp();
                    lanes[i].Finished = prepared.Chunk.Last;
                    var signals = prepared.Pipeline.Complete(lanes[i], prepared.Batch, horizon, prepared.NowMs);
                    Interlocked.Add(ref ingestTicks, clock.GetTimestamp() - t0);
                    Interlocked.Add(ref readTicks, prepared.Chunk.ReadTicks);
                    rounds.Report(k, i, lanes[i], prepared.Chunk.Last);
                    // The events are done with (dead letters written): their buffer and pipeline go back.
                    arenas.Add(prepared.Chunk.Arena);
                    slots[i][w].Writer.TryWrite(prepared.Pipeline);
                    await completed.Writer.WriteAsync(new Completed(prepared.Chunk, signals), token).ConfigureAwait(false);
                }
            }
        }, () => completed.Writer.TryComplete()), CancellationToken.None));

        try
        {
            // Stage 4: apply round by round in lane order; flush when the watermark after a round crosses a window.
            for (var k = 0; ; k++)
            {
                var round = rounds.Get(k);
                if (!round.Active.Any(a => a)) break;
                for (var i = 0; i < n; i++)
                {
                    if (!round.Active[i]) continue;
                    if (!await completed.Reader.WaitToReadAsync(token).ConfigureAwait(false))
                    {
                        throw failure ?? new InvalidOperationException($"lane {lanes[i].Lane} stopped before its end");
                    }
                    var done = await completed.Reader.ReadAsync(token).ConfigureAwait(false);
                    for (var shard = 0; shard < done.Signals.Length; shard++)
                    {
                        await store.SignalAsync(shard, done.Signals[shard], token).ConfigureAwait(false);
                    }
                }
                await round.Done.Task.WaitAsync(token).ConfigureAwait(false);
                var live = round.Watermarks.Where(w => w != long.MaxValue).ToList();
                var global = live.Count == 0 ? long.MinValue : live.Min();
                if (global != long.MinValue && CompiledPipeline.FloorTo(global, window) > flushedBoundary)
                {
                    flushedBoundary = CompiledPipeline.FloorTo(global, window);
                    var t = clock.GetTimestamp();
                    var report = await coordinator.FlushAsync(false, token).ConfigureAwait(false);
                    windowsClosed += report.WindowsClosed;
                    samples += report.SamplesWritten;
                    flushTicks += clock.GetTimestamp() - t;
                }
                round.Sealed.TrySetResult(coordinator.SealedThroughMs);
                Report();
            }
        }
        catch (Exception e) when (failure is null && !(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            Fail(e);
        }
        catch (Exception)
        {
            stop.Cancel();
        }
        finally
        {
            if (failure is not null || cancellationToken.IsCancellationRequested) stop.Cancel();
            await Task.WhenAll(stages).ConfigureAwait(false);
        }
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        cancellationToken.ThrowIfCancellationRequested();

        var tf = clock.GetTimestamp();
        var final = await coordinator.FlushAsync(true, cancellationToken).ConfigureAwait(false);
        flushTicks += clock.GetTimestamp() - tf;
        windowsClosed += final.WindowsClosed;
        samples += final.SamplesWritten;
        var last = Snapshot();
        progress?.Invoke(last);
        return last;

        // A stage's failure stops every stage and is what the replay throws; cancellation is not a failure.
        void Guard(Action body, Action done)
        {
            try
            {
                body();
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Fail(e);
            }
            finally
            {
                done();
            }
        }

        async Task GuardAsync(Func<Task> body, Action done)
        {
            try
            {
                await body().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Fail(e);
            }
            finally
            {
                done();
            }
        }

        void Report()
        {
            if (progress is not null && clock.GetElapsedTime(lastReport) > TimeSpan.FromMilliseconds(500))
            {
                lastReport = clock.GetTimestamp();
                progress(Snapshot());
            }
        }

        ReplayProgress Snapshot() => Progress(readers, lanes, started, windowsClosed, samples,
            Interlocked.Read(ref readTicks), Interlocked.Read(ref ingestTicks), flushTicks);
    }

    /// <summary>The live view of a replay: counts, open lanes and windows, the global watermark, time per stage.</summary>
    private ReplayProgress Progress(IReadOnlyList<LaneReader> readers, LaneState[] lanes, long started, long windowsClosed, long samples,
        long readTicks, long ingestTicks, long flushTicks) => new(
        pipeline.Counters.Events,
        readers.Sum(r => r.BytesRead),
        lanes.Count(l => !l.Finished),
        lanes.Length,
        store.OpenWindowCount,
        store.PartialCount,
        windowsClosed,
        samples,
        lanes.Where(l => !l.Finished).Select(l => l.WatermarkMs(pipeline.Compiled.OutOfOrdernessMs)).DefaultIfEmpty(long.MaxValue).Min(),
        clock.GetElapsedTime(started))
    {
        ReadTime = Ticks(readTicks),
        IngestTime = Ticks(ingestTicks),
        FlushTime = Ticks(flushTicks),
    };

    private TimeSpan Ticks(long ticks) => TimeSpan.FromSeconds((double)ticks / clock.TimestampFrequency);

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
