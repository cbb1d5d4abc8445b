using System.Buffers;
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

    /// <summary>One family's metric window from one shard's document.</summary>
    public readonly record struct Window(ClosedWindow Document, int Family, long StartMs);

    /// <summary>Samples of every window, in <see cref="SampleTimeOrder"/>; <paramref name="parallel"/> false: on the calling thread alone.</summary>
    public static List<Sample> Close(IReadOnlyList<Window> windows, CompiledPipeline pipeline, bool parallel = true)
    {
        if (windows.Count == 0) return [];
        var cells = 0;
        foreach (var w in windows)
        {
            foreach (var part in w.Document.Parts) cells += part.Families.Count;
        }
        parallel &= cells >= ParallelCells;

        // Roll up each document.
        var merged = new List<MergedSeries>[windows.Count];
        var newest = new long[windows.Count];
        ParallelWork.For(windows.Count, parallel, i => merged[i] = ShardRollup.Merge(windows[i].Document, windows[i].Family, pipeline, out newest[i]));

        // Per (start, family): the series of every shard, sorted by label values.
        var groups = new List<Group>();
        var index = new Dictionary<(long, int), Group>();
        for (var i = 0; i < windows.Count; i++)
        {
            var key = (windows[i].StartMs, windows[i].Family);
            if (!index.TryGetValue(key, out var group))
            {
                index[key] = group = new Group(windows[i].StartMs, pipeline.Families[windows[i].Family]);
                groups.Add(group);
            }
            group.Parts.Add((merged[i], newest[i]));
        }
        ParallelWork.For(groups.Count, parallel, g => groups[g].Sort());

        // Per start, the metrics of its families by name: each metric's samples, its series in order.
        groups.Sort((x, y) => x.StartMs.CompareTo(y.StartMs));
        var runs = new List<Run>();
        for (var g = 0; g < groups.Count;)
        {
            var start = groups[g].StartMs;
            var from = runs.Count;
            for (; g < groups.Count && groups[g].StartMs == start; g++)
            {
                foreach (var metric in groups[g].Family.Metrics) runs.Add(new Run(groups[g], metric));
            }
            runs.Sort(from, runs.Count - from, RunOrder.Instance);
            for (var r = from + 1; r < runs.Count; r++)
            {
                // Two families with a metric of the same name: their samples interleave by labels (rare; sorted whole below).
                if (string.Equals(runs[r - 1].Metric.Name, runs[r].Metric.Name, StringComparison.Ordinal)) runs[from].SortStart = runs.Count - from;
            }
        }
        var made = new List<Sample>[runs.Count];
        ParallelWork.For(runs.Count, parallel, r => made[r] = runs[r].Samples());
        var total = 0;
        foreach (var m in made) total += m.Count;
        var samples = new List<Sample>(total);
        for (var r = 0; r < runs.Count; r++)
        {
            var at = samples.Count;
            samples.AddRange(made[r]);
            if (runs[r].SortStart > 0)
            {
                for (var q = r + 1; q < r + runs[r].SortStart; q++) samples.AddRange(made[q]);
                samples.Sort(at, samples.Count - at, SampleTimeOrder.Instance);
                r += runs[r].SortStart - 1;
            }
        }
        return samples;
    }

    /// <summary>One family's metric window over every shard.</summary>
    private sealed class Group(long startMs, MetricFamily family)
    {
        public long StartMs { get; } = startMs;

        public MetricFamily Family { get; } = family;

        /// <summary>Per shard document, in shard order: its series and newest event time.</summary>
        public List<(List<MergedSeries> Series, long Newest)> Parts { get; } = [];

        /// <summary>The series of all parts, by label values (ordinal); then the shard order.</summary>
        public Entry[] Series { get; private set; } = [];

        public void Sort()
        {
            var count = 0;
            foreach (var p in Parts) count += p.Series.Count;
            // Pooled: a flush sorts every family window it closes, and fresh memory is paid for in page faults.
            var met = ArrayPool<(MergedSeries Series, long Newest)>.Shared.Rent(count);
            var labels = ArrayPool<string[]>.Shared.Rent(count);
            var order = ArrayPool<int>.Shared.Rent(count);
            var at = 0;
            foreach (var (list, newest) in Parts)
            {
                foreach (var s in list)
                {
                    met[at] = (s, newest);
                    labels[at++] = s.Labels;
                }
            }
            LabelOrder.Sort(labels.AsSpan(0, count), order.AsSpan(0, count));
            var series = new Entry[count];
            for (var i = 0; i < count; i++)
            {
                var (s, newest) = met[order[i]];
                series[i] = new Entry(s, newest, ShardRollup.Labels(Family, s.Labels));
            }
            Series = series;
            ArrayPool<(MergedSeries, long)>.Shared.Return(met, clearArray: true);
            ArrayPool<string[]>.Shared.Return(labels, clearArray: true);
            ArrayPool<int>.Shared.Return(order);
        }
    }

    /// <summary>A series to write: merged values, its document's newest event time, its sample labels.</summary>
    private readonly record struct Entry(MergedSeries Merged, long Newest, Label[] Labels);

    /// <summary>One metric of a family's window: its samples, one per series that has a value.</summary>
    private sealed class Run(Group group, CompiledMetric metric)
    {
        public Group Group { get; } = group;

        public CompiledMetric Metric { get; } = metric;

        /// <summary>On the first run of a start whose metric names are not unique: the runs of that start, sorted together.</summary>
        public int SortStart { get; set; }

        public List<Sample> Samples()
        {
            var series = Group.Series;
            var samples = new List<Sample>(series.Length);
            foreach (var s in series)
            {
                if (MetricFamily.Evaluate(Metric, s.Merged.Values) is { } value)
                {
                    samples.Add(new Sample(Metric.Name, s.Labels, Group.StartMs, value) { NewestEventTimeMs = s.Newest });
                }
            }
            return samples;
        }
    }

    private sealed class RunOrder : IComparer<Run>
    {
        public static readonly RunOrder Instance = new();

        public int Compare(Run? x, Run? y) => string.CompareOrdinal(x!.Metric.Name, y!.Metric.Name);
    }
}
