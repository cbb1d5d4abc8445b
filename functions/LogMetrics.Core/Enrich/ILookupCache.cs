using System.Diagnostics.CodeAnalysis;

namespace LogMetrics.Core.Enrich;

/// <summary>
/// An in-memory view of one dimension table, used in two phases per batch: <see cref="WarmAsync"/>
/// once with the batch's distinct keys (may call the source), then <see cref="TryGet"/> per record
/// (synchronous, never calls the source, no allocation).
/// </summary>
public interface ILookupCache
{
    /// <summary>The table this cache serves.</summary>
    TableSpec Table { get; }

    /// <summary>Counters of this cache; thread-safe, monotonically increasing.</summary>
    LookupStats Stats { get; }

    /// <summary>
    /// Makes every key of <paramref name="keys"/> answerable by <see cref="TryGet"/>: loads or reloads
    /// the table, or fetches missing and expired keys. Source failures are absorbed and counted, except
    /// where the cache's options say otherwise (an <c>all</c> table that was never loaded).
    /// </summary>
    ValueTask WarmAsync(IReadOnlyCollection<DimensionKey> keys, CancellationToken cancellationToken);

    /// <summary>The row for <paramref name="key"/>; false when the table has no row for it or it could not be fetched.</summary>
    bool TryGet(DimensionKey key, [MaybeNullWhen(false)] out IReadOnlyDictionary<string, string> row);
}
