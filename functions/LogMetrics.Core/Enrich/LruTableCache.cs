using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using LogMetrics.Core.Write;
using Polly;
using Polly.Retry;

namespace LogMetrics.Core.Enrich;

/// <summary>Settings of an <see cref="LruTableCache"/>.</summary>
public sealed record LruTableCacheOptions
{
    /// <summary>Most entries held (rows and "no row" answers alike); the least recently used go first.</summary>
    public int MaxRows { get; init; } = 50_000;

    /// <summary>How long a fetched entry is used before <see cref="ILookupCache.WarmAsync"/> fetches it again.</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Retries of a failed key fetch (0 = one attempt only).</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>Wait before the first retry; doubles per retry.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest wait between two attempts.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Keys of one batch fetched at the same time.</summary>
    public int MaxConcurrentFetches { get; init; } = 8;

    /// <summary>How to wait between attempts; null means <see cref="Task.Delay(TimeSpan, TimeProvider, CancellationToken)"/> on the cache's clock. Tests pass a recorder.</summary>
    public Func<TimeSpan, CancellationToken, Task>? Delay { get; init; }
}

/// <summary>
/// Cache policy <c>lru</c>: rows fetched key by key, at most <see cref="LruTableCacheOptions.MaxRows"/>
/// of them, each used for <see cref="LruTableCacheOptions.Ttl"/>. "No row" answers are cached too.
/// </summary>
/// <remarks>
/// <para><see cref="WarmAsync"/> fetches the batch's missing and expired keys concurrently, retrying each
/// with exponential backoff. A key whose retries run out is counted in <see cref="LookupStats.LoadFailures"/>;
/// if an expired entry is still held it is served (counted in <see cref="LookupStats.StaleServed"/>) and
/// fetched again on the next warm, otherwise lookups of the key return false and count as errors until a
/// later warm fetches it.</para>
/// <para><see cref="TryGet"/> never checks expiry: a batch sees the entries its warm left, even if one expires
/// while the batch runs. Read with the hints of its warm (<see cref="ILookupHinted"/>, the enricher's way), a batch also
/// sees the entries its warm left that a concurrent batch's warm has evicted or replaced since: its answers do not depend
/// on the scheduling. Entries are published in a <see cref="ConcurrentDictionary{TKey,TValue}"/> read
/// without a lock; recency is tracked per warm (the batch's keys are its uses), under a lock, so the hot
/// path does not write. A warm never evicts the keys of its own batch, even past the row limit; concurrent
/// batches whose distinct keys together exceed the limit may evict each other's: read by key alone (<see cref="TryGet"/>),
/// such a key then counts as an error, read with the warm's hints it does not.</para>
/// </remarks>
public sealed class LruTableCache : ILookupCache, ILookupHinted
{
    private readonly IDimensionSource _source;
    private readonly TimeProvider _time;
    private readonly LruTableCacheOptions _options;
    // Built on the first fetch that goes through it: a source that answers every key synchronously (the
    // console's CSV files) never needs it, and building it (Polly validates its options by reflection) is a
    // measurable share of a short replay's start. Two racing builds make equal pipelines; one is kept.
    private ResiliencePipeline<IReadOnlyDictionary<string, string>?>? _fetch;
    private readonly ConcurrentDictionary<DimensionKey, Entry> _entries = new();
    private readonly Lock _lock = new();

    // Recency: each key's last use is a stamp from _uses (Touch writes it, nothing else), and _oldest holds every key
    // held once, by the stamp it had when it was put there (its last use or an earlier one). Eviction takes the smallest:
    // a key whose stamp has moved on since goes back in with its stamp now; one whose has not is the least recently
    // used (every other key's stamp is at least its own in the queue, which is at least this one's). So a use costs one
    // write to its key's own recency, not a relinking of its neighbours in a shared list, and the queue is only touched
    // when a key is new or one is evicted. Guarded by _lock, as are Entry.Recency and every write to _entries.
    private readonly PriorityQueue<Recency, long> _oldest = new();
    private long _uses;

    public LruTableCache(TableSpec table, IDimensionSource source, TimeProvider timeProvider, LruTableCacheOptions? options = null)
    {
        _options = options ?? new LruTableCacheOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxRows, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_options.Ttl, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(_options.MaxRetries, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxConcurrentFetches, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.RetryBaseDelay, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.RetryMaxDelay, TimeSpan.Zero, nameof(options));
        Table = table;
        _source = source;
        _time = timeProvider;
    }

    private ResiliencePipeline<IReadOnlyDictionary<string, string>?> FetchPipeline
    {
        get
        {
            if (Volatile.Read(ref _fetch) is { } built) return built;
            Interlocked.CompareExchange(ref _fetch, BuildFetchPipeline(_time), null);
            return _fetch!;
        }
    }

    private enum EntryKind : byte
    {
        /// <summary>The source returned a row.</summary>
        Row,
        /// <summary>The source said the key has no row.</summary>
        NoRow,
        /// <summary>The fetch failed and nothing older was held; expires at once so the next warm retries.</summary>
        Unavailable,
    }

    /// <inheritdoc/>
    public TableSpec Table { get; }

    /// <inheritdoc/>
    public LookupStats Stats { get; } = new();

    /// <summary>Entries held now.</summary>
    public int Count => _entries.Count;

    /// <summary>Wait before retry number <paramref name="retry"/> (0-based): base × 2^retry, capped.</summary>
    public static TimeSpan RetryDelay(int retry, LruTableCacheOptions options)
    {
        var delay = options.RetryBaseDelay;
        for (var i = 0; i < retry && delay < options.RetryMaxDelay; i++)
        {
            delay += delay;
        }

        return delay < options.RetryMaxDelay ? delay : options.RetryMaxDelay;
    }

    /// <inheritdoc/>
    public ValueTask WarmAsync(IReadOnlyCollection<DimensionKey> keys, CancellationToken cancellationToken)
    {
        if (keys.Count == 0)
        {
            return ValueTask.CompletedTask;
        }

        // Every key held and fresh (the usual batch): done, with nothing allocated.
        var pending = CollectPending(keys, null, _time.GetUtcNow());
        return pending is null ? ValueTask.CompletedTask : FetchPendingAsync(keys, pending, cancellationToken);
    }

    /// <summary>As <see cref="WarmAsync(IReadOnlyCollection{DimensionKey}, CancellationToken)"/>; a hint is the key's entry, taken while it is still the one held.</summary>
    ValueTask ILookupHinted.WarmAsync(List<DimensionKey> keys, List<object?> hints, CancellationToken cancellationToken)
    {
        if (keys.Count == 0)
        {
            return ValueTask.CompletedTask;
        }

        var pending = CollectPending(keys, hints, _time.GetUtcNow());
        return pending is null ? ValueTask.CompletedTask : FetchPendingAsync(keys, pending, cancellationToken, hints);
    }

    /// <summary>
    /// The entry held for the <paramref name="i"/>th key of a warm: by its hint when the warm has hints (the hint then
    /// becomes the entry found), else by the key. Under the lock, so a hint not marked removed is the entry held for the
    /// key. A key not held keeps its hint: a key the warm fetches gets its new entry when the warm publishes it, and one
    /// the warm found held and a concurrent warm evicted since keeps the entry this warm found, which the batch reads
    /// (<see cref="ILookupHinted.Peek"/>) as it would have had no other warm run in between.
    /// </summary>
    private Entry? Find(DimensionKey key, List<object?>? hints, int i)
    {
        if (hints is null) return _entries.TryGetValue(key, out var held) ? held : null;
        var hint = hints[i];
        var entry = Held(key, ref hint);
        if (entry is not null) hints[i] = entry;
        return entry;
    }

    /// <summary>The key's entry by its hint while the hint is the entry held for it (a replaced or evicted entry is marked so), else by the key.</summary>
    private Entry? Held(DimensionKey key, ref object? hint)
    {
        if (hint is Entry { Removed: false } hinted && ReferenceEquals(hinted.Owner, this)) return hinted;
        var held = _entries.TryGetValue(key, out var entry) ? entry : null;
        hint = held;
        return held;
    }

    /// <summary>Fetches the keys <see cref="CollectPending"/> found absent or expired, and publishes them.</summary>
    /// <remarks>
    /// A source that answers synchronously (the CSV files) is asked key after key, without the retry pipeline's
    /// and the concurrency gate's async machinery: a completed answer is the first attempt's, and there are no
    /// retries to make. At the first key whose first attempt does not succeed at once (pending, or failed), that
    /// attempt and the keys after it go the general way: the attempt continues inside the retry pipeline as its
    /// first attempt (never made twice), the keys after it overlap up to <see cref="LruTableCacheOptions.MaxConcurrentFetches"/>.
    /// </remarks>
    private ValueTask FetchPendingAsync(IReadOnlyCollection<DimensionKey> keys, List<DimensionKey> pending, CancellationToken cancellationToken, List<object?>? hints = null)
    {
        var results = new FetchResult[pending.Count];
        for (var i = 0; i < pending.Count; i++)
        {
            var first = FirstAttempt(pending[i], cancellationToken);
            if (!first.IsCompletedSuccessfully)
            {
                return FetchRestAsync(keys, pending, results, i, first, hints, cancellationToken);
            }
            results[i] = new FetchResult(true, first.Result);
        }
        Publish(keys, pending, results, hints);
        return ValueTask.CompletedTask;
    }

    /// <summary>The source's first answer for <paramref name="key"/>, as a task even when the source throws synchronously.</summary>
    private Task<IReadOnlyDictionary<string, string>?> FirstAttempt(DimensionKey key, CancellationToken cancellationToken)
    {
        try
        {
            return _source.GetAsync(Table, key, cancellationToken);
        }
        catch (Exception e)
        {
            return Task.FromException<IReadOnlyDictionary<string, string>?>(e);
        }
    }

    /// <summary>Keys <paramref name="from"/>.. of <paramref name="pending"/>, the first of them with its first attempt under way.</summary>
    private async ValueTask FetchRestAsync(IReadOnlyCollection<DimensionKey> keys, List<DimensionKey> pending, FetchResult[] results, int from,
        Task<IReadOnlyDictionary<string, string>?> started, List<object?>? hints, CancellationToken cancellationToken)
    {
        if (pending.Count - from == 1)
        {
            results[from] = await FetchAsync(pending[from], started, cancellationToken);
        }
        else
        {
            // Bounded concurrency without hopping threads: a source that answers synchronously runs inline;
            // a remote one (Table Storage) overlaps up to the bound. The attempt under way holds a slot.
            using var gate = new SemaphoreSlim(_options.MaxConcurrentFetches);
            var tasks = new Task[pending.Count - from];
            for (var i = from; i < pending.Count; i++)
            {
                tasks[i - from] = FetchInto(i, i == from ? started : null);
            }
            await Task.WhenAll(tasks);

            async Task FetchInto(int i, Task<IReadOnlyDictionary<string, string>?>? first)
            {
                await gate.WaitAsync(cancellationToken);
                try
                {
                    results[i] = await FetchAsync(pending[i], first, cancellationToken);
                }
                finally
                {
                    gate.Release();
                }
            }
        }

        Publish(keys, pending, results, hints);
    }

    /// <summary>Publishes the fetched keys, makes the batch's keys the most recent, and evicts past the row limit.</summary>
    private void Publish(IReadOnlyCollection<DimensionKey> keys, List<DimensionKey> pending, FetchResult[] results, List<object?>? hints)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            for (var i = 0; i < pending.Count; i++)
            {
                Apply(pending[i], results[i], now);
            }

            // The batch's keys become the most recent, so the eviction below spares them.
            var at = 0;
            foreach (var key in keys)
            {
                if (Find(key, hints, at++) is { } entry) Touch(entry);
            }

            var limit = Math.Max(_options.MaxRows, keys.Count);
            while (_oldest.Count > limit)
            {
                _oldest.TryDequeue(out var oldest, out var stamp);
                if (stamp != oldest!.LastUse)
                {
                    // Used since it was queued: back in at its last use.
                    _oldest.Enqueue(oldest, oldest.LastUse);
                    continue;
                }
                if (_entries.TryRemove(oldest.Key, out var evicted)) evicted.Removed = true;
                Stats.Evicted();
            }

            Debug.Assert(_oldest.Count == _entries.Count, "recency queue and entries out of step");
        }
    }

    /// <inheritdoc/>
    public bool TryGet(DimensionKey key, [MaybeNullWhen(false)] out IReadOnlyDictionary<string, string> row)
    {
        // Fetch failed, or the key was not warmed (or was evicted by a concurrent batch): an error.
        var outcome = ((ILookupPeek)this).Peek(key, out var found);
        row = found!;
        return Stats.Count(outcome);
    }

    /// <summary>What <see cref="TryGet"/> would answer, without counting it.</summary>
    LookupOutcome ILookupPeek.Peek(DimensionKey key, out IReadOnlyDictionary<string, string>? row)
    {
        row = null;
        return _entries.TryGetValue(key, out var entry) ? Outcome(entry, out row) : LookupOutcome.Error;
    }

    /// <summary>
    /// As <see cref="ILookupPeek.Peek"/>, for a key of the batch the hints were warmed with: the entry the batch's warm left
    /// in its hint, even one a concurrent batch's warm has evicted or replaced since (as it is even one that has expired
    /// since), so that what a batch reads does not depend on how other batches' warms interleave with it. Without such a
    /// hint, the entry held now.
    /// </summary>
    LookupOutcome ILookupHinted.Peek(DimensionKey key, ref object? hint, out IReadOnlyDictionary<string, string>? row)
    {
        if (hint is Entry warmed && ReferenceEquals(warmed.Owner, this)) return Outcome(warmed, out row);
        row = null;
        return Held(key, ref hint) is { } entry ? Outcome(entry, out row) : LookupOutcome.Error;
    }

    private static LookupOutcome Outcome(Entry entry, out IReadOnlyDictionary<string, string>? row)
    {
        row = null;
        switch (entry.Kind)
        {
            case EntryKind.Row:
                row = entry.Row!;
                return LookupOutcome.Hit;
            case EntryKind.NoRow:
                return LookupOutcome.Miss;
            default:
                return LookupOutcome.Error;
        }
    }

    /// <summary>Touches the keys already held and returns the distinct keys that are absent or expired.</summary>
    private List<DimensionKey>? CollectPending(IReadOnlyCollection<DimensionKey> keys, List<object?>? hints, DateTimeOffset now)
    {
        List<DimensionKey>? pending = null;
        HashSet<DimensionKey>? seen = null;
        lock (_lock)
        {
            // By index when the keys are a list (the enricher's): no enumerator per warm.
            var list = keys as IReadOnlyList<DimensionKey>;
            using var others = list is null ? keys.GetEnumerator() : null;
            for (var i = 0; list is null ? others!.MoveNext() : i < list.Count; i++)
            {
                var key = list is null ? others!.Current : list[i];
                if (Find(key, hints, i) is { } entry)
                {
                    Touch(entry);
                    if (now < entry.ExpiresAt)
                    {
                        continue;
                    }
                }

                pending ??= [];
                seen ??= [];
                if (seen.Add(key))
                {
                    pending.Add(key);
                }
            }
        }

        return pending;
    }

    /// <summary>
    /// One key's fetch through the retry pipeline; a fetch whose retries run out is a failed result, not an exception.
    /// <paramref name="first"/>, when given, is the first attempt, already started: the pipeline awaits it instead of asking again.
    /// </summary>
    private async Task<FetchResult> FetchAsync(DimensionKey key, Task<IReadOnlyDictionary<string, string>?>? first, CancellationToken cancellationToken)
    {
        try
        {
            var attempt = new Attempt(_source, Table, key, first);
            var row = await FetchPipeline.ExecuteAsync(static (state, ct) => new ValueTask<IReadOnlyDictionary<string, string>?>(state.Next(ct)),
                attempt, cancellationToken).ConfigureAwait(false);
            return new FetchResult(true, row);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception)
        {
            return new FetchResult(false, null);
        }
    }

    /// <summary>The attempts of one key's fetch: the one already started, if any, then a new source call per retry.</summary>
    private sealed class Attempt(IDimensionSource source, TableSpec table, DimensionKey key, Task<IReadOnlyDictionary<string, string>?>? first)
    {
        private Task<IReadOnlyDictionary<string, string>?>? _first = first;

        public Task<IReadOnlyDictionary<string, string>?> Next(CancellationToken cancellationToken)
        {
            var started = _first;
            _first = null;
            return started ?? source.GetAsync(table, key, cancellationToken);
        }
    }

    /// <summary>Polly retry: up to <c>maxRetries</c> retries of a failed fetch, waiting <see cref="RetryDelay"/> between them.</summary>
    private ResiliencePipeline<IReadOnlyDictionary<string, string>?> BuildFetchPipeline(TimeProvider timeProvider)
    {
        var builder = new ResiliencePipelineBuilder<IReadOnlyDictionary<string, string>?>
        {
            TimeProvider = _options.Delay is { } delay ? new DelayTimeProvider(timeProvider, delay) : timeProvider,
        };
        if (_options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<IReadOnlyDictionary<string, string>?>
            {
                MaxRetryAttempts = _options.MaxRetries,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e
                    && !(e is OperationCanceledException && args.Context.CancellationToken.IsCancellationRequested)),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(RetryDelay(args.AttemptNumber, _options)),
                OnRetry = _ =>
                {
                    Stats.Retried();
                    return ValueTask.CompletedTask;
                },
            });
        }
        return builder.Build();
    }

    private void Apply(DimensionKey key, FetchResult result, DateTimeOffset now)
    {
        if (result.Succeeded)
        {
            Stats.Loaded();
            var kind = result.Row is null ? EntryKind.NoRow : EntryKind.Row;
            Put(key, new Entry(this, result.Row, kind, now + _options.Ttl));
            return;
        }

        Stats.LoadFailed();
        if (_entries.TryGetValue(key, out var held) && held.Kind != EntryKind.Unavailable)
        {
            if (now >= held.ExpiresAt)
            {
                Stats.ServedStale(); // kept as is: still expired, so the next warm tries again
            }

            return; // otherwise a concurrent warm has refreshed it meanwhile
        }

        Put(key, new Entry(this, null, EntryKind.Unavailable, now));
    }

    private void Put(DimensionKey key, Entry entry)
    {
        var held = _entries.TryGetValue(key, out var replaced) ? replaced : null;
        entry.Recency = held?.Recency ?? new Recency(key);
        Touch(entry);
        if (held is null)
        {
            _oldest.Enqueue(entry.Recency, entry.Recency.LastUse);
        }
        else
        {
            held.Removed = true;
        }

        _entries[key] = entry;
    }

    private void Touch(Entry entry) => entry.Recency!.LastUse = ++_uses;

    /// <summary>A held key's last use (a stamp of the cache's uses, unique); kept by every entry that replaces its key's entry.</summary>
    private sealed class Recency(DimensionKey key)
    {
        public DimensionKey Key { get; } = key;

        public long LastUse;
    }

    private readonly record struct FetchResult(bool Succeeded, IReadOnlyDictionary<string, string>? Row);

    private sealed class Entry(LruTableCache owner, IReadOnlyDictionary<string, string>? row, EntryKind kind, DateTimeOffset expiresAt)
    {
        /// <summary>The cache that holds it (a hint from another cache is not taken).</summary>
        public LruTableCache Owner { get; } = owner;

        /// <summary>Replaced or evicted: no longer the entry held for its key. Set under the cache's lock; read by hinted lookups.</summary>
        public bool Removed
        {
            get => Volatile.Read(ref _removed);
            set => Volatile.Write(ref _removed, value);
        }

        private bool _removed;

        public IReadOnlyDictionary<string, string>? Row { get; } = row;

        public EntryKind Kind { get; } = kind;

        public DateTimeOffset ExpiresAt { get; } = expiresAt;

        /// <summary>This key's last use; guarded by the cache's lock.</summary>
        public Recency? Recency { get; set; }
    }
}
