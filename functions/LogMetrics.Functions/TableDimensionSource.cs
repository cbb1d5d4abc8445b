using Azure.Data.Tables;
using LogMetrics.Core.Enrich;
using LogMetrics.Functions.Hosting;
using Microsoft.Extensions.Logging;

namespace LogMetrics.Functions;

/// <summary>
/// Dimension tables in Table Storage, laid out as <see cref="DimensionRowKey"/> describes (the scheme
/// infra/scripts/load-dimensions.sh writes). A row is every property but the system ones, as text,
/// plus the key columns decoded from the RowKey, like a CSV row.
/// </summary>
internal sealed class TableDimensionSource(TableServiceClient service, ILogger<TableDimensionSource> logger) : IDimensionSource
{
    public async Task<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>> LoadAllAsync(TableSpec table, CancellationToken cancellationToken)
    {
        var tableName = DimensionRowKey.TableNameOf(table.Name);
        var partition = DimensionRowKey.PartitionKeyOf(table.Name);
        var client = service.GetTableClient(tableName);
        // AZURE-API §5: CreateQueryFilter escapes the value; QueryAsync<T>(filter, maxPerPage, select, cancellationToken).
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition}");
        var rows = new Dictionary<DimensionKey, IReadOnlyDictionary<string, string>>();
        await foreach (var entity in client.QueryAsync<TableEntity>(filter, null, null, cancellationToken).ConfigureAwait(false))
        {
            // TableEntity is an IDictionary<string, object>: its properties, PartitionKey/RowKey included.
            if (DimensionEntity.ToRow(table, entity.RowKey, entity) is not { } row)
            {
                Log.DimensionRowSkipped(logger, tableName, entity.RowKey, DimensionRowKey.Decode(entity.RowKey).Length, table.KeyColumns.Count);
                continue;
            }
            rows[new DimensionKey([.. table.KeyColumns.Select(c => row[c])])] = row;
        }
        Log.DimensionsLoaded(logger, rows.Count, tableName, partition);
        return rows;
    }

    public async Task<IReadOnlyDictionary<string, string>?> GetAsync(TableSpec table, DimensionKey key, CancellationToken cancellationToken)
    {
        var client = service.GetTableClient(DimensionRowKey.TableNameOf(table.Name));
        // AZURE-API §5: GetEntityIfExistsAsync<T>(pk, rk, select, cancellationToken) → .HasValue / .Value.
        var response = await client.GetEntityIfExistsAsync<TableEntity>(
            DimensionRowKey.PartitionKeyOf(table.Name), DimensionRowKey.Encode(key.Parts), null, cancellationToken).ConfigureAwait(false);
        return response.HasValue && response.Value is { } entity ? DimensionEntity.ToRow(table, entity.RowKey, entity) : null;
    }
}
