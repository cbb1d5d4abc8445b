using System.Collections.Concurrent;
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

    public Enricher(CompiledPipeline pipeline, IDimensionSource source, TimeProvider clock, LookupCacheSettings? settings = null)
        : this(pipeline, pipeline.Lookups.Select(l => LookupCacheFactory.Create(l.Definition, source, clock, settings)).ToList())
    {
    }

    public Enricher(CompiledPipeline pipeline, IReadOnlyList<ILookupCache> caches)
    {
        _lookups = [.. pipeline.Lookups.Select((l, i) => (l, caches[i]))];
        _outputs = [.. pipeline.Lookups.Select(l => l.Outputs.ToArray())];
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
    public async ValueTask<EnrichBatch> WarmAsync(IReadOnlyList<Record> records, EnrichBatch batch, CancellationToken cancellationToken)
    {
        batch.Reset(_lookups.Length, records.Count);
        for (var l = 0; l < _lookups.Length; l++)
        {
            var (lookup, cache) = _lookups[l];
            var perRecord = batch.Keys[l];
            var distinct = batch.Distinct[l];
            for (var r = 0; r < records.Count; r++)
            {
                if ((perRecord[r] = KeyOf(lookup, records[r])) is { } key) distinct.Add(key);
            }
            await cache.WarmAsync(distinct, cancellationToken).ConfigureAwait(false);
        }
        return batch;
    }

    /// <summary>Sets the lookup outputs of record <paramref name="index"/> of the warmed batch.</summary>
    public void Apply(EnrichBatch batch, int index, Record record)
    {
        for (var l = 0; l < _lookups.Length; l++)
        {
            var (lookup, cache) = _lookups[l];
            IReadOnlyDictionary<string, string>? row = null;
            if (batch.Keys[l][index] is { } key && cache.TryGet(key, out var found))
            {
                row = found;
            }
            foreach (var output in _outputs[l])
            {
                string value;
                if (row is not null)
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

    private DimensionKey? KeyOf(CompiledLookup lookup, Record record)
    {
        var slots = lookup.KeySlots;
        if (slots.Count == 1)
        {
            var single = record.Values[slots[0]].AsText;
            return single.Length == 0 ? null : new DimensionKey(single);
        }
        var length = slots.Count - 1;
        for (var i = 0; i < slots.Count; i++)
        {
            var part = record.Values[slots[i]].AsText;
            if (part.Length == 0) return null;
            length += part.Length;
        }
        if (length > 512) return new DimensionKey(Parts(slots, record));
        Span<char> joined = stackalloc char[length];
        var at = 0;
        for (var i = 0; i < slots.Count; i++)
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

    private static string[] Parts(IReadOnlyList<int> slots, Record record)
    {
        var parts = new string[slots.Count];
        for (var i = 0; i < parts.Length; i++) parts[i] = record.Values[slots[i]].AsText;
        return parts;
    }
}

/// <summary>
/// The lookup keys of a warmed batch: per lookup, per record (null when a key field is empty), and
/// per lookup the distinct keys. Reusable: <see cref="Enricher.WarmAsync(IReadOnlyList{Record}, EnrichBatch, CancellationToken)"/> resets it.
/// </summary>
public sealed class EnrichBatch
{
    public DimensionKey?[][] Keys { get; private set; } = [];

    internal HashSet<DimensionKey>[] Distinct { get; private set; } = [];

    internal void Reset(int lookups, int records)
    {
        if (Keys.Length != lookups)
        {
            Keys = new DimensionKey?[lookups][];
            Distinct = new HashSet<DimensionKey>[lookups];
            for (var l = 0; l < lookups; l++)
            {
                Keys[l] = [];
                Distinct[l] = [];
            }
        }
        for (var l = 0; l < lookups; l++)
        {
            if (Keys[l].Length < records) Keys[l] = new DimensionKey?[Math.Max(records, Keys[l].Length * 2)];
            Distinct[l].Clear();
        }
    }
}
