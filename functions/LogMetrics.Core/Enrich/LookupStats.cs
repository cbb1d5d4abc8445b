namespace LogMetrics.Core.Enrich;

/// <summary>
/// Thread-safe counters of one lookup cache. Every <see cref="ILookupCache.TryGet"/> counts exactly
/// one of <see cref="Hits"/>, <see cref="Misses"/> or <see cref="Errors"/>, so the three add up to
/// the number of lookups; the other counters describe calls to the dimension source.
/// </summary>
public sealed class LookupStats
{
    private long _hits;
    private long _misses;
    private long _errors;
    private long _loads;
    private long _loadFailures;
    private long _reloadFailures;
    private long _staleServed;
    private long _retries;
    private long _evictions;

    /// <summary>Lookups that found a row.</summary>
    public long Hits => Volatile.Read(ref _hits);

    /// <summary>Lookups of a key the table has no row for.</summary>
    public long Misses => Volatile.Read(ref _misses);

    /// <summary>Lookups that returned no row because the source failed (key fetch exhausted its retries, or the table was never loaded).</summary>
    public long Errors => Volatile.Read(ref _errors);

    /// <summary>Successful source reads: whole-table loads (<c>all</c>) or key fetches, including "no row" answers (<c>lru</c>).</summary>
    public long Loads => Volatile.Read(ref _loads);

    /// <summary>Source reads that failed for good (after retries, for <c>lru</c>), whether or not an older copy was kept.</summary>
    public long LoadFailures => Volatile.Read(ref _loadFailures);

    /// <summary><c>all</c>: failed reloads; the last good table stays in use.</summary>
    public long ReloadFailures => Volatile.Read(ref _reloadFailures);

    /// <summary><c>lru</c>: expired entries served because their re-fetch failed.</summary>
    public long StaleServed => Volatile.Read(ref _staleServed);

    /// <summary><c>lru</c>: key fetch attempts retried after a failure.</summary>
    public long Retries => Volatile.Read(ref _retries);

    /// <summary><c>lru</c>: entries evicted to stay within the row limit.</summary>
    public long Evictions => Volatile.Read(ref _evictions);

    internal void Hit() => Interlocked.Increment(ref _hits);

    internal void Miss() => Interlocked.Increment(ref _misses);

    internal void Error() => Interlocked.Increment(ref _errors);

    /// <summary>Counts one lookup by its outcome (as <see cref="Hit"/>, <see cref="Miss"/> or <see cref="Error"/>); true for a hit.</summary>
    internal bool Count(LookupOutcome outcome)
    {
        switch (outcome)
        {
            case LookupOutcome.Hit:
                Hit();
                return true;
            case LookupOutcome.Miss:
                Miss();
                return false;
            default:
                Error();
                return false;
        }
    }

    /// <summary>Counts several lookups at once (a batch's, as many <see cref="Hit"/>, <see cref="Miss"/> and <see cref="Error"/> calls would).</summary>
    internal void Add(long hits, long misses, long errors)
    {
        if (hits != 0) Interlocked.Add(ref _hits, hits);
        if (misses != 0) Interlocked.Add(ref _misses, misses);
        if (errors != 0) Interlocked.Add(ref _errors, errors);
    }

    internal void Loaded() => Interlocked.Increment(ref _loads);

    internal void LoadFailed() => Interlocked.Increment(ref _loadFailures);

    internal void ReloadFailed() => Interlocked.Increment(ref _reloadFailures);

    internal void ServedStale() => Interlocked.Increment(ref _staleServed);

    internal void Retried() => Interlocked.Increment(ref _retries);

    internal void Evicted() => Interlocked.Increment(ref _evictions);

    /// <inheritdoc/>
    public override string ToString() =>
        $"hits={Hits} misses={Misses} errors={Errors} loads={Loads} loadFailures={LoadFailures} " +
        $"reloadFailures={ReloadFailures} staleServed={StaleServed} retries={Retries} evictions={Evictions}";
}
