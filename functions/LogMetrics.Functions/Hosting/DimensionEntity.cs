using System.Globalization;
using LogMetrics.Core.Enrich;

namespace LogMetrics.Functions.Hosting;

/// <summary>
/// A dimension row as a Table Storage entity and back (docs/AZURE.md "Dimension tables"; the layout
/// infra/scripts/load-dimensions.sh writes): PartitionKey = lookup name, RowKey = the encoded key
/// (<see cref="DimensionRowKey"/>), every other column a string property named by its CSV header.
/// Reading an entity gives the same row the CSV source gives: key columns included.
/// </summary>
public static class DimensionEntity
{
    private static readonly HashSet<string> SystemProperties = new(StringComparer.Ordinal) { "PartitionKey", "RowKey", "Timestamp", "odata.etag" };

    /// <summary>The entity of one CSV row of <paramref name="table"/> (the lookup's table name and key columns).</summary>
    public static (string PartitionKey, string RowKey, Dictionary<string, string> Properties) FromRow(TableSpec table, IReadOnlyDictionary<string, string> row)
    {
        var key = table.KeyColumns.Select(c => row.TryGetValue(c, out var v) ? v : throw new ArgumentException($"row has no key column '{c}'", nameof(row))).ToArray();
        var properties = row.Where(kv => !table.KeyColumns.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        return (DimensionRowKey.PartitionKeyOf(table.Name), DimensionRowKey.Encode(key), properties);
    }

    /// <summary>
    /// The row of an entity read back: its properties as text (system properties and OData annotations
    /// left out), plus the key columns decoded from the RowKey. Null when the RowKey does not have one
    /// part per key column (a row written under another key layout).
    /// </summary>
    public static Dictionary<string, string>? ToRow<TValue>(TableSpec table, string rowKey, IEnumerable<KeyValuePair<string, TValue>> properties)
    {
        var parts = DimensionRowKey.Decode(rowKey);
        if (parts.Length != table.KeyColumns.Count)
        {
            return null;
        }
        var row = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in properties)
        {
            if (SystemProperties.Contains(name) || name.Contains("@odata.", StringComparison.Ordinal)) continue;
            row[name] = Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
        }
        for (var i = 0; i < parts.Length; i++)
        {
            row[table.KeyColumns[i]] = parts[i];
        }
        return row;
    }
}
