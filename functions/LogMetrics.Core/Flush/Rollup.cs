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
        var merged = new Dictionary<PartialKey, double[]>();
        var newest = 0L;
        foreach (var part in window.Parts)
        {
            var offset = 0;
            for (var i = 0; i < part.Families.Count; i++)
            {
                var width = pipeline.Families[part.Families[i]].SlotCount;
                if (part.Families[i] == family)
                {
                    var values = CollectionsMarshal.AsSpan(part.Values).Slice(offset, width);
                    ref var acc = ref CollectionsMarshal.GetValueRefOrAddDefault(merged, new PartialKey(family, startMs, part.Labels[i]), out var seen);
                    if (seen) Merge(f, acc!, values);
                    else acc = values.ToArray();
                    newest = Math.Max(newest, part.Newest);
                }
                offset += width;
            }
        }
        var samples = new List<Sample>(merged.Count * f.Metrics.Count);
        foreach (var (key, values) in merged)
        {
            var labels = new Label[f.LabelNames.Count];
            for (var i = 0; i < labels.Length; i++) labels[i] = new Label(f.LabelNames[i], key.Labels[i]);
            foreach (var metric in f.Metrics)
            {
                if (MetricFamily.Evaluate(metric, values) is { } value)
                {
                    samples.Add(new Sample(metric.Name, labels, startMs, value) { NewestEventTimeMs = newest });
                }
            }
        }
        return samples;
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
