using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Tests.EndToEnd;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Replay;

/// <summary>
/// The pipelined replay gives the same bytes whatever the scheduling: 1 to 5 prepare workers, lanes read
/// at different speeds (reads of random sizes, some delayed, so chunks become ready in other orders), the
/// samples file written behind (a flush's windows then closed behind it, on the thread pool) or directly,
/// its writes paused at random, the shards and the flush on the thread pool or not. Compared: the samples file byte for byte (so the order of
/// the lines too), the dead letters in the order written, the summary's counts and the overflow of a
/// cardinality budget small enough to overflow. Three lanes with late events; one lane also across chunk
/// sizes (its late decisions depend on its own watermark only).
/// </summary>
public class ReplayDeterminismTests
{
    private static string Golden(string name) => Path.Combine(GoldenCorpusTests.GoldenDir, name);

    private const string Tenant = "\"prefix\": \"namespace_tenant_gw_\",";

    /// <summary>The tenant family's budget at 20 series a window, so the replay overflows it.</summary>
    private static readonly (string Old, string New) TenantBudget20 = (Tenant, Tenant + " \"maxSeries\": 20,");

    /// <summary>The flagship pipeline with <see cref="TenantBudget20"/>.</summary>
    private static readonly Lazy<CompiledPipeline> SmallBudget = new(() => FlagshipEdited(TenantBudget20));

    /// <summary>
    /// As <see cref="SmallBudget"/>, with the <c>lru</c> table (user_level) held to 8 rows: the batches' keys evict each
    /// other's, and with several workers a batch's warm meets other batches' warms as the scheduling has it.
    /// </summary>
    private static readonly Lazy<CompiledPipeline> SmallLru = new(() => FlagshipEdited(TenantBudget20, ("\"maxRows\": 50000", "\"maxRows\": 8")));

    /// <summary>The root pipeline.json with each text replaced (each must be there), compiled.</summary>
    private static CompiledPipeline FlagshipEdited(params (string Old, string New)[] edits)
    {
        var json = File.ReadAllText(Flagship.PipelinePath);
        foreach (var (old, replacement) in edits)
        {
            Assert.Contains(old, json, StringComparison.Ordinal);
            json = json.Replace(old, replacement, StringComparison.Ordinal);
        }
        return PipelineCompiler.Compile(DefinitionLoader.Load(json));
    }

    /// <summary>The chunk sizes one lane is replayed with (<see cref="OneLane_SameBytesWhateverTheScheduling_SameSamplesAcrossChunkSizes"/>).</summary>
    private static readonly int[] ChunkSizes = [1, 13, 256, 2048];

    /// <summary>Runs <paramref name="test"/> with a temporary directory of its own, deleted afterwards.</summary>
    private static async Task InTempDirectoryAsync(string prefix, Func<string, Task> test)
    {
        var dir = Directory.CreateTempSubdirectory(prefix).FullName;
        try
        {
            await test(dir);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>Golden lane 0 with every 40th record after the 100th moved 60 s back: late once the lane is past it.</summary>
    private static string LateLane(string dir)
    {
        var path = Path.Combine(dir, "late.jsonl");
        var lines = File.ReadAllLines(Golden("lane-0.jsonl"));
        for (var i = 100; i < lines.Length; i += 40)
        {
            lines[i] = Regex.Replace(lines[i], "\"__time__\":(\\d+)", m => "\"__time__\":" + (long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) - 60).ToString(CultureInfo.InvariantCulture));
        }
        File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>How one run is scheduled: prepare workers, and a seed for the lanes' read sizes and delays (0 = plain reads).</summary>
    public sealed record Schedule(int Workers, int ReadSeed, bool WriteBehind)
    {
        /// <summary>Lets a replay whose lanes are one chunk each, or that has one worker, run inline (the engine's default).</summary>
        public bool Inline { get; init; } = true;

        /// <summary>Whether the shards and the flush may use the thread pool (<see cref="InMemoryShardStore.Parallel"/>, <see cref="FlushCoordinator.Parallel"/>).</summary>
        public bool Parallel { get; init; } = true;

        /// <summary>Seed of random pauses of the samples file's writes (0: none), so a flush waits for the writer, or windows closed behind queue up.</summary>
        public int WriteSeed { get; init; }

        public override string ToString() => $"workers {Workers}, read seed {ReadSeed}, write-behind {WriteBehind}, parallel {Parallel}, write seed {WriteSeed}";
    }

    private static readonly Schedule[] Schedules =
    [
        // One worker: inline, on the calling thread (the others, and the last two, are the threaded stages).
        new(1, 0, false),
        new(2, 0, true),
        new(3, 11, true),
        new(5, 23, false),
        new(2, 37, true),
        new(2, 41, true) { Parallel = false, WriteSeed = 43 },
        new(3, 0, false) { WriteSeed = 47 },
        new(4, 53, true) { WriteSeed = 59 },
        new(1, 0, false) { Inline = false },
        new(1, 61, true) { Inline = false, WriteSeed = 67 },
    ];

    private sealed record Outcome(byte[] SamplesFile, IReadOnlyList<string> DeadLetters, string Counts, string Overflow)
    {
        public bool RanInline { get; init; }

        /// <summary>How often the engine called <see cref="ReplayEngine.RunningInline"/> (the write-behind stage then wrote through).</summary>
        public int InlineCalls { get; init; }

        /// <summary>The <c>lru</c> lookup's counts: hits, misses, errors (per record), and the cache's evictions.</summary>
        public long LruHits { get; init; }

        public long LruMisses { get; init; }

        public long LruErrors { get; init; }

        public long LruEvictions { get; init; }

        /// <summary>The summary's counts (partials and windows closed depend on how the lane is cut into batches).</summary>
        public string Totals => Counts[..Counts.IndexOf(", partials=", StringComparison.Ordinal)] + Counts[Counts.IndexOf(", samples=", StringComparison.Ordinal)..];
    }

    [Theory]
    [InlineData(7)]
    [InlineData(64)]
    public async Task ThreeLanes_SameBytesWhateverTheScheduling(int chunkLines)
    {
        await InTempDirectoryAsync("logmetrics-determinism-", async dir =>
        {
            string[] files = [Golden("lane-0.jsonl"), Golden("lane-1.jsonl.gz"), LateLane(dir)];
            var baseline = await RunAsync(files, chunkLines, Schedules[0]);
            Assert.True(baseline.RanInline);
            Assert.Contains("late=", baseline.Counts, StringComparison.Ordinal);
            Assert.DoesNotContain("late=0,", baseline.Counts, StringComparison.Ordinal);
            Assert.NotEqual("", baseline.Overflow);
            Assert.NotEmpty(baseline.DeadLetters);
            foreach (var schedule in Schedules.Skip(1))
            {
                var run = await RunAsync(files, chunkLines, schedule);
                Assert.False(run.RanInline, schedule.ToString());
                AssertSame(baseline, run, schedule.ToString());
            }
            // One worker inline with uneven, paused reads and the samples written behind (so written through).
            var uneven = await RunAsync(files, chunkLines, new Schedule(1, 71, true) { WriteSeed = 73 });
            Assert.True(uneven.RanInline);
            Assert.Equal(1, uneven.InlineCalls);
            AssertSame(baseline, uneven, "one worker inline, uneven reads, write-behind");
        });
    }

    /// <summary>
    /// An <c>lru</c> table much smaller than the keys of a batch (8 rows): concurrent batches' warms evict each other's
    /// keys between a batch's warm and its reading of the rows. A batch reads the entries its own warm left, so the
    /// samples, dead letters and counts (hits, misses, errors) are the same whatever the scheduling; only the cache's
    /// loads and evictions depend on it.
    /// </summary>
    [Fact]
    public async Task ThreeLanes_LruSmallerThanABatch_SameBytesWhateverTheScheduling()
    {
        await InTempDirectoryAsync("logmetrics-determinism-", async dir =>
        {
            string[] files = [Golden("lane-0.jsonl"), Golden("lane-1.jsonl.gz"), LateLane(dir)];
            var baseline = await RunAsync(files, 64, Schedules[0], SmallLru.Value);
            Assert.True(baseline.RanInline);
            Assert.True(baseline.LruEvictions > 100, $"{baseline.LruEvictions} evictions");
            Assert.Equal(0, baseline.LruErrors);
            foreach (var schedule in Schedules.Skip(1).Concat([new Schedule(2, 0, false), new Schedule(2, 83, false), new Schedule(3, 89, true)]))
            {
                var run = await RunAsync(files, 64, schedule, SmallLru.Value);
                AssertSame(baseline, run, schedule.ToString());
                Assert.Equal((baseline.LruHits, baseline.LruMisses, 0L), (run.LruHits, run.LruMisses, run.LruErrors));
            }
        });
    }

    /// <summary>
    /// The flagship pipeline as it runs (its parse-json of Ext5 left out, Ext5 only checked to decode: nothing reads
    /// ext5_appGroup) and with every step built: the same samples, dead letters and counts, on the golden lanes and on
    /// a lane whose Ext5 values are varied where the verdict could move (an escape that does not decode, inside and
    /// outside the inner document, a \u escape, invalid inner JSON, Ext5 as a number, twice, last in the line, raw
    /// control bytes, runs of backslashes).
    /// </summary>
    [Fact]
    public async Task ThreeLanes_StepsNothingReadsLeftOut_SameBytesAsEveryStep()
    {
        await InTempDirectoryAsync("logmetrics-unused-", async dir =>
        {
            var ext5 = new Regex("\"Ext5\":\"((?:[^\"\\\\]|\\\\.)*)\"");
            Func<string, string>[] variants =
            [
                l => l,
                l => ext5.Replace(l, m => "\"Ext5\":\"" + m.Groups[1].Value + "\\ud800\""),
                l => ext5.Replace(l, m => "\"Ext5\":\"" + m.Groups[1].Value.Replace("appGroup\\\":\\\"", "appGroup\\\":\\\"\\\\ud800", StringComparison.Ordinal) + "\""),
                l => ext5.Replace(l, m => "\"Ext5\":\"" + m.Groups[1].Value + "\\u00e9\""),
                l => ext5.Replace(l, _ => "\"Ext5\":\"{\\\"appGroup\\\":\""),
                l => ext5.Replace(l, _ => "\"Ext5\":12"),
                l => l[..^1] + ",\"Ext5\":\"\\udc00\"}",
                l => ext5.Replace(l, _ => "\"Ext6\":0") [..^1] + ",\"Ext5\":\"{\\\"appGroup\\\":\\\"end\\\\\\\"\\\"}\"}",
                l => ext5.Replace(l, m => "\"Ext5\":\"\\n\\\\\\\"" + m.Groups[1].Value + "\\\\\\\\\""),
                l => ext5.Replace(l, m => "\"Ext5\":\"" + m.Groups[1].Value + "\u0001\""),
            ];
            var golden = File.ReadAllLines(Golden("lane-0.jsonl"));
            var varied = Path.Combine(dir, "ext5.jsonl");
            File.WriteAllLines(varied, golden.Take(600).Select((l, i) => variants[i % variants.Length](l)));
            string[] files = [Golden("lane-0.jsonl"), Golden("lane-1.jsonl.gz"), varied];
            Assert.DoesNotContain(Flagship.Pipeline.Steps, s => s is LogMetrics.Core.Prune.ParseJsonStep);
            Assert.Contains(Flagship.AllSteps.Steps, s => s is LogMetrics.Core.Prune.ParseJsonStep);
            foreach (var schedule in new[] { Schedules[0], Schedules[3] })
            {
                var everyStep = await RunAsync(files, 64, schedule, Flagship.AllSteps);
                var running = await RunAsync(files, 64, schedule, Flagship.Pipeline);
                AssertSame(everyStep, running, schedule.ToString());
                // Three of the ten variants make a line malformed (Ext5 ending in a lone surrogate escape, a second Ext5
                // that is one, a raw control byte), about 60 lines each; an inner one only leaves Ext5 without fields.
                var variedDead = everyStep.DeadLetters.Count(d => d.Contains("ext5.jsonl", StringComparison.Ordinal));
                Assert.InRange(variedDead, 150, 200);
            }
        });
    }

    [Fact]
    public async Task OneLane_SameBytesWhateverTheScheduling_SameSamplesAcrossChunkSizes()
    {
        await InTempDirectoryAsync("logmetrics-determinism-", async dir =>
        {
            string[] files = [LateLane(dir)];
            var reference = await RunAsync(files, 2048, Schedules[0]);
            Assert.DoesNotContain("late=0,", reference.Counts, StringComparison.Ordinal);
            foreach (var chunkLines in ChunkSizes)
            {
                var baseline = await RunAsync(files, chunkLines, Schedules[0]);
                foreach (var schedule in new[] { Schedules[2], Schedules[3], Schedules[5], Schedules[8] })
                {
                    AssertSame(baseline, await RunAsync(files, chunkLines, schedule), $"chunk {chunkLines}, {schedule}");
                }
                // Another chunk size flushes at other moments, so the file's lines may come in another
                // order; the lines themselves, the summary's counts and the dead letters do not change.
                Assert.Equal(Lines(reference.SamplesFile), Lines(baseline.SamplesFile));
                Assert.Equal(reference.Totals, baseline.Totals);
                Assert.Equal(reference.Overflow, baseline.Overflow);
                Assert.Equal(reference.DeadLetters, baseline.DeadLetters);
            }
        });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task OneChunkLanes_RunInline_SameBytesAsTheThreadedStages(int lanes)
    {
        // A short replay (every lane within its first chunk) runs its stages on the calling thread; the
        // threaded stages on the same input must give the same samples file, dead letters, counts and overflow.
        await InTempDirectoryAsync("logmetrics-inline-", async dir =>
        {
            string[] all = [LateLane(dir), Golden("lane-0.jsonl"), Golden("lane-1.jsonl.gz")];
            var files = all[..lanes];
            var threaded = await RunAsync(files, 100_000, Schedules[1] with { Inline = false });
            Assert.False(threaded.RanInline);
            // One lane's late events are late against its own watermark (several lanes' first chunks see
            // no watermark of the others yet, so nothing is late there).
            if (lanes == 1) Assert.DoesNotContain("late=0,", threaded.Counts, StringComparison.Ordinal);
            Assert.NotEmpty(threaded.DeadLetters);
            Assert.NotEqual("", threaded.Overflow);
            Assert.Equal(0, threaded.InlineCalls);
            // Schedules[1] writes behind: inline, its samples are written through on the calling thread.
            Assert.True(Schedules[1].WriteBehind);
            var inline = await RunAsync(files, 100_000, Schedules[1]);
            Assert.True(inline.RanInline);
            Assert.Equal(1, inline.InlineCalls);
            AssertSame(threaded, inline, $"{lanes} lanes inline");
            // A chunk size that does not hold the lanes runs threaded; one lane's late decisions depend on
            // its own watermark only, so it gives the same lines and counts.
            var chunked = await RunAsync(files, 64, Schedules[1]);
            Assert.False(chunked.RanInline);
            Assert.Equal(0, chunked.InlineCalls);
            if (lanes == 1)
            {
                Assert.Equal(Lines(inline.SamplesFile), Lines(chunked.SamplesFile));
                Assert.Equal(inline.Totals, chunked.Totals);
                Assert.Equal(inline.DeadLetters, chunked.DeadLetters);
            }
        });
    }

    [Fact]
    public async Task LongFirstLaneThenShortLanes_SameBytesWhateverTheScheduling()
    {
        // Lane 0 is longer than a chunk; each later lane is two malformed lines and some of lane 0's records (one or two
        // chunks, the last one full or not), so the dead letters' order shows the order their chunks are completed in,
        // which must be lane order whether several workers claim and prepare the lanes' chunks side by side (4 workers),
        // one worker claims every chunk in turn (1 worker, threaded) or one thread runs every stage (1 worker, inline);
        // and their chunks must be the same whether a lane is read whole (no read seed) or in uneven reads (a lane read
        // whole was one chunk whatever the chunk size, and a lane whose reads ended with its last full chunk had one
        // more, empty, round: the overflow differed).
        await InTempDirectoryAsync("logmetrics-determinism-", async dir =>
        {
            var golden = File.ReadAllLines(Golden("lane-0.jsonl"));
            var files = new List<string> { LateLane(dir) };
            for (var lane = 1; lane <= 3; lane++)
            {
                var path = Path.Combine(dir, $"short-{lane}.jsonl");
                File.WriteAllLines(path, [$"not json {lane}", $"{{\"lane\": {lane}", .. golden.Skip(lane * 10).Take(lane * 4)]);
                files.Add(path);
            }
            var baseline = await RunAsync(files, 7, Schedules[0]);
            Assert.Equal(1, Schedules[0].Workers);
            Assert.True(baseline.DeadLetters.Count >= 6);
            foreach (var schedule in new[] { Schedules[7], Schedules[3], Schedules[2], Schedules[1], Schedules[8] })
            {
                AssertSame(baseline, await RunAsync(files, 7, schedule), schedule.ToString());
            }
        });
    }

    private static List<string> Lines(byte[] file) => [.. Encoding.UTF8.GetString(file).Split('\n').Order(StringComparer.Ordinal)];

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task CancelledMidRun_ThrowsCancellation_NotAFailure(int workers)
    {
        var compiled = SmallBudget.Value;
        var counters = new PipelineCounters();
        var enricher = new Enricher(compiled, new CsvDimensionSource(Golden("dimensions")), TimeProvider.System);
        var pipeline = new Pipeline(compiled, enricher, counters, NullDeadLetterSink.Instance, 4);
        var store = new InMemoryShardStore(compiled, 4);
        var coordinator = new FlushCoordinator(compiled, store, new CollectingSampleWriter(), counters, TimeProvider.System, new FlushOptions { ExpectedLanes = 2 });
        using var cancel = new CancellationTokenSource();
        // Lane 1 cancels the run from inside its 20th read, so the run is stopped mid-way whatever the timing.
        var reads = 0;
        var readers = new List<LaneReader>
        {
            new(Open(Golden("lane-0.jsonl"), 5), "lane-0"),
            new(new UnevenStream(Open(Golden("lane-1.jsonl.gz"), 0), new Random(3), () => { if (++reads == 20) cancel.Cancel(); }), "lane-1"),
        };
        try
        {
            var engine = new ReplayEngine(pipeline, store, coordinator, TimeProvider.System, 7, () => new Pipeline(compiled, enricher, counters, NullDeadLetterSink.Instance, 4), workers);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => engine.RunAsync(readers, null, cancel.Token));
        }
        finally
        {
            readers.ForEach(r => r.Dispose());
        }
        Assert.True(counters.Events < 1200, $"{counters.Events} events: the run was not stopped mid-way");
    }

    [Fact]
    public async Task LaneStreamFailsMidRun_ReadErrorStopsTheLane_OtherErrorStopsTheRun_WhateverTheWorkers()
    {
        // Lane 1's 20th read throws. An IOException is the lane's read error: the lane stops there (its error names
        // it), the other lane goes on to its end, and the counts are the same whether one thread runs every stage
        // (inline) or two or three workers claim the lanes' chunks. Any other exception stops the run with that very
        // error, not a cancellation or another stage's complaint. Either way no worker is left waiting for the lane's
        // read to end (each run's wait is bounded, so a hang fails instead of stalling the suite).
        string? expected = null;
        foreach (var workers in new[] { 1, 2, 3 })
        {
            var (counts, error, finished) = await RunFailing(workers, () => new IOException("the disk went away"));
            Assert.Contains("read error", error, StringComparison.Ordinal);
            Assert.Contains("the disk went away", error, StringComparison.Ordinal);
            // Both readers ended (lane 1 at its error: the run's account counts it as not read to its end).
            Assert.Equal([true, true], finished);
            expected ??= counts;
            Assert.Equal(expected, counts);

            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => RunFailing(workers, () => new InvalidOperationException("a bug in the stream")));
            Assert.Equal("a bug in the stream", e.Message);
        }
        Assert.Contains("events=", expected, StringComparison.Ordinal);
    }

    private static async Task<(string Counts, string? Error, bool[] Finished)> RunFailing(int workers, Func<Exception> failure)
    {
        var compiled = SmallBudget.Value;
        var counters = new PipelineCounters();
        var enricher = new Enricher(compiled, new CsvDimensionSource(Golden("dimensions")), TimeProvider.System);
        // One budget for every pipeline, as the console's replay has (each pipeline's own would admit its own series).
        var budget = new SeriesBudget(compiled);
        var pipeline = new Pipeline(compiled, enricher, counters, NullDeadLetterSink.Instance, 4, budget);
        var store = new InMemoryShardStore(compiled, 4);
        var coordinator = new FlushCoordinator(compiled, store, new CollectingSampleWriter(), counters, TimeProvider.System, new FlushOptions { ExpectedLanes = 2 });
        var reads = 0;
        var readers = new List<LaneReader>
        {
            new(Open(Golden("lane-0.jsonl"), 5), "lane-0"),
            new(new UnevenStream(Open(Golden("lane-1.jsonl.gz"), 0), new Random(3), () => { if (++reads == 20) throw failure(); }), "lane-1"),
        };
        try
        {
            var engine = new ReplayEngine(pipeline, store, coordinator, TimeProvider.System, 7, () => new Pipeline(compiled, enricher, counters, NullDeadLetterSink.Instance, 4, budget), workers);
            await engine.RunAsync(readers, null, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2));
            Assert.Equal(workers == 1, engine.RanInline);
            return ($"events={counters.Events}, accepted={counters.Accepted}, late={counters.Late}, samples={counters.Samples}", readers[1].Error, [.. readers.Select(r => r.Finished)]);
        }
        finally
        {
            readers.ForEach(r => r.Dispose());
        }
    }

    [Fact]
    public void Workers_BelowOne_Refused()
    {
        var compiled = Flagship.Pipeline;
        var counters = new PipelineCounters();
        var pipeline = new Pipeline(compiled, new Enricher(compiled, Flagship.EmptyDimensions(), TimeProvider.System), counters, NullDeadLetterSink.Instance, 4);
        var store = new InMemoryShardStore(compiled, 4);
        var coordinator = new FlushCoordinator(compiled, store, new CollectingSampleWriter(), counters, TimeProvider.System);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new ReplayEngine(pipeline, store, coordinator, TimeProvider.System, 64, () => pipeline, workers: 0));
        Assert.Equal("workers", e.ParamName);
    }

    private static void AssertSame(Outcome expected, Outcome actual, string because)
    {
        Assert.True(expected.SamplesFile.AsSpan().SequenceEqual(actual.SamplesFile),
            $"samples file differs ({because}): {expected.SamplesFile.Length} bytes against {actual.SamplesFile.Length}, first difference at byte {expected.SamplesFile.AsSpan().CommonPrefixLength(actual.SamplesFile)}");
        Assert.Equal(expected.Counts, actual.Counts);
        Assert.Equal(expected.Overflow, actual.Overflow);
        Assert.Equal(expected.DeadLetters, actual.DeadLetters);
    }

    private static async Task<Outcome> RunAsync(IReadOnlyList<string> files, int chunkLines, Schedule schedule, CompiledPipeline? pipelineOf = null)
    {
        var compiled = pipelineOf ?? SmallBudget.Value;
        var counters = new PipelineCounters();
        var dead = new Flagship.CollectingDeadLetters();
        var enricher = new Enricher(compiled, new CsvDimensionSource(Golden("dimensions")), TimeProvider.System);
        var budget = new SeriesBudget(compiled);
        var pipeline = new Pipeline(compiled, enricher, counters, dead, 4, budget);
        var store = new InMemoryShardStore(compiled, 4);
        using var file = new MemoryStream();
        ISampleWriter jsonl = new JsonlSampleWriter(file);
        if (schedule.WriteSeed != 0) jsonl = new PausingWriter(jsonl, new Random(schedule.WriteSeed));
        var behind = schedule.WriteBehind ? new WriteBehindSampleWriter(jsonl, capacity: 1) : null;
        var coordinator = new FlushCoordinator(compiled, store, (ISampleWriter?)behind ?? jsonl, counters, TimeProvider.System,
            new FlushOptions { ExpectedLanes = files.Count }) { Parallel = schedule.Parallel };
        store.Parallel = schedule.Parallel;
        var readers = files.Select((f, i) => new LaneReader(Open(f, schedule.ReadSeed == 0 ? 0 : schedule.ReadSeed + i), f)).ToList();
        ReplayEngine engine;
        var inlineCalls = 0;
        try
        {
            engine = new ReplayEngine(pipeline, store, coordinator, TimeProvider.System, chunkLines,
                () => new Pipeline(compiled, enricher, counters, dead, 4, budget), schedule.Workers)
            {
                InlineOneChunkInputs = schedule.Inline,
                InlineOneWorker = schedule.Inline,
                RunningInline = () =>
                {
                    inlineCalls++;
                    behind?.WriteThrough();
                },
            };
            await engine.RunAsync(readers, null, CancellationToken.None);
            if (behind is not null) await behind.CompleteAsync();
        }
        finally
        {
            readers.ForEach(r => r.Dispose());
        }
        Assert.All(readers, r => Assert.True(r.Finished));
        var counts = $"events={counters.Events}, accepted={counters.Accepted}, malformed={counters.Malformed}, filtered={counters.Filtered}, late={counters.Late}, " +
            $"partials={counters.PartialsSignalled}, windows={counters.WindowsClosed}, samples={counters.Samples}, shardLate={counters.ShardLateContributions}, " +
            $"duplicates={counters.DuplicateSignals}, overlaps={counters.OverlappingSignals}";
        var overflow = string.Join(",", budget.Folded.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}={f.Value}"));
        var lru = enricher.Stats.Single(s => s.Name == "user_level").Stats;
        return new Outcome(file.ToArray(), [.. dead.Letters.Select(l => $"{l.Lane}#{l.Sequence}: {l.Reason}")], counts, overflow)
        {
            RanInline = engine.RanInline,
            InlineCalls = inlineCalls,
            LruHits = lru.Hits,
            LruMisses = lru.Misses,
            LruErrors = lru.Errors,
            LruEvictions = lru.Evictions,
        };
    }

    /// <summary>A lane's bytes (gunzipped), read in pieces of random size with random short pauses when <paramref name="seed"/> is not 0.</summary>
    private static Stream Open(string path, int seed)
    {
        Stream stream = File.OpenRead(path);
        if (path.EndsWith(".gz", StringComparison.Ordinal)) stream = new GZipStream(stream, CompressionMode.Decompress);
        return seed == 0 ? stream : new UnevenStream(stream, new Random(seed));
    }

    /// <summary>Reads at most a random 1..64 KiB at a time, pausing up to 2 ms before one read in eight; calls <c>onRead</c> first.</summary>
    private sealed class UnevenStream(Stream inner, Random random, Action? onRead = null) : ForwardOnlyStream
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            onRead?.Invoke();
            if (random.Next(8) == 0) Thread.Sleep(random.Next(3));
            return inner.Read(buffer, offset, Math.Min(count, random.Next(1, 65) * 1024));
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
