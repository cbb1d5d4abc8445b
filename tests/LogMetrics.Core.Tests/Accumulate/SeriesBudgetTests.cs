using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Accumulate;

/// <summary>The cardinality budget: series beyond maxSeries in a window fold into one overflow series, and nothing is lost.</summary>
public class SeriesBudgetTests
{
    private static CompiledPipeline Pipeline(int maxSeries) => PipelineCompiler.Compile(DefinitionLoader.Load($$"""
        { "name": "t",
          "source": { "timeField": "__time__", "timeUnit": "s", "windowSeconds": 10, "outOfOrdernessSeconds": 5,
                      "fields": [ { "name": "__time__", "type": "int", "required": true }, { "name": "rt", "type": "int", "required": true } ] },
          "metrics": [
            { "prefix": "u_", "labels": { "uid": "uid" }, "resolutionSeconds": 60, "maxSeries": {{maxSeries}},
              "metrics": [ { "name": "req", "aggregate": "count" }, { "name": "rt_sum", "aggregate": "sum(rt)" } ] },
            { "prefix": "all_", "labels": { "k": "k" }, "resolutionSeconds": 10,
              "metrics": [ { "name": "req", "aggregate": "count" } ] } ] }
        """));

    private static string[] Lane(int uids, int perUid, long t0 = 1_768_484_000) =>
        [.. Enumerable.Range(0, uids * perUid).Select(i => $$"""{"__time__":{{t0 + i / 4}},"uid":"u{{i % uids}}","rt":{{i % 7}},"k":"x"}""")];

    [Fact]
    public async Task OverBudget_FoldedIntoOneOverflowSeries_SumsStillAddUp()
    {
        var compiled = Pipeline(maxSeries: 5);
        string[][] lanes = [Lane(uids: 40, perUid: 3)];

        var (samples, counters, _) = await Flagship.RunAsync(compiled, Flagship.EmptyDimensions(), lanes, batchLines: 16);

        var req = samples.Where(s => s.Name == "u_req").ToList();
        Assert.Equal(6, req.Select(s => s.Label("uid")).Distinct().Count()); // 5 admitted + the overflow series
        Assert.Contains(req, s => s.Label("uid") == SeriesBudget.Overflow);
        Assert.Equal(counters.Accepted, req.Sum(s => s.Value));                // sum of counts = accepted
        Assert.Equal(lanes[0].Length, counters.Accepted);
        Assert.Equal(0, counters.Late);
        var expectedRt = Enumerable.Range(0, 120).Sum(i => i % 7);
        Assert.Equal(expectedRt, samples.Where(s => s.Name == "u_rt_sum").Sum(s => s.Value));
        // The other family has its own budget and is untouched.
        Assert.DoesNotContain(samples, s => s.Name == "all_req" && s.Label("k") == SeriesBudget.Overflow);
    }

    [Fact]
    public async Task WithinBudget_NoOverflowSeries()
    {
        var (samples, _, _) = await Flagship.RunAsync(Pipeline(maxSeries: 40), Flagship.EmptyDimensions(), [Lane(uids: 40, perUid: 2)], batchLines: 16);

        Assert.DoesNotContain(samples, s => s.Labels.Any(l => l.Value == SeriesBudget.Overflow));
        Assert.Equal(40, samples.Where(s => s.Name == "u_req").Select(s => s.Label("uid")).Distinct().Count());
    }

    [Fact]
    public void Admit_HoldsAtMostTheBudgetPerWindow_WarnsOncePerFamily_ForgetsSealedWindows()
    {
        var compiled = Pipeline(maxSeries: 3);
        var warnings = new List<string>();
        var budget = new SeriesBudget(compiled) { OnFirstOverflow = (f, _) => warnings.Add(f.Prefix) };
        var family = compiled.Families[0];

        var admitted = Enumerable.Range(0, 100).Count(i => budget.Admit(family, 1_768_484_000_000, [$"u{i}"]));
        var again = budget.Admit(family, 1_768_484_000_000, ["u1"]);
        var nextWindow = budget.Admit(family, 1_768_484_060_000, ["u99"]);

        Assert.Equal(3, admitted);
        Assert.True(again);
        Assert.True(nextWindow);
        Assert.Equal(4, budget.Held);
        Assert.Equal(["u_"], warnings);
        Assert.Equal(97, budget.Folded["u_"]);
        budget.Forget(1_768_484_060_000);
        Assert.Equal(1, budget.Held);
    }

    [Fact]
    public void Admit_ScratchArrayOfASetAdmittedAlready_GetsTheHeldArray()
    {
        var compiled = Pipeline(maxSeries: 3);
        var budget = new SeriesBudget(compiled);
        var family = compiled.Families[0];
        var hash = SeriesHash.Of(family.Index, ["u1"]);

        // Two pipelines meet the same series with scratch arrays of their own.
        var first = budget.Admit(family, 1_768_484_000_000, ["u1"], hash, copy: true, out var keptFirst);
        var second = budget.Admit(family, 1_768_484_010_000, ["u1"], hash, copy: true, out var keptSecond);
        // A caller whose array is already its own gets none back.
        var own = budget.Admit(family, 1_768_484_020_000, ["u1"], hash, copy: false, out var keptOwn);

        Assert.True(first && second && own);
        Assert.NotNull(keptFirst);
        Assert.Same(keptFirst, keptSecond);
        Assert.Null(keptOwn);
        Assert.Equal(["u1"], keptFirst);
        Assert.Equal(1, budget.Held);
    }

    [Fact]
    public void Compile_MaxSeriesBelowOne_RejectedWithPath()
    {
        var e = Assert.Throws<DefinitionException>(() => Pipeline(maxSeries: 0));
        Assert.Contains(e.Errors, x => x.Path == "$.metrics[0].maxSeries");
    }
    [Fact]
    public void Accumulator_OverBudgetLabelSets_NotHeld()
    {
        var compiled = Pipeline(maxSeries: 5);
        var parser = compiled.CreateParser();
        var record = compiled.CreateRecord();
        var budget = new SeriesBudget(compiled);
        var accumulator = new BatchAccumulator(compiled);
        // One metric window: 1,000 distinct uids at the same second.
        foreach (var line in Enumerable.Range(0, 1_000).Select(i => $$"""{"__time__":1768484040,"uid":"u{{i}}","rt":1,"k":"x"}"""))
        {
            Assert.Null(parser.Parse(System.Text.Encoding.UTF8.GetBytes(line), record));
            accumulator.Add(record, budget);
        }
        // 5 admitted uids + the overflow series of u_, and the one series of all_: the 995 others are folded, not held.
        Assert.Equal(7, accumulator.InternedSeries);
        Assert.Equal(995, budget.Folded["u_"]);
    }
}
