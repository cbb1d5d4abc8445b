using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;

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
    /// <summary>
    /// Of <see cref="SamplesWritten"/>, those a sink closing behind the flushes had closed when this was taken
    /// (<see cref="FlushCoordinator.SamplesClosedBehind"/>): it closes the last flushes' windows after the run's last progress.
    /// </summary>
    public long SamplesClosedBehind { get; init; }
}

/// <summary>
/// Replays files as lanes through the same ingest → shard → flush path the Functions app runs
/// (a batch is a bounded stream: same code, same results).
/// <para>Sequentially (one <see cref="Pipeline"/>, no <c>pipelinePerLane</c>), lanes are read in rounds,
/// a chunk of each lane per round, and each chunk sees the other lanes' watermarks as they are at that
/// moment.</para>
/// <para>With <c>pipelinePerLane</c>, the replay is pipelined: workers that read and prepare chunks side by side, and
/// complete, apply and flush them in turn, so reading, parsing, accumulating and flushing overlap and every core
/// works (see RunPipelinedAsync).
/// Results do not depend on the scheduling: chunk k of a lane is accumulated against the other lanes'
/// watermarks after their chunk k − 1, in (chunk, lane) order, and signals are applied and flushed in
/// that order too. An input whose every lane fits in its first chunk (a short replay), and any input of a replay
/// with one worker (one core), runs the same stages inline on the calling thread, chunk after chunk, with the same
/// results and no threads to start.</para>
/// </summary>
/// <param name="pipelinePerLane">Makes the pipelines of the pipelined replay's stages (sharing counters, caches and
/// budget with <paramref name="pipeline"/>); null = the sequential replay.</param>
/// <param name="workers">Prepare workers of the pipelined replay, shared by all lanes; null = one per core.
/// The samples do not depend on it.</param>
public sealed class ReplayEngine(Pipeline pipeline, InMemoryShardStore store, FlushCoordinator coordinator, TimeProvider clock,
    int chunkLines = 2048, Func<Pipeline>? pipelinePerLane = null, int? workers = null)
{
    private readonly int? _workers = workers is < 1
        ? throw new ArgumentOutOfRangeException(nameof(workers), workers, "a replay needs at least one prepare worker")
        : workers;

    /// <summary>
    /// Run an input whose every lane fits in its first chunk on the calling thread (default), with the
    /// samples of the threaded stages; false always starts the threads (tests compare the two).
    /// </summary>
    internal bool InlineOneChunkInputs { get; init; } = true;

    /// <summary>
    /// Called on the calling thread when <see cref="RunAsync"/> is about to run an input inline (every lane one
    /// chunk, or one worker), before any stage: e.g. <see cref="WriteBehindSampleWriter.WriteThrough"/>, so that a run that
    /// starts no threads does not start one to write its samples either.
    /// </summary>
    public Action? RunningInline { get; init; }

    /// <summary>
    /// Run every input on the calling thread when the replay has one prepare worker (one core, or <c>workers: 1</c>),
    /// chunk after chunk, with the samples of the threaded stages (default); false starts the threads (tests compare
    /// the two). One core gains nothing from the stages' threads: they only take turns on it, a thread switch and a
    /// wake-up a chunk each, and every chunk read ahead is a buffer more to fault in.
    /// </summary>
    internal bool InlineOneWorker { get; init; } = true;

    /// <summary>Whether the last <see cref="RunAsync"/> ran inline (every lane was one chunk, or the replay had one worker).</summary>
    internal bool RanInline { get; private set; }

    /// <summary>Chunk buffers the last pipelined <see cref="RunAsync"/> made, and of them those made once its workers had started (for tests).</summary>
    internal (int Made, int MadeRunning) Arenas => (_arenasMade, _arenasMade - _arenasBeforeWorkers);

    private int _arenasMade;
    private int _arenasBeforeWorkers;

    public Task<ReplayProgress> RunAsync(IReadOnlyList<LaneReader> readers, Action<ReplayProgress>? progress, CancellationToken cancellationToken) =>
        pipelinePerLane is null
            ? RunSequentialAsync(readers, progress, cancellationToken)
            : RunPipelinedAsync(readers, pipelinePerLane, progress, cancellationToken);

    private async Task<ReplayProgress> RunSequentialAsync(IReadOnlyList<LaneReader> readers, Action<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        var started = clock.GetTimestamp();
        var lanes = readers.Select(r => new LaneState(r.Path)).ToArray();
        var ooo = pipeline.Compiled.OutOfOrdernessMs;
        var lastReport = started;
        var flushes = new FlushTally(coordinator, clock, pipeline.Compiled.WindowMs);
        long readTicks = 0, ingestTicks = 0;

        while (lanes.Any(l => !l.Finished))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var active = Enumerable.Range(0, readers.Count).Where(i => !lanes[i].Finished).ToList();
            foreach (var i in active)
            {
                var current = lanes.Select(l => l.Finished ? Watermark.Final : l.Watermark(ooo)).ToArray();
                var signals = await IngestChunkAsync(i, pipeline, new IngestHorizon(coordinator.Sealed, OthersMin(current, i))).ConfigureAwait(false);
                await ApplyAsync(signals, cancellationToken).ConfigureAwait(false);
                // Flush whenever the global watermark crosses a base-window boundary.
                await flushes.FlushIfCrossedAsync(Watermark.Global(lanes.Where(l => !l.Finished).Select(l => l.Watermark(ooo))), cancellationToken).ConfigureAwait(false);
                if (ReportDue(progress, ref lastReport)) progress!(Snapshot());
            }
        }

        await flushes.FlushAsync(true, cancellationToken).ConfigureAwait(false);
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

        ReplayProgress Snapshot() => Progress(readers, lanes, started, flushes, readTicks, ingestTicks);
    }

    /// <summary>Chunk <c>Index</c> of lane <c>Lane</c>: its events, the buffer they point into, and whether it is the lane's last.</summary>
    private sealed record Chunk(int Lane, int Index, List<LaneEvent> Events, byte[] Arena, bool Last, long ReadTicks);

    /// <summary>A chunk prepared by a worker, waiting for its turn (<paramref name="Seq"/>: its place in (chunk, lane) order) to complete.</summary>
    private sealed record Prepared(Chunk Chunk, long Seq, PreparedBatch Batch, long NowMs);

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
            public Watermark[] Watermarks { get; } = new Watermark[active.Length];
            /// <summary>The global watermark after this round: of the lanes still open after it.</summary>
            public Watermark Global => Watermark.Global(Watermarks.Where(w => w != Watermark.Final));
            public int Remaining = active.Count(a => a);
            public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
            public TaskCompletionSource<Watermark> Sealed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public Round Get(int k)
        {
            lock (_gate)
            {
                if (_rounds.Count == 0) _rounds.Add(new Round([.. Enumerable.Repeat(true, lanes)]));
                return _rounds[k];
            }
        }

        /// <summary>Lane <paramref name="lane"/> completed its chunk <paramref name="k"/>; true if that was the round's last chunk to complete.</summary>
        public bool Report(int k, int lane, LaneState state, bool finished)
        {
            lock (_gate)
            {
                var round = Get(k);
                round.Watermarks[lane] = finished ? Watermark.Final : state.Watermark(ooo);
                if (--round.Remaining > 0) return false;
                // Lanes that finished earlier keep +∞.
                var previous = k > 0 ? _rounds[k - 1] : null;
                var next = new bool[lanes];
                for (var j = 0; j < lanes; j++)
                {
                    if (!round.Active[j]) round.Watermarks[j] = previous?.Watermarks[j] ?? Watermark.Final;
                    next[j] = round.Active[j] && round.Watermarks[j] != Watermark.Final;
                }
                _rounds.Add(new Round(next));
                round.Done.SetResult();
                return true;
            }
        }

        /// <summary>Lane <paramref name="lane"/>'s horizon for its chunk <paramref name="k"/>.</summary>
        public async Task<IngestHorizon> HorizonAsync(int k, int lane, CancellationToken cancellationToken)
        {
            var others = Watermark.Final;
            if (k > 0)
            {
                var previous = Get(k - 1);
                await previous.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                for (var j = 0; j < lanes; j++)
                {
                    if (j != lane) others = Watermark.Min(others, previous.Watermarks[j]);
                }
            }
            else if (lanes > 1)
            {
                others = Watermark.None;
            }
            // The sealed horizon two rounds back: fixed by the chunk index, and round k − 1's flush may still run.
            var sealedThrough = Watermark.None;
            if (k > 1)
            {
                sealedThrough = await Get(k - 2).Sealed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            return new IngestHorizon(sealedThrough, others);
        }
    }

    /// <summary>
    /// The pipelined replay, on <c>workers</c> threads (default: one per core):
    /// <list type="number">
    /// <item>a worker claims the next chunk in (chunk, lane) order, among the lanes still open (a lane's chunk k once
    /// its chunk k − 1 has been read: whether that was its last is known then), and reads it itself;</item>
    /// <item>it prepares the chunk (Parse → Prune, lookups warmed) into a free slot of its own pipeline, so a single
    /// big lane uses every core and a slow lane never holds a thread of its own idle;</item>
    /// <item>it completes its oldest prepared chunk once every chunk before it is completed: in (chunk, lane) order,
    /// Enrich → Accumulate against the lane's watermark and the horizon of chunk k (other lanes after chunk k − 1, the
    /// sealed horizon after round k − 2), while the other workers read and prepare later chunks and earlier rounds are
    /// applied and flushed; with a chunk prepared and not its turn, a worker claims and prepares the next one (up to
    /// its slots) instead of waiting;</item>
    /// <item>apply and flush, by the same worker, in a turn of their own in the same order: once the chunk is completed
    /// the next one may be, while this one waits for the chunk before it to be applied; then its signals are applied to
    /// the shards (so round by round, in lane order), and after a round's last chunk a flush if the global watermark
    /// after the round crossed a window boundary, as the sequential replay does, which also sets the seal round k + 2's
    /// horizon needs. Completing touches the pipelines, lanes and budget, applying and flushing the shards, so the two
    /// turns overlap. (A host can put the writing of the samples in a stage of its own with
    /// <see cref="WriteBehindSampleWriter"/>.)</item>
    /// </list>
    /// A chunk goes from its read to its apply on one thread, so the stages hand nothing over but the turn, and the
    /// signals are applied while still in that core's cache. The number of workers, their speed and the reading speed
    /// of each lane change only when a chunk is ready, never which horizon it is completed against, so the samples are
    /// the same whatever the scheduling. Memory is bounded by the slots: a worker holds at most <c>Slots(workers)</c>
    /// chunks (two with several workers), the one it is reading or preparing included, each in a buffer of its own, and
    /// each lane's reader holds one buffer more; the buffers for the workers' chunks are made before they start.
    /// </summary>
    private async Task<ReplayProgress> RunPipelinedAsync(IReadOnlyList<LaneReader> readers, Func<Pipeline> newPipeline, Action<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        var started = clock.GetTimestamp();
        _arenasMade = _arenasBeforeWorkers = 0;
        var n = readers.Count;
        var lanes = readers.Select(r => new LaneState(r.Path)).ToArray();

        // Chunk 0 of every lane is read here. When that is every lane's whole input (a short replay), or the
        // replay has one worker, the stages run inline on this thread, in the order the stages would run them: no
        // threads, pools or read-ahead buffers to start for a few hundred lines, no thread switch a chunk on one
        // core, and the same samples (RunInlineAsync).
        var first = new Chunk[n];
        var allLast = true;
        for (var i = 0; i < n; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var t0 = clock.GetTimestamp();
            var events = readers[i].ReadChunk(chunkLines);
            first[i] = new Chunk(i, 0, events, [], readers[i].Finished, clock.GetTimestamp() - t0);
            allLast &= first[i].Last;
        }
        var workerCount = _workers ?? Math.Max(1, Environment.ProcessorCount);
        RanInline = (allLast && InlineOneChunkInputs) || (workerCount == 1 && InlineOneWorker);
        if (RanInline)
        {
            RunningInline?.Invoke();
            // No thread-pool work either: the shards and the flush work on this thread.
            var (storeParallel, flushParallel) = (store.Parallel, coordinator.Parallel);
            store.Parallel = coordinator.Parallel = false;
            try
            {
                return await RunInlineAsync(readers, lanes, first, started, progress, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                (store.Parallel, coordinator.Parallel) = (storeParallel, flushParallel);
            }
        }
        for (var i = 0; i < n; i++)
        {
            // The workers read the next chunks into buffers of the replay's own, while chunk 0's lines stay in this
            // one until it is completed (a lane read whole into memory needs none: its lines stay where they were read).
            if (!readers[i].ReadsInPlace) first[i] = first[i] with { Arena = readers[i].SwapArena(NewArena()) };
        }

        var ooo = pipeline.Compiled.OutOfOrdernessMs;
        var rounds = new Rounds(n, ooo);
        var lastReport = started;
        var flushes = new FlushTally(coordinator, clock, pipeline.Compiled.WindowMs);
        long readTicks = 0, ingestTicks = 0;

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = stop.Token;
        Exception? failure = null;
        void Fail(Exception e)
        {
            Interlocked.CompareExchange(ref failure, e, null);
            stop.Cancel();
        }

        // One pipeline per worker, with Slots(workers) slots (each holds one chunk's records from prepare to complete):
        // the bound on the chunks a worker holds. A worker prepares into a free slot of its own pipeline, so it goes on
        // with its next chunk while the one before waits for its turn to complete (chunk order). Each pipeline learns
        // its own parser, memo and series caches, so every pipeline more is one more set of them to warm (docs/PERFORMANCE-LOG.md,
        // sessions 6 and 8); a slot more is only records and per-batch arrays.
        var slotsPerPipeline = Slots(workerCount);
        // The chunk buffers, made here for every chunk the workers can hold at once, before they start (unless every
        // lane is read in place). They are large objects: made one by one as the first rounds went, the last of them
        // went over the collector's budget for those once the pipelines' tables had grown, and that full collection
        // stopped both workers for 8 to 10 ms; made together here, where the heap is still small, the collections they
        // cause take about 2 ms in all (two-core replay of the bench corpus, session 15). Untouched, they cost no
        // page until a read fills them.
        var arenas = new System.Collections.Concurrent.ConcurrentBag<byte[]>();
        if (!readers.All(r => r.ReadsInPlace))
        {
            for (var a = 0; a < workerCount * slotsPerPipeline; a++) arenas.Add(NewArena());
        }
        _arenasBeforeWorkers = _arenasMade;
        // The event lists of completed chunks, for the readers to fill again (as the arenas).
        var eventLists = new System.Collections.Concurrent.ConcurrentBag<List<LaneEvent>>();
        var pipelines = new Pipeline[workerCount];
        for (var w = 0; w < workerCount; w++)
        {
            pipelines[w] = newPipeline();
            pipelines[w].AddSlots(slotsPerPipeline);
        }
        var stages = new List<Task>();
        // The workers are the run's parallelism: a chunk's signals are applied to the shards on the worker whose turn it
        // is, not fanned out to the thread pool (the final flush, with both cores free again, may). A flush's windows
        // are still closed on the thread pool as the flush allows (the samples' writer closes them behind it): the last
        // flushes close the most windows, when the workers have finished.
        var storeParallelRun = store.Parallel;
        store.Parallel = false;

        // The chunks' order, (chunk, lane) among the lanes still open, numbered: the order they are completed in. Under
        // the gate: where the numbering is, which lanes are being read (their next chunk cannot be numbered before
        // the read says whether it was their last), which have been read to their end, and the last chunk completed.
        var gate = new object();
        var laneReading = new bool[n];
        var laneRead = new bool[n];
        for (var i = 0; i < n; i++) laneRead[i] = first[i].Last;
        int nextRound = 0, nextLane = 0;
        long nextSeq = 0, completedThrough = -1, appliedThrough = -1;
        // A stop wakes the workers waiting at the gate (each checks the token under the gate before it waits).
        using var wake = token.Register(() =>
        {
            lock (gate) Monitor.PulseAll(gate);
        });

        // Under the gate: numbers the next chunk, if it is known yet. 1: claimed (lane, round, seq); 0: not yet (the
        // lane's chunk before is being read); −1: none left. Round 0 is the chunks read above.
        int TryClaim(out int lane, out int round, out long seq)
        {
            (lane, round, seq) = (-1, -1, -1);
            while (true)
            {
                if (nextLane == n)
                {
                    nextRound++;
                    nextLane = 0;
                }
                if (nextRound > 0 && Array.TrueForAll(laneRead, r => r)) return -1;
                var i = nextLane;
                if (nextRound > 0 && laneReading[i]) return 0;
                nextLane++;
                if (nextRound > 0 && laneRead[i]) continue;
                if (nextRound > 0) laneReading[i] = true;
                (lane, round, seq) = (i, nextRound, nextSeq++);
                return 1;
            }
        }

        // The stages, on `workers` threads of their own (blocking waits; the thread pool is left to the samples' writer).
        // A worker claims the next chunk in order, reads it (a lane's chunks are read one after another, by whichever
        // worker claimed them), prepares it (Parse → Prune, lookups warmed) into a free slot of its own pipeline, and
        // completes its oldest chunk (Enrich → Accumulate against the deterministic horizon), applies it and, after a
        // round's last chunk, flushes, when every chunk before it has been. So a single big lane uses every core,
        // completion is in (chunk, lane) order on whichever thread (the cardinality budget admits series in that order,
        // so which series overflow never depends on the scheduling), and a chunk goes from read to apply on one
        // thread, with no hand-over between stages.
        for (var w = 0; w < workerCount; w++)
        {
            var worker = w;
            stages.Add(Task.Factory.StartNew(() => Guard(() =>
            {
                Name($"lm worker {worker}");
                var mine = pipelines[worker];
                var held = new Queue<Prepared>(slotsPerPipeline);
                while (true)
                {
                    int claim;
                    int lane = -1, round = -1;
                    long seq = -1;
                    lock (gate)
                    {
                        while (true)
                        {
                            token.ThrowIfCancellationRequested();
                            if (held.Count > 0 && completedThrough == held.Peek().Seq - 1)
                            {
                                claim = 2;
                                break;
                            }
                            claim = held.Count < slotsPerPipeline ? TryClaim(out lane, out round, out seq) : 0;
                            if (claim == 1 || (claim == -1 && held.Count == 0)) break;
                            Monitor.Wait(gate);
                        }
                    }
                    if (claim == -1) return;
                    if (claim == 2)
                    {
                        Complete(held.Dequeue());
                        continue;
                    }
                    var chunk = first[lane];
                    if (round > 0)
                    {
                        var last = false;
                        try
                        {
                            var t0 = clock.GetTimestamp();
                            var reader = readers[lane];
                            // The chunk is read into a buffer of this worker's own (the bag gives a thread the buffers
                            // it gave back first, and a worker gives back the buffers of the chunks it completed), not
                            // into the one the lane's reader holds, which came from the worker before: into that, the
                            // kernel's copy and the line search over it took 21 and 38 % more samples, and a two-core
                            // replay up to 3 % more time (session 27). The reader's buffer holds only the bytes after
                            // the lane's last chunk: they move into this worker's buffer, and the bytes after this
                            // chunk move back into the reader's.
                            byte[]? tail = null;
                            if (!reader.ReadsInPlace) tail = reader.SwapArena(arenas.TryTake(out var own) ? own : NewArena());
                            var events = reader.ReadChunk(chunkLines, eventLists.TryTake(out var list) ? list : null);
                            var arena = tail is null ? [] : reader.SwapArena(tail);
                            last = reader.Finished;
                            chunk = new Chunk(lane, round, events, arena, last, clock.GetTimestamp() - t0);
                        }
                        finally
                        {
                            lock (gate)
                            {
                                laneReading[lane] = false;
                                laneRead[lane] = last;
                                Monitor.PulseAll(gate);
                            }
                        }
                    }
                    var p0 = clock.GetTimestamp();
                    var nowMs = clock.GetUtcNow().ToUnixTimeMilliseconds();
                    var batch = Block(mine.PrepareAsync(lanes[lane].Lane, chunk.Events, nowMs, deferDeadLetters: true, token));
                    Interlocked.Add(ref ingestTicks, clock.GetTimestamp() - p0);
                    held.Enqueue(new Prepared(chunk, seq, batch, nowMs));
                }

                // The worker's oldest chunk, its turn come: completed against the horizon of its chunk index.
                void Complete(Prepared job)
                {
                    var (i, k) = (job.Chunk.Lane, job.Chunk.Index);
                    var horizon = Block(rounds.HorizonAsync(k, i, token));
                    var t0 = clock.GetTimestamp();
                    lanes[i].Finished = job.Chunk.Last;
                    var signals = mine.Complete(lanes[i], job.Batch, horizon, job.NowMs);
                    Interlocked.Add(ref ingestTicks, clock.GetTimestamp() - t0);
                    Interlocked.Add(ref readTicks, job.Chunk.ReadTicks);
                    var closesRound = rounds.Report(k, i, lanes[i], job.Chunk.Last);
                    // The events are done with (dead letters written): their buffer and their list go back.
                    if (job.Chunk.Arena.Length > 0) arenas.Add(job.Chunk.Arena);
                    eventLists.Add(job.Chunk.Events);
                    // The next chunk may be completed now: completing touches the pipelines, the lanes and the budget,
                    // never the shards; only the apply and the flush below touch those.
                    lock (gate)
                    {
                        completedThrough = job.Seq;
                        Monitor.PulseAll(gate);
                        // Stage 4 has a turn of its own, in the same order, behind the completes: this chunk's apply
                        // once the chunk before it has been applied (and its round flushed, if it was a round's last).
                        while (appliedThrough != job.Seq - 1)
                        {
                            token.ThrowIfCancellationRequested();
                            Monitor.Wait(gate);
                        }
                    }
                    // The signals applied in (chunk, lane) order, while still in this core's cache; the shards copied
                    // what they keep (values folded, labels interned), so they go back at once.
                    store.SignalAll(signals);
                    mine.Recycle(signals);
                    // The chunk that completed its round (its last to complete, so the last to be applied): the round's
                    // flush, if the watermark after it crossed a window, before any chunk of the next round is applied
                    // (and its seal, which round k + 2's horizon needs).
                    if (closesRound) FlushRound(rounds.Get(k));
                    lock (gate)
                    {
                        appliedThrough = job.Seq;
                        Monitor.PulseAll(gate);
                    }
                }
            }), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default));
        }

        // A round's flush, when the global watermark after it crossed a window boundary, as the sequential replay flushes.
        void FlushRound(Rounds.Round round)
        {
            Block(flushes.FlushIfCrossedAsync(round.Global, token));
            round.Sealed.TrySetResult(coordinator.Sealed);
            if (ReportDue(progress, ref lastReport)) progress!(Snapshot());
        }

        try
        {
            await Task.WhenAll(stages).ConfigureAwait(false);
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
            store.Parallel = storeParallelRun;
        }
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        cancellationToken.ThrowIfCancellationRequested();

        await flushes.FlushAsync(true, cancellationToken).ConfigureAwait(false);
        var last = Snapshot();
        progress?.Invoke(last);
        return last;

        // A stage's thread is named (the OS shows the first 15 characters: top -H, perf, /proc/PID/task/*/comm,
        // which bench.sh reads for the CPU time per stage).
        static void Name(string name)
        {
            Thread.CurrentThread.Name = name;
        }

        // A stage's failure stops every stage and is what the replay throws; cancellation is not a failure.
        void Guard(Action body)
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
        }

        ReplayProgress Snapshot() => Progress(readers, lanes, started, flushes,
            Interlocked.Read(ref readTicks), Interlocked.Read(ref ingestTicks));
    }

    /// <summary>
    /// Waits for <paramref name="task"/> on a stage thread of its own without spinning: the thread sleeps
    /// until the task completes. (<c>GetAwaiter().GetResult()</c> on an unfinished task spins and yields
    /// first, thousands of times a replay; on two cores shared by the stages' threads, a spinning thread
    /// holds a core that the stage it waits for needs.)
    /// </summary>
    private static T Block<T>(Task<T> task)
    {
        Block((Task)task);
        return task.Result;
    }

    private static void Block(Task task)
    {
        if (!task.IsCompleted)
        {
            var done = t_blocker ??= new ManualResetEventSlim(false, spinCount: 0);
            done.Reset();
            task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(t_signal ??= done.Set);
            done.Wait();
        }
        task.GetAwaiter().GetResult();
    }

    // One event per stage thread (a thread blocks on one task at a time).
    [ThreadStatic]
    private static ManualResetEventSlim? t_blocker;

    [ThreadStatic]
    private static Action? t_signal;

    /// <summary>
    /// A buffer for a chunk's lines, the reader's own size (<see cref="LaneReader.ArenaBytes"/>; it grows if a chunk needs
    /// more); not zeroed, it is written before it is read, and its pages are faulted in at once (<see cref="FreshPages.Bytes"/>).
    /// </summary>
    private byte[] NewArena()
    {
        Interlocked.Increment(ref _arenasMade);
        return FreshPages.Bytes(LaneReader.ArenaBytes);
    }

    /// <summary>
    /// Slots of each worker's pipeline in the pipelined replay (<see cref="Pipeline.AddSlots"/>): one with a single worker
    /// (its chunk is always next in turn), two with several, so a worker goes on with its next chunk while its last one
    /// waits for its turn to complete.
    /// </summary>
    internal static int Slots(int workers) => workers == 1 ? 1 : 2;

    /// <summary>
    /// The pipelined replay on this thread (an input whose every lane is one chunk, <paramref name="first"/>, or a replay
    /// with one worker): the stages' work round by round in the order the threads of <see cref="RunPipelinedAsync"/>
    /// serialize it. Each lane's chunk k is read, prepared with <see cref="pipeline"/> and completed in lane order
    /// against the horizon of chunk k (the other lanes' watermarks after their chunk k − 1, the seal of round k − 2);
    /// the round's signals are applied in lane order; a flush if the watermark after the round crossed a window; and
    /// after the last round the final flush. So the samples, dead letters and counts are the threaded run's. A lane's
    /// next chunk is read into the buffer of its last one, which its completion is done with.
    /// </summary>
    private async Task<ReplayProgress> RunInlineAsync(IReadOnlyList<LaneReader> readers, LaneState[] lanes, Chunk[] first, long started,
        Action<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        var n = lanes.Length;
        var rounds = new Rounds(n, pipeline.Compiled.OutOfOrdernessMs);
        var flushes = new FlushTally(coordinator, clock, pipeline.Compiled.WindowMs);
        var lastReport = started;
        long readTicks = 0, ingestTicks = 0;
        var signals = new ShardSignal[n][];
        var events = new List<LaneEvent>?[n];
        for (var k = 0; ; k++)
        {
            var round = rounds.Get(k);
            if (!round.Active.Any(a => a)) break;
            // Read, prepare and complete, in lane order (a pipeline's signals stay as they are until recycled).
            for (var i = 0; i < n; i++)
            {
                if (!round.Active[i]) continue;
                cancellationToken.ThrowIfCancellationRequested();
                var chunk = first[i];
                if (k > 0)
                {
                    var r0 = clock.GetTimestamp();
                    var read = readers[i].ReadChunk(chunkLines, events[i]);
                    chunk = new Chunk(i, k, read, [], readers[i].Finished, clock.GetTimestamp() - r0);
                }
                events[i] = chunk.Events;
                var t0 = clock.GetTimestamp();
                var nowMs = clock.GetUtcNow().ToUnixTimeMilliseconds();
                var batch = await pipeline.PrepareAsync(lanes[i].Lane, chunk.Events, nowMs, deferDeadLetters: true, cancellationToken).ConfigureAwait(false);
                var horizon = await rounds.HorizonAsync(k, i, cancellationToken).ConfigureAwait(false);
                lanes[i].Finished = chunk.Last;
                signals[i] = pipeline.Complete(lanes[i], batch, horizon, nowMs);
                ingestTicks += clock.GetTimestamp() - t0;
                readTicks += chunk.ReadTicks;
                rounds.Report(k, i, lanes[i], chunk.Last);
            }
            // Apply, in lane order; the shards copied what they keep, so the signals go back to the pipeline.
            for (var i = 0; i < n; i++)
            {
                if (!round.Active[i]) continue;
                await ApplyAsync(signals[i], cancellationToken).ConfigureAwait(false);
                pipeline.Recycle(signals[i]);
            }
            // The round's flush, when the watermark after it crossed a window (as the threaded workers decide).
            await flushes.FlushIfCrossedAsync(round.Global, cancellationToken).ConfigureAwait(false);
            round.Sealed.TrySetResult(coordinator.Sealed);
            if (ReportDue(progress, ref lastReport)) progress!(Progress(readers, lanes, started, flushes, readTicks, ingestTicks));
        }
        cancellationToken.ThrowIfCancellationRequested();
        await flushes.FlushAsync(true, cancellationToken).ConfigureAwait(false);
        var last = Progress(readers, lanes, started, flushes, readTicks, ingestTicks);
        progress?.Invoke(last);
        return last;
    }

    /// <summary>The live view of a replay: counts, open lanes and windows, the global watermark, time per stage.</summary>
    private ReplayProgress Progress(IReadOnlyList<LaneReader> readers, LaneState[] lanes, long started, FlushTally flushes,
        long readTicks, long ingestTicks)
    {
        var behind = flushes.Coordinator.SamplesClosedBehind; // read once: SamplesWritten and SamplesClosedBehind agree
        return new(
            pipeline.Counters.Events,
            readers.Sum(r => r.BytesRead),
            lanes.Count(l => !l.Finished),
            lanes.Length,
            store.OpenWindowCount,
            store.PartialCount,
            flushes.WindowsClosed,
            flushes.SamplesFlushed + behind,
            lanes.Any(l => !l.Finished) ? Watermark.Global(lanes.Where(l => !l.Finished).Select(l => l.Watermark(pipeline.Compiled.OutOfOrdernessMs))).Ms : long.MaxValue,
            clock.GetElapsedTime(started))
        {
            ReadTime = Ticks(readTicks),
            IngestTime = Ticks(ingestTicks),
            FlushTime = Ticks(flushes.ElapsedTicks),
            SamplesClosedBehind = behind,
        };
    }

    /// <summary>One batch's signals applied to their shards (index = shard id), the shards in parallel (each its own signal).</summary>
    private Task ApplyAsync(ShardSignal[] signals, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        store.SignalAll(signals);
        return Task.CompletedTask;
    }

    /// <summary>The flushes of one run: the windows they closed, the samples they wrote and the time they took.</summary>
    private sealed class FlushTally(FlushCoordinator coordinator, TimeProvider clock, long windowMs)
    {
        // The base-window boundary the global watermark had crossed at the last flush of the run.
        private long _flushedBoundary = long.MinValue;

        public long WindowsClosed { get; private set; }

        private long _samples;

        /// <summary>Samples the flushes wrote themselves; those a sink closing behind them has closed so far are <see cref="FlushCoordinator.SamplesClosedBehind"/>.</summary>
        public long SamplesFlushed => _samples;

        public FlushCoordinator Coordinator => coordinator;

        public long ElapsedTicks { get; private set; }

        /// <summary>
        /// A flush when the global watermark (after a chunk, or a round) has crossed a base-window boundary since the last
        /// one: when every replay flushes during the run.
        /// </summary>
        public Task FlushIfCrossedAsync(Watermark global, CancellationToken cancellationToken)
        {
            if (global == Watermark.None || CompiledPipeline.FloorTo(global.Ms, windowMs) <= _flushedBoundary) return Task.CompletedTask;
            _flushedBoundary = CompiledPipeline.FloorTo(global.Ms, windowMs);
            return FlushAsync(false, cancellationToken);
        }

        /// <summary>One flush.</summary>
        public async Task FlushAsync(bool final, CancellationToken cancellationToken)
        {
            var t = clock.GetTimestamp();
            var report = await coordinator.FlushAsync(final, cancellationToken).ConfigureAwait(false);
            WindowsClosed += report.WindowsClosed;
            _samples += report.SamplesWritten;
            ElapsedTicks += clock.GetTimestamp() - t;
        }
    }

    /// <summary>Whether a progress report is due (at most one every half second), and if so, counted from now.</summary>
    private bool ReportDue(Action<ReplayProgress>? progress, ref long lastReport)
    {
        if (progress is null || clock.GetElapsedTime(lastReport) <= TimeSpan.FromMilliseconds(500)) return false;
        lastReport = clock.GetTimestamp();
        return true;
    }

    private TimeSpan Ticks(long ticks) => TimeSpan.FromSeconds((double)ticks / clock.TimestampFrequency);

    /// <summary>Min watermark over the other lanes still open (finished lanes are +∞).</summary>
    private static Watermark OthersMin(Watermark[] watermarks, int self)
    {
        var min = Watermark.Final;
        for (var j = 0; j < watermarks.Length; j++)
        {
            if (j != self) min = Watermark.Min(min, watermarks[j]);
        }
        return min;
    }
}
