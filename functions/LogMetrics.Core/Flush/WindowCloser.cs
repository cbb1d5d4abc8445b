using System.Buffers;
using System.Runtime.InteropServices;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;

namespace LogMetrics.Core.Flush;

/// <summary>
/// Closes the metric windows one flush writes: each shard document rolled up (<see cref="ShardRollup.Merge"/>)
/// and the samples put in <see cref="SampleTimeOrder"/> without comparing samples. A series lives in one shard
/// and a metric name in one family, so the order is: window start, then metric name, then the series' label
/// values, and sorting each family's series once (not each of its samples) gives it. The documents are rolled
/// up, the series sorted and the samples made in parallel when there are enough of them; the result does not
/// depend on it.
/// </summary>
public static class WindowCloser
{
    /// <summary>Cells (over all documents) below which a flush runs on the calling thread alone.</summary>
    private const int ParallelCells = 4096;

    /// <summary>
    /// The close's pooled arrays, in pools of its own rather than <c>ArrayPool&lt;T&gt;.Shared</c>. The shared pool keeps the
    /// arrays given back beyond the first of a size in stacks per processor, and its first use of those makes the runtime
    /// time <see cref="Thread.GetCurrentProcessorId"/> once; in the Native AOT program that calibration runs inside a static
    /// constructor, whose lock each read of its timing loop takes, about 0.3 ms, and a batch gives back one series array
    /// per family window (with the compiler's note on an unread step, the only such use in a 400-line replay's profile).
    /// These pools lock a bucket per rental instead: nothing to calibrate, and a close rents a few arrays per family window.
    /// The roll-up of each document (<see cref="ShardRollup"/>) rents from them too.
    /// </summary>
    internal static class Pooled<T>
    {
        public static readonly ArrayPool<T> Arrays = ArrayPool<T>.Create();
    }

    /// <summary>One family's metric window from one shard's document.</summary>
    public readonly record struct Window(ClosedWindow Document, int Family, long StartMs);

    /// <summary>Samples of every window, in <see cref="SampleTimeOrder"/>; <paramref name="parallel"/> false: on the calling thread alone.</summary>
    public static List<Sample> Close(IReadOnlyList<Window> windows, CompiledPipeline pipeline, bool parallel = true)
    {
        if (windows.Count == 0) return [];
        using var batch = Prepare(windows, pipeline, parallel, count: false);
        return batch.Samples();
    }

    /// <summary>
    /// The windows rolled up and their series put in order, with the number of samples they give (unless not
    /// <paramref name="count"/>), but no sample made (<see cref="ClosedBatch"/>): for a writer that formats them from the
    /// batch itself. Dispose it once written.
    /// </summary>
    /// <remarks>
    /// What a close needs only while it runs (the merged series and their values, each family window's series in order)
    /// is in pooled arrays, sized from the documents' cells before the merge: a flush allocates its samples and little else
    /// (fresh memory is paid for in page faults), and none of them when its writer formats the batch.
    /// </remarks>
    internal static ClosedBatch Prepare(IReadOnlyList<Window> windows, CompiledPipeline pipeline, bool parallel = true, bool count = true)
    {
        var n = windows.Count;
        // Per window: room for its family's cells (the most series it can merge into) and their values.
        var seriesAt = new int[n + 1];
        var valuesAt = new int[n + 1];
        var cells = 0;
        for (var i = 0; i < n; i++)
        {
            foreach (var part in windows[i].Document.Parts) cells += part.Families.Count;
            var room = ShardRollup.Cells(windows[i].Document, windows[i].Family);
            seriesAt[i + 1] = seriesAt[i] + room;
            valuesAt[i + 1] = valuesAt[i] + room * pipeline.Families[windows[i].Family].SlotCount;
        }
        parallel &= cells >= ParallelCells;

        var batch = new ClosedBatch(Pooled<MergedSeries>.Arrays.Rent(Math.Max(seriesAt[n], 1)), seriesAt[n],
            Pooled<double>.Arrays.Rent(Math.Max(valuesAt[n], 1)), parallel);
        try
        {
            var merged = batch.Merged;
            var values = batch.Values;
            // Roll up each document.
            var series = new int[n];
            var newest = new long[n];
            ParallelWork.For(n, parallel, i => series[i] = ShardRollup.Merge(windows[i].Document, windows[i].Family, pipeline,
                merged.AsSpan(seriesAt[i], seriesAt[i + 1] - seriesAt[i]), values, valuesAt[i], out newest[i]));

            // Per (start, family): the series of every shard, sorted by label values.
            var groups = batch.Groups;
            var index = new Dictionary<(long, int), Group>();
            for (var i = 0; i < n; i++)
            {
                var key = (windows[i].StartMs, windows[i].Family);
                if (!index.TryGetValue(key, out var group))
                {
                    index[key] = group = new Group(windows[i].StartMs, pipeline.Families[windows[i].Family]);
                    groups.Add(group);
                }
                group.Parts.Add((seriesAt[i], series[i], newest[i]));
            }
            ParallelWork.For(groups.Count, parallel, g => groups[g].Sort(merged));

            // Per start, the metrics of its families by name: each metric's samples, its series in order.
            groups.Sort((x, y) => x.StartMs.CompareTo(y.StartMs));
            var runs = batch.Runs;
            for (var g = 0; g < groups.Count;)
            {
                var start = groups[g].StartMs;
                var from = runs.Count;
                for (; g < groups.Count && groups[g].StartMs == start; g++)
                {
                    groups[g].SeriesAt = batch.SeriesCount;
                    batch.SeriesCount += groups[g].Count;
                    foreach (var metric in groups[g].Family.Metrics) runs.Add(new Run(groups[g], metric));
                }
                runs.Sort(from, runs.Count - from, RunOrder.Instance);
                for (var r = from + 1; r < runs.Count; r++)
                {
                    // Two families with a metric of the same name: their samples interleave by labels (rare; sorted whole below).
                    if (string.Equals(runs[r - 1].Metric.Name, runs[r].Metric.Name, StringComparison.Ordinal)) runs[from].SortStart = runs.Count - from;
                }
            }
            // Each metric's samples: one per series that has a value.
            if (count) ParallelWork.For(runs.Count, parallel, r => runs[r].CountSamples(values));
            return batch;
        }
        catch
        {
            batch.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A flush's windows rolled up (<see cref="Prepare"/>): per start, the runs of samples in the order they are written
    /// (<see cref="Runs"/>: a metric of a family window over the window's series in order, a sample for each series that
    /// has a value). Holds pooled arrays until disposed.
    /// </summary>
    internal sealed class ClosedBatch(MergedSeries[] merged, int mergedUsed, double[] values, bool parallel) : IDisposable
    {
        internal MergedSeries[] Merged { get; } = merged;

        /// <summary>Every series' merged values (<see cref="Entry.At"/>, the family's slot count of them).</summary>
        internal double[] Values { get; } = values;

        internal List<Group> Groups { get; } = [];

        internal List<Run> Runs { get; } = [];

        /// <summary>The series of all its family windows (each window's from its <see cref="Group.SeriesAt"/> on).</summary>
        internal int SeriesCount { get; set; }

        /// <summary>The samples the windows give (counted by <see cref="Prepare"/> when asked to).</summary>
        public int Count
        {
            get
            {
                var count = 0;
                foreach (var run in Runs) count += run.Made;
                return count;
            }
        }

        /// <summary>
        /// Whether two families of a start have a metric of the same name, so that their samples interleave by labels and
        /// only <see cref="Samples"/> puts them in order.
        /// </summary>
        internal bool Interleaved => Runs.Exists(r => r.SortStart > 0);

        /// <summary>The value of <paramref name="run"/>'s metric for the group's series <paramref name="series"/>, if it has one.</summary>
        internal double? ValueOf(Run run, int series) => run.ValueOf(series, Values);

        /// <summary>
        /// The samples, in <see cref="SampleTimeOrder"/>: each run's made in a range of the list as long as its series, then
        /// moved together, in run order. A series' samples share one label array.
        /// </summary>
        public List<Sample> Samples()
        {
            var runs = Runs;
            ParallelWork.For(Groups.Count, parallel, g => Groups[g].MakeLabels());
            var runAt = new int[runs.Count + 1];
            for (var r = 0; r < runs.Count; r++) runAt[r + 1] = runAt[r] + runs[r].Group.Count;
            var samples = new List<Sample>(runAt[runs.Count]);
            CollectionsMarshal.SetCount(samples, runAt[runs.Count]);
            var made = new int[runs.Count];
            ParallelWork.For(runs.Count, parallel, r => made[r] = runs[r].Samples(CollectionsMarshal.AsSpan(samples).Slice(runAt[r], runAt[r + 1] - runAt[r]), Values));
            var all = CollectionsMarshal.AsSpan(samples);
            var to = 0;
            for (var r = 0; r < runs.Count; r++)
            {
                var at = to;
                var last = runs[r].SortStart > 0 ? r + runs[r].SortStart - 1 : r;
                for (var q = r; q <= last; q++)
                {
                    all.Slice(runAt[q], made[q]).CopyTo(all[to..]);
                    to += made[q];
                }
                if (last > r) all[at..to].Sort(SampleTimeOrder.Instance);
                r = last;
            }
            all[to..].Clear();
            CollectionsMarshal.SetCount(samples, to);
            return samples;
        }

        public void Dispose()
        {
            foreach (var group in Groups) group.Return();
            Groups.Clear();
            Runs.Clear();
            // Only what was used holds references (a rented array may be longer).
            Array.Clear(Merged, 0, mergedUsed);
            Pooled<MergedSeries>.Arrays.Return(Merged);
            Pooled<double>.Arrays.Return(Values);
        }
    }

    /// <summary>One family's metric window over every shard.</summary>
    internal sealed class Group(long startMs, MetricFamily family)
    {
        public long StartMs { get; } = startMs;

        public MetricFamily Family { get; } = family;

        /// <summary>Where its series are among the batch's series (<see cref="ClosedBatch.SeriesCount"/>).</summary>
        public int SeriesAt { get; set; }

        /// <summary>Per shard document, in shard order: where its series are in the close's merged series, how many, and its newest event time.</summary>
        public List<(int From, int Count, long Newest)> Parts { get; } = [];

        /// <summary>The series of all parts (the first <see cref="Count"/>; pooled), by label values (ordinal); then the shard order.</summary>
        public Entry[] Series { get; private set; } = [];

        public int Count { get; private set; }

        /// <summary>Each series' labels as its samples carry them (<see cref="MakeLabels"/>).</summary>
        public Label[][] SampleLabels { get; private set; } = [];

        public void Sort(MergedSeries[] merged)
        {
            var count = 0;
            foreach (var p in Parts) count += p.Count;
            // Pooled: a flush sorts every family window it closes, and fresh memory is paid for in page faults.
            var met = Pooled<(int Series, long Newest)>.Arrays.Rent(count);
            var labels = Pooled<string[]>.Arrays.Rent(count);
            var order = Pooled<int>.Arrays.Rent(count);
            var at = 0;
            foreach (var (from, n, newest) in Parts)
            {
                for (var s = from; s < from + n; s++)
                {
                    met[at] = (s, newest);
                    labels[at++] = merged[s].Labels;
                }
            }
            LabelOrder.Sort(labels.AsSpan(0, count), order.AsSpan(0, count));
            var series = Pooled<Entry>.Arrays.Rent(count);
            for (var i = 0; i < count; i++)
            {
                var (s, newest) = met[order[i]];
                series[i] = new Entry(merged[s].At, newest, merged[s].Labels);
            }
            Series = series;
            Count = count;
            Pooled<(int, long)>.Arrays.Return(met);
            Array.Clear(labels, 0, count);
            Pooled<string[]>.Arrays.Return(labels);
            Pooled<int>.Arrays.Return(order);
        }

        /// <summary>Makes <see cref="SampleLabels"/>, in series order.</summary>
        public void MakeLabels()
        {
            var labels = new Label[Count][];
            for (var i = 0; i < labels.Length; i++) labels[i] = ShardRollup.Labels(Family, Series[i].Labels);
            SampleLabels = labels;
        }

        /// <summary>Gives the series back to the pool (the samples keep their labels).</summary>
        public void Return()
        {
            if (Series.Length == 0) return;
            Array.Clear(Series, 0, Count);
            Pooled<Entry>.Arrays.Return(Series);
            Series = [];
            Count = 0;
        }
    }

    /// <summary>A series to write: where its merged values are, its document's newest event time, its label values.</summary>
    internal readonly record struct Entry(int At, long Newest, string[] Labels);

    /// <summary>One metric of a family's window: its samples, one per series that has a value.</summary>
    internal sealed class Run(Group group, CompiledMetric metric)
    {
        public Group Group { get; } = group;

        public CompiledMetric Metric { get; } = metric;

        /// <summary>On the first run of a start whose metric names are not unique: the runs of that start, sorted together.</summary>
        public int SortStart { get; set; }

        /// <summary>How many series have a value (<see cref="CountSamples"/>).</summary>
        public int Made { get; private set; }

        /// <summary>The metric's value for the window's series <paramref name="series"/> (its merged values in <paramref name="values"/>), if it has one.</summary>
        public double? ValueOf(int series, double[] values) =>
            MetricFamily.Evaluate(Metric, values.AsSpan(Group.Series[series].At, Group.Family.SlotCount));

        /// <summary>Counts the series that have a value.</summary>
        public void CountSamples(double[] values)
        {
            var made = 0;
            for (var i = 0; i < Group.Count; i++)
            {
                if (ValueOf(i, values) is not null) made++;
            }
            Made = made;
        }

        /// <summary>Makes the samples into <paramref name="into"/> (room for one per series); returns how many.</summary>
        public int Samples(Span<Sample> into, double[] values)
        {
            var labels = Group.SampleLabels;
            var made = 0;
            for (var i = 0; i < Group.Count; i++)
            {
                if (ValueOf(i, values) is { } value)
                {
                    into[made++] = new Sample(Metric.Name, labels[i], Group.StartMs, value) { NewestEventTimeMs = Group.Series[i].Newest };
                }
            }
            return made;
        }
    }

    private sealed class RunOrder : IComparer<Run>
    {
        public static readonly RunOrder Instance = new();

        public int Compare(Run? x, Run? y) => string.CompareOrdinal(x!.Metric.Name, y!.Metric.Name);
    }
}
