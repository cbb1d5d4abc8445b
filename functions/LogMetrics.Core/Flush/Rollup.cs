using System.Runtime.InteropServices;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;

namespace LogMetrics.Core.Flush;

/// <summary>
/// Closes metric windows: merges the base-window partials of each series into its metric window
/// (the family's resolution) and derives every metric of the family from the merged vector — a mean
/// is sum/count over the whole window, never a mean of means. Pure.
/// </summary>
public static class Rollup
{
    /// <summary>
    /// Samples of every metric window of <paramref name="partials"/> that ends at or before
    /// <paramref name="closedThroughMs"/> and after <paramref name="writtenThroughMs"/> (already written).
    /// </summary>
    public static RollupResult Close(IEnumerable<SeriesPartial> partials, long closedThroughMs, CompiledPipeline pipeline, long writtenThroughMs = long.MinValue)
    {
        var merged = new Dictionary<PartialKey, SeriesPartial>();
        foreach (var p in partials)
        {
            var family = pipeline.Families[p.Family];
            var start = CompiledPipeline.FloorTo(p.WindowStartMs, family.ResolutionMs);
            if (start + family.ResolutionMs > closedThroughMs || start + family.ResolutionMs <= writtenThroughMs)
            {
                continue;
            }
            var key = new PartialKey(p.Family, start, p.Labels);
            if (merged.TryGetValue(key, out var acc))
            {
                family.Merge(acc.Values, p.Values);
                acc.NewestEventMs = Math.Max(acc.NewestEventMs, p.NewestEventMs);
            }
            else
            {
                merged[key] = new SeriesPartial { Family = p.Family, Labels = p.Labels, WindowStartMs = start, Values = p.Values.AsSpan().ToArray(), NewestEventMs = p.NewestEventMs };
            }
        }

        var samples = new List<Sample>(merged.Count * 4);
        var windows = new HashSet<(int, long)>();
        foreach (var m in merged.Values)
        {
            var family = pipeline.Families[m.Family];
            windows.Add((m.Family, m.WindowStartMs));
            var labels = new Label[family.LabelNames.Count];
            for (var i = 0; i < labels.Length; i++)
            {
                labels[i] = new Label(family.LabelNames[i], m.Labels[i]);
            }
            foreach (var metric in family.Metrics)
            {
                if (MetricFamily.Evaluate(metric, m.Values) is { } value)
                {
                    samples.Add(new Sample(metric.Name, labels, m.WindowStartMs, value) { NewestEventTimeMs = m.NewestEventMs });
                }
            }
        }
        return new RollupResult(samples, windows.Count);
    }
}

/// <summary>One series of a family's metric window, its cells merged over the base windows of a shard's document.</summary>
public readonly record struct MergedSeries(string[] Labels, double[] Values);

/// <summary>Closes the metric windows of a shard's <see cref="ClosedWindow"/> documents.</summary>
public static class ShardRollup
{
    /// <summary>
    /// Samples of one family's metric window starting at <paramref name="startMs"/>: the cells of the
    /// document's base windows merged per series, every metric of the family derived from the merged vector.
    /// </summary>
    public static List<Sample> Close(ClosedWindow window, int family, long startMs, CompiledPipeline pipeline)
    {
        var f = pipeline.Families[family];
        var merged = Merge(window, family, pipeline, out var newest);
        var samples = new List<Sample>(merged.Count * f.Metrics.Count);
        foreach (var series in merged)
        {
            var labels = Labels(f, series.Labels);
            foreach (var metric in f.Metrics)
            {
                if (MetricFamily.Evaluate(metric, series.Values) is { } value)
                {
                    samples.Add(new Sample(metric.Name, labels, startMs, value) { NewestEventTimeMs = newest });
                }
            }
        }
        return samples;
    }

    /// <summary>A series' labels as samples carry them (the family's label names, sorted, with the series' values).</summary>
    public static Label[] Labels(MetricFamily family, string[] values)
    {
        var labels = new Label[family.LabelNames.Count];
        for (var i = 0; i < labels.Length; i++) labels[i] = new Label(family.LabelNames[i], values[i]);
        return labels;
    }

    /// <summary>
    /// The series of one family in the document, each merged over the document's base windows, in the order
    /// first met; <paramref name="newest"/> is the newest event time of the base windows that hold the family.
    /// </summary>
    public static List<MergedSeries> Merge(ClosedWindow window, int family, CompiledPipeline pipeline, out long newest)
    {
        var f = pipeline.Families[family];
        newest = 0;
        var merged = new List<MergedSeries>();
        if (window.Parts.Count == 1)
        {
            // One base window (a metric window of the base resolution): its cells are distinct series already.
            var part = window.Parts[0];
            var offset = 0;
            for (var i = 0; i < part.Families.Count; i++)
            {
                var width = pipeline.Families[part.Families[i]].SlotCount;
                if (part.Families[i] == family)
                {
                    merged.Add(new MergedSeries(part.Labels[i], CollectionsMarshal.AsSpan(part.Values).Slice(offset, width).ToArray()));
                    newest = Math.Max(newest, part.Newest);
                }
                offset += width;
            }
            return merged;
        }
        // A shard exports a series with the same label array in every part: found by reference, its text is
        // hashed once per array (a document read back from storage has an array per part: found by content).
        var byArray = new Dictionary<string[], int>(ReferenceEqualityComparer.Instance);
        var byContent = new Dictionary<PartialKey, int>();
        foreach (var part in window.Parts)
        {
            var offset = 0;
            for (var i = 0; i < part.Families.Count; i++)
            {
                var width = pipeline.Families[part.Families[i]].SlotCount;
                if (part.Families[i] == family)
                {
                    var values = CollectionsMarshal.AsSpan(part.Values).Slice(offset, width);
                    var labels = part.Labels[i];
                    if (!byArray.TryGetValue(labels, out var at))
                    {
                        ref var known = ref CollectionsMarshal.GetValueRefOrAddDefault(byContent, new PartialKey(family, 0, labels), out var seen);
                        if (!seen)
                        {
                            known = merged.Count;
                            merged.Add(new MergedSeries(labels, values.ToArray()));
                            byArray[labels] = known;
                            newest = Math.Max(newest, part.Newest);
                            offset += width;
                            continue;
                        }
                        at = known;
                        byArray[labels] = at;
                    }
                    Merge(f, merged[at].Values, values);
                    newest = Math.Max(newest, part.Newest);
                }
                offset += width;
            }
        }
        return merged;
    }

    /// <summary>As <see cref="MetricFamily.Merge"/>, from a slice of a part's values (no copy).</summary>
    private static void Merge(MetricFamily family, double[] target, ReadOnlySpan<double> source)
    {
        var ops = family.MergeOps;
        for (var i = 0; i < ops.Length; i++)
        {
            target[i] = ops[i] switch
            {
                MergeOp.Min => Math.Min(target[i], source[i]),
                MergeOp.Max => Math.Max(target[i], source[i]),
                _ => target[i] + source[i],
            };
        }
    }
}

/// <summary>Samples produced by closing windows, and how many metric windows (family × window start) closed.</summary>
public sealed record RollupResult(List<Sample> Samples, int WindowsClosed);
