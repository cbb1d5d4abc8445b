using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;

namespace LogMetrics.Core.Enrich;

/// <summary>
/// Enrich stage: joins records with the dimension tables. Per batch, <see cref="WarmAsync"/> first
/// fetches every distinct key the batch needs (one round trip per key at most, never per record);
/// then <see cref="Apply"/> sets the output fields synchronously.
/// A missing row uses the output's fallback field, then the lookup's default.
/// </summary>
public sealed class Enricher
{
    private readonly (CompiledLookup Lookup, ILookupCache Cache)[] _lookups;
    // Per lookup, its outputs as an array: indexed in the per-record loop (no enumerator).
    private readonly CompiledLookupOutput[][] _outputs;
    // Per lookup, its key's slots as an array: read per record without interface calls.
    private readonly int[][] _keySlots;

    public Enricher(CompiledPipeline pipeline, IDimensionSource source, TimeProvider clock, LookupCacheSettings? settings = null)
        : this(pipeline, pipeline.Lookups.Select(l => LookupCacheFactory.Create(l.Definition, source, clock, settings)).ToList())
    {
    }

    public Enricher(CompiledPipeline pipeline, IReadOnlyList<ILookupCache> caches)
    {
        _lookups = [.. pipeline.Lookups.Select((l, i) => (l, caches[i]))];
        _outputs = [.. pipeline.Lookups.Select(l => l.Outputs.ToArray())];
        _keySlots = [.. pipeline.Lookups.Select(l => l.KeySlots.ToArray())];
        CanFill = _lookups.All(l => l.Cache is ILookupPeek);
        // Enrich self-metrics: PipelineMeter.Lookups reads the caches' own counts while this enricher lives.
        PipelineMeter.Register(this);
    }

    public IEnumerable<(string Name, LookupStats Stats)> Stats => _lookups.Select(l => (l.Lookup.Definition.Name, l.Cache.Stats));

    /// <summary>
    /// Computes each record's lookup keys once, fetches every distinct key the batch needs, and
    /// returns the keys for <see cref="Apply"/>. The enricher holds no per-batch state: lanes share it.
    /// </summary>
    public ValueTask<EnrichBatch> WarmAsync(IReadOnlyList<Record> records, CancellationToken cancellationToken) =>
        WarmAsync(records, new EnrichBatch(), cancellationToken);

    /// <summary>As <see cref="WarmAsync(IReadOnlyList{Record}, CancellationToken)"/>, filling <paramref name="batch"/> (reused batch after batch by one caller).</summary>
    /// <remarks>
    /// Keys are gathered per distinct key: a key string met before in the batch (the same instance, as the
    /// parser's and the lookups' caches hand out) is found by reference, without hashing its text. Once
    /// warmed, each distinct key's row and output values are read once; <see cref="Apply"/> then only indexes.
    /// </remarks>
    public ValueTask<EnrichBatch> WarmAsync(IReadOnlyList<Record> records, EnrichBatch batch, CancellationToken cancellationToken)
    {
        StartKeys(batch, records.Count);
        for (var r = 0; r < records.Count; r++) AddKeys(batch, r, records[r]);
        return FetchKeysAsync(batch, cancellationToken);
    }

    /// <summary>
    /// The first step of <see cref="WarmAsync(IReadOnlyList{Record}, EnrichBatch, CancellationToken)"/> done record by
    /// record (a caller that has each record at hand anyway, as Parse → Prune does): <paramref name="batch"/> reset for
    /// up to <paramref name="capacity"/> records, then <see cref="AddKeys"/> for records 0, 1, …, then <see cref="FetchKeysAsync"/>.
    /// </summary>
    internal void StartKeys(EnrichBatch batch, int capacity) => batch.Reset(this, _lookups.Length, capacity);

    /// <summary>Record <paramref name="index"/>'s key for every lookup (see <see cref="StartKeys"/>).</summary>
    internal void AddKeys(EnrichBatch batch, int index, Record record)
    {
        for (var l = 0; l < _lookups.Length; l++)
        {
            var key = KeyOf(_keySlots[l], record, batch);
            batch.Index[l][index] = key is { } k ? batch.Memo[l].IndexOf(k, batch.DistinctKeys[l], batch.DistinctMap[l]) : -1;
        }
    }

    /// <summary>Fetches every distinct key the batch's records need, lookup by lookup (see <see cref="StartKeys"/>).</summary>
    internal async ValueTask<EnrichBatch> FetchKeysAsync(EnrichBatch batch, CancellationToken cancellationToken)
    {
        for (var l = 0; l < _lookups.Length; l++)
        {
            var cache = _lookups[l].Cache;
            if (cache is ILookupHinted hinted)
            {
                // Each distinct key's hint (the cache's entry for it) as a batch before left it with the key's instance,
                // and kept again once the cache has used and updated them.
                var memo = batch.HintMemos[l] ??= new HintMemo();
                memo.Fill(batch.DistinctKeys[l], batch.Hints[l]);
                await hinted.WarmAsync(batch.DistinctKeys[l], batch.Hints[l], cancellationToken).ConfigureAwait(false);
                batch.Resolve(l, cache, _outputs[l]);
                memo.Keep(batch.DistinctKeys[l], batch.Hints[l]);
                continue;
            }
            await cache.WarmAsync(batch.DistinctKeys[l], cancellationToken).ConfigureAwait(false);
            if (cache is ILookupPeek) batch.Resolve(l, cache, _outputs[l]);
        }
        return batch;
    }

    /// <summary>
    /// Whether every lookup's cache answers a warmed batch without counting (<see cref="ILookupPeek"/>): then
    /// <see cref="FillOne"/> can set a batch's outputs ahead of the late check, and <see cref="CountFilled"/>
    /// counts afterwards exactly what <see cref="Apply"/> would have counted.
    /// </summary>
    internal bool CanFill { get; }

    /// <summary>Sets the lookup outputs of record <paramref name="index"/> of the warmed batch, and counts one hit, miss or error per lookup with a key.</summary>
    public void Apply(EnrichBatch batch, int index, Record record) => Set(batch, index, record, count: true);

    /// <summary>
    /// As <see cref="Apply"/> for record <paramref name="index"/> of a warmed batch, counting nothing yet: once every
    /// record is filled, <see cref="TallyFilled"/> tallies each lookup's outcomes, which <see cref="CountFilled"/> adds
    /// to the stats for the records that are not late. Only when <see cref="CanFill"/>; outputs depend on the record and the batch alone.
    /// </summary>
    internal void FillOne(EnrichBatch batch, int index, Record record)
    {
        if (!CanFill) throw new InvalidOperationException("a lookup cache counts per record: apply in order instead");
        // As Set without counting, for caches that are all ILookupPeek: no per-record type test.
        var values = record.Values;
        for (var l = 0; l < _outputs.Length; l++)
        {
            var outputs = _outputs[l];
            var d = batch.Index[l][index];
            var row = d >= 0 && batch.Outcomes[l][d] == LookupOutcome.Hit ? batch.RowValues[l] : null;
            for (var o = 0; o < outputs.Length; o++)
            {
                var output = outputs[o];
                string value;
                if (row is not null)
                {
                    value = row[d * outputs.Length + o];
                }
                else if (output.FallbackSlot is { } fallback && values[fallback].AsText is { Length: > 0 } text)
                {
                    value = text;
                }
                else
                {
                    value = _lookups[l].Lookup.Definition.Default;
                }
                values[output.Slot] = FieldValue.FromString(value);
            }
        }
    }

    /// <summary>The batch's tally of its <paramref name="count"/> filled records' outcomes, for <see cref="CountFilled"/>.</summary>
    internal void TallyFilled(EnrichBatch batch, int count)
    {
        var tally = batch.Tally;
        for (var l = 0; l < _lookups.Length; l++)
        {
            var index = batch.Index[l];
            var outcomes = batch.Outcomes[l];
            tally[l] = default;
            for (var r = 0; r < count; r++)
            {
                var d = index[r];
                if (d >= 0) Tally(ref tally[l], outcomes[d], +1);
            }
        }
    }

    /// <summary>
    /// Counts the lookups of a <see cref="FillOne">filled</see> batch as <see cref="Apply"/> would have, record by
    /// record, for every record but the <paramref name="skipped"/> ones (indexes of late records).
    /// </summary>
    internal void CountFilled(EnrichBatch batch, List<int> skipped)
    {
        for (var l = 0; l < _lookups.Length; l++)
        {
            var counts = batch.Tally[l];
            var index = batch.Index[l];
            var outcomes = batch.Outcomes[l];
            foreach (var r in skipped)
            {
                var d = index[r];
                if (d >= 0) Tally(ref counts, outcomes[d], -1);
            }
            _lookups[l].Cache.Stats.Add(counts.Hits, counts.Misses, counts.Errors);
        }
    }

    private static void Tally(ref (long Hits, long Misses, long Errors) counts, LookupOutcome outcome, int sign)
    {
        switch (outcome)
        {
            case LookupOutcome.Hit: counts.Hits += sign; break;
            case LookupOutcome.Miss: counts.Misses += sign; break;
            default: counts.Errors += sign; break;
        }
    }

    private void Set(EnrichBatch batch, int index, Record record, bool count)
    {
        for (var l = 0; l < _lookups.Length; l++)
        {
            var (lookup, cache) = _lookups[l];
            var outputs = _outputs[l];
            var d = batch.Index[l][index];
            string[]? values = null;
            IReadOnlyDictionary<string, string>? row = null;
            if (d >= 0 && cache is not ILookupPeek)
            {
                // A cache that cannot answer without counting: asked per record.
                if (cache.TryGet(batch.DistinctKeys[l][d], out var found)) row = found;
            }
            else if (d >= 0)
            {
                // As TryGet per record would: one hit, miss or error counted per record with a key.
                var outcome = batch.Outcomes[l][d];
                if (outcome == LookupOutcome.Hit) values = batch.RowValues[l];
                if (count) cache.Stats.Count(outcome);
            }
            for (var o = 0; o < outputs.Length; o++)
            {
                var output = outputs[o];
                string value;
                if (values is not null)
                {
                    value = values[d * outputs.Length + o];
                }
                else if (row is not null)
                {
                    value = row.TryGetValue(output.Column, out var v) ? v : "";
                }
                else if (output.FallbackSlot is { } fallback && record.Values[fallback].AsText is { Length: > 0 } text)
                {
                    value = text;
                }
                else
                {
                    value = lookup.Definition.Default;
                }
                record.Values[output.Slot] = FieldValue.FromString(value);
            }
        }
    }

    // Composite keys by their joined text, so a key seen before is not joined again (bounded; shared by lanes).
    private const int MaxInternedKeys = 1 << 16;
    private readonly ConcurrentDictionary<string, DimensionKey> _composite = new(StringComparer.Ordinal);
    private int _compositeCount;

    private DimensionKey? KeyOf(int[] slots, Record record, EnrichBatch batch)
    {
        if (slots.Length == 1)
        {
            // Emptiness from the value where it is known: the string itself is often not in the processor's cache.
            ref readonly var value = ref record.Values[slots[0]];
            return value.IsEmptyText ? null : new DimensionKey(value.AsText);
        }
        if (slots.Length == 2)
        {
            // The pair of part instances seen before: its key without joining again.
            ref readonly var firstValue = ref record.Values[slots[0]];
            ref readonly var secondValue = ref record.Values[slots[1]];
            if (firstValue.IsEmptyText || secondValue.IsEmptyText) return null;
            var first = firstValue.AsText;
            var second = secondValue.AsText;
            if (batch.Pairs.TryGet(first, second, out var pairKey)) return pairKey;
            var joinedKey = Joined(slots, record);
            if (joinedKey is { } made) batch.Pairs.Add(first, second, made);
            return joinedKey;
        }
        return Joined(slots, record);
    }

    private DimensionKey? Joined(int[] slots, Record record)
    {
        var length = slots.Length - 1;
        for (var i = 0; i < slots.Length; i++)
        {
            var part = record.Values[slots[i]].AsText;
            if (part.Length == 0) return null;
            length += part.Length;
        }
        if (length > 512) return new DimensionKey(Parts(slots, record));
        Span<char> joined = stackalloc char[length];
        var at = 0;
        for (var i = 0; i < slots.Length; i++)
        {
            if (i > 0) joined[at++] = DimensionKey.Separator;
            var part = record.Values[slots[i]].AsText;
            part.CopyTo(joined[at..]);
            at += part.Length;
        }
        if (_composite.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(joined, out var known)) return known;
        var key = new DimensionKey(Parts(slots, record));
        if (Volatile.Read(ref _compositeCount) < MaxInternedKeys && _composite.TryAdd(key.Joined, key)) Interlocked.Increment(ref _compositeCount);
        return key;
    }

    private static string[] Parts(int[] slots, Record record)
    {
        var parts = new string[slots.Length];
        for (var i = 0; i < parts.Length; i++) parts[i] = record.Values[slots[i]].AsText;
        return parts;
    }
}

/// <summary>
/// The lookup keys of a warmed batch: per lookup, each record's index among the distinct keys (-1 when a key
/// field is empty), and per lookup the distinct keys with their rows' output values. Reusable: <see cref="Enricher.WarmAsync(IReadOnlyList{Record}, EnrichBatch, CancellationToken)"/> resets it.
/// </summary>
public sealed class EnrichBatch
{
    /// <summary>Per lookup, per record: the index of its key among the distinct keys, or -1 (no key).</summary>
    internal int[][] Index { get; private set; } = [];

    internal List<DimensionKey>[] DistinctKeys { get; private set; } = [];

    internal Dictionary<DimensionKey, int>[] DistinctMap { get; private set; } = [];

    internal KeyMemo[] Memo { get; private set; } = [];

    /// <summary>Per lookup, per distinct key: the cache's hint for it (<see cref="ILookupHinted"/>; null when none), from and back to <see cref="HintMemos"/>.</summary>
    internal List<object?>[] Hints { get; private set; } = [];

    /// <summary>Per lookup whose cache takes hints: their keys' hints by the key's instance, between batches.</summary>
    internal HintMemo?[] HintMemos { get; private set; } = [];

    // The enricher this batch was last reset by: the hints are its caches'.
    private Enricher? _owner;

    /// <summary>Per lookup, per distinct key: what the cache answered once the batch was warmed.</summary>
    internal LookupOutcome[][] Outcomes { get; private set; } = [];

    /// <summary>Per lookup: per distinct key that has a row, its output values (distinct × outputs).</summary>
    internal string[][] RowValues { get; private set; } = [];

    /// <summary>Per lookup: the outcomes of a <see cref="Enricher.FillOne">filled</see> batch's records, not counted yet.</summary>
    internal (long Hits, long Misses, long Errors)[] Tally { get; private set; } = [];

    /// <summary>Two-part keys by their parts' instances (keys are interned, so this outlives a batch).</summary>
    internal PairMemo Pairs { get; } = new();

    /// <summary>Per lookup: rows' output values by the row's instance (made on its first <see cref="Resolve"/>; outlives a batch).</summary>
    internal RowMemo?[] Rows { get; private set; } = [];

    internal void Reset(Enricher owner, int lookups, int records)
    {
        if (Index.Length != lookups || !ReferenceEquals(_owner, owner))
        {
            _owner = owner;
            Hints = new List<object?>[lookups];
            HintMemos = new HintMemo?[lookups];
            Index = new int[lookups][];
            DistinctKeys = new List<DimensionKey>[lookups];
            DistinctMap = new Dictionary<DimensionKey, int>[lookups];
            Memo = new KeyMemo[lookups];
            Outcomes = new LookupOutcome[lookups][];
            RowValues = new string[lookups][];
            Tally = new (long, long, long)[lookups];
            Rows = new RowMemo?[lookups];
            for (var l = 0; l < lookups; l++)
            {
                Index[l] = [];
                DistinctKeys[l] = [];
                DistinctMap[l] = [];
                Memo[l] = new KeyMemo();
                Hints[l] = [];
                Outcomes[l] = [];
                RowValues[l] = [];
            }
        }
        for (var l = 0; l < lookups; l++)
        {
            if (Index[l].Length < records) Index[l] = new int[Math.Max(records, Index[l].Length * 2)];
            DistinctKeys[l].Clear();
            DistinctMap[l].Clear();
            Memo[l].Clear();
        }
    }

    /// <summary>Reads each distinct key's row from the warmed cache once, and its output values.</summary>
    internal void Resolve(int lookup, ILookupCache cache, CompiledLookupOutput[] outputs)
    {
        var keys = DistinctKeys[lookup];
        if (Outcomes[lookup].Length < keys.Count) Outcomes[lookup] = new LookupOutcome[Math.Max(keys.Count, Outcomes[lookup].Length * 2)];
        if (RowValues[lookup].Length < keys.Count * outputs.Length) RowValues[lookup] = new string[Math.Max(keys.Count * outputs.Length, RowValues[lookup].Length * 2)];
        var outcomes = Outcomes[lookup];
        var values = RowValues[lookup];
        var rows = Rows[lookup] ??= new RowMemo(outputs.Length);
        var peek = (ILookupPeek)cache;
        // Hints only where the cache takes them (then one per distinct key, see Enricher.FetchKeysAsync).
        var hinted = cache as ILookupHinted;
        var hints = hinted is null ? [] : CollectionsMarshal.AsSpan(Hints[lookup]);
        for (var d = 0; d < keys.Count; d++)
        {
            outcomes[d] = hinted is null ? peek.Peek(keys[d], out var row) : hinted.Peek(keys[d], ref hints[d], out row);
            if (outcomes[d] != LookupOutcome.Hit) continue;
            rows.Outputs(row!, outputs).CopyTo(values.AsSpan(d * outputs.Length, outputs.Length));
        }
    }

}

/// <summary>What a cache answers for a key.</summary>
internal enum LookupOutcome : byte
{
    Hit,
    Miss,
    Error,
}

/// <summary>A cache that can answer a key without counting the answer (the enricher counts it per record).</summary>
internal interface ILookupPeek
{
    LookupOutcome Peek(DimensionKey key, out IReadOnlyDictionary<string, string>? row);
}

/// <summary>
/// A cache that a caller helps find its keys' entries: per distinct key of a batch, a hint the cache left there at the
/// batch before that met the key (the caller keeps it with the key's string instance), which the cache takes for its
/// entry while it is still the key's current one, and otherwise looks the key up as it would without (and leaves the
/// new hint). Answers are those of <see cref="ILookupCache.WarmAsync"/> and <see cref="ILookupPeek.Peek"/>, except that
/// a batch keeps the entries its warm found when a concurrent warm evicts or replaces them (see <see cref="Peek"/>).
/// </summary>
internal interface ILookupHinted : ILookupPeek
{
    /// <summary>As <see cref="ILookupCache.WarmAsync"/>; <paramref name="hints"/>[i] is the hint for <paramref name="keys"/>[i] (null: none), updated.</summary>
    ValueTask WarmAsync(List<DimensionKey> keys, List<object?> hints, CancellationToken cancellationToken);

    /// <summary>
    /// As <see cref="ILookupPeek.Peek"/>, for a key of a batch just warmed with these hints: the answer of the entry the
    /// warm left in the key's hint, even if a concurrent batch's warm has evicted or replaced it since (so a batch's
    /// answers do not depend on the scheduling); without such a hint, the entry held now (the hint updated).
    /// </summary>
    LookupOutcome Peek(DimensionKey key, ref object? hint, out IReadOnlyDictionary<string, string>? row);
}

/// <summary>
/// A batch's key strings by instance → their index among its distinct keys (direct-mapped; misses hash the text).
/// Cleared batch after batch by the slots the batch wrote (a replay's batch of 256 lines writes a few hundred of the
/// 4,096), not the whole table.
/// </summary>
internal sealed class KeyMemo
{
    private const int Bits = 12;
    private const int Size = 1 << Bits;
    private readonly string?[] _texts = FreshPages.Array<string?>(Size);
    private readonly int[] _indexes = FreshPages.Array<int>(Size);
    // The slots written since the last Clear (each once: the first write to an empty slot).
    private int[] _written = new int[256];
    private int _writtenCount;

    public void Clear()
    {
        if (_writtenCount > Size / 8)
        {
            Array.Clear(_texts);
        }
        else
        {
            foreach (var at in _written.AsSpan(0, _writtenCount)) _texts[at] = null;
        }
        _writtenCount = 0;
    }

    public int IndexOf(DimensionKey key, List<DimensionKey> distinct, Dictionary<DimensionKey, int> map)
    {
        var text = key.Joined;
        var at = IdentityHash.Of(text, Bits);
        if (ReferenceEquals(_texts[at], text)) return _indexes[at];
        // One hash of the text, whether the key is new to the batch or not.
        ref var index = ref CollectionsMarshal.GetValueRefOrAddDefault(map, key, out var known);
        if (!known)
        {
            index = distinct.Count;
            distinct.Add(key);
        }
        if (_texts[at] is null)
        {
            if (_writtenCount == _written.Length) Array.Resize(ref _written, _written.Length * 2);
            _written[_writtenCount++] = at;
        }
        _texts[at] = text;
        _indexes[at] = index;
        return index;
    }
}

/// <summary>
/// A lookup's hints (<see cref="ILookupHinted"/>) by their key's string instance, from one batch to the next
/// (direct-mapped; a key whose instance is not found has no hint, and the cache looks it up by its text). Starts at
/// 4,096 entries and grows four times over, to 16,384, once it has placed 2,048 keys in slots another key held or
/// none did: a lookup that meets thousands of keys across its batches (a tenant's uid) kept losing hints to
/// collisions at 4,096, and each lost hint is a lookup of the key's text in the cache.
/// </summary>
internal sealed class HintMemo
{
    private const int FirstBits = 12;
    // How many keys ahead Fill asks for a key's entry.
    private const int Ahead = 8;
    private MemoGrowth _size = new(FirstBits, maxBits: 14);
    private (string? Text, object? Hint)[] _entries = FreshPages.Array<(string?, object?)>(1 << FirstBits);

    /// <summary>Sets <paramref name="hints"/> to each key's hint (null: none).</summary>
    public void Fill(List<DimensionKey> keys, List<object?> hints)
    {
        // Written through a span: a store into the list's object[] by its indexer or Add is a covariance check that reads
        // the hint's header, a cache miss per key here (the cache's warm reads the hint a moment later: asked for now).
        CollectionsMarshal.SetCount(hints, keys.Count);
        var span = CollectionsMarshal.AsSpan(hints);
        var bits = _size.Bits;
        for (var d = 0; d < Math.Min(Ahead, keys.Count); d++) CachePrefetch.Of(ref _entries[IdentityHash.Of(keys[d].Joined, bits)]);
        for (var d = 0; d < keys.Count; d++)
        {
            if (d + Ahead < keys.Count) CachePrefetch.Of(ref _entries[IdentityHash.Of(keys[d + Ahead].Joined, bits)]);
            var text = keys[d].Joined;
            ref var entry = ref _entries[IdentityHash.Of(text, bits)];
            if (ReferenceEquals(entry.Text, text) && entry.Hint is { } hint)
            {
                CachePrefetch.Object(hint);
                span[d] = hint;
            }
            else
            {
                span[d] = null;
            }
        }
    }

    /// <summary>Keeps each key's hint with its key's instance.</summary>
    public void Keep(List<DimensionKey> keys, List<object?> hints)
    {
        for (var d = 0; d < keys.Count; d++)
        {
            var text = keys[d].Joined;
            var at = IdentityHash.Of(text, _size.Bits);
            // A larger table starts empty: the hints it held are found again by the keys' texts, once each.
            if (!ReferenceEquals(_entries[at].Text, text) && _size.Insert())
            {
                _entries = FreshPages.Array<(string?, object?)>(1 << _size.Bits);
                at = IdentityHash.Of(text, _size.Bits);
            }
            _entries[at] = (text, hints[d]);
        }
    }
}

/// <summary>
/// A lookup's output values of its rows, by the row's instance (direct-mapped): a row a cache holds is read by column
/// name once, not once per batch that meets its key. A row is never changed once a source has returned it (the caches
/// hold and hand out those instances as they are), so the values read from an instance stay its values; the memo
/// holds the rows it remembers, so an instance it compares with is never another row at a reused address. Starts at
/// 256 entries and grows four times over, up to 4,096, whenever it has taken in half as many rows as it holds.
/// </summary>
internal sealed class RowMemo(int outputs)
{
    private const int FirstBits = 8;
    private MemoGrowth _size = new(FirstBits, maxBits: 12);
    private object?[] _rows = FreshPages.Array<object?>(1 << FirstBits);
    private string[] _values = FreshPages.Array<string>((1 << FirstBits) * outputs);

    /// <summary>The row's value of each output (its column's value, or empty when the row has no such column).</summary>
    public ReadOnlySpan<string> Outputs(IReadOnlyDictionary<string, string> row, CompiledLookupOutput[] columns)
    {
        var at = IdentityHash.Of(row, _size.Bits);
        if (ReferenceEquals(_rows[at], row)) return _values.AsSpan(at * outputs, outputs);
        // A larger table starts empty: the rows it held are read again, once each.
        if (_size.Insert())
        {
            _rows = FreshPages.Array<object?>(1 << _size.Bits);
            _values = FreshPages.Array<string>((1 << _size.Bits) * outputs);
            at = IdentityHash.Of(row, _size.Bits);
        }
        var values = _values.AsSpan(at * outputs, outputs);
        for (var o = 0; o < outputs; o++) values[o] = row.TryGetValue(columns[o].Column, out var v) ? v : "";
        _rows[at] = row;
        return values;
    }
}

/// <summary>
/// Two-part keys by their parts' instances (direct-mapped). Starts at 1,024 entries (32 KB) and grows four times
/// over, up to 4,096, whenever it has taken in half as many keys as it holds: a short replay meets a few dozen
/// pairs, and what it pays for is fresh memory (the full table is 128 KB, touched all over); a long one reaches
/// the full size in its first batches.
/// </summary>
internal sealed class PairMemo
{
    private const int FirstBits = 10;
    private MemoGrowth _size = new(FirstBits, maxBits: 12);
    private (string? First, string? Second, DimensionKey Key)[] _entries = FreshPages.Array<(string?, string?, DimensionKey)>(1 << FirstBits);

    private int Slot(string first, string second) => (int)((((IdentityHash.Mixed(first) >> 1) + IdentityHash.Mixed(second)) * 0x9E3779B97F4A7C15UL) >> (64 - _size.Bits));

    public bool TryGet(string first, string second, out DimensionKey key)
    {
        ref var entry = ref _entries[Slot(first, second)];
        if (ReferenceEquals(entry.First, first) && ReferenceEquals(entry.Second, second))
        {
            key = entry.Key;
            return true;
        }
        key = default;
        return false;
    }

    public void Add(string first, string second, DimensionKey key)
    {
        // A larger table starts empty: the keys it held are found again the slow way, once each.
        if (_size.Insert()) _entries = FreshPages.Array<(string?, string?, DimensionKey)>(1 << _size.Bits);
        _entries[Slot(first, second)] = (first, second, key);
    }
}
