using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Hosting;

namespace LogMetrics.IntegrationTests.Enrich;

/// <summary>
/// The Table Storage layout of dimension tables against a real table service (Azurite): every CSV
/// row of every flagship lookup goes in through <see cref="DimensionEntity.FromRow"/> and comes
/// back through <see cref="DimensionEntity.ToRow{TValue}"/> (what the Functions app's
/// TableDimensionSource does with the SDK) equal to what the CSV source gives, including keys with
/// characters Table Storage forbids in a RowKey (/ \ # ?) and the separator itself.
/// </summary>
public sealed class DimensionTablesInAzuriteTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    private static readonly CompiledPipeline Flagship = PipelineCompiler.CompileFile(Path.Combine(AppContext.BaseDirectory, "pipeline.json"));

    private static string Dimensions => Path.Combine(AppContext.BaseDirectory, "TestData", "golden", "dimensions");

    [Fact]
    public async Task LoadAll_EveryLookupThroughAzurite_EqualsCsvSource()
    {
        var csv = new CsvDimensionSource(Dimensions);
        foreach (var lookup in Flagship.Lookups)
        {
            var spec = lookup.Table;
            var table = DimensionRowKey.TableNameOf(spec.Name);
            var expected = new Dictionary<DimensionKey, IReadOnlyDictionary<string, string>>(await csv.LoadAllAsync(spec, CancellationToken.None));
            if (spec.KeyColumns.Count == 2)
            {
                // A composite key with the doc's example and every character a RowKey may not hold.
                var tricky = new Dictionary<string, string> { [spec.KeyColumns[0]] = "acc", [spec.KeyColumns[1]] = "A|B/C=d é#?\\%'" , ["priority"] = "P9" };
                expected[new DimensionKey("acc", "A|B/C=d é#?\\%'")] = tricky;
            }
            await azurite.Tables.CreateTableAsync(table);
            foreach (var row in expected.Values)
            {
                var (pk, rk, properties) = DimensionEntity.FromRow(spec, row);
                await azurite.Tables.InsertAsync(table, pk, rk, properties);
            }

            var back = new Dictionary<DimensionKey, IReadOnlyDictionary<string, string>>();
            foreach (var (rowKey, properties) in await azurite.Tables.QueryPartitionAsync(table, DimensionRowKey.PartitionKeyOf(spec.Name)))
            {
                var row = DimensionEntity.ToRow(spec, rowKey, properties);
                Assert.NotNull(row);
                back[new DimensionKey([.. spec.KeyColumns.Select(c => row[c])])] = row;
            }

            Assert.True(expected.Count > 10, $"{spec.Name}: the golden dimensions should have rows");
            Assert.Equal(expected.Count, back.Count);
            foreach (var (key, row) in expected)
            {
                Assert.True(back.TryGetValue(key, out var got), $"{spec.Name}: row {key} did not come back");
                Assert.Equal(row.OrderBy(kv => kv.Key, StringComparer.Ordinal), got.OrderBy(kv => kv.Key, StringComparer.Ordinal));
            }
        }
    }

    [Fact]
    public async Task Get_PointReadByEncodedKey_FindsRowOrNothing()
    {
        var spec = Flagship.Lookups.Single(l => l.Definition.Name == "api_meta").Table;
        var table = DimensionRowKey.TableNameOf(spec.Name) + "point";
        await azurite.Tables.CreateTableAsync(table);
        var row = new Dictionary<string, string> { ["product"] = "oss", ["api"] = "Get/Object?v=1#x", ["priority"] = "P0" };
        var (pk, rk, properties) = DimensionEntity.FromRow(spec, row);
        await azurite.Tables.InsertAsync(table, pk, rk, properties);

        var hit = await azurite.Tables.GetAsync(table, pk, DimensionRowKey.Encode(["oss", "Get/Object?v=1#x"]));
        var miss = await azurite.Tables.GetAsync(table, pk, DimensionRowKey.Encode(["oss", "Put"]));

        Assert.NotNull(hit);
        Assert.Equal(row.OrderBy(kv => kv.Key, StringComparer.Ordinal), DimensionEntity.ToRow(spec, hit.Value.RowKey, hit.Value.Properties)!.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        Assert.Null(miss);
    }
}
