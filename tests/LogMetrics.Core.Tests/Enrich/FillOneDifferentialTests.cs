using LogMetrics.Core.Enrich;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Enrich;

/// <summary><see cref="Enricher.FillOne"/> (the pipeline's path ahead of the late check) against <see cref="Enricher.Apply"/>, the reference.</summary>
public class FillOneDifferentialTests
{
    private static readonly string[] Ips = ["10.0.0.1", "10.0.0.2", "10.0.0.3", ""];
    private static readonly string[] Uids = ["u1", "u2", "u3", ""];
    private static readonly string[] Products = ["p", "q", ""];
    private static readonly string[] Apis = ["a", "b"];
    private static readonly string[] Fallbacks = ["fb", "f", ""];

    /// <summary>
    /// Random batches over the flagship's three lookups (hits, misses, empty keys, two-part keys, fallbacks set or
    /// empty): every record's values after FillOne equal those after Apply, field by field, and once counted
    /// (TallyFilled, CountFilled with no late records) the lookup stats equal Apply's.
    /// </summary>
    [Fact]
    public async Task FillOne_SetsWhatApplySets_AndCountsAlike()
    {
        var compiled = Flagship.Pipeline;
        var dims = new Flagship.MemorySource(new()
        {
            ["gateway_cluster"] = [new() { ["local_ip"] = "10.0.0.1", ["app_group"] = "g1", ["region_id"] = "r1" },
                                   new() { ["local_ip"] = "10.0.0.2", ["app_group"] = "", ["region_id"] = "r2" }],
            ["user_level"] = [new() { ["uid"] = "u1", ["gc_level"] = "gold" }],
            ["api_meta"] = [new() { ["product"] = "p", ["api"] = "a", ["priority"] = "high" }],
        });
        var random = new Random(12345);
        for (var round = 0; round < 50; round++)
        {
            var reference = new Enricher(compiled, dims, TimeProvider.System);
            var filled = new Enricher(compiled, dims, TimeProvider.System);
            Assert.True(filled.CanFill);
            var count = random.Next(1, 40);
            var lines = Enumerable.Range(0, count).Select(_ => new Dictionary<string, string>
            {
                ["LocalIp"] = Pick(random, Ips), ["CallerUid"] = Pick(random, Uids), ["Product"] = Pick(random, Products),
                ["Api"] = Pick(random, Apis), ["ext5_appGroup"] = Pick(random, Fallbacks), ["RegionId"] = Pick(random, Fallbacks),
            }).ToList();
            var expected = lines.Select(l => Make(compiled, l)).ToList();
            var actual = lines.Select(l => Make(compiled, l)).ToList();

            var batch = await reference.WarmAsync(expected, CancellationToken.None);
            for (var i = 0; i < count; i++) reference.Apply(batch, i, expected[i]);
            var fillBatch = await filled.WarmAsync(actual, CancellationToken.None);
            for (var i = 0; i < count; i++) filled.FillOne(fillBatch, i, actual[i]);
            filled.TallyFilled(fillBatch, count);
            filled.CountFilled(fillBatch, []);

            for (var i = 0; i < count; i++)
            {
                for (var slot = 0; slot < compiled.Fields.Count; slot++)
                {
                    var (e, a) = (expected[i].Values[slot], actual[i].Values[slot]);
                    Assert.True(e.Kind == a.Kind && e.Text == a.Text, $"round {round}, record {i}, {compiled.Fields.Names[slot]}: {e.Kind} '{e.Text}' vs {a.Kind} '{a.Text}'");
                }
            }
            var counted = filled.Stats.ToDictionary(s => s.Name, s => (s.Stats.Hits, s.Stats.Misses, s.Stats.Errors));
            foreach (var (name, stats) in reference.Stats) Assert.Equal((stats.Hits, stats.Misses, stats.Errors), counted[name]);
        }
    }

    private static string Pick(Random random, string[] from) => from[random.Next(from.Length)];

    private static LogMetrics.Core.Parse.Record Make(LogMetrics.Core.Definition.CompiledPipeline compiled, Dictionary<string, string> fields)
    {
        var record = compiled.CreateRecord();
        foreach (var (name, value) in fields)
        {
            Assert.True(compiled.Fields.TryGet(name, out var slot), name);
            if (value.Length > 0) record.Values[slot] = FieldValue.FromString(value);
        }
        return record;
    }
}
