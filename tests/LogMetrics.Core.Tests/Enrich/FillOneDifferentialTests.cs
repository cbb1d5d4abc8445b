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
            var lines = RandomLines(random, count);
            var expected = lines.Select(l => Make(compiled, l)).ToList();
            var actual = lines.Select(l => Make(compiled, l)).ToList();

            var batch = await reference.WarmAsync(expected, CancellationToken.None);
            for (var i = 0; i < count; i++) reference.Apply(batch, i, expected[i]);
            var fillBatch = await filled.WarmAsync(actual, CancellationToken.None);
            for (var i = 0; i < count; i++) filled.FillOne(fillBatch, i, actual[i]);
            filled.TallyFilled(fillBatch, count);
            filled.CountFilled(fillBatch, []);

            AssertSameValues(compiled, round, expected, actual);
            var counted = filled.Stats.ToDictionary(s => s.Name, s => (s.Stats.Hits, s.Stats.Misses, s.Stats.Errors));
            foreach (var (name, stats) in reference.Stats) Assert.Equal((stats.Hits, stats.Misses, stats.Errors), counted[name]);
        }
    }

    /// <summary>
    /// One enricher and one reused batch over many batches (as a pipeline runs them: its key memo keeps the caches'
    /// hints, its row memo the rows' output values), while the tables change between batches (rows replaced by new
    /// ones with other values, removed, added), the clock moves by 0, 6 or 11 minutes (past the reload interval, the
    /// ttl, or neither) and the lru table holds 2 rows (so batches evict each other's keys, which the loads count): every record's values after
    /// FillOne, and the counts, equal those of an enricher with the same history that takes a fresh batch each time
    /// (no hints, no memo) and applies record by record.
    /// </summary>
    [Fact]
    public async Task FillOne_BatchReused_TablesChanging_SetsAndCountsWhatApplyWithoutMemosDoes()
    {
        var compiled = Flagship.Pipeline;
        var random = new Random(4242);
        var tables = new Dictionary<string, List<Dictionary<string, string>>>
        {
            ["gateway_cluster"] = [], ["user_level"] = [], ["api_meta"] = [],
        };
        var dims = new Flagship.MemorySource(tables);
        var clock = new FakeTimeProvider();
        Enricher NewEnricher() => new(compiled, [.. compiled.Lookups.Select(l => l.Definition.Name == "user_level"
            ? new LruTableCache(LookupCacheFactory.TableOf(l.Definition), dims, clock, new LruTableCacheOptions { MaxRows = 2, Ttl = TimeSpan.FromMinutes(10) })
            : LookupCacheFactory.Create(l.Definition, dims, clock))]);
        var reference = NewEnricher();
        var filled = NewEnricher();
        var batch = new EnrichBatch();
        // Key strings are kept across batches (the same instances, as the parser's caches hand out).
        for (var round = 0; round < 200; round++)
        {
            // Each table's rows: each key present or not, with values drawn afresh (a new row instance each round it is replaced).
            Change(tables["gateway_cluster"], random, Ips[..3], ip => new() { ["local_ip"] = ip, ["app_group"] = Pick(random, ["g1", "g2", ""]), ["region_id"] = Pick(random, ["r1", "r2"]) });
            Change(tables["user_level"], random, Uids[..3], uid => new() { ["uid"] = uid, ["gc_level"] = Pick(random, ["gold", "silver", ""]) });
            Change(tables["api_meta"], random, ["p\u001fa", "q\u001fb", "p\u001fb"], key => new() { ["product"] = key[..1], ["api"] = key[^1..], ["priority"] = Pick(random, ["high", "low"]) });
            clock.Advance(TimeSpan.FromMinutes(Pick(random, [0, 0, 6, 11])));
            // Batches of one to three records now and then: a key or two, so the lru table evicts some of the keys of the batch before.
            var count = random.Next(2) == 0 ? random.Next(1, 4) : random.Next(1, 40);
            var lines = RandomLines(random, count);
            var expected = lines.Select(l => Make(compiled, l)).ToList();
            var actual = lines.Select(l => Make(compiled, l)).ToList();

            var referenceBatch = await reference.WarmAsync(expected, CancellationToken.None);
            for (var i = 0; i < count; i++) reference.Apply(referenceBatch, i, expected[i]);
            await filled.WarmAsync(actual, batch, CancellationToken.None);
            for (var i = 0; i < count; i++) filled.FillOne(batch, i, actual[i]);
            filled.TallyFilled(batch, count);
            filled.CountFilled(batch, []);

            AssertSameValues(compiled, round, expected, actual);
            var counted = filled.Stats.ToDictionary(s => s.Name, s => (s.Stats.Hits, s.Stats.Misses, s.Stats.Errors, s.Stats.Evictions, s.Stats.Loads));
            foreach (var (name, stats) in reference.Stats) Assert.Equal((stats.Hits, stats.Misses, stats.Errors, stats.Evictions, stats.Loads), counted[name]);
        }
    }

    /// <summary>
    /// One enricher and one reused batch over batches that meet thousands of lru keys, as a tenant's uid does: the
    /// batch's hint memo places more keys than its first table holds (4,096 entries) and grows, starting empty. Every
    /// record's values and the counts equal those of an enricher that takes a fresh batch each time (no hints) and
    /// applies record by record, and each record's level is its uid's row's (every third uid has none: the default).
    /// </summary>
    [Fact]
    public async Task FillOne_BatchReused_ThousandsOfKeys_SetsAndCountsWhatApplyWithoutMemosDoes()
    {
        var compiled = Flagship.Pipeline;
        var random = new Random(777);
        var uids = Enumerable.Range(0, 9000).Select(i => $"uid-{i}").ToArray();
        var levels = uids.Select((_, i) => i % 3 == 0 ? null : $"level-{i % 5}").ToArray();
        var dims = new UserLevels(uids.Select((uid, i) => (uid, i)).Where(u => levels[u.i] is not null)
            .ToDictionary(u => u.uid, u => (IReadOnlyDictionary<string, string>)new Dictionary<string, string> { ["uid"] = u.uid, ["gc_level"] = levels[u.i]! }));
        var reference = new Enricher(compiled, dims, TimeProvider.System);
        var filled = new Enricher(compiled, dims, TimeProvider.System);
        var batch = new EnrichBatch();
        Assert.True(compiled.Fields.TryGet("gc_level", out var levelSlot));
        for (var round = 0; round < 9; round++)
        {
            // The uid strings are the same instances batch after batch, as the parser's caches hand them out.
            var picked = Enumerable.Range(0, 1500).Select(_ => random.Next(uids.Length)).ToArray();
            var lines = picked.Select(u => new Dictionary<string, string> { ["CallerUid"] = uids[u], ["LocalIp"] = Pick(random, Ips) }).ToList();
            var expected = lines.Select(l => Make(compiled, l)).ToList();
            var actual = lines.Select(l => Make(compiled, l)).ToList();

            var referenceBatch = await reference.WarmAsync(expected, CancellationToken.None);
            for (var i = 0; i < expected.Count; i++) reference.Apply(referenceBatch, i, expected[i]);
            await filled.WarmAsync(actual, batch, CancellationToken.None);
            for (var i = 0; i < actual.Count; i++) filled.FillOne(batch, i, actual[i]);
            filled.TallyFilled(batch, actual.Count);
            filled.CountFilled(batch, []);

            AssertSameValues(compiled, round, expected, actual);
            for (var i = 0; i < actual.Count; i++) Assert.Equal(levels[picked[i]] ?? "unknown", actual[i].Values[levelSlot].Text);
            var counted = filled.Stats.ToDictionary(s => s.Name, s => (s.Stats.Hits, s.Stats.Misses, s.Stats.Errors, s.Stats.Evictions, s.Stats.Loads));
            foreach (var (name, stats) in reference.Stats) Assert.Equal((stats.Hits, stats.Misses, stats.Errors, stats.Evictions, stats.Loads), counted[name]);
        }
        // Each distinct uid met was loaded once by each enricher (50,000 rows fit): no hint lost ever made a load.
        var loads = filled.Stats.Single(s => s.Name == "user_level").Stats.Loads;
        Assert.Equal(reference.Stats.Single(s => s.Name == "user_level").Stats.Loads, loads);
        Assert.InRange(loads, 4097, 9000);
    }

    /// <summary>The user_level table by uid (the other tables empty), indexed once: thousands of keys fetched one by one.</summary>
    private sealed class UserLevels(Dictionary<string, IReadOnlyDictionary<string, string>> rows) : IDimensionSource
    {
        public Task<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>> LoadAllAsync(TableSpec table, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>>(table.Name == "user_level"
                ? rows.ToDictionary(r => new DimensionKey(r.Key), r => r.Value)
                : new Dictionary<DimensionKey, IReadOnlyDictionary<string, string>>());

        public Task<IReadOnlyDictionary<string, string>?> GetAsync(TableSpec table, DimensionKey key, CancellationToken cancellationToken) =>
            Task.FromResult(table.Name == "user_level" ? rows.GetValueOrDefault(key.Joined) : null);
    }

    /// <summary>Every record's values, field by field: the same kind and text.</summary>
    private static void AssertSameValues(LogMetrics.Core.Definition.CompiledPipeline compiled, int round, List<LogMetrics.Core.Parse.Record> expected, List<LogMetrics.Core.Parse.Record> actual)
    {
        for (var i = 0; i < expected.Count; i++)
        {
            for (var slot = 0; slot < compiled.Fields.Count; slot++)
            {
                var (e, a) = (expected[i].Values[slot], actual[i].Values[slot]);
                Assert.True(e.Kind == a.Kind && e.Text == a.Text, $"round {round}, record {i}, {compiled.Fields.Names[slot]}: {e.Kind} '{e.Text}' vs {a.Kind} '{a.Text}'");
            }
        }
    }

    private static T Pick<T>(Random random, T[] from) => from[random.Next(from.Length)];

    /// <summary><paramref name="count"/> records' lookup keys and fallbacks, drawn from the tests' small sets.</summary>
    private static List<Dictionary<string, string>> RandomLines(Random random, int count) => Enumerable.Range(0, count).Select(_ => new Dictionary<string, string>
    {
        ["LocalIp"] = Pick(random, Ips), ["CallerUid"] = Pick(random, Uids), ["Product"] = Pick(random, Products),
        ["Api"] = Pick(random, Apis), ["ext5_appGroup"] = Pick(random, Fallbacks), ["RegionId"] = Pick(random, Fallbacks),
    }).ToList();

    /// <summary>Each key's row kept (same instance), replaced by a new one, removed or added, at random.</summary>
    private static void Change(List<Dictionary<string, string>> rows, Random random, string[] keys, Func<string, Dictionary<string, string>> make)
    {
        var byKey = keys.ToDictionary(k => k, k => rows.FirstOrDefault(r => Key(r) == k));
        rows.Clear();
        foreach (var (key, row) in byKey)
        {
            switch (random.Next(4))
            {
                case 0: break; // absent
                case 1: if (row is not null) rows.Add(row); break; // kept as it is (or still absent)
                default: rows.Add(make(key)); break; // a new row
            }
        }

        static string Key(Dictionary<string, string> row) => row.TryGetValue("local_ip", out var ip) ? ip
            : row.TryGetValue("uid", out var uid) ? uid : $"{row["product"]}\u001f{row["api"]}";
    }


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
