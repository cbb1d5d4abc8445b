using LogMetrics.Core.Definition;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Accumulate;

/// <summary>
/// Folds a batch of enriched records into per-(series, base window) partials, then splits them by
/// shard. Ingest does this before touching any durable state: entity operations are expensive, so a
/// whole batch becomes one signal per shard (DESIGN §3 "why entities hold partials").
/// </summary>
public sealed class BatchAccumulator
{
    /// <summary>Label value used when a label's field is missing or empty (DESIGN §4).</summary>
    public const string Unknown = "unknown";

    private readonly CompiledPipeline _pipeline;
    private readonly Dictionary<PartialKey, SeriesPartial> _partials = [];
    private readonly string[][] _scratch;

    public BatchAccumulator(CompiledPipeline pipeline)
    {
        _pipeline = pipeline;
        _scratch = [.. pipeline.Families.Select(f => new string[f.LabelSlots.Length])];
    }

    public int Count => _partials.Count;

    /// <summary>Folds one record into its families' partials; a series over <paramref name="budget"/> goes to the overflow series.</summary>
    public void Add(Record record, SeriesBudget? budget = null)
    {
        var windowStart = _pipeline.WindowStart(record.EventTimeMs);
        foreach (var family in _pipeline.Families)
        {
            if (family.Where is { } where && !where(record))
            {
                continue;
            }
            var labels = _scratch[family.Index];
            for (var i = 0; i < labels.Length; i++)
            {
                var text = record.Values[family.LabelSlots[i]].AsText;
                labels[i] = text.Length == 0 ? Unknown : text;
            }
            var key = new PartialKey(family.Index, windowStart, labels);
            if (!_partials.ContainsKey(key) && budget is not null && !budget.Admit(family, record.EventTimeMs, labels))
            {
                // Over the family's cardinality budget in this window: the overflow series carries it.
                Array.Fill(labels, SeriesBudget.Overflow);
                key = new PartialKey(family.Index, windowStart, labels);
            }
            if (!_partials.TryGetValue(key, out var partial))
            {
                var owned = labels.AsSpan().ToArray();
                partial = new SeriesPartial { Family = family.Index, Labels = owned, WindowStartMs = windowStart, Values = family.NewValues() };
                _partials.Add(new PartialKey(family.Index, windowStart, owned), partial);
            }
            family.Fold(partial.Values, record);
            partial.NewestEventMs = Math.Max(partial.NewestEventMs, record.EventTimeMs);
        }
    }

    /// <summary>Returns every partial, grouped by shard (index = shard id), and resets.</summary>
    public List<SeriesPartial>[] Drain(int shardCount)
    {
        var shards = new List<SeriesPartial>[shardCount];
        for (var i = 0; i < shardCount; i++) shards[i] = [];
        foreach (var partial in _partials.Values)
        {
            shards[ShardOf(partial.Family, partial.Labels, shardCount)].Add(partial);
        }
        _partials.Clear();
        return shards;
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
}
