using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Prune;
using LogMetrics.Core.Telemetry;

namespace LogMetrics.Core;

/// <summary>One event of a lane: its sequence number and raw bytes.</summary>
public readonly record struct LaneEvent(long Sequence, ReadOnlyMemory<byte> Body)
{
    /// <summary>When &gt; 0, the line was longer than <c>source.maxRecordBytes</c> (this many bytes) and <see cref="Body"/> is only its start.</summary>
    public long OversizeBytes { get; init; }
}

/// <summary>What a host knows about the watermark when a batch arrives.</summary>
/// <param name="Sealed">Base windows ending at or before this are closed (from the last flush).</param>
/// <param name="Others">Min watermark of the other live lanes; <see cref="Watermark.None"/> when unknown
/// (the Functions host: lateness is then decided by the shards, at batch granularity).</param>
public readonly record struct IngestHorizon(Watermark Sealed, Watermark Others)
{
    public static readonly IngestHorizon Unknown = new(Watermark.None, Watermark.None);
}

/// <summary>Per-lane state a host keeps between batches: the newest accepted event time.</summary>
public sealed class LaneState(string lane)
{
    private int _aheadCount;
    private long _aheadMin = long.MaxValue;

    public string Lane { get; } = lane;
    public long MaxEventTimeMs { get; set; } = long.MinValue;
    public bool Finished { get; set; }

    /// <summary>Records that were far ahead of the lane and did not (yet) move its watermark (jump guard).</summary>
    public long HeldBack { get; private set; }

    /// <summary>
    /// Advances the lane's newest event time with a record's time, behind the jump guard: a record more
    /// than <paramref name="jumpMs"/> ahead of the newest time moves nothing on its own. Only when
    /// <paramref name="confirmations"/> consecutive records of the lane are all that far ahead does the
    /// lane jump, to the earliest of them (a real gap in the logs). Any record within reach in between
    /// resets the count, so one record with a wrong clock never moves the watermark. The first record
    /// of a lane has nothing to compare with and is taken as it is (<c>maxFutureSeconds</c> still applies).
    /// </summary>
    public void Advance(long eventTimeMs, long jumpMs, int confirmations)
    {
        if (MaxEventTimeMs == long.MinValue || eventTimeMs <= MaxEventTimeMs + jumpMs)
        {
            if (eventTimeMs > MaxEventTimeMs) MaxEventTimeMs = eventTimeMs;
            _aheadCount = 0;
            _aheadMin = long.MaxValue;
            return;
        }
        _aheadCount++;
        _aheadMin = Math.Min(_aheadMin, eventTimeMs);
        if (_aheadCount < confirmations)
        {
            HeldBack++;
            return;
        }
        MaxEventTimeMs = _aheadMin;
        _aheadCount = 0;
        _aheadMin = long.MaxValue;
    }

    /// <summary>The lane's watermark: its newest accepted event time minus the out-of-orderness.</summary>
    public Watermark Watermark(long outOfOrdernessMs) => Core.Watermark.Of(MaxEventTimeMs, outOfOrdernessMs);
}

/// <summary>
/// The ingest side of the pipeline, host-agnostic: a lane's batch of raw events in, one
/// <see cref="ShardSignal"/> per window shard out. Reads top to bottom as the flow does:
/// Parse → Prune → Enrich → Accumulate.
/// </summary>
public sealed class Pipeline
{
    private readonly CompiledPipeline _compiled;
    private readonly Enricher _enricher;
    private readonly PipelineCounters _counters;
    private readonly IDeadLetterSink _deadLetters;
    private readonly int _shardCount;
    private readonly RecordParser _parser;
    private readonly ProcessorStep[] _steps;
    // The unescaped parse-json / parse-kv sources of the slots' records, one record at a time (see ParseAndPrune).
    private readonly Record.Bytes _rawBytes = new();
    // Malformed records of the batch by reason tag (PipelineMeter.MalformedReason), reused batch after batch.
    private readonly Dictionary<string, long> _malformed = new(StringComparer.Ordinal);
    // The per-batch state a batch is prepared into and completed from (PipelineSlot): how many, and the free ones,
    // under _slotGate.
    private int _slotCount;
    private readonly Stack<PipelineSlot> _freeSlots = new();
    private readonly Lock _slotGate = new();
    // 1 while a batch is being prepared: one at a time (a slot more lets it overlap a Complete, not another prepare).
    private int _preparing;
    private readonly BatchAccumulator _accumulator;
    private readonly SeriesBudget _budget;
    private readonly Lock _gate = new();
    private readonly Stack<ShardSignal[]> _freeSignals = new();
    private readonly List<SeriesPartial>[] _drainTargets;
    private readonly List<int> _lateIndexes = [];
    private readonly List<ShardSignal[]> _returned = [];

    /// <param name="budget">The cardinality budget, shared by a host's pipelines; null = one of its own.</param>
    public Pipeline(CompiledPipeline compiled, Enricher enricher, PipelineCounters counters, IDeadLetterSink deadLetters, int shardCount, SeriesBudget? budget = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shardCount);
        _compiled = compiled;
        _enricher = enricher;
        _counters = counters;
        _deadLetters = deadLetters;
        _shardCount = shardCount;
        _parser = compiled.CreateParser();
        _steps = [.. compiled.Steps];
        FuseParseJson(_parser, compiled);
        _accumulator = new BatchAccumulator(compiled);
        AddSlots(1);
        _budget = budget ?? new SeriesBudget(compiled);
        _drainTargets = new List<SeriesPartial>[shardCount];
    }

    public CompiledPipeline Compiled => _compiled;

    /// <summary>
    /// Gives the pipeline <paramref name="total"/> slots (a slot holds one batch from <see cref="PrepareAsync"/> to
    /// <see cref="Complete"/>; a pipeline starts with one): with two, the next batch is parsed while the one before
    /// waits for its turn to complete or completes, on another thread. The parser, the memos and the series table stay
    /// one; each slot has its own records, lookups and per-record keys. Call before the first batch.
    /// </summary>
    internal void AddSlots(int total)
    {
        lock (_slotGate)
        {
            for (; _slotCount < total; _slotCount++) _freeSlots.Push(new PipelineSlot(this));
        }
    }

    private PipelineSlot TakeSlot()
    {
        lock (_slotGate)
        {
            if (!_freeSlots.TryPop(out var slot))
            {
                throw new InvalidOperationException($"every slot of this pipeline ({_slotCount}) holds a batch that is not completed yet: complete one before preparing another");
            }
            slot.Busy = true;
            return slot;
        }
    }

    private void ReturnSlot(PipelineSlot slot)
    {
        lock (_slotGate)
        {
            if (!slot.Busy) throw new InvalidOperationException("the batch was completed already");
            slot.Busy = false;
            _freeSlots.Push(slot);
        }
    }

    /// <summary>
    /// Has <paramref name="parser"/> walk the source of a <c>parse-json</c> step in the line (JSON inside a JSON
    /// string, as <c>Ext5</c>), when that step is the only reader of a raw slot (one read only by parse-json and
    /// parse-kv): the source is then never unescaped into a copy and walked a second time. Returns the step, or null.
    /// </summary>
    internal static ParseJsonStep? FuseParseJson(RecordParser parser, CompiledPipeline compiled)
    {
        foreach (var slot in compiled.RawSlots)
        {
            ParseJsonStep? only = null;
            var readers = 0;
            foreach (var step in compiled.Steps)
            {
                switch (step)
                {
                    case ParseJsonStep json when json.SourceSlot == slot:
                        only = json;
                        readers++;
                        break;
                    case ParseKvStep kv when kv.SourceSlot == slot:
                        readers++;
                        break;
                }
            }
            if (readers == 1 && only is not null)
            {
                parser.FuseParseJson(slot, only);
                return only;
            }
        }
        return null;
    }

    // How many records ahead the per-record loops after Parse → Prune ask for a record's values (Record.Prefetch).
    private const int Lookahead = 2;

    // How many records ahead of keying a record's series prepare asks for its series memo entries (BatchAccumulator.Ask).
    private const int MemoAhead = 2;

    /// <summary>Dead-letter reason of a record stamped more than <c>source.maxFutureSeconds</c> ahead of the wall clock.</summary>
    public const string TimeInTheFuture = "time in the future";

    /// <summary>Dead-letter reason of a record on which a <c>parse-regexp</c> pattern exceeded its match timeout.</summary>
    public const string RegexTimeout = "regex timeout";

    /// <summary>Dead-letter reason (prefix) of a line longer than <c>source.maxRecordBytes</c>.</summary>
    public const string RecordTooLarge = "record too large";

    public int ShardCount => _shardCount;

    public PipelineCounters Counters => _counters;

    public Enricher Enricher => _enricher;

    /// <summary>The cardinality budget this pipeline folds series over.</summary>
    public SeriesBudget Budget => _budget;

    /// <summary>
    /// Processes one batch of one lane; <paramref name="nowMs"/> is the wall clock (records more than
    /// <c>source.maxFutureSeconds</c> ahead of it are dead-lettered; <see cref="long.MaxValue"/> = no check).
    /// Malformed records are dead-lettered and counted; they never
    /// fail the batch. Returns one signal per shard (index = shard id), or none for an empty batch.
    /// Not re-entrant: a host runs one batch at a time per <see cref="Pipeline"/> instance.
    /// </summary>
    public async Task<ShardSignal[]> IngestAsync(
        LaneState lane, IReadOnlyList<LaneEvent> events, IngestHorizon horizon, long nowMs, CancellationToken cancellationToken)
    {
        var batch = await PrepareAsync(lane.Lane, events, nowMs, deferDeadLetters: false, cancellationToken).ConfigureAwait(false);
        return Complete(lane, batch, horizon, nowMs);
    }

    /// <summary>
    /// The first half of <see cref="IngestAsync"/>, which needs nothing of the lane's state: Parse → Prune,
    /// and the batch's lookup keys warmed. A replay runs it for later chunks (other pipelines) while an
    /// earlier chunk completes. The batch stays with this pipeline until <see cref="Complete"/>; with
    /// <paramref name="deferDeadLetters"/> its dead letters are written there too, so they keep lane order.
    /// </summary>
    public async Task<PreparedBatch> PrepareAsync(string lane, IReadOnlyList<LaneEvent> events, long nowMs, bool deferDeadLetters, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _preparing, 1) == 1)
        {
            throw new InvalidOperationException("this pipeline is preparing a batch already: it prepares one at a time");
        }
        try
        {
            var slot = TakeSlot();
            try
            {
                return await PrepareAsync(slot, lane, events, nowMs, deferDeadLetters, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                ReturnSlot(slot);
                throw;
            }
        }
        finally
        {
            Volatile.Write(ref _preparing, 0);
        }
    }

    // A ValueTask: a batch whose lookups need no fetch completes synchronously, with no task made for it.
    private async ValueTask<PreparedBatch> PrepareAsync(PipelineSlot slot, string lane, IReadOnlyList<LaneEvent> events, long nowMs, bool deferDeadLetters, CancellationToken cancellationToken)
    {
        slot.Staged.Clear();
        // Each kept record's lookup keys are taken while Parse → Prune has it at hand (in cache); then fetched.
        _enricher.StartKeys(slot.Lookups, events.Count);
        var kept = ParseAndPrune(slot, lane, events, nowMs, deferDeadLetters ? slot.Staged : null);
        var lookups = await _enricher.FetchKeysAsync(slot.Lookups, cancellationToken).ConfigureAwait(false);
        // The per-record work that depends on nothing of the lane's state is done here, off the lane-ordered
        // stage: the lookups' outputs set (counted in Complete, for the records that are not late) and each
        // record's series keys hashed. A cache that counts per record is asked in Complete, in lane order.
        var filled = _enricher.CanFill;
        if (filled)
        {
            lock (_gate)
            {
                // Record by record: its outputs set and its series memo entries asked for, then, MemoAhead records
                // later (the entries arrived meanwhile), its series keyed while it is still in cache.
                _accumulator.Use(slot.Keys);
                _accumulator.Reserve(kept.Count);
                for (var r = 0; r < kept.Count + MemoAhead; r++)
                {
                    if (r < kept.Count)
                    {
                        // Records were parsed a batch ago: the next ones are asked for now (see Record.Prefetch).
                        if (r + Lookahead < kept.Count) kept[r + Lookahead].Prefetch();
                        _enricher.FillOne(lookups, r, kept[r]);
                        _accumulator.Ask(r, kept[r]);
                    }
                    if (r >= MemoAhead) _accumulator.Prepare(r - MemoAhead, kept[r - MemoAhead]);
                }
                _enricher.TallyFilled(lookups, kept.Count);
            }
        }
        slot.Prepared.Set(events, kept, lookups, filled);
        return slot.Prepared;
    }

    /// <summary>
    /// The second half of <see cref="IngestAsync"/>, in lane order: Enrich → Accumulate against the lane's
    /// state and the horizon, then one signal per shard.
    /// </summary>
    public ShardSignal[] Complete(LaneState lane, PreparedBatch batch, IngestHorizon horizon, long nowMs)
    {
        if (batch.Owner != this) throw new ArgumentException("the batch was prepared by another pipeline", nameof(batch));
        var slot = batch.Slot;
        if (!slot.Busy) throw new InvalidOperationException("the batch was completed already");
        try
        {
            lock (_gate)
            {
                foreach (var letter in slot.Staged) _deadLetters.Write(letter);
                _accumulator.Use(slot.Keys);
                EnrichAndAccumulate(lane, batch.Kept, batch.Lookups, batch.Filled, horizon);
                return Signals(lane, batch.Events, nowMs);
            }
        }
        finally
        {
            // Whatever happened (a dead-letter store that failed, say), the slot takes the next batch: a host that
            // retries the batch finds the pipeline as a pipeline without slots would be.
            slot.Staged.Clear();
            ReturnSlot(slot);
        }
    }

    /// <summary>
    /// Parse + Prune: raw lines to accepted records, counting malformed and filtered ones. Each line is
    /// parsed into the next free record of the pool; an accepted one keeps it, so nothing is copied. The
    /// pool's records share one buffer for the bytes of their raw (parse-json / parse-kv source) fields,
    /// dropped after Prune. Touches only the slot and the parser: it may run while another slot's batch completes.
    /// </summary>
    private List<Record> ParseAndPrune(PipelineSlot slot, string lane, IReadOnlyList<LaneEvent> events, long nowMs, List<DeadLetter>? staged)
    {
        var kept = slot.Kept;
        kept.Clear();
        var pool = slot.Pool;
        long seen = 0, filtered = 0;
        var malformed = _malformed;
        malformed.Clear();
        lock (_gate)
        {
            TakeBackReturned();
        }
        for (var n = 0; n < events.Count; n++)
        {
            var e = events[n];
            var body = e.Body.Span;
            // The next line is asked for while this one is parsed, so that its bytes arrive meanwhile.
            // Its span is taken from the object its memory wraps, whose header is read for that: the object of
            // the line after is asked for one line earlier still, so that taking the span does not wait for it.
            if (n + 2 < events.Count) PrefetchObject(events[n + 2].Body);
            if (n + 1 < events.Count) PrefetchLine(events[n + 1].Body.Span);
            // And the record the next line goes to, if this one is kept (a pool record last used a batch ago).
            if (kept.Count + 1 < pool.Count) pool[kept.Count + 1].Prefetch();
            if (IsBlank(body))
            {
                continue;
            }
            seen++;
            var oversize = e.OversizeBytes > 0 ? e.OversizeBytes : body.Length > _compiled.MaxRecordBytes ? body.Length : 0;
            if (pool.Count == kept.Count)
            {
                var fresh = _compiled.CreateRecord();
                fresh.ShareBytes(_rawBytes);
                pool.Add(fresh);
            }
            var record = pool[kept.Count];
            var reason = oversize > 0
                ? $"{RecordTooLarge}: {oversize} bytes > source.maxRecordBytes {_compiled.MaxRecordBytes}"
                : _parser.Parse(body, record);
            if (reason is null && nowMs < long.MaxValue - _compiled.MaxFutureMs && record.EventTimeMs > nowMs + _compiled.MaxFutureMs)
            {
                // A wrong clock costs this one record, not its lane's watermark.
                reason = TimeInTheFuture;
            }
            bool keep = false;
            if (reason is null)
            {
                try
                {
                    keep = Prune(record);
                }
                catch (RegexMatchTimeoutException)
                {
                    // A pattern that backtracks past its timeout on this record: the record is dead-lettered, the batch goes on.
                    reason = RegexTimeout;
                }
                // The fields kept as UTF-8 bytes are read only by parse-json and parse-kv (the compiler's raw
                // slots), so after Prune nothing needs them: their bytes, shared by the pool's records, are the
                // next record's. One small buffer stays warm in cache instead of one per pooled record.
                record.DropBytes();
            }
            if (reason is not null)
            {
                var tag = PipelineMeter.MalformedReason(reason);
                malformed[tag] = malformed.GetValueOrDefault(tag) + 1;
                if (_deadLetters is not NullDeadLetterSink)
                {
                    var letter = new DeadLetter(lane, e.Sequence, reason, e.Body);
                    if (staged is null) _deadLetters.Write(letter);
                    else staged.Add(letter);
                }
                continue;
            }
            if (!keep)
            {
                filtered++;
                continue;
            }
            record.Sequence = e.Sequence;
            _enricher.AddKeys(slot.Lookups, kept.Count, record);
            kept.Add(record);
        }
        _counters.AddEvents(seen, lane);
        foreach (var (reason, n) in malformed) _counters.AddMalformed(n, lane, reason);
        _counters.AddFiltered(filtered, lane);
        _counters.AddAccepted(kept.Count, lane);
        return kept;
    }

    private static void PrefetchLine(ReadOnlySpan<byte> line) => CachePrefetch.Bytes(ref MemoryMarshal.GetReference(line), line.Length);

    /// <summary>
    /// Starts loading the start of the object <paramref name="memory"/> wraps (its header and first bytes), by the
    /// reference the memory holds first, read as an address without touching the object. Only a hint: were the
    /// memory laid out otherwise, the processor would prefetch some other address, which never faults.
    /// </summary>
    private static void PrefetchObject(ReadOnlyMemory<byte> memory) => CachePrefetch.Address(Unsafe.As<ReadOnlyMemory<byte>, nint>(ref memory));

    private static bool IsBlank(ReadOnlySpan<byte> line) => line.IndexOfAnyExcept((byte)' ', (byte)'\t', (byte)'\r') < 0;

    private bool Prune(Record record)
    {
        foreach (var step in _steps)
        {
            if (!step.Apply(record)) return false;
        }
        return true;
    }

    /// <summary>
    /// Enrich + Accumulate, in lane order. The lane watermark advances record by record; a record
    /// whose base window the watermark has already passed is late: counted, and left out of every
    /// metric (DESIGN §3), its lookups not counted either. The horizon is the global watermark as far
    /// as this host can know it. A <paramref name="filled"/> batch was enriched and keyed in
    /// <see cref="PrepareAsync"/>: only its lookup counts and the fold are left.
    /// </summary>
    private void EnrichAndAccumulate(LaneState lane, List<Record> records, EnrichBatch lookups, bool filled, IngestHorizon horizon)
    {
        long late = 0;
        var ooo = _compiled.OutOfOrdernessMs;
        var lateIndexes = _lateIndexes;
        lateIndexes.Clear();
        if (!filled) _accumulator.Reserve(records.Count);
        for (var i = 0; i < records.Count; i++)
        {
            var record = records[i];
            if (i + Lookahead < records.Count) records[i + Lookahead].Prefetch();
            if (filled) _accumulator.PrefetchAdd(i, records.Count);
            lane.Advance(record.EventTimeMs, _compiled.LaneJumpMs, _compiled.LaneJumpConfirmations);
            var closed = Watermark.Max(horizon.Sealed, Watermark.Min(lane.Watermark(ooo), horizon.Others));
            if (closed.Seals(_compiled.WindowStart(record.EventTimeMs), _compiled.WindowMs))
            {
                late++;
                lateIndexes.Add(i);
                continue;
            }
            if (!filled)
            {
                _enricher.Apply(lookups, i, record);
                _accumulator.Prepare(i, record);
            }
            _accumulator.Add(i, record, _budget);
        }
        if (filled) _enricher.CountFilled(lookups, lateIndexes);
        // Windows that can take no more events leave the budget: sealed ones, or an hour (the longest
        // out-of-orderness) behind this lane.
        var laneWatermark = lane.Watermark(ooo);
        _budget.Forget(Math.Max(horizon.Sealed.Ms, laneWatermark == Watermark.None ? long.MinValue : laneWatermark.Ms - 3_600_000));
        _counters.AddLate(late, lane.Lane);
    }

    private ShardSignal[] Signals(LaneState lane, IReadOnlyList<LaneEvent> events, long nowMs)
    {
        if (events.Count == 0 && !lane.Finished)
        {
            return [];
        }
        if (!_freeSignals.TryPop(out var signals))
        {
            signals = new ShardSignal[_shardCount];
            for (var i = 0; i < _shardCount; i++) signals[i] = new ShardSignal();
        }
        var lists = _drainTargets;
        for (var i = 0; i < _shardCount; i++) lists[i] = signals[i].Partials;
        _accumulator.Drain(lists);
        Array.Clear(lists);
        long partials = 0;
        for (var i = 0; i < _shardCount; i++)
        {
            var signal = signals[i];
            signal.Lane = lane.Lane;
            signal.FirstSequence = events.Count > 0 ? events[0].Sequence : long.MaxValue;
            signal.LastSequence = events.Count > 0 ? events[^1].Sequence : long.MaxValue;
            signal.ChainStart = long.MinValue;
            signal.LaneWatermarkMs = lane.Watermark(_compiled.OutOfOrdernessMs).Ms;
            signal.LaneFinished = lane.Finished;
            signal.SentAtMs = nowMs;
            partials += signal.Partials.Count;
        }
        _counters.AddPartials(partials, lane.Lane);
        _counters.AddShardSignals(signals.Length, lane.Lane);
        return signals;
    }

    /// <summary>
    /// Hands back the signals of a batch once the host is done with them: every one applied (or sent,
    /// serialized) and nothing of them kept but the partials' <see cref="SeriesPartial.Labels"/> (immutable,
    /// they stay valid). Their objects are reused by later batches, so a host that recycles allocates
    /// nothing per batch for its signals. Optional: signals never handed back are simply collected.
    /// Hand each array back at most once, and only one this pipeline returned. They are taken back when the
    /// next batch is prepared (<see cref="PrepareAsync"/>), off the lane-ordered stage.
    /// </summary>
    public void Recycle(ShardSignal[] signals)
    {
        if (signals.Length != _shardCount) return;
        lock (_gate)
        {
            _returned.Add(signals);
        }
    }

    /// <summary>Takes back the signals handed to <see cref="Recycle"/> since the last batch (under the gate).</summary>
    private void TakeBackReturned()
    {
        foreach (var signals in _returned)
        {
            foreach (var signal in signals) _accumulator.Recycle(signal.Partials);
            _freeSignals.Push(signals);
        }
        _returned.Clear();
    }
}

/// <summary>A batch of one lane after Parse → Prune with its lookups warmed, waiting for <see cref="Pipeline.Complete"/>.</summary>
public sealed class PreparedBatch
{
    internal PreparedBatch(Pipeline owner, PipelineSlot slot) => (Owner, Slot) = (owner, slot);

    internal Pipeline Owner { get; }

    /// <summary>The slot of its pipeline that holds it until <see cref="Pipeline.Complete"/>.</summary>
    internal PipelineSlot Slot { get; }

    /// <summary>The batch's raw events.</summary>
    public IReadOnlyList<LaneEvent> Events { get; private set; } = [];

    internal List<Record> Kept { get; private set; } = [];

    internal EnrichBatch Lookups { get; private set; } = new();

    /// <summary>Whether the records were enriched and keyed for the accumulator in prepare (lookup counts left to complete).</summary>
    internal bool Filled { get; private set; }

    internal void Set(IReadOnlyList<LaneEvent> events, List<Record> kept, EnrichBatch lookups, bool filled)
    {
        Events = events;
        Kept = kept;
        Lookups = lookups;
        Filled = filled;
    }
}

/// <summary>
/// What a <see cref="Pipeline"/> holds of one batch from <see cref="Pipeline.PrepareAsync"/> to <see cref="Pipeline.Complete"/>:
/// the records it is parsed into (reused batch after batch: never cloned), the kept ones, its lookups, its staged dead
/// letters and the accumulator's per-record keys.
/// </summary>
internal sealed class PipelineSlot
{
    internal PipelineSlot(Pipeline owner) => Prepared = new PreparedBatch(owner, this);

    internal List<Record> Pool { get; } = [];

    internal List<Record> Kept { get; } = [];

    internal EnrichBatch Lookups { get; } = new();

    internal List<DeadLetter> Staged { get; } = [];

    internal BatchAccumulator.PreparedKeys Keys { get; } = new();

    internal PreparedBatch Prepared { get; }

    /// <summary>Holds a batch (prepared, not completed yet); under the pipeline's slot lock.</summary>
    internal bool Busy { get; set; }
}
