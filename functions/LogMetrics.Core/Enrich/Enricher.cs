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

    public Enricher(CompiledPipeline pipeline, IDimensionSource source, TimeProvider clock, LookupCacheSettings? settings = null)
        : this(pipeline, pipeline.Lookups.Select(l => LookupCacheFactory.Create(l.Definition, source, clock, settings)).ToList())
    {
    }

    public Enricher(CompiledPipeline pipeline, IReadOnlyList<ILookupCache> caches)
    {
        _lookups = [.. pipeline.Lookups.Select((l, i) => (l, caches[i]))];
        // Enrich self-metrics: PipelineMeter.Lookups reads the caches' own counts while this enricher lives.
        PipelineMeter.Register(this);
    }

    public IEnumerable<(string Name, LookupStats Stats)> Stats => _lookups.Select(l => (l.Lookup.Definition.Name, l.Cache.Stats));

    /// <summary>
    /// Computes each record's lookup keys once, fetches every distinct key the batch needs, and
    /// returns the keys for <see cref="Apply"/>. The enricher holds no per-batch state: lanes share it.
    /// </summary>
    public async ValueTask<EnrichBatch> WarmAsync(IReadOnlyList<Record> records, CancellationToken cancellationToken)
    {
        var keys = new DimensionKey?[_lookups.Length][];
        for (var l = 0; l < _lookups.Length; l++)
        {
            var (lookup, cache) = _lookups[l];
            var perRecord = keys[l] = new DimensionKey?[records.Count];
            var distinct = new HashSet<DimensionKey>();
            for (var r = 0; r < records.Count; r++)
            {
                if ((perRecord[r] = KeyOf(lookup, records[r])) is { } key) distinct.Add(key);
            }
            await cache.WarmAsync(distinct, cancellationToken).ConfigureAwait(false);
        }
        return new EnrichBatch(keys);
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
            foreach (var output in lookup.Outputs)
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

    private static DimensionKey? KeyOf(CompiledLookup lookup, Record record)
    {
        var slots = lookup.KeySlots;
        if (slots.Count == 1)
        {
            var single = record.Values[slots[0]].AsText;
            return single.Length == 0 ? null : new DimensionKey(single);
        }
        var parts = new string[slots.Count];
        for (var i = 0; i < parts.Length; i++)
        {
            parts[i] = record.Values[slots[i]].AsText;
            if (parts[i].Length == 0) return null;
        }
        return new DimensionKey(parts);
    }
}

/// <summary>The lookup keys of a warmed batch: per lookup, per record (null when a key field is empty).</summary>
public sealed record EnrichBatch(DimensionKey?[][] Keys);
