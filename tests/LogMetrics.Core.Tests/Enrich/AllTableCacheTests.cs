using LogMetrics.Core.Enrich;
using LogMetrics.Core.Tests.Support;
using Xunit;

namespace LogMetrics.Core.Tests.Enrich;

public sealed class AllTableCacheTests
{
    private static readonly TableSpec GatewayCluster = new("gateway_cluster", ["local_ip"]);
    private static readonly DimensionKey Node1 = new("11.197.0.1");
    private static readonly DimensionKey Node2 = new("11.197.0.2");

    private readonly FakeTimeProvider _clock = new();
    private readonly FakeDimensionSource _source = new FakeDimensionSource()
        .Row(Node1, ("local_ip", "11.197.0.1"), ("app_group", "pop-region-cn-huhehaote"), ("region_id", "cn-huhehaote"));

    private AllTableCache Create(bool throwOnInitialLoadFailure = true) =>
        new(GatewayCluster, _source, _clock, new AllTableCacheOptions
        {
            ReloadInterval = TimeSpan.FromMinutes(5),
            RetryBackoff = TimeSpan.FromSeconds(30),
            ThrowOnInitialLoadFailure = throwOnInitialLoadFailure,
        });

    private static string? RegionOf(AllTableCache cache, DimensionKey key) =>
        cache.TryGet(key, out var row) ? row["region_id"] : null;

    [Fact]
    public async Task WarmAsync_FirstCall_LoadsWholeTableOnce()
    {
        var cache = Create();

        await cache.WarmAsync([Node1], CancellationToken.None);
        await cache.WarmAsync([Node2], CancellationToken.None);

        Assert.Equal(1, _source.LoadAllCalls);
        Assert.Equal(0, _source.TotalGetCalls);
        Assert.Equal(1, cache.Stats.Loads);
        Assert.Equal(1, cache.Count);
        Assert.Equal(_clock.GetUtcNow(), cache.LoadedAt);
        Assert.Equal("cn-huhehaote", RegionOf(cache, Node1));
    }

    [Fact]
    public async Task WarmAsync_EmptyKeysBeforeFirstLoad_StillLoads()
    {
        var cache = Create();

        await cache.WarmAsync([], CancellationToken.None);

        Assert.Equal(1, _source.LoadAllCalls);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public async Task WarmAsync_BeforeReloadInterval_KeepsTable()
    {
        var cache = Create();
        await cache.WarmAsync([Node1], CancellationToken.None);
        _source.Row(Node1, ("region_id", "cn-shanghai"));

        _clock.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromTicks(1));
        await cache.WarmAsync([Node1], CancellationToken.None);

        Assert.Equal(1, _source.LoadAllCalls);
        Assert.Equal("cn-huhehaote", RegionOf(cache, Node1));
    }

    [Fact]
    public async Task WarmAsync_AfterReloadInterval_ReloadsTable()
    {
        var cache = Create();
        await cache.WarmAsync([Node1], CancellationToken.None);
        _source.Row(Node1, ("region_id", "cn-shanghai"))
               .Row(Node2, ("region_id", "cn-beijing"));

        _clock.Advance(TimeSpan.FromMinutes(5));
        await cache.WarmAsync([Node1], CancellationToken.None);

        Assert.Equal(2, _source.LoadAllCalls);
        Assert.Equal(2, cache.Stats.Loads);
        Assert.Equal("cn-shanghai", RegionOf(cache, Node1));
        Assert.Equal("cn-beijing", RegionOf(cache, Node2));
        Assert.Equal(_clock.GetUtcNow(), cache.LoadedAt);
    }

    [Fact]
    public async Task WarmAsync_ReloadFails_KeepsLastGoodTableAndCountsFailure()
    {
        var cache = Create();
        await cache.WarmAsync([Node1], CancellationToken.None);
        _source.FailNextLoads(1);

        _clock.Advance(TimeSpan.FromMinutes(5));
        await cache.WarmAsync([Node1], CancellationToken.None);

        Assert.Equal(2, _source.LoadAllCalls);
        Assert.Equal(1, cache.Stats.ReloadFailures);
        Assert.Equal(1, cache.Stats.LoadFailures);
        Assert.Equal(1, cache.Stats.Loads);
        Assert.Equal("cn-huhehaote", RegionOf(cache, Node1));
        Assert.Equal(0, cache.Stats.Errors);
    }

    [Fact]
    public async Task WarmAsync_AfterFailedReload_RetriesOnlyOnceBackoffElapsed()
    {
        var cache = Create();
        await cache.WarmAsync([Node1], CancellationToken.None);
        _source.FailNextLoads(1);
        _clock.Advance(TimeSpan.FromMinutes(5));
        await cache.WarmAsync([Node1], CancellationToken.None); // fails: load #2

        _clock.Advance(TimeSpan.FromSeconds(29));
        await cache.WarmAsync([Node1], CancellationToken.None);
        await cache.WarmAsync([Node1], CancellationToken.None);
        Assert.Equal(2, _source.LoadAllCalls);

        _source.Row(Node1, ("region_id", "cn-shanghai"));
        _clock.Advance(TimeSpan.FromSeconds(1));
        await cache.WarmAsync([Node1], CancellationToken.None);

        Assert.Equal(3, _source.LoadAllCalls);
        Assert.Equal("cn-shanghai", RegionOf(cache, Node1));
    }

    [Fact]
    public async Task WarmAsync_ConsecutiveReloadFailures_DoubleTheBackoff()
    {
        var cache = Create();
        await cache.WarmAsync([Node1], CancellationToken.None);
        _source.Failing = true;
        _clock.Advance(TimeSpan.FromMinutes(5));
        await cache.WarmAsync([Node1], CancellationToken.None); // failure 1: next try in 30 s

        _clock.Advance(TimeSpan.FromSeconds(30));
        await cache.WarmAsync([Node1], CancellationToken.None); // failure 2: next try in 60 s
        _clock.Advance(TimeSpan.FromSeconds(59));
        await cache.WarmAsync([Node1], CancellationToken.None);
        Assert.Equal(3, _source.LoadAllCalls);

        _clock.Advance(TimeSpan.FromSeconds(1));
        await cache.WarmAsync([Node1], CancellationToken.None);

        Assert.Equal(4, _source.LoadAllCalls);
        Assert.Equal(3, cache.Stats.ReloadFailures);
        Assert.Equal("cn-huhehaote", RegionOf(cache, Node1));
    }

    [Fact]
    public async Task WarmAsync_FirstLoadFails_ThrowsNamingTable()
    {
        var cache = Create();
        _source.FailNextLoads(1);

        var ex = await Assert.ThrowsAsync<LookupLoadException>(() => cache.WarmAsync([Node1], CancellationToken.None).AsTask());

        Assert.Equal("gateway_cluster", ex.Table);
        Assert.Contains("'gateway_cluster'", ex.Message);
        Assert.IsType<IOException>(ex.InnerException);
        Assert.Equal(1, cache.Stats.LoadFailures);
        Assert.Equal(0, cache.Stats.ReloadFailures);
    }

    [Fact]
    public async Task WarmAsync_FirstLoadFailedWithinBackoff_ThrowsWithoutCallingSource()
    {
        var cache = Create();
        _source.FailNextLoads(1);
        await Assert.ThrowsAsync<LookupLoadException>(() => cache.WarmAsync([Node1], CancellationToken.None).AsTask());

        _clock.Advance(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<LookupLoadException>(() => cache.WarmAsync([Node1], CancellationToken.None).AsTask());
        Assert.Equal(1, _source.LoadAllCalls);

        _clock.Advance(TimeSpan.FromSeconds(20));
        await cache.WarmAsync([Node1], CancellationToken.None);

        Assert.Equal(2, _source.LoadAllCalls);
        Assert.Equal("cn-huhehaote", RegionOf(cache, Node1));
    }

    [Fact]
    public async Task WarmAsync_FirstLoadFailsAndThrowingDisabled_LookupsCountErrorsUntilLoaded()
    {
        var cache = Create(throwOnInitialLoadFailure: false);
        _source.FailNextLoads(1);

        await cache.WarmAsync([Node1], CancellationToken.None);

        Assert.False(cache.TryGet(Node1, out _));
        Assert.Equal(1, cache.Stats.Errors);
        Assert.Equal(0, cache.Stats.Misses);
        Assert.Null(cache.LoadedAt);

        _clock.Advance(TimeSpan.FromSeconds(30));
        await cache.WarmAsync([Node1], CancellationToken.None);

        Assert.Equal("cn-huhehaote", RegionOf(cache, Node1));
        Assert.Equal(1, cache.Stats.Hits);
    }

    [Fact]
    public async Task WarmAsync_ConcurrentFirstCalls_LoadOnce()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var source = new BlockingSource(release.Task);
        var cache = new AllTableCache(GatewayCluster, source, _clock);

        var first = cache.WarmAsync([Node1], CancellationToken.None).AsTask();
        var second = cache.WarmAsync([Node1], CancellationToken.None).AsTask();
        Assert.False(second.IsCompleted);
        release.SetResult();
        await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, source.LoadAllCalls);
        Assert.True(cache.TryGet(Node1, out _));
    }

    [Fact]
    public async Task WarmAsync_CancelledDuringLoad_ThrowsWithoutCountingFailureOrBackingOff()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var source = new BlockingSource(release.Task);
        var cache = new AllTableCache(GatewayCluster, source, _clock);
        using var cts = new CancellationTokenSource();

        var warm = cache.WarmAsync([Node1], cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => warm);

        Assert.Equal(0, cache.Stats.LoadFailures);
        release.SetResult();
        await cache.WarmAsync([Node1], CancellationToken.None);
        Assert.Equal(2, source.LoadAllCalls);
        Assert.True(cache.TryGet(Node1, out _));
    }

    private sealed class BlockingSource(Task release) : IDimensionSource
    {
        private int _loadAllCalls;

        public int LoadAllCalls => _loadAllCalls;

        public async Task<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>> LoadAllAsync(
            TableSpec table, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _loadAllCalls);
            await release.WaitAsync(cancellationToken);
            return new Dictionary<DimensionKey, IReadOnlyDictionary<string, string>>
            {
                [Node1] = new Dictionary<string, string> { ["region_id"] = "cn-huhehaote" },
            };
        }

        public Task<IReadOnlyDictionary<string, string>?> GetAsync(TableSpec table, DimensionKey key, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }
}
