using LogMetrics.Core.Definition;

namespace LogMetrics.Core.Enrich;

/// <summary>Behaviour of lookup caches that <c>pipeline.json</c> does not set: host choices and test hooks.</summary>
public sealed record LookupCacheSettings
{
    /// <summary>See <see cref="AllTableCacheOptions.ThrowOnInitialLoadFailure"/>.</summary>
    public bool ThrowOnInitialLoadFailure { get; init; } = true;

    /// <summary>See <see cref="AllTableCacheOptions.RetryBackoff"/>.</summary>
    public TimeSpan ReloadRetryBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>See <see cref="LruTableCacheOptions.RetryBaseDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>See <see cref="LruTableCacheOptions.RetryMaxDelay"/>.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>See <see cref="LruTableCacheOptions.MaxConcurrentFetches"/>.</summary>
    public int MaxConcurrentFetches { get; init; } = 8;

    /// <summary>See <see cref="LruTableCacheOptions.Delay"/>.</summary>
    public Func<TimeSpan, CancellationToken, Task>? Delay { get; init; }
}

/// <summary>Builds the cache a lookup's <c>cache.policy</c> asks for.</summary>
public static class LookupCacheFactory
{
    /// <summary>The table a lookup reads: named after the lookup, keyed by its key columns in order.</summary>
    public static TableSpec TableOf(LookupDefinition lookup) =>
        new(lookup.Name, lookup.Key.Select(k => k.Column).ToArray());

    /// <summary>An <see cref="AllTableCache"/> for policy <c>all</c>, an <see cref="LruTableCache"/> for <c>lru</c>.</summary>
    /// <exception cref="ArgumentException">Unknown policy or out-of-range cache settings; the message names the lookup.</exception>
    public static ILookupCache Create(
        LookupDefinition lookup, IDimensionSource source, TimeProvider timeProvider, LookupCacheSettings? settings = null)
    {
        settings ??= new LookupCacheSettings();
        var cache = lookup.Cache;
        var table = TableOf(lookup);
        if (table.KeyColumns.Count == 0)
        {
            throw new ArgumentException($"Lookup '{lookup.Name}' has no key column.", nameof(lookup));
        }

        switch (cache.Policy.ToLowerInvariant())
        {
            case "all":
                Require(cache.ReloadMinutes > 0, lookup, "reloadMinutes must be positive");
                return new AllTableCache(table, source, timeProvider, new AllTableCacheOptions
                {
                    ReloadInterval = TimeSpan.FromMinutes(cache.ReloadMinutes),
                    ThrowOnInitialLoadFailure = settings.ThrowOnInitialLoadFailure,
                    RetryBackoff = settings.ReloadRetryBackoff,
                });
            case "lru":
                Require(cache.MaxRows > 0, lookup, "maxRows must be positive");
                Require(cache.TtlMinutes > 0, lookup, "ttlMinutes must be positive");
                Require(cache.MaxRetries >= 0, lookup, "maxRetries must not be negative");
                return new LruTableCache(table, source, timeProvider, new LruTableCacheOptions
                {
                    MaxRows = cache.MaxRows,
                    Ttl = TimeSpan.FromMinutes(cache.TtlMinutes),
                    MaxRetries = cache.MaxRetries,
                    RetryBaseDelay = settings.RetryBaseDelay,
                    RetryMaxDelay = settings.RetryMaxDelay,
                    MaxConcurrentFetches = settings.MaxConcurrentFetches,
                    Delay = settings.Delay,
                });
            default:
                throw new ArgumentException(
                    $"Lookup '{lookup.Name}': cache policy '{cache.Policy}' is not 'all' or 'lru'.", nameof(lookup));
        }
    }

    private static void Require(bool condition, LookupDefinition lookup, string message)
    {
        if (!condition)
        {
            throw new ArgumentException($"Lookup '{lookup.Name}': cache {message}.", nameof(lookup));
        }
    }
}
