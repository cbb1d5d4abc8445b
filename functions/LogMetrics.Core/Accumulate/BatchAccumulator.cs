using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Text;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Accumulate;

/// <summary>
/// Folds a batch of enriched records into per-(series, base window) partials, then splits them by
/// shard. Ingest does this before touching any durable state: entity operations are expensive, so a
/// whole batch becomes one signal per shard (DESIGN §3 "why entities hold partials").
/// </summary>
/// <remarks>
/// No allocation per record in steady state. A series (family + label values) is keyed by a 64-bit
/// <see cref="XxHash3"/> over its label values' UTF-8 bytes (<see cref="SeriesHash"/>) and interned: its
/// label array is made once, immutable, and shared by every partial and shard that holds the series; its
/// shard is computed once. Partials come from a pool that <see cref="Recycle"/> refills, so a host that
/// hands the signals back after applying them allocates nothing for them either. Partials keep the order
/// in which the batch first met them, as before.
/// </remarks>
public sealed class BatchAccumulator
{
    /// <summary>Label value used when a label's field is missing or empty (DESIGN §4).</summary>
    public const string Unknown = "unknown";

    // Interned (admitted) series: more than this many, and the table starts over (label arrays already handed
    // out stay valid). Bounds the table to a few tens of MB.
    private const int MaxSeries = 1 << 18;
    private readonly int _maxSeries;

    private readonly CompiledPipeline _pipeline;
    private readonly MetricFamily[] _families;
    private readonly string[][] _scratch;
    private readonly ulong[][] _hashScratch;
    private readonly LabelHashes _labelHashes = new();
    // Per family: its series by the instances of their label values (see SeriesMemo).
    private readonly SeriesMemo[] _memos;
    // Open addressing; a slot holds the series' hash and family beside it, so a probe reads one slot, and
    // loads the series object only when hash and family match.
    private Slot[] _table = new Slot[1024];
    private int _seriesCount;
    private readonly List<SeriesPartial> _batch = [];
    private readonly List<Series> _batchSeries = [];
    private readonly double[][] _initial;
    // (series, window) → partial, for a series met in more than one window of the same batch: every window of it but the
    // one it opened last (that one is in the series itself).
    private readonly Dictionary<(Series, long), SeriesPartial> _otherWindows = [];
    private readonly Stack<SeriesPartial>[] _free;
    private readonly Series[] _overflow;
    private int _stamp = 1;
    private int _shardCount;
    // Per record of the batch (Prepare), per family: whether the record folds into it, its label values
    // (at _labelOffset[family] in the record's row of _labelWidth) and series hash; and its base window.
    private readonly int[] _labelOffset;
    private readonly int _labelWidth;
    private byte[] _preparedIn = [];
    // _preparedIn: the record does not fold into the family; it does, with its series hash in _preparedHash; it does,
    // and its series was found by the memo (in _preparedSeries, whose hash is the series hash: none computed).
    private const byte Out = 0, Hashed = 1, Memoized = 2;
    private ulong[] _preparedHash = [];
    private string[] _preparedLabels = [];
    private long[] _preparedWindow = [];
    // ... and the interned series Find returned then (null: none yet), valid while the table has not started
    // over since (_generation): a series is never removed from the table otherwise, nor interned twice.
    private Series?[] _preparedSeries = [];
    // ... and, per record and family, the memo set Ask found for its label texts (-1 once found there), per record whether
    // it was asked for (Ask) ahead of its Prepare.
    private int[] _preparedSlot = [];
    private bool[] _asked = [];
    private int _preparedGeneration;
    private int _generation;
    // The prepared batch whose arrays the fields above are (see Use).
    private PreparedKeys _active = new();

    // Each family's series memo: 2^8 sets at first (a short run touches little memory), growing four times over up to
    // 2^12 sets (4,096 two-way sets: a batch's tenants, thousands of series, mostly stay in it from one batch to the next).
    private const int FirstMemoBits = 8;
    private const int MaxMemoBits = 12;

    public BatchAccumulator(CompiledPipeline pipeline)
        : this(pipeline, FirstMemoBits, MaxMemoBits, MaxSeries)
    {
    }

    /// <param name="memoBits">Each family's series memo starts with 2^<paramref name="memoBits"/> sets (tests use tiny ones, to collide) ...</param>
    /// <param name="maxMemoBits">... and grows four times over, whenever it has taken in half as many series as it has sets, up to 2^<paramref name="maxMemoBits"/>.</param>
    /// <param name="maxSeries">Series interned before the table starts over (tests use a few, to start over often).</param>
    internal BatchAccumulator(CompiledPipeline pipeline, int memoBits, int maxMemoBits, int maxSeries)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxSeries);
        _maxSeries = maxSeries;
        ArgumentOutOfRangeException.ThrowIfNegative(memoBits);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxMemoBits, 20);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMemoBits, memoBits);
        _pipeline = pipeline;
        _families = [.. pipeline.Families];
        _scratch = [.. _families.Select(f => new string[f.LabelSlots.Length])];
        _hashScratch = [.. _families.Select(f => new ulong[f.LabelSlots.Length])];
        _free = [.. _families.Select(_ => new Stack<SeriesPartial>())];
        _overflow = new Series[_families.Length];
        _initial = [.. _families.Select(f => f.NewValues())];
        _labelOffset = new int[_families.Length];
        _memos = [.. _families.Select(f => new SeriesMemo(f.LabelSlots.Length, memoBits, maxMemoBits))];
        foreach (var family in _families)
        {
            _labelOffset[family.Index] = _labelWidth;
            _labelWidth += family.LabelSlots.Length;
        }
    }

    public int Count => _batch.Count;

    /// <summary>Series interned (for tests: only admitted ones are held).</summary>
    internal int InternedSeries => _seriesCount;

    /// <summary>
    /// Folds one record into its families' partials; a series over <paramref name="budget"/> goes to the overflow series.
    /// (Prepares it as record 0 of a batch: not between <see cref="Prepare(IReadOnlyList{Record})"/> and its <see cref="Add(int, Record, SeriesBudget?)"/> calls.)
    /// </summary>
    public void Add(Record record, SeriesBudget? budget = null)
    {
        Reserve(1);
        Prepare(0, record);
        Add(0, record, budget);
    }

    /// <summary>
    /// The per-record work of <see cref="Add(int, Record, SeriesBudget?)"/> that needs nothing but the record: for
    /// each family, whether the record folds into it (<c>where</c>), its label values and series hash, and its base
    /// window. Runs ahead of the lane-ordered stage (records enriched, late or not); then each record that is
    /// not late is added by its index, in lane order.
    /// </summary>
    public void Prepare(IReadOnlyList<Record> records)
    {
        Reserve(records.Count);
        for (var r = 0; r < records.Count; r++) Prepare(r, records[r]);
    }

    /// <summary>
    /// The per-record arrays of one prepared batch (<see cref="Reserve"/>, <see cref="Ask"/>, <see cref="Prepare(int, Record)"/>,
    /// then <see cref="Add(int, Record, SeriesBudget?)"/>). A host with several batches prepared at once (a
    /// <see cref="Pipeline"/> with slots) gives each batch its own and switches with <see cref="Use"/>; the series table,
    /// memos and partials stay one.
    /// </summary>
    internal sealed class PreparedKeys
    {
        internal long[] Window = [];
        internal byte[] In = [];
        internal ulong[] Hash = [];
        internal string[] Labels = [];
        // Series?[] (Series is private to the accumulator).
        internal object Series = Array.Empty<Series?>();
        internal int[] Slot = [];
        internal bool[] Asked = [];
        internal int Generation;
    }

    /// <summary>
    /// Makes <paramref name="keys"/> the prepared batch the next <see cref="Reserve"/> … <see cref="Add(int, Record, SeriesBudget?)"/>
    /// calls work on (the one in use before keeps its arrays). Not thread-safe, as the rest.
    /// </summary>
    internal void Use(PreparedKeys keys)
    {
        if (ReferenceEquals(keys, _active)) return;
        var active = _active;
        (active.Window, active.In, active.Hash, active.Labels, active.Series, active.Slot, active.Asked, active.Generation) =
            (_preparedWindow, _preparedIn, _preparedHash, _preparedLabels, _preparedSeries, _preparedSlot, _asked, _preparedGeneration);
        (_preparedWindow, _preparedIn, _preparedHash, _preparedLabels, _preparedSeries, _preparedSlot, _asked, _preparedGeneration) =
            (keys.Window, keys.In, keys.Hash, keys.Labels, (Series?[])keys.Series, keys.Slot, keys.Asked, keys.Generation);
        _active = keys;
    }

    /// <summary>Room for <paramref name="records"/> prepared records.</summary>
    internal void Reserve(int records)
    {
        if (_preparedWindow.Length < records)
        {
            var size = Math.Max(records, _preparedWindow.Length * 2);
            _preparedWindow = new long[size];
            _preparedIn = new byte[size * _families.Length];
            _preparedHash = new ulong[size * _families.Length];
            _preparedLabels = new string[size * _labelWidth];
            _preparedSeries = new Series?[size * _families.Length];
            _preparedSlot = new int[size * _families.Length];
            _asked = new bool[size];
        }
        // A batch given up between Ask and Prepare leaves nothing asked for the next.
        Array.Clear(_asked, 0, records);
    }

    /// <summary>
    /// The first step of <see cref="Prepare(int, Record)"/>, which a caller may take a few records ahead (once the
    /// record's lookups are set): for each family, whether the record folds into it, and its memo entry asked for by
    /// the instances of its label fields' texts, so that the entry is in cache by the time the record is prepared.
    /// Only reads the memo.
    /// </summary>
    internal void Ask(int index, Record record)
    {
        var values = record.Values;
        foreach (var family in _families)
        {
            var at = index * _families.Length + family.Index;
            if (family.Where is { } where && !where(record))
            {
                _preparedIn[at] = Out;
                continue;
            }
            _preparedIn[at] = Hashed;
            var memo = _memos[family.Index];
            memo.Prefetch(_preparedSlot[at] = memo.SlotOf(values, family.LabelSlots));
        }
        _asked[index] = true;
    }

    /// <summary>Prepares record <paramref name="index"/> of the batch (see <see cref="Prepare(IReadOnlyList{Record})"/>); <see cref="Reserve"/> first, <see cref="Ask"/> maybe.</summary>
    internal void Prepare(int index, Record record)
    {
        // Each family's memo entry asked for (Ask, here unless done ahead); then the entries read, the misses' labels
        // made and hashed and their table slots asked for; then the misses found: at each step the cache misses of all
        // families overlap. A hit reads neither the texts nor the series, and writes no labels.
        if (!_asked[index]) Ask(index, record);
        _asked[index] = false;
        _preparedGeneration = _generation;
        _preparedWindow[index] = _pipeline.WindowStart(record.EventTimeMs);
        var values = record.Values;
        var table = _table;
        var misses = false;
        foreach (var family in _families)
        {
            var at = index * _families.Length + family.Index;
            if (_preparedIn[at] == Out) continue;
            // The same texts as a record before: its series, without making the labels, hashing them or probing
            // the table (nor reading the series: Add does, with its hash).
            if (_memos[family.Index].TryGet(_preparedSlot[at], values, family.LabelSlots) is { } known)
            {
                _preparedIn[at] = Memoized;
                _preparedSeries[at] = known;
                _preparedSlot[at] = -1;
                continue;
            }
            misses = true;
            var labels = _preparedLabels.AsSpan(index * _labelWidth + _labelOffset[family.Index], family.LabelSlots.Length);
            LabelsOf(family, values, labels);
            var hash = _preparedHash[at] = HashOf(family, labels);
            Prefetch(table, hash);
        }
        if (!misses) return;
        foreach (var family in _families)
        {
            var at = index * _families.Length + family.Index;
            if (_preparedIn[at] == Out || _preparedSlot[at] < 0) continue;
            var labels = _preparedLabels.AsSpan(index * _labelWidth + _labelOffset[family.Index], family.LabelSlots.Length);
            var series = _preparedSeries[at] = Find(family, labels, _preparedHash[at]);
            if (series is not null) _memos[family.Index].Set(_preparedSlot[at], values, family.LabelSlots, series);
        }
    }

    /// <summary>A family's label values of a record: its label fields' texts, <see cref="Unknown"/> for a missing or empty one.</summary>
    private static void LabelsOf(MetricFamily family, FieldValue[] values, Span<string> labels)
    {
        var slots = family.LabelSlots;
        for (var i = 0; i < labels.Length; i++)
        {
            var text = values[slots[i]].AsText;
            labels[i] = text.Length == 0 ? Unknown : text;
        }
    }

    /// <summary>The series hash of a family's label values.</summary>
    private ulong HashOf(MetricFamily family, ReadOnlySpan<string> labels)
    {
        var hashes = _hashScratch[family.Index];
        for (var i = 0; i < labels.Length; i++) hashes[i] = _labelHashes.Of(labels[i]);
        return SeriesHash.Combine(family.Index, hashes);
    }

    /// <summary>Starts loading an object and the 64 bytes after it (a partial's values array is allocated right after it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchObject(object target) => CachePrefetch.Object(target, nextLine: true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(Slot[] table, ulong hash) => CachePrefetch.Of(ref table[(int)hash & (table.Length - 1)]);

    /// <summary>
    /// Starts loading what <see cref="Add(int, Record, SeriesBudget?)"/> of the prepared records ahead will read, for a
    /// caller adding records <paramref name="index"/>, <paramref name="index"/> + 1, … of <paramref name="count"/> in
    /// order: the series of record <paramref name="index"/> + 4, and the partials (with their values) that the series
    /// of record <paramref name="index"/> + 2, asked for two records ago, have in this batch, or their budget admission
    /// when they have none yet. Only reads.
    /// </summary>
    internal void PrefetchAdd(int index, int count)
    {
        if (!Sse.IsSupported || _preparedGeneration != _generation) return;
        var families = _families.Length;
        if (index + 4 < count)
        {
            var row = _preparedSeries.AsSpan((index + 4) * families, families);
            foreach (var series in row)
            {
                if (series is not null) PrefetchObject(series);
            }
        }
        if (index + 2 < count)
        {
            var row = _preparedSeries.AsSpan((index + 2) * families, families);
            foreach (var series in row)
            {
                if (series is null) continue;
                if (series.Stamp == _stamp && series.Partial is { } partial) PrefetchObject(partial);
                // New to the batch: its admission may be read (AdmittedBefore).
                else if (series.Admission is { } admission) CachePrefetch.Object(admission);
            }
        }
    }

    /// <summary>Folds prepared record <paramref name="index"/> into its families' partials; a series over <paramref name="budget"/> goes to the overflow series.</summary>
    public void Add(int index, Record record, SeriesBudget? budget = null)
    {
        var windowStart = _preparedWindow[index];
        foreach (var family in _families)
        {
            var at = index * _families.Length + family.Index;
            var state = _preparedIn[at];
            if (state == Out)
            {
                continue;
            }
            // Found in Prepare, unless the table started over since; not found then, maybe interned by an earlier record since.
            var series = _preparedGeneration == _generation ? _preparedSeries[at] : null;
            ulong hash;
            SeriesPartial? partial;
            // The labels Prepare made, for a series not found: one the memo found has none made, nor needs them (its
            // own label array stands for them), unless the table started over since: they are made here then.
            string[]? labels = null;
            if (series is not null)
            {
                hash = series.Hash;
                partial = Current(series, windowStart);
            }
            else
            {
                var prepared = _preparedLabels.AsSpan(index * _labelWidth + _labelOffset[family.Index], family.LabelSlots.Length);
                if (state == Memoized) LabelsOf(family, record.Values, prepared);
                hash = state == Hashed ? _preparedHash[at] : HashOf(family, prepared);
                series = Find(family, prepared, hash);
                partial = series is null ? null : Current(series, windowStart);
                if (series is null)
                {
                    labels = _scratch[family.Index];
                    prepared.CopyTo(labels);
                }
            }
            if (partial is null)
            {
                // A series is interned only once the budget admits it: label sets folded into the overflow
                // series (millions of tenants) are never held.
                string[]? kept = null;
                if (budget is not null && !AdmittedBefore(series, budget, family, record.EventTimeMs))
                {
                    if (!budget.Admit(family, record.EventTimeMs, series?.Labels ?? labels!, hash, copy: series is null, series?.Admission, out kept, out var admitted))
                    {
                        // Over the family's cardinality budget in this window: the overflow series carries it.
                        series = Overflow(family);
                        partial = Current(series, windowStart);
                    }
                    else
                    {
                        series ??= Intern(family, kept ?? labels!.AsSpan().ToArray(), hash);
                        series.Admission = admitted;
                        series.AdmittedBy = budget;
                        series.AdmittedIn = admitted!.Window;
                    }
                }
                series ??= Intern(family, kept ?? labels!.AsSpan().ToArray(), hash);
                partial ??= Open(series, windowStart);
            }
            family.Fold(partial.Values, record);
            if (record.EventTimeMs > partial.NewestEventMs) partial.NewestEventMs = record.EventTimeMs;
        }
    }

    /// <summary>
    /// Whether <paramref name="budget"/> admitted <paramref name="series"/> in this metric window, which it has not forgotten
    /// since: as this pipeline last saw (in the series itself), or else as its admission says (another pipeline's series
    /// of the same labels admitted then; one more object read, so second).
    /// </summary>
    private static bool AdmittedBefore(Series? series, SeriesBudget budget, MetricFamily family, long eventTimeMs)
    {
        if (series is null) return false;
        var start = CompiledPipeline.FloorTo(eventTimeMs, family.ResolutionMs);
        if (series.AdmittedIn is { Forgotten: false } seen && seen.Start == start && ReferenceEquals(series.AdmittedBy, budget)) return true;
        if (series.Admission is { Window: { Forgotten: false } window } admission && window.Start == start && ReferenceEquals(admission.Budget, budget))
        {
            series.AdmittedBy = budget;
            series.AdmittedIn = window;
            return true;
        }
        return false;
    }

    /// <summary>This batch's partial of <paramref name="series"/> in the window, if the batch has one.</summary>
    private SeriesPartial? Current(Series series, long windowStart)
    {
        if (series.Stamp != _stamp) return null;
        if (series.Window == windowStart) return series.Partial;
        return _otherWindows.GetValueOrDefault((series, windowStart));
    }

    private SeriesPartial Open(Series series, long windowStart)
    {
        var family = _families[series.Family];
        var free = _free[series.Family];
        // One handed back with values of another shape (another pipeline's) is dropped here, where it is read anyway.
        SeriesPartial? partial = null;
        while (partial is null && free.TryPop(out var reused))
        {
            if (reused.Values is { } values && values.Length == family.SlotCount) partial = reused;
        }
        partial ??= new SeriesPartial { Values = new double[family.SlotCount] };
        // A recycled partial has long left the cache: the next one is asked for now, to be there when it is taken.
        if (free.TryPeek(out var next)) PrefetchObject(next);
        _initial[series.Family].CopyTo(partial.Values, 0);
        partial.Family = series.Family;
        partial.Labels = series.Labels;
        partial.SeriesHash = series.Hash;
        partial.WindowStartMs = windowStart;
        partial.NewestEventMs = 0;
        _batch.Add(partial);
        _batchSeries.Add(series);
        if (series.Stamp != _stamp)
        {
            series.Stamp = _stamp;
        }
        else
        {
            // A second window of the series in this batch: the series keeps the window it opened last (records
            // come roughly in time order, so the next ones mostly fall in it), the one before goes to the dictionary.
            _otherWindows.Add((series, series.Window), series.Partial!);
        }
        series.Window = windowStart;
        series.Partial = partial;
        return partial;
    }

    /// <summary>The interned series of these label values, or null.</summary>
    private Series? Find(MetricFamily family, ReadOnlySpan<string> labels, ulong hash)
    {
        // Open addressing on the 64-bit hash, at most half full.
        var table = _table;
        var mask = table.Length - 1;
        for (var i = (int)hash & mask; ; i = (i + 1) & mask)
        {
            ref var slot = ref table[i];
            if (slot.Series is null) return null;
            if (slot.Hash == hash && slot.Family == family.Index && SeriesHash.SameLabels(slot.Series.Labels, labels)) return slot.Series;
        }
    }

    /// <summary>Interns a series not held yet; <paramref name="owned"/> becomes its label array (never changed after).</summary>
    private Series Intern(MetricFamily family, string[] owned, ulong hash)
    {
        if (_seriesCount >= _maxSeries)
        {
            // Start over (rare). Partials of this batch keep their series through the batch list; one met
            // again gets a second partial, which the shard folds into the same cell.
            Array.Clear(_table);
            _seriesCount = 0;
            Array.Clear(_overflow);
            foreach (var memo in _memos) memo.Clear();
            _generation++;
        }
        var series = new Series(family.Index, owned, hash);
        if ((_seriesCount + 1) * 2 > _table.Length) Grow();
        Place(_table, series);
        _seriesCount++;
        return series;
    }

    private static void Place(Slot[] table, Series series)
    {
        var mask = table.Length - 1;
        var i = (int)series.Hash & mask;
        while (table[i].Series is not null) i = (i + 1) & mask;
        table[i] = new Slot(series.Hash, series.Family, series);
    }

    private void Grow()
    {
        var bigger = FreshPages.Array<Slot>(_table.Length * 2);
        foreach (var slot in _table)
        {
            if (slot.Series is not null) Place(bigger, slot.Series);
        }
        _table = bigger;
    }

    private readonly record struct Slot(ulong Hash, int Family, Series? Series);

    private Series Overflow(MetricFamily family)
    {
        if (_overflow[family.Index] is { } known) return known;
        var labels = new string[family.LabelSlots.Length];
        Array.Fill(labels, SeriesBudget.Overflow);
        var hashes = new ulong[labels.Length];
        for (var i = 0; i < labels.Length; i++) hashes[i] = _labelHashes.Of(labels[i]);
        var hash = SeriesHash.Combine(family.Index, hashes);
        return _overflow[family.Index] = Find(family, labels, hash) ?? Intern(family, labels, hash);
    }

    /// <summary>Returns every partial, grouped by shard (index = shard id), and resets.</summary>
    public List<SeriesPartial>[] Drain(int shardCount)
    {
        var shards = new List<SeriesPartial>[shardCount];
        for (var i = 0; i < shardCount; i++) shards[i] = [];
        Drain(shards);
        return shards;
    }

    /// <summary>Appends every partial to its shard's list (index = shard id), in the order the batch met them, and resets.</summary>
    public void Drain(List<SeriesPartial>[] shards)
    {
        if (shards.Length != _shardCount)
        {
            // Shards are remembered per series for one shard count.
            foreach (var slot in _table) slot.Series?.Shard = -1;
            foreach (var s in _batchSeries) s.Shard = -1;
            _shardCount = shards.Length;
        }
        for (var i = 0; i < _batch.Count; i++)
        {
            var series = _batchSeries[i];
            if (series.Shard < 0) series.Shard = ShardOf(series.Family, series.Labels, _shardCount);
            shards[series.Shard].Add(_batch[i]);
        }
        _batch.Clear();
        _batchSeries.Clear();
        _otherWindows.Clear();
        _stamp++;
    }

    /// <summary>
    /// Takes back partials a host has finished with (applied to every shard, nothing of them kept but
    /// their <see cref="SeriesPartial.Labels"/>, which are immutable and stay valid): they are reused by
    /// later batches. Partials of another pipeline are ignored (one of a family this pipeline has is dropped when
    /// taken, if its values are not of the family's shape: only the family is read here, the values array when the
    /// partial is reused).
    /// </summary>
    public void Recycle(List<SeriesPartial> partials)
    {
        foreach (var partial in partials)
        {
            if ((uint)partial.Family < (uint)_families.Length) _free[partial.Family].Push(partial);
        }
        partials.Clear();
    }

    /// <summary>
    /// The shard of a series: FNV-1a 64 over family and label values. Stable across processes and
    /// machines (string.GetHashCode is randomized per process), and independent of the window, so a
    /// series' base windows meet in one shard for roll-up.
    /// </summary>
    public static int ShardOf(int family, IReadOnlyList<string> labels, int shardCount)
    {
        const ulong prime = 1099511628211;
        var hash = 14695981039346656037UL;
        hash = (hash ^ (uint)family) * prime;
        foreach (var label in labels)
        {
            foreach (var ch in label)
            {
                hash = (hash ^ ch) * prime;
            }
            hash = (hash ^ 0x1F) * prime;
        }
        return (int)(hash % (ulong)shardCount);
    }

    /// <summary>An interned series and, for the batch that last met it, the partial of the window it opened last there.</summary>
    private sealed class Series(int family, string[] labels, ulong hash)
    {
        public int Family { get; } = family;
        public string[] Labels { get; } = labels;
        public ulong Hash { get; } = hash;
        public int Shard { get; set; } = -1;
        public int Stamp { get; set; }
        public long Window { get; set; }
        public SeriesPartial? Partial { get; set; }

        /// <summary>Its label set as the budget that last admitted it holds it, with the metric window it was last admitted in (by any pipeline).</summary>
        public SeriesBudget.Admission? Admission { get; set; }

        /// <summary>The budget that last admitted this series as this pipeline saw, and the metric window it admitted it in.</summary>
        public SeriesBudget? AdmittedBy { get; set; }
        public SeriesBudget.WindowAdmissions? AdmittedIn { get; set; }

    }

    /// <summary>
    /// One family's interned series by the instances of their label fields' texts (two-way sets, bounded): the hot
    /// path's values come from the parser's and the lookups' caches, so a record's label texts are mostly the very
    /// strings a record before had, and its series is found by comparing references, without reading the strings. A
    /// miss (other instances, maybe equal text) takes the hashed path, <see cref="Find"/>, whose answer it then
    /// remembers. An entry is the series <see cref="Find"/> gave for the labels its texts make (a missing or empty
    /// text reads as <see cref="Unknown"/>, the same for the same instances); the table never holds two series of
    /// equal labels and removes none until it starts over, when the memo is cleared (<see cref="Clear"/>): so a hit
    /// is what <see cref="Find"/> would have returned.
    /// </summary>
    private sealed class SeriesMemo(int width, int firstBits, int maxBits)
    {
        // 2^Bits sets, growing (see BatchAccumulator's constructor); a larger table starts empty.
        private MemoGrowth _size = new(firstBits, maxBits);
        // Two ways per set, side by side; per entry: the series, then the instances of its label fields' texts (before
        // a missing or empty one reads as "unknown": the same instances give the same labels).
        private object?[] _entries = FreshPages.Array<object?>((2 << firstBits) * (width + 1));

        /// <summary>
        /// The index of the set of the texts of <paramref name="slots"/> in <paramref name="values"/>. Valid until the memo
        /// grows; one taken before only finds nothing, or an entry of those very instances (sets of a smaller table are
        /// sets of the larger one too).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int SlotOf(FieldValue[] values, int[] slots)
        {
            ulong h = 0;
            foreach (var slot in slots) h = (h + IdentityHash.Mixed(values[slot].AsText)) * 0x9E3779B97F4A7C15UL;
            var bits = _size.Bits;
            return (bits == 0 ? 0 : (int)(h >> (64 - bits))) * 2 * (width + 1);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int slot) => CachePrefetch.Of(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_entries), slot));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Series? TryGet(int slot, FieldValue[] values, int[] slots) =>
            Match(slot, values, slots) ?? Match(slot + width + 1, values, slots);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private Series? Match(int at, FieldValue[] values, int[] slots)
        {
            var entry = _entries.AsSpan(at, slots.Length + 1);
            if (entry[0] is null) return null;
            for (var i = 0; i < slots.Length; i++)
            {
                if (!ReferenceEquals(entry[i + 1], values[slots[i]].AsText)) return null;
            }
            return Unsafe.As<Series>(entry[0]);
        }

        /// <summary>Remembers a series in the set's first way; the entry there moves to the second (the oldest goes).</summary>
        public void Set(int slot, FieldValue[] values, int[] slots, Series series)
        {
            if (_size.Insert())
            {
                _entries = FreshPages.Array<object?>((2 << _size.Bits) * (width + 1));
                slot = SlotOf(values, slots);
            }
            var set = _entries.AsSpan(slot, 2 * (slots.Length + 1));
            set[..(slots.Length + 1)].CopyTo(set[(slots.Length + 1)..]);
            set[0] = series;
            for (var i = 0; i < slots.Length; i++) set[i + 1] = values[slots[i]].AsText;
        }

        public void Clear() => Array.Clear(_entries);
    }

    /// <summary>
    /// Each label value's 64-bit hash, memoized per string instance: the hot path's values come from the
    /// parser's and the lookups' caches, so the same instances recur and are hashed once.
    /// </summary>
    private sealed class LabelHashes
    {
        private const int Bits = 12;
        private const int Size = 1 << Bits;
        private readonly string?[] _texts = FreshPages.Array<string?>(Size);
        private readonly ulong[] _hashes = FreshPages.Array<ulong>(Size);

        public ulong Of(string text)
        {
            var i = IdentityHash.Of(text, Bits);
            if (ReferenceEquals(_texts[i], text)) return _hashes[i];
            var hash = SeriesHash.OfLabel(text);
            _texts[i] = text;
            _hashes[i] = hash;
            return hash;
        }
    }
}

/// <summary>
/// The 64-bit identity hash of a series: <see cref="XxHash3"/> over the family and its label values'
/// hashes, each an <see cref="XxHash3"/> of the value's UTF-8 bytes. The same label values give the same
/// hash in every pipeline and process (<see cref="SeriesBudget"/> compares series across pipelines by it).
/// </summary>
public static class SeriesHash
{
    /// <summary>The hash of one label value: <see cref="XxHash3"/> of its UTF-8 bytes.</summary>
    [SkipLocalsInit]
    public static ulong OfLabel(string text)
    {
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (max <= 512)
        {
            Span<byte> buffer = stackalloc byte[512];
            return XxHash3.HashToUInt64(buffer[..Encoding.UTF8.GetBytes(text, buffer)]);
        }
        return XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>The hash of a series from its family and its label values' hashes.</summary>
    [SkipLocalsInit]
    public static ulong Combine(int family, ReadOnlySpan<ulong> labelHashes)
    {
        Span<ulong> all = stackalloc ulong[labelHashes.Length + 1];
        all[0] = (ulong)family;
        labelHashes.CopyTo(all[1..]);
        return XxHash3.HashToUInt64(MemoryMarshal.AsBytes(all));
    }

    /// <summary>The hash of a series from its family and label values.</summary>
    public static ulong Of(int family, IReadOnlyList<string> labels)
    {
        Span<ulong> hashes = labels.Count <= 32 ? stackalloc ulong[labels.Count] : new ulong[labels.Count];
        for (var i = 0; i < labels.Count; i++) hashes[i] = OfLabel(labels[i]);
        return Combine(family, hashes);
    }

    /// <summary>Label values equal, ordinally (the same instances compare at once).</summary>
    public static bool SameLabels(string[] x, string[] y) => ReferenceEquals(x, y) || SameLabels(x, y.AsSpan());

    /// <summary>Label values equal, ordinally (the same instances compare at once).</summary>
    public static bool SameLabels(string[] x, ReadOnlySpan<string> y)
    {
        if (x.Length != y.Length) return false;
        for (var i = 0; i < x.Length; i++)
        {
            if (!ReferenceEquals(x[i], y[i]) && !string.Equals(x[i], y[i], StringComparison.Ordinal)) return false;
        }
        return true;
    }
}
