using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Tests.Flush;

/// <summary>
/// <see cref="WindowCloser"/> against the plain way: every document rolled up on its own (series merged by their
/// label text) and all samples sorted with <see cref="SampleTimeOrder"/>. Random documents, small ones (one
/// thread) and large ones (rolled up in parallel), label arrays shared between a document's parts (as a shard
/// exports them) or not (as storage reads them back).
/// </summary>
public class WindowCloserTests
{
    private static readonly CompiledPipeline Compiled = PipelineCompiler.Compile(DefinitionLoader.Load("""
        { "name": "closer",
          "source": { "timeField": "__time__", "timeUnit": "s", "windowSeconds": 10, "outOfOrdernessSeconds": 5,
                      "fields": [ { "name": "__time__", "type": "int", "required": true },
                                  { "name": "Product", "type": "string", "required": true },
                                  { "name": "Api", "type": "string", "required": true },
                                  { "name": "rt", "type": "int" } ] },
          "metrics": [
            { "prefix": "a_", "labels": { "product": "Product", "api": "Api" }, "resolutionSeconds": 10,
              "metrics": [ { "name": "req", "aggregate": "count" }, { "name": "rt_mean", "aggregate": "mean(rt)" }, { "name": "rt_max", "aggregate": "max(rt)" } ] },
            { "prefix": "b_", "labels": { "product": "Product" }, "resolutionSeconds": 60,
              "metrics": [ { "name": "req", "aggregate": "count" }, { "name": "rt_min", "aggregate": "min(rt)" }, { "name": "slow", "aggregate": "ratio(rt > 100)" } ] },
            { "prefix": "c_", "labels": { "api": "Api" }, "resolutionSeconds": 60,
              "metrics": [ { "name": "req", "aggregate": "count" }, { "name": "rt_sum", "aggregate": "sum(rt)" } ] } ] }
        """));

    private const long T0 = 1_768_483_980_000;

    /// <summary>
    /// Documents whose parts share each series' label array (as a shard exports them) or hold copies (as read back from
    /// storage), and whose cells carry the series ids the shard gave them (as exported in memory: matched by id) or not.
    /// </summary>
    [Theory]
    [InlineData(1, 20, true, false)]
    [InlineData(2, 20, false, false)]
    [InlineData(3, 3000, true, false)]
    [InlineData(4, 3000, false, false)]
    [InlineData(5, 1, true, false)]
    [InlineData(6, 20, true, true)]
    [InlineData(7, 3000, true, true)]
    [InlineData(8, 3000, false, true)]
    [InlineData(9, 1, false, true)]
    public void Close_EqualsEachDocumentRolledUpAndAllSamplesSorted(int seed, int seriesPerFamily, bool sharedArrays, bool ids)
    {
        var windows = RandomWindows(Compiled, new Random(seed), seriesPerFamily, sharedArrays, ids);

        var closed = WindowCloser.Close(windows, Compiled);

        Assert.Equal(Plain(windows, Compiled).Select(Text), closed.Select(Text));
    }

    [Fact]
    public void Close_TwoFamiliesWithAMetricOfTheSameName_SamplesStillInTimeOrder()
    {
        var compiled = SameNamePipeline();
        var windows = RandomWindows(compiled, new Random(6), 50, sharedArrays: true);

        var closed = WindowCloser.Close(windows, compiled);

        Assert.Contains(closed, s => s.Name == "b_req" && s.Labels[0].Name == "api");
        Assert.Equal(Plain(windows, compiled).Select(Text), closed.Select(Text));
    }

    /// <summary>The test pipeline with family c's metrics named as family b's (b_req twice).</summary>
    private static CompiledPipeline SameNamePipeline()
    {
        // The compiler rejects a metric name defined twice; a pipeline built by hand may not.
        var families = Compiled.Families.ToList();
        var c = families[2];
        families[2] = new MetricFamily
        {
            Index = c.Index, Prefix = c.Prefix, LabelNames = c.LabelNames, LabelSlots = c.LabelSlots, ResolutionMs = c.ResolutionMs,
            MaxSeries = c.MaxSeries, Where = c.Where, MergeOps = c.MergeOps,
            Metrics = [.. c.Metrics.Select(m => m with { Name = m.Name.Replace("c_", "b_", StringComparison.Ordinal) })],
        };
        return new CompiledPipeline
        {
            Definition = Compiled.Definition, Fields = Compiled.Fields, TypedFields = Compiled.TypedFields, Steps = Compiled.Steps,
            Lookups = Compiled.Lookups, Families = families, WindowMs = Compiled.WindowMs, OutOfOrdernessMs = Compiled.OutOfOrdernessMs,
            IdleLaneTimeout = Compiled.IdleLaneTimeout,
        };
    }

    [Fact]
    public void Close_NoWindows_NoSamples() => Assert.Empty(WindowCloser.Close([], Compiled));

    /// <summary>
    /// A close's scratch arrays are pooled: closes one after another (a large one, then smaller ones whose pooled arrays
    /// still hold the large one's series and values past what they use, then the large one again, on this thread and in
    /// parallel) each give what the plain way gives for their own windows.
    /// </summary>
    [Fact]
    public void Close_OneAfterAnother_EachAsThePlainWay()
    {
        var large = RandomWindows(Compiled, new Random(21), 3000, sharedArrays: true, ids: true);
        var small = RandomWindows(Compiled, new Random(22), 20, sharedArrays: false, ids: true);
        var byLabels = RandomWindows(Compiled, new Random(23), 40, sharedArrays: false);

        foreach (var (windows, parallel) in new[] { (large, true), (small, false), (byLabels, false), (small, true), (large, false), (large, true) })
        {
            Assert.Equal(Plain(windows, Compiled).Select(Text), WindowCloser.Close(windows, Compiled, parallel).Select(Text));
        }
    }

    /// <summary>
    /// A samples file formats closed windows from the batch itself (no sample made): the bytes an independent JSON writer
    /// gives for the samples <see cref="WindowCloser.Close"/> makes, batch after batch through one writer (its label texts
    /// kept per batch), for large and small batches, label values that must be escaped, and two families with a metric
    /// of the same name (samples that interleave).
    /// </summary>
    [Fact]
    public async Task ClosedBatch_WrittenByTheSamplesFile_SameBytesAsItsSamplesWritten()
    {
        string Escaped(Random random, int i) => random.Next(5) switch
        {
            0 => $"q\"{i}",
            1 => $"b\\{i}",
            2 => $"t\t{i}\u0001",
            3 => $"é{i}ü",
            _ => $"v{i}",
        };
        var interleaved = SameNamePipeline();
        var batches = new (CompiledPipeline Pipeline, List<WindowCloser.Window> Windows, bool Parallel)[]
        {
            (Compiled, RandomWindows(Compiled, new Random(31), 3000, sharedArrays: true, ids: true), true),
            (Compiled, RandomWindows(Compiled, new Random(32), 20, sharedArrays: false, ids: true), false),
            (Compiled, RandomWindows(Compiled, new Random(33), 200, sharedArrays: true, ids: true, value: Escaped), false),
            (interleaved, RandomWindows(interleaved, new Random(34), 50, sharedArrays: true), false),
            (Compiled, RandomWindows(Compiled, new Random(35), 40, sharedArrays: false), true),
            (Compiled, [], false),
            (Compiled, RandomWindows(Compiled, new Random(31), 3000, sharedArrays: true, ids: true), false),
        };
        var expected = new List<byte>();
        var stream = new MemoryStream();
        var writer = new JsonlSampleWriter(stream);
        var counted = 0;
        foreach (var (pipeline, windows, parallel) in batches)
        {
            var samples = WindowCloser.Close(windows, pipeline, parallel);
            expected.AddRange(JsonlSampleWriterTests.Reference(samples));
            using var batch = WindowCloser.Prepare(windows, pipeline, parallel);
            Assert.Equal(samples.Count, batch.Count);
            var result = await writer.WriteAsync(batch, CancellationToken.None);
            Assert.Equal(samples.Count, result.SamplesWritten);
            counted += samples.Count;
        }

        Assert.Contains(batches[2].Windows, w => w.Document.Parts.Any(p => p.Labels.Any(l => l.Any(v => v.Contains('"')))));
        Assert.Equal(System.Text.Encoding.UTF8.GetString([.. expected]), System.Text.Encoding.UTF8.GetString(stream.ToArray()));
        Assert.Equal(counted, writer.SamplesWritten);
    }

    private static string Text(Sample s) =>
        $"{s.Name}{{{string.Join(",", s.Labels.Select(l => $"{l.Name}={l.Value}"))}}}@{s.TimestampMs}={s.Value:R} newest {s.NewestEventTimeMs}";

    /// <summary>Each document rolled up alone (series merged by label text), all samples sorted.</summary>
    private static List<Sample> Plain(IReadOnlyList<WindowCloser.Window> windows, CompiledPipeline pipeline)
    {
        var samples = new List<Sample>();
        foreach (var w in windows)
        {
            var f = pipeline.Families[w.Family];
            var merged = new Dictionary<string, (string[] Labels, double[] Values)>();
            var order = new List<string>();
            long newest = 0;
            foreach (var part in w.Document.Parts)
            {
                var offset = 0;
                for (var i = 0; i < part.Families.Count; i++)
                {
                    var width = pipeline.Families[part.Families[i]].SlotCount;
                    if (part.Families[i] == w.Family)
                    {
                        var values = part.Values.Skip(offset).Take(width).ToArray();
                        var key = string.Join("\u0001", part.Labels[i]);
                        if (merged.TryGetValue(key, out var acc)) f.Merge(acc.Values, values);
                        else
                        {
                            merged[key] = (part.Labels[i], values);
                            order.Add(key);
                        }
                        newest = Math.Max(newest, part.Newest);
                    }
                    offset += width;
                }
            }
            foreach (var key in order)
            {
                var (labels, values) = merged[key];
                var sampleLabels = f.LabelNames.Select((n, i) => new Label(n, labels[i])).ToArray();
                foreach (var m in f.Metrics)
                {
                    if (MetricFamily.Evaluate(m, values) is { } v) samples.Add(new Sample(m.Name, sampleLabels, w.StartMs, v) { NewestEventTimeMs = newest });
                }
            }
        }
        samples.Sort(SampleTimeOrder.Instance);
        return samples;
    }

    /// <summary>
    /// Documents of 8 shards for two metric minutes: a series lives in one shard; a 60 s family's window has up
    /// to 6 base-window parts (a series in some of them), a 10 s family's one part. Values with empty min/max slots.
    /// </summary>
    /// <remarks>With <paramref name="ids"/>, each cell carries an id of its series, as a shard's export does: one per series of
    /// the shard (whatever its family), numbered in a random order.</remarks>
    private static List<WindowCloser.Window> RandomWindows(CompiledPipeline pipeline, Random random, int seriesPerFamily, bool sharedArrays, bool ids = false,
        Func<Random, int, string>? value = null)
    {
        string Value(int i) => value is not null ? value(random, i) : random.Next(4) == 0 ? $"v{i}" : $"V{i % 7}-{i}";
        var series = pipeline.Families.Select(f => Enumerable.Range(0, seriesPerFamily)
            .Select(i => f.LabelNames.Select(_ => Value(i)).ToArray()).DistinctBy(l => string.Join("\u0001", l)).ToList()).ToList();
        var windows = new List<WindowCloser.Window>();
        for (var minute = 0; minute < 2; minute++)
        {
            for (var shard = 0; shard < 8; shard++)
            {
                foreach (var f in pipeline.Families)
                {
                    var mine = series[f.Index].Where((_, i) => i % 8 == shard).ToList();
                    if (mine.Count == 0) continue;
                    var bases = f.ResolutionMs == 60_000 ? random.Next(1, 7) : 1;
                    var starts = f.ResolutionMs == 60_000 ? Enumerable.Range(0, bases).Select(b => b * 10_000L) : Enumerable.Range(random.Next(6), 1).Select(b => b * 10_000L);
                    foreach (var offset in starts)
                    {
                        var start = T0 + minute * 60_000 + (f.ResolutionMs == 60_000 ? 0 : offset);
                        var doc = new ClosedWindow();
                        // Series ids of this shard's series: distinct, any order, with gaps.
                        var id = Enumerable.Range(0, mine.Count).Select(i => i * 3 + f.Index * 100_000).OrderBy(_ => random.Next()).ToArray();
                        foreach (var b in f.ResolutionMs == 60_000 ? starts : [offset])
                        {
                            var part = new ClosedPart { Base = T0 + minute * 60_000 + b, Newest = T0 + minute * 60_000 + b + random.Next(10_000) };
                            var partIds = new List<int>();
                            for (var s = 0; s < mine.Count; s++)
                            {
                                var labels = mine[s];
                                if (bases > 1 && random.Next(3) == 0) continue;
                                partIds.Add(id[s]);
                                part.Families.Add(f.Index);
                                part.Labels.Add(sharedArrays ? labels : [.. labels]);
                                var values = f.NewValues();
                                values[0] = random.Next(1, 50);
                                for (var v = 1; v < values.Length; v++)
                                {
                                    if (f.MergeOps[v] == MergeOp.Sum) values[v] = random.Next(0, 2) == 0 ? 0 : random.NextDouble() * 1000;
                                    else if (random.Next(4) != 0) values[v] = random.Next(0, 5000);
                                }
                                part.Values.AddRange(values);
                            }
                            if (ids) part.SeriesIds = [.. partIds];
                            doc.Parts.Add(part);
                        }
                        windows.Add(new WindowCloser.Window(doc, f.Index, start));
                        if (f.ResolutionMs == 60_000) break;
                    }
                }
            }
        }
        return windows;
    }
}
