using LogMetrics.Core.Enrich;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Prune;

namespace LogMetrics.Core.Definition;

/// <summary>A validated, compiled pipeline: slots assigned, predicates compiled, aggregates laid out.</summary>
public sealed class CompiledPipeline
{
    public required PipelineDefinition Definition { get; init; }
    public required FieldTable Fields { get; init; }
    public required IReadOnlyList<TypedField> TypedFields { get; init; }
    public required IReadOnlyList<ProcessorStep> Steps { get; init; }
    public required IReadOnlyList<CompiledLookup> Lookups { get; init; }
    public required IReadOnlyList<MetricFamily> Families { get; init; }
    public required long WindowMs { get; init; }
    public required long OutOfOrdernessMs { get; init; }
    public required TimeSpan IdleLaneTimeout { get; init; }
    /// <summary>Records stamped more than this ahead of the wall clock are dead-lettered.</summary>
    public long MaxFutureMs { get; internal set; } = 300_000;

    /// <summary>
    /// This pipeline without the wall-clock check (<c>maxFutureSeconds</c>), for hosts whose clock is
    /// simulated and does not follow the data (<c>logmetrics simulate</c>).
    /// </summary>
    public CompiledPipeline WithoutFutureCheck()
    {
        var copy = (CompiledPipeline)MemberwiseClone();
        copy.MaxFutureMs = long.MaxValue / 4;
        return copy;
    }
    /// <summary>Jump guard: a record this far ahead of its lane's newest time needs corroboration to move the watermark.</summary>
    public long LaneJumpMs { get; init; } = 300_000;
    /// <summary>Jump guard: consecutive far-ahead records of a lane needed before its watermark jumps.</summary>
    public int LaneJumpConfirmations { get; init; } = 3;
    /// <summary>Longest record accepted; longer lines are dead-lettered as <c>record too large</c>.</summary>
    public int MaxRecordBytes { get; init; } = 1 << 20;

    /// <summary>A parser for this pipeline. Parsers hold no shared state, but are not thread-safe: one per thread.</summary>
    public RecordParser CreateParser() =>
        new(Fields, TypedFields, Definition.Source.TimeField, Definition.Source.TimeUnit, RawSlots, UnreadSlots);

    /// <summary>
    /// What the compiler does not run because nothing reads what it sets, by JSON path: parse-json and parse-kv steps
    /// left out of <see cref="Steps"/>, and lookup outputs whose fallback is not read (PipelineCompiler's liveness).
    /// No sample or count depends on them. <c>logmetrics check</c> prints them.
    /// </summary>
    public IReadOnlyList<DefinitionError> Unused { get; init; } = [];

    /// <summary>
    /// Slots of the fields nothing reads once the <see cref="Unused"/> steps are left out (a parse-json step's source
    /// that does not run, a field only projected): the parser only checks that a string there decodes, the verdict the
    /// reader would give, and keeps nothing. Empty when the pipeline was compiled with keepUnused.
    /// </summary>
    public IReadOnlySet<int> UnreadSlots { get; init; } = new HashSet<int>();

    /// <summary>Slots read only by parse-json: the parser keeps them as UTF-8 bytes.</summary>
    public IReadOnlySet<int> RawSlots { get; init; } = new HashSet<int>();

    public Record CreateRecord() => new(Fields.Count);

    /// <summary>Start of the base window holding <paramref name="eventTimeMs"/> (tumbling, epoch-aligned).</summary>
    public long WindowStart(long eventTimeMs) => FloorTo(eventTimeMs, WindowMs);

    public static long FloorTo(long t, long size) => t - (((t % size) + size) % size);
}

/// <summary>A lookup bound to slots: key fields in, output fields out, with fallbacks.</summary>
public sealed record CompiledLookup(
    LookupDefinition Definition,
    TableSpec Table,
    IReadOnlyList<int> KeySlots,
    IReadOnlyList<CompiledLookupOutput> Outputs);

/// <summary>Column → slot, with an optional fallback slot used when the row is missing.</summary>
public sealed record CompiledLookupOutput(string Column, int Slot, int? FallbackSlot);

/// <summary>How a partial's value slot merges with another partial's.</summary>
public enum MergeOp : byte { Sum, Min, Max }

/// <summary>The aggregate of one metric.</summary>
public enum AggregateKind { Count, CountIf, Sum, Mean, RatioIf, Min, Max }

/// <summary>One metric of a family, reading its value from the family's partial slots (slot 0 is the record count).</summary>
public sealed record CompiledMetric(string Name, AggregateKind Kind, string Aggregate, int Slot, Func<Record, bool>? Predicate, int FieldSlot);

/// <summary>
/// A metric family: its series are keyed by the label values; its partial is a vector of
/// <see cref="SlotCount"/> doubles merged slot by slot with <see cref="MergeOps"/>.
/// </summary>
public sealed class MetricFamily
{
    public required int Index { get; init; }
    public required string Prefix { get; init; }
    /// <summary>Label names, sorted ordinally (the order samples carry them).</summary>
    public required IReadOnlyList<string> LabelNames { get; init; }
    /// <summary>Source slot of each label, parallel to <see cref="LabelNames"/>.</summary>
    public required int[] LabelSlots { get; init; }
    public required long ResolutionMs { get; init; }
    /// <summary>Cardinality budget per metric window (<see cref="Accumulate.SeriesBudget"/>).</summary>
    public int MaxSeries { get; init; } = FamilyDefinition.DefaultMaxSeries;
    public required Func<Record, bool>? Where { get; init; }
    public required IReadOnlyList<CompiledMetric> Metrics { get; init; }
    public required MergeOp[] MergeOps { get; init; }

    public int SlotCount => MergeOps.Length;

    /// <summary>A fresh partial vector: sums at 0, mins at +∞, maxes at −∞.</summary>
    public double[] NewValues()
    {
        var values = new double[MergeOps.Length];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = MergeOps[i] switch { MergeOp.Min => double.PositiveInfinity, MergeOp.Max => double.NegativeInfinity, _ => 0 };
        }
        return values;
    }

    /// <summary>Folds <paramref name="source"/> into <paramref name="target"/>; commutative and associative.</summary>
    public void Merge(double[] target, double[] source)
    {
        for (var i = 0; i < MergeOps.Length; i++)
        {
            target[i] = MergeOps[i] switch
            {
                MergeOp.Min => Math.Min(target[i], source[i]),
                MergeOp.Max => Math.Max(target[i], source[i]),
                _ => target[i] + source[i],
            };
        }
    }

    // Metrics as an array, for the per-record loop of Fold (no enumerator).
    private CompiledMetric[]? _metricArray;

    /// <summary>Adds one record to a partial vector.</summary>
    public void Fold(double[] values, Record record)
    {
        values[0] += 1;
        foreach (var m in _metricArray ??= [.. Metrics])
        {
            switch (m.Kind)
            {
                case AggregateKind.CountIf or AggregateKind.RatioIf:
                    if (m.Predicate!(record)) values[m.Slot] += 1;
                    break;
                case AggregateKind.Sum:
                    if (record.Values[m.FieldSlot].TryGetNumber(out var s)) values[m.Slot] += s;
                    break;
                case AggregateKind.Mean:
                    if (record.Values[m.FieldSlot].TryGetNumber(out var x))
                    {
                        values[m.Slot] += x;
                        values[m.Slot + 1] += 1;
                    }
                    break;
                case AggregateKind.Min:
                    if (record.Values[m.FieldSlot].TryGetNumber(out var lo)) values[m.Slot] = Math.Min(values[m.Slot], lo);
                    break;
                case AggregateKind.Max:
                    if (record.Values[m.FieldSlot].TryGetNumber(out var hi)) values[m.Slot] = Math.Max(values[m.Slot], hi);
                    break;
            }
        }
    }

    /// <summary>
    /// The value of metric <paramref name="m"/> from a merged partial; null when it has no value
    /// (a mean, min or max over records that all lacked the field).
    /// </summary>
    public static double? Evaluate(CompiledMetric m, ReadOnlySpan<double> values) => m.Kind switch
    {
        AggregateKind.Count => values[0],
        AggregateKind.CountIf => values[m.Slot],
        AggregateKind.RatioIf => values[0] > 0 ? values[m.Slot] / values[0] : null,
        AggregateKind.Sum => values[m.Slot],
        AggregateKind.Mean => values[m.Slot + 1] > 0 ? values[m.Slot] / values[m.Slot + 1] : null,
        AggregateKind.Min => double.IsPositiveInfinity(values[m.Slot]) ? null : values[m.Slot],
        AggregateKind.Max => double.IsNegativeInfinity(values[m.Slot]) ? null : values[m.Slot],
        _ => null,
    };
}
