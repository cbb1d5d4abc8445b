using System.Runtime.InteropServices;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;

namespace LogMetrics.Core.Flush;

/// <summary>
/// One series of a family's metric window, its cells merged over the base windows of a shard's document: its label
/// values, and where its merged values are (<see cref="At"/>, the family's slot count of them, in the value array the
/// merge was given).
/// </summary>
internal readonly record struct MergedSeries(string[] Labels, int At);

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

    /// <summary>The cells of <paramref name="family"/> in the document: the most series <see cref="Merge"/> finds in it.</summary>
    internal static int Cells(ClosedWindow window, int family)
    {
        var cells = 0;
        foreach (var part in window.Parts)
        {
            foreach (var f in CollectionsMarshal.AsSpan(part.Families))
            {
                if (f == family) cells++;
            }
        }
        return cells;
    }

    /// <summary>
    /// The series of one family in the document, each merged over the document's base windows, in the order first
    /// met, into <paramref name="series"/> (room for <see cref="Cells"/> of them); their values go to
    /// <paramref name="values"/> from <paramref name="valuesAt"/> on, the family's slot count each. Returns the number
    /// of series; <paramref name="newest"/> is the newest event time of the base windows that hold the family.
    /// Nothing is allocated for a document as its shard exported it (a series found by its id).
    /// </summary>
    internal static int Merge(ClosedWindow window, int family, CompiledPipeline pipeline, Span<MergedSeries> series, double[] values, int valuesAt, out long newest)
    {
        var f = pipeline.Families[family];
        var width = f.SlotCount;
        newest = 0;
        if (window.Parts.Count == 1)
        {
            // One base window (a metric window of the base resolution): its cells are distinct series already.
            var part = window.Parts[0];
            var partValues = CollectionsMarshal.AsSpan(part.Values);
            var offset = 0;
            var count = 0;
            for (var i = 0; i < part.Families.Count; i++)
            {
                var w = pipeline.Families[part.Families[i]].SlotCount;
                if (part.Families[i] == family)
                {
                    count = Add(series, count, part.Labels[i], partValues.Slice(offset, w), values, valuesAt, width);
                    newest = Math.Max(newest, part.Newest);
                }
                offset += w;
            }
            return count;
        }
        return ById(window)
            ? MergeById(window, family, pipeline, series, values, valuesAt, out newest)
            : MergeByLabels(window, family, pipeline, series, values, valuesAt, out newest);
    }

    /// <summary>A document read back from storage (no series ids): a series found by its label array, or its labels' text.</summary>
    private static int MergeByLabels(ClosedWindow window, int family, CompiledPipeline pipeline, Span<MergedSeries> series, double[] values, int valuesAt, out long newest)
    {
        var f = pipeline.Families[family];
        var width = f.SlotCount;
        newest = 0;
        var count = 0;
        // A shard exports a series with the same label array in every part: found by reference, its text is
        // hashed once per array (a document read back from storage has an array per part: found by content).
        var byArray = new Dictionary<string[], int>(ReferenceEqualityComparer.Instance);
        var byContent = new Dictionary<PartialKey, int>();
        foreach (var part in window.Parts)
        {
            var offset = 0;
            for (var i = 0; i < part.Families.Count; i++)
            {
                var w = pipeline.Families[part.Families[i]].SlotCount;
                if (part.Families[i] == family)
                {
                    var cell = CollectionsMarshal.AsSpan(part.Values).Slice(offset, w);
                    var labels = part.Labels[i];
                    var first = false;
                    if (!byArray.TryGetValue(labels, out var at))
                    {
                        ref var known = ref CollectionsMarshal.GetValueRefOrAddDefault(byContent, new PartialKey(family, 0, labels), out var seen);
                        first = !seen;
                        if (first)
                        {
                            known = count;
                            count = Add(series, count, labels, cell, values, valuesAt, width);
                        }
                        byArray[labels] = at = known;
                    }
                    if (!first) Merge(f, values.AsSpan(series[at].At, width), cell);
                    newest = Math.Max(newest, part.Newest);
                }
                offset += w;
            }
        }
        return count;
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
    /// <see cref="Merge"/> of a document whose cells carry their series ids: a series is found by its id (an index into
    /// a pooled array), without hashing its array or its text.
    /// </summary>
    private static int MergeById(ClosedWindow window, int family, CompiledPipeline pipeline, Span<MergedSeries> series, double[] values, int valuesAt, out long newest)
    {
        var f = pipeline.Families[family];
        var width = f.SlotCount;
        newest = 0;
        var top = -1;
        foreach (var part in window.Parts)
        {
            for (var i = 0; i < part.Families.Count; i++)
            {
                if (part.Families[i] == family) top = Math.Max(top, part.SeriesIds![i]);
            }
        }
        if (top < 0) return 0;
        var count = 0;
        // at[id] = 1 + index in series (0: not met yet); cleared before it goes back.
        var at = WindowCloser.Pooled<int>.Arrays.Rent(top + 1);
        Array.Clear(at, 0, top + 1);
        try
        {
            foreach (var part in window.Parts)
            {
                var ids = part.SeriesIds!;
                var offset = 0;
                for (var i = 0; i < part.Families.Count; i++)
                {
                    var w = pipeline.Families[part.Families[i]].SlotCount;
                    if (part.Families[i] == family)
                    {
                        var cell = CollectionsMarshal.AsSpan(part.Values).Slice(offset, w);
                        ref var known = ref at[ids[i]];
                        if (known == 0)
                        {
                            known = count = Add(series, count, part.Labels[i], cell, values, valuesAt, width);
                        }
                        else
                        {
                            Merge(f, values.AsSpan(series[known - 1].At, width), cell);
                        }
                        newest = Math.Max(newest, part.Newest);
                    }
                    offset += w;
                }
            }
        }
        finally
        {
            WindowCloser.Pooled<int>.Arrays.Return(at);
        }
        return count;
    }

    /// <summary>
    /// A series met at its first cell: the cell's values copied to the series' place (the <paramref name="count"/>-th of
    /// the family's width from <paramref name="valuesAt"/>), and the series added. Returns the series' new count.
    /// </summary>
    private static int Add(Span<MergedSeries> series, int count, string[] labels, ReadOnlySpan<double> cell, double[] values, int valuesAt, int width)
    {
        var at = valuesAt + count * width;
        cell.CopyTo(values.AsSpan(at, width));
        series[count] = new MergedSeries(labels, at);
        return count + 1;
    }

    /// <summary>As <see cref="MetricFamily.Merge"/>, from a slice of a part's values (no copy).</summary>
    private static void Merge(MetricFamily family, Span<double> target, ReadOnlySpan<double> source)
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
