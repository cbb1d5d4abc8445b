using LogMetrics.Core.Enrich;
using LogMetrics.Core.Tests.Support;
using Xunit;

namespace LogMetrics.Core.Tests.Enrich;

/// <summary>What every <see cref="ILookupCache"/> does, whatever its policy.</summary>
public abstract class LookupCacheContractTests
{
    protected static readonly TableSpec ApiMeta = new("api_meta", ["product", "api"]);

    protected FakeTimeProvider Clock { get; } = new();

    internal FakeDimensionSource Source { get; } = new FakeDimensionSource()
        .Row(new DimensionKey("acc", "DescribeX"), ("product", "acc"), ("api", "DescribeX"), ("priority", "P1"))
        .Row(new DimensionKey("ecs", "RunInstances"), ("product", "ecs"), ("api", "RunInstances"), ("priority", "P0"));

    internal abstract ILookupCache CreateCache(FakeDimensionSource source, FakeTimeProvider clock);

    [Fact]
    public async Task TryGet_WarmedKeyWithRow_ReturnsRowAndCountsHit()
    {
        var cache = CreateCache(Source, Clock);
        var key = new DimensionKey("ecs", "RunInstances");

        await cache.WarmAsync([key], CancellationToken.None);

        Assert.True(cache.TryGet(key, out var row));
        Assert.Equal("P0", row["priority"]);
        Assert.Equal(1, cache.Stats.Hits);
        Assert.Equal(0, cache.Stats.Misses);
        Assert.Equal(0, cache.Stats.Errors);
    }

    [Fact]
    public async Task TryGet_WarmedKeyWithoutRow_ReturnsFalseAndCountsMiss()
    {
        var cache = CreateCache(Source, Clock);
        var key = new DimensionKey("acc", "NoSuchApi");

        await cache.WarmAsync([key], CancellationToken.None);

        Assert.False(cache.TryGet(key, out _));
        Assert.Equal(0, cache.Stats.Hits);
        Assert.Equal(1, cache.Stats.Misses);
        Assert.Equal(0, cache.Stats.Errors);
    }

    [Fact]
    public async Task TryGet_CompositeKeyInOtherOrder_DoesNotMatch()
    {
        var cache = CreateCache(Source, Clock);
        var swapped = new DimensionKey("DescribeX", "acc");

        await cache.WarmAsync([swapped, new DimensionKey("acc", "DescribeX")], CancellationToken.None);

        Assert.False(cache.TryGet(swapped, out _));
        Assert.True(cache.TryGet(new DimensionKey("acc", "DescribeX"), out var row));
        Assert.Equal("P1", row["priority"]);
    }

    [Fact]
    public async Task TryGet_ManyLookups_HitsMissesAndErrorsAddUpToLookups()
    {
        var cache = CreateCache(Source, Clock);
        DimensionKey[] keys = [new("acc", "DescribeX"), new("ecs", "RunInstances"), new("oss", "PutObject")];
        await cache.WarmAsync(keys, CancellationToken.None);

        for (var i = 0; i < 10; i++)
        {
            cache.TryGet(keys[i % keys.Length], out _);
        }

        Assert.Equal(7, cache.Stats.Hits);
        Assert.Equal(3, cache.Stats.Misses);
        Assert.Equal(10, cache.Stats.Hits + cache.Stats.Misses + cache.Stats.Errors);
    }

    [Fact]
    public async Task WarmAsync_SameKeysAgainWithinLifetime_DoesNotCallSourceAgain()
    {
        var cache = CreateCache(Source, Clock);
        DimensionKey[] keys = [new("acc", "DescribeX"), new("oss", "PutObject")];
        await cache.WarmAsync(keys, CancellationToken.None);
        var callsAfterFirst = Source.LoadAllCalls + Source.TotalGetCalls;

        Clock.Advance(TimeSpan.FromMinutes(1));
        await cache.WarmAsync(keys, CancellationToken.None);

        Assert.True(callsAfterFirst > 0);
        Assert.Equal(callsAfterFirst, Source.LoadAllCalls + Source.TotalGetCalls);
        Assert.True(cache.Stats.Loads > 0);
    }
}

public sealed class AllTableCacheContractTests : LookupCacheContractTests
{
    internal override ILookupCache CreateCache(FakeDimensionSource source, FakeTimeProvider clock) =>
        new AllTableCache(ApiMeta, source, clock);
}

public sealed class LruTableCacheContractTests : LookupCacheContractTests
{
    internal override ILookupCache CreateCache(FakeDimensionSource source, FakeTimeProvider clock) =>
        new LruTableCache(ApiMeta, source, clock, new LruTableCacheOptions { Delay = (_, _) => Task.CompletedTask });
}
