using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Text.Json;
using System.Text.Json.Serialization;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Accumulate;

/// <summary>What applying one signal did.</summary>
public enum ApplyOutcome
{
    /// <summary>Kept apart as the lane's newest range; folded in once a later range continues it (or the lane ends).</summary>
    Held,
    /// <summary>The range was applied (or is held) already: ignored and counted.</summary>
    Duplicate,
    /// <summary>The range starts inside what was committed: a batch of a chain that was given up (crash, ownership move); its events are in the committed chain. Ignored and counted.</summary>
    Superseded,
}

/// <summary>
/// The cells of one base window: <see cref="Series"/>[i] is an index into the shard's series table and
/// <see cref="Values"/> holds each cell's slot vector (the family's slot count) end to end.
/// </summary>
public sealed class WindowCells
{
    public long Start { get; set; }
    /// <summary>Newest event time folded into the window (for end-to-end freshness).</summary>
    public long Newest { get; set; }
    public List<int> Series { get; set; } = [];
    /// <summary>Slot values; an empty min/max slot is ±Infinity, written as the JSON strings "Infinity"/"-Infinity" whatever the serializer's options.</summary>
    [JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)]
    public List<double> Values { get; set; } = [];

    /// <summary>Series → offset in <see cref="Values"/>; kept (its room too) when stale, and refilled on the next lookup.</summary>
    [JsonIgnore]
    private Dictionary<int, int>? _offsets;

    /// <summary>
    /// Instead of <see cref="_offsets"/> in a shard's committed windows (<see cref="Dense"/>): offset + 1 in
    /// <see cref="Values"/> by series id, 0 for no cell. A committed window holds a cell of most of the shard's series,
    /// and every signal's cells are looked up in it: an array read, not a hash probe.
    /// </summary>
    [JsonIgnore]
    private int[]? _at;

    [JsonIgnore]
    private bool _offsetsStale;

    /// <summary>Series are looked up by id in an array the size of the shard's series table (a committed window), not in a map.</summary>
    [JsonIgnore]
    internal bool Dense { get; set; }

    /// <summary>Empties the window for reuse as the window starting at <paramref name="start"/> (its lists keep their room).</summary>
    internal void Reset(long start)
    {
        Start = start;
        Newest = 0;
        if (_at is not null) Array.Clear(_at);
        Series.Clear();
        Values.Clear();
        _offsets?.Clear();
        _offsetsStale = false;
    }

    /// <summary>Room for <paramref name="cells"/> cells and <paramref name="values"/> values (a new window about to be filled).</summary>
    internal void Reserve(int cells, int values)
    {
        Series.EnsureCapacity(cells);
        Values.EnsureCapacity(values);
        if (_offsets is null && Series.Count == 0) _offsets = new Dictionary<int, int>(cells);
    }

    /// <summary>Offset in <see cref="Values"/> of a series' vector, or -1.</summary>
    public int OffsetOf(int series, WindowShardState shard, CompiledPipeline pipeline)
    {
        if (Dense)
        {
            if (_at is null || _offsetsStale) Index(shard, pipeline);
            var at = _at!;
            return (uint)series < (uint)at.Length ? at[series] - 1 : -1;
        }
        if (_offsets is null || _offsetsStale)
        {
            if (_offsets is null) _offsets = new Dictionary<int, int>(Series.Count);
            else _offsets.Clear();
            _offsetsStale = false;
            var offset = 0;
            foreach (var s in Series)
            {
                _offsets[s] = offset;
                offset += pipeline.Families[shard.SeriesFamily[s]].SlotCount;
            }
        }
        return _offsets.TryGetValue(series, out var o) ? o : -1;
    }

    /// <summary>Fills <see cref="_at"/> from the cells (sized to the shard's series table).</summary>
    private void Index(WindowShardState shard, CompiledPipeline pipeline)
    {
        var size = Math.Max(shard.SeriesLabels.Count, 16);
        if (_at is null || _at.Length < size) _at = new int[size];
        else Array.Clear(_at);
        _offsetsStale = false;
        var at = _at;
        var offset = 0;
        foreach (var s in Series)
        {
            if (s >= at.Length) _at = at = Grown(at, s);
            at[s] = offset + 1;
            offset += pipeline.Families[shard.SeriesFamily[s]].SlotCount;
        }
    }

    private static int[] Grown(int[] at, int series)
    {
        var grown = new int[Math.Max(at.Length * 2, series + 1)];
        at.CopyTo(grown, 0);
        return grown;
    }

    /// <summary>Folds a vector in (merge when the series has a cell, append otherwise).</summary>
    public void Fold(int series, ReadOnlySpan<double> values, MetricFamily family, WindowShardState shard, CompiledPipeline pipeline)
    {
        var offset = OffsetOf(series, shard, pipeline);
        if (offset < 0)
        {
            if (Dense)
            {
                if (series >= _at!.Length) _at = Grown(_at, series);
                _at[series] = Values.Count + 1;
            }
            else
            {
                _offsets![series] = Values.Count;
            }
            Series.Add(series);
            Values.AddRange(values);
            return;
        }
        var target = CollectionsMarshal.AsSpan(Values).Slice(offset, family.SlotCount);
        for (var i = 0; i < target.Length; i++)
        {
            target[i] = family.MergeOps[i] switch
            {
                MergeOp.Min => Math.Min(target[i], values[i]),
                MergeOp.Max => Math.Max(target[i], values[i]),
                _ => target[i] + values[i],
            };
        }
    }

    /// <summary>
    /// Keeps only the cells whose family (<paramref name="seriesFamily"/>, by series id) is not one <paramref name="drop"/>
    /// names, in order (<paramref name="slots"/>: each family's slot count): in place (the lists keep their room; a window
    /// of thousands of cells would be a large object to copy).
    /// </summary>
    internal void RemoveFamilies(ReadOnlySpan<bool> drop, ReadOnlySpan<int> seriesFamily, ReadOnlySpan<int> slots)
    {
        var series = CollectionsMarshal.AsSpan(Series);
        var values = CollectionsMarshal.AsSpan(Values);
        var kept = 0;
        var to = 0;
        var offset = 0;
        for (var i = 0; i < series.Length; i++)
        {
            var s = series[i];
            var family = seriesFamily[s];
            var width = slots[family];
            if (!drop[family])
            {
                series[kept++] = s;
                // Moved toward the front only (to <= offset), so the copy never overwrites a cell not yet read.
                if (to != offset) values.Slice(offset, width).CopyTo(values[to..]);
                to += width;
            }
            offset += width;
        }
        Series.RemoveRange(kept, Series.Count - kept);
        Values.RemoveRange(to, Values.Count - to);
        _offsetsStale = true;
    }

    /// <summary>Renumbers every cell's series through <paramref name="map"/> (old id → new id); the values stay as they are.</summary>
    internal void Renumber(int[] map)
    {
        var series = CollectionsMarshal.AsSpan(Series);
        for (var i = 0; i < series.Length; i++) series[i] = map[series[i]];
        _offsetsStale = true;
    }
}

/// <summary>A lane's batch kept apart until a later range continues it (see <see cref="WindowShardState"/>).</summary>
public sealed class HeldRange
{
    public long First { get; set; }
    public long Last { get; set; }
    /// <summary>See <see cref="ShardSignal.ChainStart"/>.</summary>
    public long ChainStart { get; set; } = long.MinValue;
    public long WatermarkMs { get; set; } = long.MinValue;
    public bool Finished { get; set; }
    public List<WindowCells> Windows { get; set; } = [];

    /// <summary>A lane-finished marker with no range (the console's end of file).</summary>
    [JsonIgnore]
    public bool IsEndMarker => First == long.MaxValue;
}

/// <summary>A lane as one shard has committed it, plus its ranges held apart.</summary>
public sealed class LaneProgress
{
    /// <summary>Every sequence number up to this is folded into the windows (long.MinValue: nothing yet).</summary>
    public long CommittedThrough { get; set; } = long.MinValue;
    /// <summary>First sequence number of the committed ranges (long.MinValue: nothing yet).</summary>
    public long CommittedFrom { get; set; } = long.MinValue;
    /// <summary>Lane watermark after the committed ranges: the only one the flusher uses.</summary>
    public long WatermarkMs { get; set; } = long.MinValue;
    public bool Finished { get; set; }
    public long LastSeenMs { get; set; }
    public List<HeldRange> Held { get; set; } = [];
}

/// <summary>
/// The state of one window shard, shared by the durable entity and the console's in-memory store.
/// <list type="bullet">
/// <item>Series are interned once per shard (<see cref="SeriesFamily"/>, <see cref="SeriesLabels"/>);
/// each base window holds arrays of series ids and numbers.</item>
/// <item>Exactly once without splitting a batch: a lane's newest range is held apart and folded in only
/// when a later range continues it (<c>First == Last + 1</c>), which happens only once the batch was
/// checkpointed, i.e. after all its signals were sent. Several ranges from the same start (a crash, a
/// retry with another batch length, two owners) wait side by side; the one a later range continues is
/// folded in, the others are dropped as superseded. A range already committed is a duplicate.</item>
/// <item>Lateness is decided when a range is folded in: a cell of a sealed window is counted late, and
/// shard 0 counts records per window so every accepted event is in exactly one window or late.</item>
/// <item>What the flusher wrote is durable here (<see cref="WrittenThroughMs"/> per family), not in its memory.</item>
/// <item>A sealed base window leaves the state: <see cref="Advance"/> exports its cells into the
/// closed-window document of its metric window and publishes a small <see cref="ShardHeader"/>, so a
/// flush tick reads headers and the windows it closes, never this state.</item>
/// </list>
/// Every transition is a pure function of (state, input); hosts only persist the result.
/// </summary>
public sealed class WindowShardState
{
    public List<int> SeriesFamily { get; set; } = [];
    public List<string[]> SeriesLabels { get; set; } = [];
    public Dictionary<string, LaneProgress> Lanes { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Committed cells per base window, by start.</summary>
    public List<WindowCells> Windows { get; set; } = [];
    /// <summary>Base windows ending at or before this are closed: cells for them are late.</summary>
    public long SealedThroughMs { get; set; } = long.MinValue;
    /// <summary>Per family: metric windows ending at or before this were written (or dropped, counted) and evicted.</summary>
    public List<long> WrittenThroughMs { get; set; } = [];
    /// <summary>Record contributions (record × family) that were late.</summary>
    public long LateContributions { get; set; }
    /// <summary>
    /// Records late, and records folded into a window: the cells of the first family without a
    /// <c>where</c> (every accepted record has exactly one such cell), so across shards every accepted
    /// event is in exactly one window's count or counted late.
    /// </summary>
    public long LateRecords { get; set; }
    public long CountedRecords { get; set; }
    public long DuplicateSignals { get; set; }
    public long SupersededSignals { get; set; }
    /// <summary>Closed metric windows exported to their documents and not yet written, oldest first.</summary>
    public List<ClosedWindowRef> Exported { get; set; } = [];
    /// <summary>Version of the last header published.</summary>
    public long HeaderVersion { get; set; }

    [JsonIgnore]
    private Dictionary<PartialKey, SeriesHandle>? _seriesIndex;

    /// <summary>The handle of every series, by id (built with <see cref="_seriesIndex"/>).</summary>
    [JsonIgnore]
    private List<SeriesHandle>? _handles;

    /// <summary>Handles of dropped series still in <see cref="_seriesIndex"/>; past the live ones (plus slack) the indexes start over.</summary>
    [JsonIgnore]
    private int _dropped;

    [JsonIgnore]
    private InstanceMemo? _memo;

    [JsonIgnore]
    private List<HeldRange>? _candidates;

    // Windows of ranges already folded in, for the next ranges held (in memory only; a few per lane at most).
    private const int MaxFreeCells = 64;

    [JsonIgnore]
    private List<WindowCells>? _freeCells;

    // Committed windows exported whole, for the next windows committed (their lists are a window's size).
    private const int MaxFreeWindows = 8;

    [JsonIgnore]
    private List<WindowCells>? _freeWindows;

    /// <summary>(series, base window) cells held, committed and held apart.</summary>
    [JsonIgnore]
    public int CellCount => Windows.Sum(w => w.Series.Count) + Lanes.Values.Sum(l => l.Held.Sum(h => h.Windows.Sum(w => w.Series.Count)));

    /// <summary>The family whose cells count records (the first without a filter); -1 if every family filters.</summary>
    public static int RecordFamily(CompiledPipeline pipeline) => pipeline.Families.FirstOrDefault(f => f.Where is null)?.Index ?? -1;

    public long WrittenThrough(int family) => family < WrittenThroughMs.Count ? WrittenThroughMs[family] : long.MinValue;

    private int Intern(int family, string[] labels, ulong hash)
    {
        // The ingest side interns its label arrays (one per series), so the same instance recurs batch after
        // batch: found by reference in a two-way memo (a pair of slots per place), without hashing or comparing its text.
        var memo = _memo ??= new InstanceMemo();
        var slot = memo.Slot(labels, hash);
        if (_handles is not null)
        {
            ref var entry = ref memo.Entries[slot];
            if (ReferenceEquals(entry.Labels, labels) && entry.Handle!.Family == family)
            {
                return entry.Handle!.Id >= 0 ? entry.Handle.Id : Revive(entry.Handle, labels);
            }
            ref var other = ref memo.Entries[slot + 1];
            if (ReferenceEquals(other.Labels, labels) && other.Handle!.Family == family)
            {
                return other.Handle!.Id >= 0 ? other.Handle.Id : Revive(other.Handle, labels);
            }
            // Another array of a series the memo holds: the budget hands the pipelines a new array per series in each
            // metric window, so every series comes back once a window with an equal copy. Its slot follows from the
            // series hash, so the pair holds the old array: told equal by its labels (mostly the same string
            // instances), without hashing the text or probing the index. The entry then takes the new array.
            // Only an entry of the same hash is compared.
            if (hash != 0)
            {
                if (entry.Hash == hash && SameSeries(entry, family, labels))
                {
                    entry = new MemoEntry(labels, entry.Handle, hash);
                    return entry.Handle!.Id >= 0 ? entry.Handle.Id : Revive(entry.Handle, labels);
                }
                if (other.Hash == hash && SameSeries(other, family, labels))
                {
                    other = new MemoEntry(labels, other.Handle, hash);
                    return other.Handle!.Id >= 0 ? other.Handle.Id : Revive(other.Handle, labels);
                }
            }
        }
        if (_seriesIndex is null || _handles is null)
        {
            _seriesIndex = new Dictionary<PartialKey, SeriesHandle>(SeriesLabels.Count);
            _handles = new List<SeriesHandle>(SeriesLabels.Count);
            _dropped = 0;
            for (var i = 0; i < SeriesLabels.Count; i++)
            {
                var h = new SeriesHandle(i, SeriesFamily[i]);
                _handles.Add(h);
                _seriesIndex[new PartialKey(SeriesFamily[i], 0, SeriesLabels[i])] = h;
            }
        }
        var key = new PartialKey(family, 0, labels);
        if (!_seriesIndex.TryGetValue(key, out var handle))
        {
            handle = new SeriesHandle(SeriesLabels.Count, family);
            SeriesFamily.Add(family);
            SeriesLabels.Add(labels);
            _handles.Add(handle);
            _seriesIndex[key] = handle;
        }
        else if (handle.Id < 0)
        {
            Revive(handle, labels);
        }
        // Sized by the arrays it meets (each ingest pipeline has its own array per series), up to a bound.
        if (++memo.Inserts > memo.Entries.Length / 2 && memo.Entries.Length < InstanceMemo.MaxSize)
        {
            _memo = memo = new InstanceMemo(memo.Entries.Length * 4);
            slot = memo.Slot(labels, hash);
        }
        // The newer entry first; the pair's older one moves to the second slot (the second's is dropped).
        if (memo.Entries[slot].Labels is not null) memo.Entries[slot + 1] = memo.Entries[slot];
        memo.Entries[slot] = new MemoEntry(labels, handle, hash);
        return handle.Id;
    }

    /// <summary>Whether a memo entry is the series of <paramref name="family"/> with these label values (compared by content).</summary>
    private static bool SameSeries(in MemoEntry entry, int family, string[] labels)
    {
        if (entry.Labels is not { } known || entry.Handle!.Family != family || known.Length != labels.Length) return false;
        for (var i = 0; i < labels.Length; i++)
        {
            if (!string.Equals(known[i], labels[i], StringComparison.Ordinal)) return false;
        }
        return true;
    }

    /// <summary>A series compaction dropped comes back: it is appended to the table again, as a new series would be.</summary>
    private int Revive(SeriesHandle handle, string[] labels)
    {
        handle.Id = SeriesLabels.Count;
        SeriesFamily.Add(handle.Family);
        SeriesLabels.Add(labels);
        _handles!.Add(handle);
        _dropped--;
        return handle.Id;
    }

    /// <summary>
    /// A series as the in-memory indexes know it: its id in the table, or -1 once compaction dropped it.
    /// Compaction renumbers the handles instead of rewriting the indexes that hold them, and a dropped
    /// series keeps its handle, so it is found again without hashing its labels.
    /// </summary>
    private sealed class SeriesHandle(int id, int family)
    {
        public int Id { get; set; } = id;

        public int Family { get; } = family;
    }

    /// <summary>A memo entry: the array, its series, and the series hash its partial carried (0: none).</summary>
    private readonly record struct MemoEntry(string[]? Labels, SeriesHandle? Handle, ulong Hash);

    /// <summary>Series by label array instance, two entries per place (a cache in front of <see cref="_seriesIndex"/>).</summary>
    private sealed class InstanceMemo(int size = InstanceMemo.MinSize)
    {
        // 256 entries (4 KB) to start: a short replay's shards hold a hundred series or so each, and what it pays for
        // is fresh memory; a long one grows the memo as it meets series (Intern).
        public const int MinSize = 1 << 8;
        public const int MaxSize = 1 << 16;

        /// <summary>Entries written since this memo was made (misses).</summary>
        public int Inserts { get; set; }

        /// <summary>One slot per entry, the array and the handle side by side (one load per probe; a hit reads the handle's family beside its id).</summary>
        public MemoEntry[] Entries { get; } = FreshPages.Array<MemoEntry>(size);

        /// <summary>
        /// The slot of an array: by the series hash its partial carries (no read of the array), else by the
        /// array's identity hash. A slot is only a place to look: a hit is the same array and family.
        /// </summary>
        public int Slot(string[] labels, ulong hash) =>
            (hash != 0 ? (int)(hash ^ (hash >> 32)) : RuntimeHelpers.GetHashCode(labels)) & (Entries.Length - 2);

        /// <summary>
        /// Asks the processor to bring a partial's slot into the cache (far ahead), or the series handle the slot
        /// holds (near, once the slot is there): the memo and handles are spread over memory, and a signal's
        /// partials are looked up one after another.
        /// </summary>
        public void Prefetch(SeriesPartial partial, bool handle)
        {
            if (!Sse.IsSupported || partial.SeriesHash == 0) return;
            ref var entry = ref Entries[Slot(partial.Labels, partial.SeriesHash)];
            if (!handle)
            {
                CachePrefetch.Of(ref entry);
            }
            else if (entry.Handle is { } h)
            {
                CachePrefetch.Object(h);
            }
        }
    }

    public ApplyOutcome Apply(ShardSignal signal, CompiledPipeline pipeline)
    {
        if (!Lanes.TryGetValue(signal.Lane, out var lane))
        {
            lane = new LaneProgress();
            Lanes[signal.Lane] = lane;
        }
        lane.LastSeenMs = Math.Max(lane.LastSeenMs, signal.SentAtMs);
        var endMarker = signal.FirstSequence == long.MaxValue;
        var empty = signal.LastSequence < signal.FirstSequence;
        if (!endMarker && lane.CommittedThrough != long.MinValue)
        {
            if (!empty && signal.LastSequence < lane.CommittedFrom)
            {
                // Before the first range committed: a lane's first batches that arrived after a later
                // owner's (whose run began at a checkpoint after them). Disjoint from all that was
                // committed; folded in once they link up to it (cells of windows sealed meanwhile are late).
                if (lane.Held.Any(h => h.First == signal.FirstSequence && h.Last == signal.LastSequence))
                {
                    DuplicateSignals++;
                    return ApplyOutcome.Duplicate;
                }
                var before = new HeldRange { First = signal.FirstSequence, Last = signal.LastSequence, ChainStart = signal.ChainStart, WatermarkMs = signal.LaneWatermarkMs };
                FillRange(before, signal, pipeline);
                lane.Held.Add(before);
                while (lane.Held.Where(h => !h.IsEndMarker && h.Last == lane.CommittedFrom - 1).OrderBy(h => h.First).FirstOrDefault() is { } link)
                {
                    Fold(lane, link, pipeline);
                }
                return ApplyOutcome.Held;
            }
            if (empty ? signal.FirstSequence <= lane.CommittedThrough : signal.LastSequence <= lane.CommittedThrough)
            {
                DuplicateSignals++;
                return ApplyOutcome.Duplicate;
            }
            if (signal.FirstSequence <= lane.CommittedThrough)
            {
                SupersededSignals++;
                return ApplyOutcome.Superseded;
            }
        }
        if (lane.Held.Any(h => h.First == signal.FirstSequence && h.Last == signal.LastSequence))
        {
            DuplicateSignals++;
            return ApplyOutcome.Duplicate;
        }

        var held = new HeldRange
        {
            First = signal.FirstSequence,
            Last = signal.LastSequence,
            ChainStart = signal.ChainStart,
            WatermarkMs = signal.LaneWatermarkMs,
            Finished = signal.LaneFinished,
        };
        FillRange(held, signal, pipeline);
        lane.Held.Add(held);
        Commit(lane, pipeline);
        return ApplyOutcome.Held;
    }

    private void FillRange(HeldRange held, ShardSignal signal, CompiledPipeline pipeline)
    {
        WindowCells? cells = null;
        Dictionary<long, WindowCells>? many = null;
        // Room for every partial in each new window: most signals fill one window, so its lists never grow.
        var values = 0;
        var partials = signal.Partials;
        foreach (var partial in partials) values += partial.Values.Length;
        var memo = _handles is null ? null : _memo;
        for (var p = 0; p < partials.Count; p++)
        {
            if (memo is not null)
            {
                // Memo slots 8 partials ahead, their handles 4 ahead: by the time a partial is looked up, both are near.
                if (p + 8 < partials.Count) memo.Prefetch(partials[p + 8], handle: false);
                if (p + 4 < partials.Count) memo.Prefetch(partials[p + 4], handle: true);
            }
            var partial = partials[p];
            // A batch spans a window or two: the last one used, else a scan of the few held (a map past 8).
            if (cells?.Start != partial.WindowStartMs)
            {
                cells = CellsOf(held.Windows, partial.WindowStartMs, partials.Count, values, _freeCells, ref many);
            }
            cells.Newest = Math.Max(cells.Newest, partial.NewestEventMs);
            cells.Fold(Intern(partial.Family, partial.Labels, partial.SeriesHash), partial.Values, pipeline.Families[partial.Family], this, pipeline);
            if (!ReferenceEquals(memo, _memo)) memo = _handles is null ? null : _memo;
        }
    }

    private static WindowCells CellsOf(List<WindowCells> windows, long start, int expected, int values, List<WindowCells>? free, ref Dictionary<long, WindowCells>? many)
    {
        if (many is not null)
        {
            if (many.TryGetValue(start, out var known)) return known;
        }
        else
        {
            foreach (var w in windows)
            {
                if (w.Start == start) return w;
            }
        }
        WindowCells cells;
        if (free is { Count: > 0 })
        {
            cells = free[^1];
            free.RemoveAt(free.Count - 1);
            cells.Reset(start);
        }
        else
        {
            cells = new WindowCells { Start = start };
        }
        cells.Reserve(expected, values);
        windows.Add(cells);
        if (many is null && windows.Count > 8) many = windows.ToDictionary(w => w.Start);
        else many?.Add(start, cells);
        return cells;
    }

    /// <summary>Folds in every held range that a later range continues (or that ends the lane).</summary>
    private void Commit(LaneProgress lane, CompiledPipeline pipeline)
    {
        // Loops rather than LINQ: this runs once per signal. The held ranges are few (usually the last one and the new one).
        var held = lane.Held;
        var finishing = false;
        foreach (var h in held) finishing |= h.IsEndMarker;
        var candidates = _candidates ??= [];
        while (true)
        {
            var ranges = 0;
            var earliest = long.MaxValue;
            foreach (var h in held)
            {
                if (h.IsEndMarker) continue;
                ranges++;
                earliest = Math.Min(earliest, h.ChainStart == long.MinValue ? h.First : Math.Min(h.ChainStart, h.First));
            }
            if (ranges == 0) break;
            var start = lane.CommittedThrough == long.MinValue ? earliest : lane.CommittedThrough + 1;
            // The ranges from the start, longest first (ties in held order).
            candidates.Clear();
            foreach (var h in held)
            {
                if (h.IsEndMarker || h.First != start) continue;
                var at = candidates.Count;
                while (at > 0 && candidates[at - 1].Last < h.Last) at--;
                candidates.Insert(at, h);
            }
            HeldRange? pick = null;
            foreach (var c in candidates)
            {
                if (c.Last < c.First || c.Finished || finishing || Continues(held, c))
                {
                    pick = c;
                    break;
                }
            }
            candidates.Clear();
            if (pick is null) break;
            Fold(lane, pick, pipeline);
        }
        if (finishing && lane.Held.All(h => h.IsEndMarker))
        {
            lane.Finished = true;
            lane.WatermarkMs = Math.Max(lane.WatermarkMs, lane.Held.Max(h => h.WatermarkMs));
            lane.Held.Clear();
        }
    }

    /// <summary>Whether another held range (not an end marker) starts right after <paramref name="range"/>.</summary>
    private static bool Continues(List<HeldRange> held, HeldRange range)
    {
        foreach (var t in held)
        {
            if (t != range && !t.IsEndMarker && t.First == range.Last + 1) return true;
        }
        return false;
    }

    private void Fold(LaneProgress lane, HeldRange range, CompiledPipeline pipeline)
    {
        var recordFamily = RecordFamily(pipeline);
        var sealedThrough = new Watermark(SealedThroughMs);
        foreach (var cells in range.Windows)
        {
            var late = sealedThrough.Seals(cells.Start, pipeline.WindowMs);
            var target = late ? null : WindowAt(cells.Start);
            var offset = 0;
            foreach (var s in cells.Series)
            {
                var family = pipeline.Families[SeriesFamily[s]];
                var values = CollectionsMarshal.AsSpan(cells.Values).Slice(offset, family.SlotCount);
                offset += family.SlotCount;
                var records = family.Index == recordFamily ? (long)values[0] : 0;
                if (late)
                {
                    LateContributions += (long)values[0];
                    LateRecords += records;
                    continue;
                }
                CountedRecords += records;
                target!.Fold(s, values, family, this, pipeline);
            }
            if (target is not null) target.Newest = Math.Max(target.Newest, cells.Newest);
        }
        if (lane.CommittedFrom == long.MinValue || range.First < lane.CommittedFrom) lane.CommittedFrom = range.First;
        if (range.Last >= range.First) lane.CommittedThrough = Math.Max(lane.CommittedThrough, range.Last);
        else if (lane.CommittedThrough == long.MinValue) lane.CommittedThrough = range.First - 1;
        lane.WatermarkMs = Math.Max(lane.WatermarkMs, range.WatermarkMs);
        lane.Finished |= range.Finished;
        if (lane.Held.Remove(range))
        {
            SupersededSignals += lane.Held.RemoveAll(h => !h.IsEndMarker && h.First <= lane.CommittedThrough && h.Last >= lane.CommittedFrom);
            // Folded in and no longer held: its windows' lists are reused by the next ranges held.
            var free = _freeCells ??= [];
            foreach (var cells in range.Windows)
            {
                if (free.Count < MaxFreeCells) free.Add(cells);
            }
            range.Windows = [];
        }
    }

    private WindowCells WindowAt(long start)
    {
        var i = Windows.FindIndex(w => w.Start >= start);
        if (i >= 0 && Windows[i].Start == start)
        {
            // A committed window (also one read back from JSON) looks its series up by id.
            Windows[i].Dense = true;
            return Windows[i];
        }
        WindowCells cells;
        if (_freeWindows is { Count: > 0 } free)
        {
            cells = free[^1];
            free.RemoveAt(free.Count - 1);
            cells.Reset(start);
        }
        else
        {
            cells = new WindowCells { Start = start };
        }
        cells.Dense = true;
        if (i < 0) Windows.Add(cells);
        else Windows.Insert(i, cells);
        return cells;
    }

    /// <summary>
    /// After a flush: seal the base windows the watermark passed, export each into the closed-window
    /// document of its metric window (per resolution), record per family what was written, delete the
    /// documents that are written, and publish the header. Returns the messages to send, in order.
    /// Series no cell refers to any more leave the table.
    /// </summary>
    public List<ShardMessage> Advance(FlushAdvance advance, CompiledPipeline pipeline, int shard)
    {
        var outbox = new List<ShardMessage>();
        SealedThroughMs = Watermark.Max(new Watermark(SealedThroughMs), new Watermark(advance.SealThroughMs)).Ms;
        if (advance.WrittenThroughMs is { } written)
        {
            while (WrittenThroughMs.Count < pipeline.Families.Count) WrittenThroughMs.Add(long.MinValue);
            for (var f = 0; f < Math.Min(written.Count, WrittenThroughMs.Count); f++)
            {
                WrittenThroughMs[f] = Math.Max(WrittenThroughMs[f], written[f]);
            }
        }

        if (ExportSealed(pipeline, shard, outbox) > 0)
        {
            // Windows wholly exported leave; their lists are reused by the next windows opened (WindowAt).
            var free = _freeWindows ??= [];
            Windows.RemoveAll(w =>
            {
                if (w.Series.Count != 0) return false;
                if (free.Count < MaxFreeWindows) free.Add(w);
                return true;
            });
            Compact(pipeline);
        }

        for (var i = 0; i < Exported.Count; i++)
        {
            var e = Exported[i];
            if (e.Families.TrueForAll(f => WrittenThrough(f) >= e.End))
            {
                outbox.Add(new ShardMessage(ShardMessages.ClosedEntity, e.Key(shard), ShardMessages.DeleteOperation, null));
                Exported.RemoveAt(i--);
            }
        }
        outbox.Add(new ShardMessage(ShardMessages.HeaderEntity, Hosting.WindowShardOperations.ShardKey(shard), ShardMessages.SetOperation, Header()));
        return outbox;
    }

    /// <summary>
    /// Whether <see cref="Advance"/> with the seal <paramref name="sealThroughMs"/> would export a metric window
    /// (<see cref="ExportSealed"/>): a base window of a metric window it seals holds a cell of that resolution.
    /// Reads the state only.
    /// </summary>
    public bool WouldExport(long sealThroughMs, CompiledPipeline pipeline)
    {
        var seal = Watermark.Max(new Watermark(SealedThroughMs), new Watermark(sealThroughMs));
        foreach (var family in pipeline.Families)
        {
            var resolution = family.ResolutionMs;
            foreach (var w in Windows)
            {
                if (!seal.Seals(CompiledPipeline.FloorTo(w.Start, resolution), resolution)) break;
                foreach (var s in w.Series)
                {
                    if (pipeline.Families[SeriesFamily[s]].ResolutionMs == resolution) return true;
                }
            }
        }
        return false;
    }

    /// <summary>
    /// Moves every metric window that is wholly sealed, per resolution, out of the state into one
    /// closed-window document (one message: a document exists whole or not at all). Cells of other
    /// resolutions stay until their own metric window is sealed. Returns the documents exported.
    /// </summary>
    private int ExportSealed(CompiledPipeline pipeline, int shard, List<ShardMessage> outbox)
    {
        var count = 0;
        // Per family, its resolution and slots (read per cell below; the families are an interface's list).
        var familyCount = pipeline.Families.Count;
        Span<long> resolutionOf = familyCount <= 64 ? stackalloc long[familyCount] : new long[familyCount];
        Span<int> slotsOf = familyCount <= 64 ? stackalloc int[familyCount] : new int[familyCount];
        Span<int> indexOf = familyCount <= 64 ? stackalloc int[familyCount] : new int[familyCount];
        Span<bool> exported = familyCount <= 64 ? stackalloc bool[familyCount] : new bool[familyCount];
        for (var f = 0; f < familyCount; f++)
        {
            resolutionOf[f] = pipeline.Families[f].ResolutionMs;
            slotsOf[f] = pipeline.Families[f].SlotCount;
            indexOf[f] = pipeline.Families[f].Index;
        }
        var seriesFamily = CollectionsMarshal.AsSpan(SeriesFamily);
        foreach (var resolution in pipeline.Families.Select(f => f.ResolutionMs).Distinct().Order())
        {
            for (var f = 0; f < familyCount; f++) exported[f] = resolutionOf[f] == resolution;
            var docs = new SortedDictionary<long, ClosedWindow>();
            foreach (var w in Windows)
            {
                var start = CompiledPipeline.FloorTo(w.Start, resolution);
                if (!new Watermark(SealedThroughMs).Seals(start, resolution)) break;
                // The part's cells and values first: its lists are made their size (a window holds cells of every resolution).
                var series = CollectionsMarshal.AsSpan(w.Series);
                var cells = 0;
                var width = 0;
                foreach (var s in series)
                {
                    var f = seriesFamily[s];
                    if (!exported[f]) continue;
                    cells++;
                    width += slotsOf[f];
                }
                if (cells == 0) continue;
                var part = new ClosedPart { Base = w.Start, Newest = w.Newest, Families = new(cells), Labels = new(cells), Values = new(width), SeriesIds = new int[cells] };
                var values = CollectionsMarshal.AsSpan(w.Values);
                var offset = 0;
                foreach (var s in series)
                {
                    var f = seriesFamily[s];
                    if (exported[f])
                    {
                        part.SeriesIds[part.Families.Count] = s;
                        part.Families.Add(indexOf[f]);
                        part.Labels.Add(SeriesLabels[s]);
                        part.Values.AddRange(values.Slice(offset, slotsOf[f]));
                    }
                    offset += slotsOf[f];
                }
                w.RemoveFamilies(exported, seriesFamily, slotsOf);
                if (!docs.TryGetValue(start, out var doc)) docs[start] = doc = new ClosedWindow();
                doc.Parts.Add(part);
            }
            foreach (var (start, doc) in docs)
            {
                if (Exported.Exists(e => e.ResolutionMs == resolution && e.Start == start))
                {
                    // A metric window is exported once it is wholly sealed; later cells for it are late.
                    throw new InvalidOperationException($"metric window {start} ({resolution} ms) was exported twice");
                }
                var entry = new ClosedWindowRef { ResolutionMs = resolution, Start = start, Parts = doc.Parts.Count };
                foreach (var part in doc.Parts)
                {
                    foreach (var f in part.Families)
                    {
                        if (!entry.Families.Contains(f)) entry.Families.Add(f);
                        entry.Samples += pipeline.Families[f].Metrics.Count;
                    }
                }
                var at = Exported.FindIndex(e => e.Start > start || (e.Start == start && e.ResolutionMs > resolution));
                if (at < 0) Exported.Add(entry);
                else Exported.Insert(at, entry);
                outbox.Add(new ShardMessage(ShardMessages.ClosedEntity, entry.Key(shard), ShardMessages.StoreOperation, doc));
                count++;
            }
        }
        return count;
    }

    /// <summary>
    /// Per family, the oldest exported window not yet written (each listed once, oldest first): all a
    /// flusher can close next, since it writes a family's windows in time order. The rest wait in
    /// <see cref="Exported"/>, so the header stays small however far the flusher is behind.
    /// </summary>
    private List<ClosedWindowRef> NextToClose()
    {
        var next = new List<ClosedWindowRef>();
        var families = Math.Max(WrittenThroughMs.Count, Exported.Count == 0 ? 0 : Exported.Max(e => e.Families.Max()) + 1);
        for (var f = 0; f < families; f++)
        {
            var oldest = Exported.Find(e => e.Families.Contains(f) && e.End > WrittenThrough(f));
            if (oldest is not null && !next.Contains(oldest)) next.Add(oldest);
        }
        // By start, then resolution (stable, as OrderBy/ThenBy): an insertion sort of a list as short as the families.
        var sorted = new List<ClosedWindowRef>(next.Count);
        foreach (var e in next)
        {
            var at = sorted.Count;
            while (at > 0 && (sorted[at - 1].Start > e.Start || (sorted[at - 1].Start == e.Start && sorted[at - 1].ResolutionMs > e.ResolutionMs))) at--;
            sorted.Insert(at, new ClosedWindowRef
            {
                ResolutionMs = e.ResolutionMs, Start = e.Start, Parts = e.Parts, Families = [.. e.Families], Samples = e.Samples,
            });
        }
        return sorted;
    }

    /// <summary>The header the flusher reads: lanes' progress, seal and written progress, the windows to close next, counters.</summary>
    public ShardHeader Header()
    {
        // Loops rather than LINQ: this runs at every flush, and in a Native AOT program a LINQ chain's generic
        // virtual methods (Select on an iterator, Sum with a selector) are resolved at run time on their first call.
        var lanes = new Dictionary<string, LaneView>(Lanes.Count, StringComparer.Ordinal);
        foreach (var (lane, progress) in Lanes)
        {
            lanes.Add(lane, new LaneView { WatermarkMs = progress.WatermarkMs, LastSeenMs = progress.LastSeenMs, Finished = progress.Finished });
        }
        long pending = 0;
        foreach (var e in Exported)
        {
            if (e.End <= SealedThroughMs) pending = checked(pending + e.Samples);
        }
        return new()
        {
            Version = ++HeaderVersion,
            Lanes = lanes,
            SealedThroughMs = SealedThroughMs,
            WrittenThroughMs = [.. WrittenThroughMs],
            Closed = NextToClose(),
            PendingSamples = pending,
            OpenWindows = Windows.Count,
            LateContributions = LateContributions,
            LateRecords = LateRecords,
            CountedRecords = CountedRecords,
            DuplicateSignals = DuplicateSignals,
            SupersededSignals = SupersededSignals,
        };
    }

    /// <summary>Nothing held: no open window, no range held apart, no closed window left to write.</summary>
    [JsonIgnore]
    public bool IsEmpty => Windows.Count == 0 && Exported.Count == 0 && Lanes.Values.All(l => l.Held.Count == 0);

    /// <summary>Drops series no cell refers to and renumbers the rest.</summary>
    private void Compact(CompiledPipeline pipeline)
    {
        // In place, with arrays kept from the last compaction: a flush compacts every shard, and the tables (and the series
        // that come back after it) would otherwise be fresh lists grown by doubling each time.
        var count = SeriesLabels.Count;
        if (_used is null || _used.Length < count) _used = new bool[Math.Max(count, 2 * (_used?.Length ?? 0))];
        var used = _used.AsSpan(0, count);
        used.Clear();
        var all = Windows.Concat(Lanes.Values.SelectMany(l => l.Held).SelectMany(h => h.Windows)).ToList();
        foreach (var w in all)
        {
            foreach (var s in CollectionsMarshal.AsSpan(w.Series)) used[s] = true;
        }
        if (!used.Contains(false)) return;
        // map[old id] = new id, or -1 for a series dropped.
        if (_map is null || _map.Length < count) _map = new int[_used.Length];
        var map = _map.AsSpan(0, count);
        var families = SeriesFamily;
        var labels = SeriesLabels;
        var kept = 0;
        for (var i = 0; i < count; i++)
        {
            if (!used[i])
            {
                map[i] = -1;
                continue;
            }
            map[i] = kept;
            // Toward the front only (kept <= i).
            families[kept] = families[i];
            labels[kept] = labels[i];
            kept++;
        }
        families.RemoveRange(kept, count - kept);
        labels.RemoveRange(kept, count - kept);
        var renumber = _map;
        foreach (var w in all) w.Renumber(renumber);
        // The indexes follow through their handles; a dropped series keeps its handle (id -1) until they start over.
        if (_seriesIndex is not null && _handles is { } handles && handles.Count == count && _dropped + count - kept <= 2 * kept + 16384)
        {
            var live = 0;
            for (var i = 0; i < count; i++)
            {
                var h = handles[i];
                h.Id = map[i];
                if (map[i] >= 0) handles[live++] = h;
                else _dropped++;
            }
            handles.RemoveRange(live, count - live);
        }
        else
        {
            if (_handles is not null) foreach (var h in _handles) h.Id = -1;
            _seriesIndex = null;
            _handles = null;
            _memo = null;
            _dropped = 0;
        }
    }

    // Compact's scratch (series in use, old id → new id), kept for the next compaction.
    [JsonIgnore]
    private bool[]? _used;

    [JsonIgnore]
    private int[]? _map;
}
