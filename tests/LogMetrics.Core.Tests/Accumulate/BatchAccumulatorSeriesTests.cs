using FsCheck;
using FsCheck.Fluent;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Tests.Accumulate;

/// <summary>
/// The accumulator's series identity: a record's series is found by its label values' text, whatever string
/// instances carry them (its series memo compares instances, then falls back to the hashed table).
/// </summary>
public class BatchAccumulatorSeriesTests
{
    private static readonly CompiledPipeline Compiled = PipelineCompiler.Compile(DefinitionLoader.Load("""
        { "name": "t",
          "source": { "timeField": "__time__", "timeUnit": "s", "windowSeconds": 10, "outOfOrdernessSeconds": 5,
                      "fields": [ { "name": "__time__", "type": "int", "required": true }, { "name": "rt", "type": "int", "required": true } ] },
          "metrics": [
            { "prefix": "u_", "labels": { "uid": "uid", "k": "k" }, "resolutionSeconds": 10,
              "metrics": [ { "name": "req", "aggregate": "count" }, { "name": "rt_sum", "aggregate": "sum(rt)" } ] },
            { "prefix": "k_", "labels": { "k": "k" }, "resolutionSeconds": 10, "where": "k != 'skip'",
              "metrics": [ { "name": "req", "aggregate": "count" } ] } ] }
        """));

    private static readonly string[] Uids = ["u0", "u1", "u2", "u3", "u4", "u5", ""];
    private static readonly string[] Ks = ["a", "b", "skip", ""];

    /// <summary>Batches of records: uid, k, whether their texts are fresh instances, the second (0 to <paramref name="seconds"/>), rt.</summary>
    private static Gen<(int Uid, int K, int Fresh, int Second, int Rt)[][]> Batches(int seconds) =>
        (from u in Gen.Choose(0, Uids.Length - 1)
         from k in Gen.Choose(0, Ks.Length - 1)
         from fresh in Gen.Choose(0, 3)
         from second in Gen.Choose(0, seconds)
         from rt in Gen.Choose(0, 9)
         select (Uid: u, K: k, Fresh: fresh, Second: second, Rt: rt)).ListOf().Select(l => l.ToArray()).ArrayOf();

    /// <summary>
    /// A record of uid <paramref name="u"/>, k <paramref name="kk"/> and rt <paramref name="r"/> at <paramref name="second"/>
    /// (fresh &amp; 1: a new instance of the uid's text; fresh &amp; 2: of k's), with its window and the label texts expected.
    /// </summary>
    private static (LogMetrics.Core.Parse.Record Record, long Window, string Uid, string K) MakeRecord(
        LogMetrics.Core.Definition.CompiledPipeline compiled, int uid, int k, int rt, int u, int kk, int fresh, int second, int r)
    {
        var rec = compiled.CreateRecord();
        rec.Values[uid] = FieldValue.FromString((fresh & 1) != 0 ? new string(Uids[u].AsSpan()) : Uids[u]);
        rec.Values[k] = FieldValue.FromString((fresh & 2) != 0 ? new string(Ks[kk].AsSpan()) : Ks[kk]);
        rec.Values[rt] = FieldValue.FromInteger(r);
        rec.EventTimeMs = 1_768_484_000_000 + (second * 1000L);
        return (rec, compiled.WindowStart(rec.EventTimeMs), Uids[u].Length == 0 ? BatchAccumulator.Unknown : Uids[u], Ks[kk].Length == 0 ? BatchAccumulator.Unknown : Ks[kk]);
    }

    /// <summary>
    /// Property: batches of records whose label values are drawn from a few texts, each either the same instance as
    /// before or a fresh copy of it, fold into exactly the partials of a group-by on the texts: one partial per
    /// (family, label values, window) and batch, with the count and sum of its records; and a series keeps one label
    /// array across batches. With a table of a few series, which starts over within batches, the partials of a
    /// (family, label values, window) add up to the group-by's.
    /// </summary>
    [Theory]
    [InlineData(0, 1 << 18)]
    [InlineData(2, 1 << 18)]
    [InlineData(11, 1 << 18)]
    [InlineData(0, 3)]
    [InlineData(11, 5)]
    [InlineData(0, 1 << 18, 6)]
    [InlineData(0, 5, 4)]
    public void SeriesFoundByText_WhateverTheInstances(int memoBits, int maxSeries, int maxMemoBits = -1)
    {
        var batches = Batches(seconds: 30);
        Prop.ForAll(batches.ToArbitrary(), b => Check(b, memoBits, maxSeries, Math.Max(memoBits, maxMemoBits))).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    private static bool Check((int Uid, int K, int Fresh, int Second, int Rt)[][] batches, int memoBits, int maxSeries, int maxMemoBits)
    {
        // A memo of 1 or 4 sets per family: records of different series keep meeting in one set; one that grows from
        // 1 set, within a batch, between a record's Ask and its Prepare. A table of 3 or 5 series: it starts over
        // within batches (series found in Prepare are then looked up again in Add).
        var accumulator = new BatchAccumulator(Compiled, memoBits, maxMemoBits, maxSeries);
        var uid = Slot("uid");
        var k = Slot("k");
        var rt = Slot("rt");
        var labelArrays = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var batchIndex = 0;
        foreach (var batch in batches)
        {
            var records = new List<LogMetrics.Core.Parse.Record>();
            var expected = new Dictionary<string, (double Count, double Sum)>(StringComparer.Ordinal);
            foreach (var (u, kk, fresh, second, r) in batch)
            {
                var (rec, window, uidText, kText) = MakeRecord(Compiled, uid, k, rt, u, kk, fresh, second, r);
                records.Add(rec);
                Fold(expected, $"0|{kText}|{uidText}|{window}", r);
                if (Ks[kk] != "skip") Fold(expected, $"1|{kText}|{window}", 0);
            }
            PrepareAhead(accumulator, records, ahead: batchIndex++ % 4);
            for (var i = 0; i < records.Count; i++) accumulator.Add(i, records[i]);
            var actual = new Dictionary<string, (double Count, double Sum)>(StringComparer.Ordinal);
            foreach (var partial in accumulator.Drain(3).SelectMany(p => p))
            {
                var labels = string.Join('|', partial.Labels);
                // The series hash is that of the label values, however the series was found.
                if (partial.SeriesHash != SeriesHash.Of(partial.Family, partial.Labels)) return false;
                var key = $"{partial.Family}|{labels}|{partial.WindowStartMs}";
                // One partial per series and window in a batch, and one label array per series batch after batch,
                // unless the table started over (a series met again then gets a second partial, which adds up).
                var startsOver = maxSeries < 1 << 18;
                if (actual.TryGetValue(key, out var before) && !startsOver) return false;
                actual[key] = (before.Count + partial.Values[0], before.Sum + (partial.Family == 0 ? partial.Values[1] : 0));
                var series = $"{partial.Family}|{labels}";
                if (!startsOver && labelArrays.TryGetValue(series, out var held) && !ReferenceEquals(held, partial.Labels)) return false;
                labelArrays[series] = partial.Labels;
            }
            if (actual.Count != expected.Count || actual.Any(a => !expected.TryGetValue(a.Key, out var e) || e != a.Value)) return false;
        }
        return true;
    }

    private static CompiledPipeline Budgeted(int uidBudget, int kBudget) => PipelineCompiler.Compile(DefinitionLoader.Load($$"""
        { "name": "t",
          "source": { "timeField": "__time__", "timeUnit": "s", "windowSeconds": 10, "outOfOrdernessSeconds": 5,
                      "fields": [ { "name": "__time__", "type": "int", "required": true }, { "name": "rt", "type": "int", "required": true } ] },
          "metrics": [
            { "prefix": "u_", "labels": { "uid": "uid", "k": "k" }, "resolutionSeconds": 20, "maxSeries": {{uidBudget}},
              "metrics": [ { "name": "req", "aggregate": "count" }, { "name": "rt_sum", "aggregate": "sum(rt)" } ] },
            { "prefix": "k_", "labels": { "k": "k" }, "resolutionSeconds": 10, "where": "k != 'skip'", "maxSeries": {{kBudget}},
              "metrics": [ { "name": "req", "aggregate": "count" } ] } ] }
        """));

    /// <summary>
    /// Property: with a cardinality budget (shared by two accumulators that take batches in turn, as the replay's
    /// pipelines share one), batches fold into the partials of a reference: records taken in order, a label set
    /// admitted in its family's metric window while the window has fewer than maxSeries sets, otherwise counted
    /// under the overflow series; then a group-by on (family, label values, base window). Label values come as the
    /// same instances or fresh copies, records fall in several metric windows, memos are tiny and tables start over,
    /// and windows are forgotten between batches (a label set then asks again in a window made anew).
    /// </summary>
    [Theory]
    [InlineData(0, 1 << 18, 2, 1)]
    [InlineData(11, 1 << 18, 3, 2)]
    [InlineData(2, 4, 4, 1)]
    [InlineData(11, 1 << 18, 100, 100)]
    [InlineData(2, 1 << 18, 12, 3)]
    [InlineData(0, 3, 1, 3)]
    public void WithABudget_PartialsAreThoseOfAReferenceBudget(int memoBits, int maxSeries, int uidBudget, int kBudget)
    {
        var compiled = Budgeted(uidBudget, kBudget);
        var batches = Batches(seconds: 70);
        Prop.ForAll(batches.ToArbitrary(), b => CheckBudgeted(compiled, b, memoBits, maxSeries)).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    private static bool CheckBudgeted(CompiledPipeline compiled, (int Uid, int K, int Fresh, int Second, int Rt)[][] batches, int memoBits, int maxSeries)
    {
        var budget = new SeriesBudget(compiled);
        BatchAccumulator[] accumulators = [new(compiled, memoBits, memoBits, maxSeries), new(compiled, memoBits, memoBits, maxSeries)];
        int Slot(string name) => compiled.Fields.TryGet(name, out var slot) ? slot : throw new InvalidOperationException(name);
        var uid = Slot("uid");
        var k = Slot("k");
        var rt = Slot("rt");
        // The reference budget: per (family, metric window), the label sets admitted, in the order met.
        var admitted = new Dictionary<(int, long), HashSet<string>>();
        string Admitted(int family, long eventTimeMs, string labels, int width)
        {
            var f = compiled.Families[family];
            var window = CompiledPipeline.FloorTo(eventTimeMs, f.ResolutionMs);
            if (!admitted.TryGetValue((family, window), out var sets)) admitted[(family, window)] = sets = new HashSet<string>(StringComparer.Ordinal);
            if (sets.Contains(labels)) return labels;
            if (sets.Count < f.MaxSeries)
            {
                sets.Add(labels);
                return labels;
            }
            return string.Join('|', Enumerable.Repeat(SeriesBudget.Overflow, width));
        }
        for (var b = 0; b < batches.Length; b++)
        {
            var accumulator = accumulators[b % 2];
            var records = new List<LogMetrics.Core.Parse.Record>();
            var expected = new Dictionary<string, (double Count, double Sum)>(StringComparer.Ordinal);
            foreach (var (u, kk, fresh, second, r) in batches[b])
            {
                var (rec, window, uidText, kText) = MakeRecord(compiled, uid, k, rt, u, kk, fresh, second, r);
                records.Add(rec);
                Fold(expected, $"0|{Admitted(0, rec.EventTimeMs, $"{kText}|{uidText}", 2)}|{window}", r);
                if (Ks[kk] != "skip") Fold(expected, $"1|{Admitted(1, rec.EventTimeMs, kText, 1)}|{window}", 0);
            }
            PrepareAhead(accumulator, records, ahead: b % 3);
            for (var i = 0; i < records.Count; i++) accumulator.Add(i, records[i], budget);
            var actual = new Dictionary<string, (double Count, double Sum)>(StringComparer.Ordinal);
            foreach (var partial in accumulator.Drain(3).SelectMany(p => p))
            {
                if (partial.SeriesHash != SeriesHash.Of(partial.Family, partial.Labels)) return false;
                var key = $"{partial.Family}|{string.Join('|', partial.Labels)}|{partial.WindowStartMs}";
                var before = actual.GetValueOrDefault(key);
                actual[key] = (before.Count + partial.Values[0], before.Sum + (partial.Family == 0 ? partial.Values[1] : 0));
            }
            if (actual.Count != expected.Count || actual.Any(a => !expected.TryGetValue(a.Key, out var e) || e != a.Value)) return false;
            // Windows forgotten between batches (as a host does once they are sealed): both budgets start them over.
            var through = 1_768_484_000_000 + ((b * 13 % 90) * 1000L);
            budget.Forget(through);
            foreach (var key in admitted.Keys.Where(w => w.Item2 + compiled.Families[w.Item1].ResolutionMs <= through).ToList()) admitted.Remove(key);
        }
        return true;
    }

    /// <summary>Prepares a batch as the pipeline does: each record's memo entries asked for (Ask) <paramref name="ahead"/> records before it is prepared (0: Prepare alone).</summary>
    private static void PrepareAhead(BatchAccumulator accumulator, List<LogMetrics.Core.Parse.Record> records, int ahead)
    {
        if (ahead == 0)
        {
            accumulator.Prepare(records);
            return;
        }
        accumulator.Reserve(records.Count);
        for (var r = 0; r < records.Count + ahead; r++)
        {
            if (r < records.Count) accumulator.Ask(r, records[r]);
            if (r >= ahead) accumulator.Prepare(r - ahead, records[r - ahead]);
        }
    }

    private static void Fold(Dictionary<string, (double Count, double Sum)> sums, string key, int rt)
    {
        var (count, sum) = sums.GetValueOrDefault(key);
        sums[key] = (count + 1, sum + rt);
    }

    private static int Slot(string name) => Compiled.Fields.TryGet(name, out var slot) ? slot : throw new InvalidOperationException(name);
}
