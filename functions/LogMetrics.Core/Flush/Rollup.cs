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

/// <summary>Closes metric windows held in a <see cref="WindowShardState"/>.</summary>
public static class ShardRollup
{
    /// <summary>
    /// Samples of one metric window (family, ending at <paramref name="metricEndMs"/>): the cells of its
    /// base windows merged per series, every metric of the family derived from the merged vector.
    /// </summary>
    public static List<Sample> Close(WindowShardState state, int family, long metricEndMs, CompiledPipeline pipeline)
    {
        var f = pipeline.Families[family];
        var start = metricEndMs - f.ResolutionMs;
        var merged = new Dictionary<int, double[]>();
        var newest = 0L;
        foreach (var w in state.Windows)
        {
            if (w.Start < start) continue;
            if (w.Start >= metricEndMs) break;
            var offset = 0;
            foreach (var s in w.Series)
            {
                var width = pipeline.Families[state.SeriesFamily[s]].SlotCount;
                if (state.SeriesFamily[s] == family)
                {
                    var values = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(w.Values).Slice(offset, width).ToArray();
                    if (merged.TryGetValue(s, out var acc)) f.Merge(acc, values);
                    else merged[s] = values;
                    newest = Math.Max(newest, w.Newest);
                }
                offset += width;
            }
        }
        var samples = new List<Sample>(merged.Count * f.Metrics.Count);
        foreach (var (series, values) in merged)
        {
            var labels = new Label[f.LabelNames.Count];
            var text = state.SeriesLabels[series];
            for (var i = 0; i < labels.Length; i++) labels[i] = new Label(f.LabelNames[i], text[i]);
            foreach (var metric in f.Metrics)
            {
                if (MetricFamily.Evaluate(metric, values) is { } value)
                {
                    samples.Add(new Sample(metric.Name, labels, start, value) { NewestEventTimeMs = newest });
                }
            }
        }
        return samples;
    }
}

/// <summary>Samples produced by closing windows, and how many metric windows (family × window start) closed.</summary>
public sealed record RollupResult(List<Sample> Samples, int WindowsClosed);
