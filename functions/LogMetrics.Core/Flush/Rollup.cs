using System.Runtime.InteropServices;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;

namespace LogMetrics.Core.Flush;

/// <summary>One series of a family's metric window, its cells merged over the base windows of a shard's document.</summary>
public readonly record struct MergedSeries(string[] Labels, double[] Values);

/// <summary>Merges the series of a shard's <see cref="ClosedWindow"/> documents (<see cref="WindowCloser"/> makes their samples).</summary>
public static class ShardRollup
{
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
        if (ById(window))
        {
            return MergeById(window, family, pipeline, out newest);
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
                    var first = false;
                    if (!byArray.TryGetValue(labels, out var at))
                    {
                        ref var known = ref CollectionsMarshal.GetValueRefOrAddDefault(byContent, new PartialKey(family, 0, labels), out var seen);
                        first = !seen;
                        if (first)
                        {
                            known = merged.Count;
                            merged.Add(new MergedSeries(labels, values.ToArray()));
                        }
                        byArray[labels] = at = known;
                    }
                    if (!first) Merge(f, merged[at].Values, values);
                    newest = Math.Max(newest, part.Newest);
                }
                offset += width;
            }
        }
        return merged;
    }

    /// <summary>Whether every part carries its cells' series ids (a document as the shard exported it, not read back).</summary>
    private static bool ById(ClosedWindow window)
    {
        foreach (var part in window.Parts)
        {
            if (part.SeriesIds is not { } ids || ids.Length != part.Families.Count) return false;
        }
        return true;
    }

    /// <summary>
    /// <see cref="Merge(ClosedWindow, int, CompiledPipeline, out long)"/> of a document whose cells carry their series ids:
    /// a series is found by its id (an index into a pooled array), without hashing its array or its text.
    /// </summary>
    private static List<MergedSeries> MergeById(ClosedWindow window, int family, CompiledPipeline pipeline, out long newest)
    {
        var f = pipeline.Families[family];
        newest = 0;
        var cells = 0;
        var top = -1;
        foreach (var part in window.Parts)
        {
            for (var i = 0; i < part.Families.Count; i++)
            {
                if (part.Families[i] != family) continue;
                cells++;
                top = Math.Max(top, part.SeriesIds![i]);
            }
        }
        var merged = new List<MergedSeries>(cells);
        if (cells == 0) return merged;
        // at[id] = 1 + index in merged (0: not met yet); cleared before it goes back.
        var at = System.Buffers.ArrayPool<int>.Shared.Rent(top + 1);
        Array.Clear(at, 0, top + 1);
        try
        {
            foreach (var part in window.Parts)
            {
                var ids = part.SeriesIds!;
                var offset = 0;
                for (var i = 0; i < part.Families.Count; i++)
                {
                    var width = pipeline.Families[part.Families[i]].SlotCount;
                    if (part.Families[i] == family)
                    {
                        var values = CollectionsMarshal.AsSpan(part.Values).Slice(offset, width);
                        ref var known = ref at[ids[i]];
                        if (known == 0)
                        {
                            merged.Add(new MergedSeries(part.Labels[i], values.ToArray()));
                            known = merged.Count;
                        }
                        else
                        {
                            Merge(f, merged[known - 1].Values, values);
                        }
                        newest = Math.Max(newest, part.Newest);
                    }
                    offset += width;
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<int>.Shared.Return(at);
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
