using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace LogMetrics.Core.Enrich;

/// <summary>Settings of an <see cref="AllTableCache"/>.</summary>
public sealed record AllTableCacheOptions
{
    /// <summary>Age of the table after which the next <see cref="ILookupCache.WarmAsync"/> reloads it.</summary>
    public TimeSpan ReloadInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// When true (the default) a table that has never loaded makes <see cref="ILookupCache.WarmAsync"/> throw
    /// <see cref="LookupLoadException"/>: the pipeline cannot run without it. When false the failure is
    /// counted and every lookup answers "no row" (counted as an error) until a load succeeds.
    /// </summary>
    public bool ThrowOnInitialLoadFailure { get; init; } = true;

    /// <summary>Wait after a failed load before the next attempt; doubles per consecutive failure, capped at <see cref="ReloadInterval"/>.</summary>
    public TimeSpan RetryBackoff { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Cache policy <c>all</c>: the whole table in memory, loaded on the first <see cref="WarmAsync"/> and
/// reloaded once it is older than <see cref="AllTableCacheOptions.ReloadInterval"/>. A failed reload keeps
/// the last good table and is retried after a backoff, not on every batch.
/// </summary>
/// <remarks>
/// Lookups read an immutable snapshot through one volatile reference, so they need no lock and may run
/// while another batch reloads; a reload swaps the reference. Only one caller loads at a time: the first
/// load makes everyone wait for it, a reload lets other callers carry on with the current table.
/// </remarks>
[SuppressMessage("Reliability", "CA1001", Justification = "SemaphoreSlim holds nothing to dispose unless AvailableWaitHandle is used; it is not.")]
public sealed class AllTableCache : ILookupCache, ILookupPeek
{
    private readonly IDimensionSource _source;
    private readonly TimeProvider _time;
    private readonly AllTableCacheOptions _options;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile Snapshot? _snapshot;

    // Guarded by _gate.
    private DateTimeOffset _nextAttempt = DateTimeOffset.MinValue;
    private int _consecutiveFailures;
    private Exception? _lastFailure;

    public AllTableCache(TableSpec table, IDimensionSource source, TimeProvider timeProvider, AllTableCacheOptions? options = null)
    {
        _options = options ?? new AllTableCacheOptions();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_options.ReloadInterval, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.RetryBackoff, TimeSpan.Zero, nameof(options));
        Table = table;
        _source = source;
        _time = timeProvider;
    }

    /// <inheritdoc/>
    public TableSpec Table { get; }

    /// <inheritdoc/>
    public LookupStats Stats { get; } = new();

    /// <summary>When the table in use was loaded; null before the first successful load.</summary>
    public DateTimeOffset? LoadedAt => _snapshot?.LoadedAt;

    /// <summary>Rows in the table in use (0 before the first successful load).</summary>
    public int Count => _snapshot?.Rows.Count ?? 0;

    /// <inheritdoc/>
    /// <exception cref="LookupLoadException">The table has never loaded and <see cref="AllTableCacheOptions.ThrowOnInitialLoadFailure"/> is set.</exception>
    public async ValueTask WarmAsync(IReadOnlyCollection<DimensionKey> keys, CancellationToken cancellationToken)
    {
        var current = _snapshot;
        if (current is not null && !IsStale(current))
        {
            return;
        }

        if (current is null)
        {
            await _gate.WaitAsync(cancellationToken);
        }
        else if (!await _gate.WaitAsync(0, cancellationToken))
        {
            return; // another batch is reloading; keep using the current table
        }

        try
        {
            current = _snapshot;
            if (current is not null && !IsStale(current))
            {
                return; // reloaded while we waited
            }

            var now = _time.GetUtcNow();
            if (now < _nextAttempt)
            {
                if (current is null && _options.ThrowOnInitialLoadFailure)
                {
                    throw InitialLoadFailed(_lastFailure);
                }

                return; // backing off after a failure
            }

            await LoadAsync(current, now, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public bool TryGet(DimensionKey key, [MaybeNullWhen(false)] out IReadOnlyDictionary<string, string> row)
    {
        var outcome = ((ILookupPeek)this).Peek(key, out var found);
        row = found!;
        return Stats.Count(outcome);
    }

    /// <summary>What <see cref="TryGet"/> would answer, without counting it.</summary>
    LookupOutcome ILookupPeek.Peek(DimensionKey key, out IReadOnlyDictionary<string, string>? row)
    {
        var snapshot = _snapshot;
        if (snapshot is null)
        {
            row = null;
            return LookupOutcome.Error;
        }
        return snapshot.Rows.TryGetValue(key, out row) ? LookupOutcome.Hit : LookupOutcome.Miss;
    }

    private bool IsStale(Snapshot snapshot) => _time.GetUtcNow() - snapshot.LoadedAt >= _options.ReloadInterval;

    private async Task LoadAsync(Snapshot? current, DateTimeOffset now, CancellationToken cancellationToken)
    {
        try
        {
            var rows = await _source.LoadAllAsync(Table, cancellationToken);
            _snapshot = new Snapshot(rows.ToFrozenDictionary(), _time.GetUtcNow());
            _consecutiveFailures = 0;
            _lastFailure = null;
            _nextAttempt = DateTimeOffset.MinValue;
            Stats.Loaded();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            Stats.LoadFailed();
            _consecutiveFailures++;
            _lastFailure = ex;
            _nextAttempt = now + Backoff(_consecutiveFailures);
            if (current is not null)
            {
                Stats.ReloadFailed();
            }
            else if (_options.ThrowOnInitialLoadFailure)
            {
                throw InitialLoadFailed(ex);
            }
        }
    }

    private TimeSpan Backoff(int consecutiveFailures)
    {
        var cap = _options.ReloadInterval;
        var delay = _options.RetryBackoff;
        for (var i = 1; i < consecutiveFailures && delay < cap; i++)
        {
            delay += delay;
        }

        return delay < cap ? delay : cap;
    }

    private LookupLoadException InitialLoadFailed(Exception? cause) =>
        new(Table.Name,
            $"Dimension table '{Table.Name}' could not be loaded (cache policy 'all'); the pipeline cannot enrich without it" +
            (cause is null ? "." : $": {cause.Message}"),
            cause);

    private sealed record Snapshot(FrozenDictionary<DimensionKey, IReadOnlyDictionary<string, string>> Rows, DateTimeOffset LoadedAt);
}
