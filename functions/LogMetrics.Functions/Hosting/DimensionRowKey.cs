using System.Text;

namespace LogMetrics.Functions.Hosting;

/// <summary>
/// The Table Storage layout of dimension tables (docs/AZURE.md "Dimension tables"), shared with
/// <c>infra/scripts/load-dimensions.sh</c>, which writes what the app reads:
/// table = lookup name without non-alphanumerics, PartitionKey = lookup name, RowKey = each key
/// value percent-encoded (RFC 3986 unreserved kept, i.e. <see cref="Uri.EscapeDataString"/>, which is
/// Python's <c>urllib.parse.quote(v, safe="")</c>) and joined with <c>|</c>.
/// </summary>
public static class DimensionRowKey
{
    /// <summary>Separator of the encoded key parts; never appears inside a part (it encodes as <c>%7C</c>).</summary>
    public const char Separator = '|';

    /// <summary>The RowKey of a (possibly composite) key, parts in the lookup's key order.</summary>
    public static string Encode(IReadOnlyList<string> parts)
    {
        ArgumentOutOfRangeException.ThrowIfZero(parts.Count);
        var sb = new StringBuilder();
        for (var i = 0; i < parts.Count; i++)
        {
            if (i > 0) sb.Append(Separator);
            sb.Append(Uri.EscapeDataString(parts[i]));
        }
        return sb.ToString();
    }

    /// <summary>The key parts of a RowKey written by <see cref="Encode"/> (or the loader script).</summary>
    public static string[] Decode(string rowKey) => [.. rowKey.Split(Separator).Select(Uri.UnescapeDataString)];

    /// <summary>The table holding a lookup's rows: its name with everything but ASCII letters and digits removed.</summary>
    public static string TableNameOf(string lookupName)
    {
        var name = new string([.. lookupName.Where(char.IsAsciiLetterOrDigit)]);
        if (name.Length == 0)
        {
            throw new ArgumentException($"Lookup name '{lookupName}' has no letters or digits to name a table.", nameof(lookupName));
        }
        return name;
    }

    /// <summary>The PartitionKey of a lookup's rows: the lookup name as written in pipeline.json.</summary>
    public static string PartitionKeyOf(string lookupName) => lookupName;
}
