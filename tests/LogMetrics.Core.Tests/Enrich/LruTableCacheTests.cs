using System.Collections.Concurrent;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Tests.Support;
using Xunit;

namespace LogMetrics.Core.Tests.Enrich;

public sealed class LruTableCacheTests
{
    private static readonly TableSpec UserLevel = new("user_level", ["uid"]);
    private static readonly DimensionKey A = new("uid-a");
    private static readonly DimensionKey B = new("uid-b");
    private static readonly DimensionKey C = new("uid-c");

    private readonly FakeTimeProvider _clock = new();
    private readonly FakeDimensionSource _source = new FakeDimensionSource()
        .Row(A, ("uid", "uid-a"), ("gc_level", "GC5"))
        .Row(B, ("uid", "uid-b"), ("gc_level", "GC6"))
        .Row(C, ("uid", "uid-c"), ("gc_level", "GC7"));

    private readonly ConcurrentQueue<TimeSpan> _delays = new();

    private LruTableCache Create(int maxRows = 100, int maxRetries = 3, int maxConcurrentFetches = 8) =>
        new(UserLevel, _source, _clock, new LruTableCacheOptions
        {
            MaxRows = maxRows,
            Ttl = TimeSpan.FromMinutes(10),
            MaxRetries = maxRetries,
            RetryBaseDelay = TimeSpan.FromMilliseconds(100),
            RetryMaxDelay = TimeSpan.FromSeconds(2),
            MaxConcurrentFetches = maxConcurrentFetches,
            Delay = (delay, _) =>
            {
                _delays.Enqueue(delay);
                return Task.CompletedTask;
            },
        });

    private static string? LevelOf(LruTableCache cache, DimensionKey key) =>
        cache.TryGet(key, out var row) ? row["gc_level"] : null;

    [Fact]
    public async Task WarmAsync_NewKeys_FetchesEachKeyOnce()
    {
        var cache = Create();

        await cache.WarmAsync([A, B, A], CancellationToken.None);

        Assert.Equal(1, _source.GetCalls(A));
        Assert.Equal(1, _source.GetCalls(B));
        Assert.Equal(0, _source.LoadAllCalls);
        Assert.Equal(2, cache.Stats.Loads);
        Assert.Equal("GC5", LevelOf(cache, A));
        Assert.Equal("GC6", LevelOf(cache, B));
    }

    [Fact]
    public async Task WarmAsync_MoreKeysThanMaxRows_EvictsLeastRecentlyUsed()
    {
        var cache = Create(maxRows: 2);
        await cache.WarmAsync([A], CancellationToken.None);
        await cache.WarmAsync([B], CancellationToken.None);
        await cache.WarmAsync([A], CancellationToken.None); // A is now more recent than B

        await cache.WarmAsync([C], CancellationToken.None);

        Assert.Equal(2, cache.Count);
        Assert.Equal(1, cache.Stats.Evictions);
        Assert.Equal("GC5", LevelOf(cache, A));
        Assert.Equal("GC7", LevelOf(cache, C));
        Assert.Null(LevelOf(cache, B)); // evicted: not warmed, so an error, not a miss
        Assert.Equal(1, cache.Stats.Errors);

        await cache.WarmAsync([B], CancellationToken.None); // evicts A, the least recent now
        Assert.Equal(2, _source.GetCalls(B));
        Assert.Equal(1, _source.GetCalls(A));
        Assert.Null(LevelOf(cache, A));
        Assert.Equal("GC7", LevelOf(cache, C));
    }

    /// <summary>
    /// Random warms of distinct keys (a pool of 12, every other one with a row), with the clock now and then past the ttl
    /// so that held keys are fetched again, and 1 to 5 rows allowed: after every warm the keys held, the evictions and
    /// the loads equal those of a plain recency list kept by hand. The batch's held keys become most recent in batch
    /// order as the warm finds them; when any key was fetched, the fetched keys are held (a new one first), every key of
    /// the batch becomes most recent again in batch order, and the least recent go while more than
    /// max(rows allowed, batch size) are held.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public async Task WarmAsync_RandomBatches_HoldsAndEvictsAsARecencyList(int maxRows)
    {
        var keys = Enumerable.Range(0, 12).Select(i => new DimensionKey($"k{i}")).ToArray();
        for (var i = 0; i < keys.Length; i += 2) _source.Row(keys[i], ("uid", keys[i].Joined), ("gc_level", $"L{i}"));
        var cache = Create(maxRows: maxRows);
        var random = new Random(9000 + maxRows);
        var order = new List<DimensionKey>(); // most recent first
        var fetchedAt = new Dictionary<DimensionKey, DateTimeOffset>();
        long evictions = 0, loads = 0;
        void Touch(DimensionKey key)
        {
            order.Remove(key);
            order.Insert(0, key);
        }
        for (var warm = 0; warm < 400; warm++)
        {
            if (random.Next(10) == 0) _clock.Advance(TimeSpan.FromMinutes(random.Next(2) == 0 ? 4 : 11));
            var batch = keys.OrderBy(_ => random.Next()).Take(random.Next(1, 7)).ToList();
            await cache.WarmAsync(batch, CancellationToken.None);

            var now = _clock.GetUtcNow();
            var pending = new List<DimensionKey>();
            foreach (var key in batch)
            {
                if (order.Contains(key))
                {
                    Touch(key);
                    if (now < fetchedAt[key] + TimeSpan.FromMinutes(10)) continue;
                }
                pending.Add(key);
            }
            if (pending.Count > 0)
            {
                foreach (var key in pending)
                {
                    loads++;
                    fetchedAt[key] = now;
                    Touch(key);
                }
                foreach (var key in batch) Touch(key);
                while (order.Count > Math.Max(maxRows, batch.Count))
                {
                    order.RemoveAt(order.Count - 1);
                    evictions++;
                }
            }

            Assert.Equal(order.Count, cache.Count);
            foreach (var key in keys)
            {
                var held = ((ILookupPeek)cache).Peek(key, out _) != LookupOutcome.Error;
                Assert.True(order.Contains(key) == held, $"warm {warm}: {key.Joined} held {held}, expected {order.Contains(key)}");
            }
            Assert.Equal((evictions, loads), (cache.Stats.Evictions, cache.Stats.Loads));
        }
    }

    /// <summary>
    /// A batch reads the entries its warm left through its hints, even once a concurrent batch's warm has evicted them
    /// (or replaced one, after its ttl): its answers are those of its own warm. By key alone, an evicted key is an error.
    /// </summary>
    [Fact]
    public async Task HintedPeek_KeysEvictedByALaterWarm_AnswersOfItsOwnWarm()
    {
        var cache = Create(maxRows: 2);
        var hinted = (ILookupHinted)cache;
        List<DimensionKey> first = [A, B];
        var firstHints = new List<object?> { null, null };
        await hinted.WarmAsync(first, firstHints, CancellationToken.None);
        var d = new DimensionKey("uid-d");
        List<DimensionKey> second = [C, d];
        var secondHints = new List<object?> { null, null };
        await hinted.WarmAsync(second, secondHints, CancellationToken.None); // evicts A and B
        Assert.Equal(2, cache.Stats.Evictions);

        for (var i = 0; i < first.Count; i++)
        {
            var hint = firstHints[i];
            Assert.Equal(LookupOutcome.Hit, hinted.Peek(first[i], ref hint, out var row));
            Assert.Equal(i == 0 ? "GC5" : "GC6", row!["gc_level"]);
            Assert.Equal(LookupOutcome.Error, ((ILookupPeek)cache).Peek(first[i], out _));
        }
        var noRowHint = secondHints[1];
        Assert.Equal(LookupOutcome.Miss, hinted.Peek(d, ref noRowHint, out _));

        // A replaced entry (fetched again after its ttl by a later warm): the earlier batch still reads the row its warm saw.
        _clock.Advance(TimeSpan.FromMinutes(11));
        var cHint = secondHints[0];
        _source.Row(C, ("uid", "uid-c"), ("gc_level", "GC9"));
        await cache.WarmAsync([C], CancellationToken.None);
        Assert.Equal(LookupOutcome.Hit, hinted.Peek(C, ref cHint, out var old));
        Assert.Equal("GC7", old!["gc_level"]);
        Assert.Equal("GC9", LevelOf(cache, C));
    }

    [Fact]
    public async Task WarmAsync_BatchLargerThanMaxRows_KeepsAllKeysOfTheBatch()
    {
        var cache = Create(maxRows: 2);
        await cache.WarmAsync([A], CancellationToken.None);

        await cache.WarmAsync([B, C, new DimensionKey("uid-d")], CancellationToken.None);

        Assert.Equal("GC6", LevelOf(cache, B));
        Assert.Equal("GC7", LevelOf(cache, C));
        Assert.False(cache.TryGet(new DimensionKey("uid-d"), out _));
        Assert.Equal(1, cache.Stats.Misses); // uid-d has no row, and its negative entry was kept
        Assert.Null(LevelOf(cache, A));
        Assert.Equal(3, cache.Count);
    }

    [Fact]
    public async Task WarmAsync_BeforeTtl_ServesCachedRowWithoutFetching()
    {
        var cache = Create();
        await cache.WarmAsync([A], CancellationToken.None);
        _source.Row(A, ("gc_level", "GC7"));

        _clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromTicks(1));
        await cache.WarmAsync([A], CancellationToken.None);

        Assert.Equal(1, _source.GetCalls(A));
        Assert.Equal("GC5", LevelOf(cache, A));
    }

    [Fact]
    public async Task WarmAsync_AfterTtl_RefetchesKey()
    {
        var cache = Create();
        await cache.WarmAsync([A], CancellationToken.None);
        _source.Row(A, ("gc_level", "GC7"));

        _clock.Advance(TimeSpan.FromMinutes(10));
        await cache.WarmAsync([A], CancellationToken.None);

        Assert.Equal(2, _source.GetCalls(A));
        Assert.Equal("GC7", LevelOf(cache, A));
        Assert.Equal(2, cache.Stats.Loads);
    }

    [Fact]
    public async Task TryGet_EntryExpiresAfterWarm_StillServesItUntilNextWarm()
    {
        var cache = Create();
        await cache.WarmAsync([A], CancellationToken.None);

        _clock.Advance(TimeSpan.FromHours(1));

        Assert.Equal("GC5", LevelOf(cache, A));
        Assert.Equal(1, _source.GetCalls(A));
    }

    [Fact]
    public async Task WarmAsync_KeyWithoutRow_CachesNegativeResultUntilTtl()
    {
        var cache = Create();
        var unknown = new DimensionKey("uid-unknown");

        await cache.WarmAsync([unknown], CancellationToken.None);
        await cache.WarmAsync([unknown], CancellationToken.None);

        Assert.Equal(1, _source.GetCalls(unknown));
        Assert.False(cache.TryGet(unknown, out _));
        Assert.Equal(1, cache.Stats.Misses);
        Assert.Equal(0, cache.Stats.Errors);

        _source.Row(unknown, ("gc_level", "GC6"));
        _clock.Advance(TimeSpan.FromMinutes(10));
        await cache.WarmAsync([unknown], CancellationToken.None);

        Assert.Equal(2, _source.GetCalls(unknown));
        Assert.Equal("GC6", LevelOf(cache, unknown));
    }

    [Fact]
    public async Task WarmAsync_TransientFailures_RetriesWithExponentialBackoffThenSucceeds()
    {
        var cache = Create(maxRetries: 3);
        _source.FailNextGets(2);

        await cache.WarmAsync([A], CancellationToken.None);

        Assert.Equal(3, _source.GetCalls(A));
        Assert.Equal([TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200)], _delays.ToArray());
        Assert.Equal(2, cache.Stats.Retries);
        Assert.Equal(0, cache.Stats.LoadFailures);
        Assert.Equal("GC5", LevelOf(cache, A));
        Assert.Equal(0, cache.Stats.Errors);
    }

    [Fact]
    public async Task WarmAsync_RetriesExhausted_KeyIsMissingAndErrorCounted()
    {
        var cache = Create(maxRetries: 3);
        _source.Failing = true;

        await cache.WarmAsync([A], CancellationToken.None);

        Assert.Equal(4, _source.GetCalls(A));
        Assert.Equal(
            [TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(400)],
            _delays.ToArray());
        Assert.Equal(1, cache.Stats.LoadFailures);
        Assert.False(cache.TryGet(A, out _));
        Assert.Equal(1, cache.Stats.Errors);
        Assert.Equal(0, cache.Stats.Misses);
        Assert.Equal(0, cache.Stats.StaleServed);
    }

    [Fact]
    public async Task WarmAsync_AfterExhaustedRetries_NextWarmFetchesAgain()
    {
        var cache = Create(maxRetries: 0);
        _source.FailNextGets(1);
        await cache.WarmAsync([A], CancellationToken.None);
        Assert.False(cache.TryGet(A, out _));

        await cache.WarmAsync([A], CancellationToken.None);

        Assert.Equal(2, _source.GetCalls(A));
        Assert.Empty(_delays);
        Assert.Equal("GC5", LevelOf(cache, A));
    }

    [Fact]
    public async Task WarmAsync_RetriesExhaustedWithExpiredEntry_ServesStaleRowAndCountsIt()
    {
        var cache = Create(maxRetries: 2);
        await cache.WarmAsync([A], CancellationToken.None);
        _clock.Advance(TimeSpan.FromMinutes(10));
        _source.Failing = true;

        await cache.WarmAsync([A], CancellationToken.None);

        Assert.Equal("GC5", LevelOf(cache, A));
        Assert.Equal(1, cache.Stats.StaleServed);
        Assert.Equal(1, cache.Stats.LoadFailures);
        Assert.Equal(0, cache.Stats.Errors);

        _source.Failing = false;
        _source.Row(A, ("gc_level", "GC6"));
        await cache.WarmAsync([A], CancellationToken.None); // stale entries stay expired: fetched again

        Assert.Equal(1 + 3 + 1, _source.GetCalls(A));
        Assert.Equal("GC6", LevelOf(cache, A));
    }

    [Fact]
    public async Task WarmAsync_RetriesExhaustedWithExpiredNegativeEntry_ServesStaleMiss()
    {
        var cache = Create(maxRetries: 1);
        var unknown = new DimensionKey("uid-unknown");
        await cache.WarmAsync([unknown], CancellationToken.None);
        _clock.Advance(TimeSpan.FromMinutes(11));
        _source.Failing = true;

        await cache.WarmAsync([unknown], CancellationToken.None);

        Assert.False(cache.TryGet(unknown, out _));
        Assert.Equal(1, cache.Stats.StaleServed);
        Assert.Equal(1, cache.Stats.Misses);
        Assert.Equal(0, cache.Stats.Errors);
    }

    [Fact]
    public async Task WarmAsync_OneKeyFails_OtherKeysOfTheBatchStillResolve()
    {
        var failing = new DimensionKey("uid-flaky");
        _source.OnGet = key => key == failing ? Task.FromException(new IOException("flaky")) : Task.CompletedTask;
        var cache = Create(maxRetries: 1);

        await cache.WarmAsync([A, failing, B], CancellationToken.None);

        Assert.Equal("GC5", LevelOf(cache, A));
        Assert.Equal("GC6", LevelOf(cache, B));
        Assert.False(cache.TryGet(failing, out _));
        Assert.Equal(1, cache.Stats.LoadFailures);
        Assert.Equal(2, _source.GetCalls(failing));
    }

    [Fact]
    public async Task WarmAsync_ManyKeys_FetchesConcurrentlyUpToTheBound()
    {
        const int bound = 4;
        var inFlight = 0;
        var maxInFlight = 0;
        var reachedBound = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var probe = new FakeDimensionSource
        {
            // Each fetch waits until `bound` fetches are in flight at once, so the batch completes
            // only if the cache really runs that many concurrently.
            OnGet = async _ =>
            {
                var now = Interlocked.Increment(ref inFlight);
                InterlockedMax(ref maxInFlight, now);
                if (now >= bound)
                {
                    reachedBound.TrySetResult();
                }

                await reachedBound.Task;
                await Task.Yield();
                Interlocked.Decrement(ref inFlight);
            },
        };
        var cache = new LruTableCache(UserLevel, probe, _clock, new LruTableCacheOptions { MaxConcurrentFetches = bound });
        var keys = Enumerable.Range(0, 20).Select(i => new DimensionKey($"uid-{i}")).ToArray();

        await cache.WarmAsync(keys, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(bound, maxInFlight);
        Assert.Equal(20, probe.TotalGetCalls);
    }

    [Fact]
    public async Task WarmAsync_SynchronousSource_FetchesEachKeyOnceAndCachesNoRowAnswers()
    {
        var unknown = new DimensionKey("uid-unknown");
        var cache = Create();

        await cache.WarmAsync([A, B, A, unknown], CancellationToken.None);
        await cache.WarmAsync([unknown, C], CancellationToken.None);

        Assert.Equal(1, _source.GetCalls(A));
        Assert.Equal(1, _source.GetCalls(unknown));
        Assert.Equal(4, _source.TotalGetCalls);
        Assert.Equal(4, cache.Stats.Loads);
        Assert.Equal(0, cache.Stats.Retries);
        Assert.Equal("GC5", LevelOf(cache, A));
        Assert.Equal("GC7", LevelOf(cache, C));
        Assert.False(cache.TryGet(unknown, out _));
        Assert.Equal(1, cache.Stats.Misses);
        Assert.Equal(0, cache.Stats.Errors);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task WarmAsync_SynchronousSourceFailsTransiently_RetriesWithTheSameBackoff(bool throwsSynchronously)
    {
        // A synchronous source, as the name says (ThrowsSynchronously only applies to one): with yielding answers the
        // keys' first attempts raced for the failures FailNextGets sets up.
        _source.AnswersSynchronously = _ => true;
        _source.ThrowsSynchronously = throwsSynchronously;
        _source.FailNextGets(2);
        var cache = Create(maxRetries: 3);

        await cache.WarmAsync([A, B], CancellationToken.None);

        Assert.Equal(3, _source.GetCalls(A));
        Assert.Equal(1, _source.GetCalls(B));
        Assert.Equal([TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200)], _delays.ToArray());
        Assert.Equal(2, cache.Stats.Retries);
        Assert.Equal(0, cache.Stats.LoadFailures);
        Assert.Equal("GC5", LevelOf(cache, A));
        Assert.Equal("GC6", LevelOf(cache, B));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task WarmAsync_SynchronousSourceDown_RetriesExhaustedAndErrorsCounted(bool throwsSynchronously)
    {
        // A synchronous source, as the name says (ThrowsSynchronously only applies to one): with yielding answers the
        // keys' first attempts raced for the failures FailNextGets sets up.
        _source.AnswersSynchronously = _ => true;
        _source.ThrowsSynchronously = throwsSynchronously;
        _source.Failing = true;
        var cache = Create(maxRetries: 3);

        await cache.WarmAsync([A, B], CancellationToken.None);

        Assert.Equal(4, _source.GetCalls(A));
        Assert.Equal(4, _source.GetCalls(B));
        Assert.Equal(6, cache.Stats.Retries);
        Assert.Equal(2, cache.Stats.LoadFailures);
        Assert.Equal(0, cache.Stats.Loads);
        Assert.False(cache.TryGet(A, out _));
        Assert.False(cache.TryGet(B, out _));
        Assert.Equal(2, cache.Stats.Errors);
    }

    [Fact]
    public async Task WarmAsync_SourceAnswersSomeKeysLater_AttemptUnderWayIsNotMadeTwice()
    {
        // A answers at once; B yields (its first attempt is under way when the cache stops asking inline); C after it.
        _source.AnswersSynchronously = key => key != B;
        var cache = Create();

        await cache.WarmAsync([A, B, C], CancellationToken.None);

        Assert.Equal(1, _source.GetCalls(A));
        Assert.Equal(1, _source.GetCalls(B));
        Assert.Equal(1, _source.GetCalls(C));
        Assert.Equal(3, cache.Stats.Loads);
        Assert.Equal("GC5", LevelOf(cache, A));
        Assert.Equal("GC6", LevelOf(cache, B));
        Assert.Equal("GC7", LevelOf(cache, C));
    }

    [Fact]
    public async Task WarmAsync_AttemptUnderWayFails_RetriedThroughThePipeline()
    {
        _source.AnswersSynchronously = key => key != B;
        var cache = Create(maxRetries: 3);
        _source.FailNextGets(1); // A's only attempt fails at once; the retries go the general way

        await cache.WarmAsync([A, B], CancellationToken.None);

        Assert.Equal(2, _source.GetCalls(A));
        Assert.Equal(1, _source.GetCalls(B));
        Assert.Equal(1, cache.Stats.Retries);
        Assert.Equal([TimeSpan.FromMilliseconds(100)], _delays.ToArray());
        Assert.Equal("GC5", LevelOf(cache, A));
        Assert.Equal("GC6", LevelOf(cache, B));
    }

    [Theory]
    [InlineData(0, 100)]
    [InlineData(1, 200)]
    [InlineData(2, 400)]
    [InlineData(3, 500)]
    [InlineData(30, 500)]
    public void RetryDelay_Attempt_DoublesUpToCap(int retry, int expectedMs)
    {
        var options = new LruTableCacheOptions
        {
            RetryBaseDelay = TimeSpan.FromMilliseconds(100),
            RetryMaxDelay = TimeSpan.FromMilliseconds(500),
        };

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), LruTableCache.RetryDelay(retry, options));
    }

    [Fact]
    public void Constructor_ZeroMaxRows_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Create(maxRows: 0));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
    /// <summary>
    /// The hinted warm and peek (ILookupHinted: each key's entry from the hint left at the batch before, the pipeline's
    /// path) against the plain ones on a second cache with the same history: random batches over 6 keys (some with no
    /// row), a table of 3 rows (evictions by recency), the clock moved 0, 4 or 11 minutes (entries expired or not),
    /// some fetches failing, some answered asynchronously: after every warm, both caches answer every key alike (held or not, row or none), and count
    /// the same loads, failures and evictions. Hints kept per key text as the enricher keeps them.
    /// </summary>
    private static readonly int[] Steps = [0, 0, 4, 11];

    [Fact]
    public async Task Hinted_SameAnswersAndCountsAsPlain()
    {
        var random = new Random(77);
        DimensionKey[] keys = [.. Enumerable.Range(0, 6).Select(i => new DimensionKey($"k{i}"))];
        foreach (var key in keys.Take(4)) _source.Row(key, ("uid", key.Joined), ("gc_level", "L0"));
        var plain = Create(maxRows: 3, maxRetries: 0);
        var hinted = Create(maxRows: 3, maxRetries: 0);
        var memo = new Dictionary<string, object?>();
        for (var round = 0; round < 300; round++)
        {
            _clock.Advance(TimeSpan.FromMinutes(Steps[random.Next(Steps.Length)]));
            if (random.Next(3) == 0) _source.Row(keys[random.Next(4)], ("uid", "x"), ("gc_level", $"L{round}"));
            var batch = keys.Where(_ => random.Next(3) == 0).OrderBy(_ => random.Next()).ToList();
            var fail = random.Next(5) == 0 ? 1 : 0;
            // Some keys answered asynchronously (the retry pipeline's path) in rounds without a failure, whose order would
            // then depend on the scheduling.
            var yielding = fail == 0 && random.Next(2) == 0;
            _source.AnswersSynchronously = k => !yielding || k.Joined is not ("k1" or "k4");
            _source.FailNextGets(fail);
            await plain.WarmAsync(batch, CancellationToken.None);
            var hints = batch.Select(k => memo.GetValueOrDefault(k.Joined)).ToList();
            _source.FailNextGets(fail);
            await ((ILookupHinted)hinted).WarmAsync(batch, hints, CancellationToken.None);
            for (var i = 0; i < batch.Count; i++)
            {
                var hint = hints[i];
                var h = ((ILookupHinted)hinted).Peek(batch[i], ref hint, out var hRow);
                var p = ((ILookupPeek)plain).Peek(batch[i], out var pRow);
                Assert.True(h == p && (hRow is null) == (pRow is null) && (hRow is null || hRow["gc_level"] == pRow!["gc_level"]), $"round {round}, {batch[i]}: {h} vs {p}");
                memo[batch[i].Joined] = hint;
            }
            foreach (var key in keys)
            {
                var h = ((ILookupPeek)hinted).Peek(key, out var hRow);
                var p = ((ILookupPeek)plain).Peek(key, out var pRow);
                Assert.True(h == p && (hRow is null) == (pRow is null) && (hRow is null || hRow["gc_level"] == pRow!["gc_level"]), $"round {round}, {key}: {h} vs {p}");
            }
            Assert.Equal((plain.Stats.Loads, plain.Stats.LoadFailures, plain.Stats.Evictions, plain.Count), (hinted.Stats.Loads, hinted.Stats.LoadFailures, hinted.Stats.Evictions, hinted.Count));
        }
    }
}
