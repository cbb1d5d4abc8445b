using Azure.Data.Tables;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Functions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogMetrics.Functions.Tests.Hosting;

/// <summary>
/// <see cref="TableDimensionSource"/> (the app's Table Storage dimension source, Azure.Data.Tables)
/// against a real table service (Azurite): every CSV row of every flagship lookup goes in through
/// <see cref="DimensionEntity.FromRow"/> with the SDK, and the source loads back exactly what the CSV
/// source gives, including keys with characters Table Storage forbids in a RowKey (/ \ # ?) and the
/// separator itself; a point read (the lru policy) finds a row by its encoded key or nothing.
/// </summary>
public sealed class TableDimensionSourceTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    private static readonly CompiledPipeline Flagship = PipelineCompiler.CompileFile(Path.Combine(AppContext.BaseDirectory, "pipeline.json"));

    private static string Dimensions => Path.Combine(AppContext.BaseDirectory, "TestData", "golden", "dimensions");

    private TableServiceClient Service => new(azurite.ConnectionString);

    private TableDimensionSource Source => new(Service, NullLogger<TableDimensionSource>.Instance);

    private async Task InsertAsync(TableSpec spec, IEnumerable<IReadOnlyDictionary<string, string>> rows)
    {
        var table = Service.GetTableClient(DimensionRowKey.TableNameOf(spec.Name));
        await table.CreateIfNotExistsAsync();
        foreach (var row in rows)
        {
            var (pk, rk, properties) = DimensionEntity.FromRow(spec, row);
            var entity = new TableEntity(pk, rk);
            foreach (var (name, value) in properties) entity[name] = value;
            await table.UpsertEntityAsync(entity, TableUpdateMode.Replace);
        }
    }

    [Fact]
    public async Task LoadAll_EveryLookupThroughAzurite_EqualsCsvSource()
    {
        var csv = new CsvDimensionSource(Dimensions);
        foreach (var lookup in Flagship.Lookups)
        {
            var spec = lookup.Table;
            var expected = new Dictionary<DimensionKey, IReadOnlyDictionary<string, string>>(await csv.LoadAllAsync(spec, CancellationToken.None));
            if (spec.KeyColumns.Count == 2)
            {
                // A composite key with the doc's example and every character a RowKey may not hold.
                var tricky = new Dictionary<string, string> { [spec.KeyColumns[0]] = "acc", [spec.KeyColumns[1]] = "A|B/C=d é#?\\%'", ["priority"] = "P9" };
                expected[new DimensionKey("acc", "A|B/C=d é#?\\%'")] = tricky;
            }
            await InsertAsync(spec, expected.Values);

            var back = await Source.LoadAllAsync(spec, CancellationToken.None);

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
        var spec = new TableSpec("api_meta_point", ["product", "api"]);
        var row = new Dictionary<string, string> { ["product"] = "oss", ["api"] = "Get/Object?v=1#x", ["priority"] = "P0" };
        await InsertAsync(spec, [row]);

        var hit = await Source.GetAsync(spec, new DimensionKey("oss", "Get/Object?v=1#x"), CancellationToken.None);
        var miss = await Source.GetAsync(spec, new DimensionKey("oss", "Put"), CancellationToken.None);

        Assert.NotNull(hit);
        Assert.Equal(row.OrderBy(kv => kv.Key, StringComparer.Ordinal), hit.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        Assert.Null(miss);
    }

    [Fact]
    public async Task LoadAll_RowOfAnotherKeyLayout_IsSkippedNotMisread()
    {
        var spec = new TableSpec("api_meta_layout", ["product", "api"]);
        await InsertAsync(spec, [new Dictionary<string, string> { ["product"] = "oss", ["api"] = "Get", ["priority"] = "P1" }]);
        var table = Service.GetTableClient(DimensionRowKey.TableNameOf(spec.Name));
        // A one-part RowKey under a two-column lookup (written by another layout): skipped, the good row kept.
        await table.UpsertEntityAsync(new TableEntity(DimensionRowKey.PartitionKeyOf(spec.Name), "oss") { ["priority"] = "P7" });

        var rows = await Source.LoadAllAsync(spec, CancellationToken.None);

        Assert.Equal([new DimensionKey("oss", "Get")], rows.Keys);
    }
}
