namespace LogMetrics.Core.Enrich;

/// <summary>
/// A store of dimension tables (CSV files locally, Table Storage in Azure). A row is a map
/// of column name → value; a key is the values of the lookup's key columns, in declared order.
/// </summary>
public interface IDimensionSource
{
    /// <summary>Loads a whole table (cache policy <c>all</c>). Throws on failure; the cache keeps its last good copy.</summary>
    Task<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>> LoadAllAsync(
        TableSpec table, CancellationToken cancellationToken);

    /// <summary>Reads one row (cache policy <c>lru</c>); null when the key has no row. Throws on failure.</summary>
    Task<IReadOnlyDictionary<string, string>?> GetAsync(TableSpec table, DimensionKey key, CancellationToken cancellationToken);
}

/// <summary>What a lookup needs from a table: its name and the ordered key columns.</summary>
public sealed record TableSpec(string Name, IReadOnlyList<string> KeyColumns);

/// <summary>A composite key: the key column values in declared order.</summary>
public readonly record struct DimensionKey
{
    /// <summary>Joins the parts of a composite key in <see cref="Joined"/>.</summary>
    public const char Separator = '\u001f';

    private readonly string _joined;
    private readonly IReadOnlyList<string>? _parts;

    public DimensionKey(IReadOnlyList<string> parts)
    {
        _parts = parts;
        _joined = string.Join(Separator, parts);
    }

    public DimensionKey(params string[] parts) : this((IReadOnlyList<string>)parts) { }

    /// <summary>A one-column key (no array made: the hot path builds one per record).</summary>
    public DimensionKey(string single)
    {
        _joined = single;
    }

    public IReadOnlyList<string> Parts => _parts ?? [_joined];

    /// <summary>The parts joined by <see cref="Separator"/>: the key's identity.</summary>
    public string Joined => _joined ?? "";

    public bool Equals(DimensionKey other) => string.Equals(_joined, other._joined, StringComparison.Ordinal);

    public override int GetHashCode() => _joined is null ? 0 : StringComparer.Ordinal.GetHashCode(_joined);

    public override string ToString() => string.Join('|', Parts);
}
