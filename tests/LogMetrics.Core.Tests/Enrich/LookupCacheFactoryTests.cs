using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Tests.Support;
using Xunit;

namespace LogMetrics.Core.Tests.Enrich;

public sealed class LookupCacheFactoryTests
{
    private readonly FakeTimeProvider _clock = new();

    private static LookupDefinition Lookup(string policy) => new()
    {
        Name = "api_meta",
        Key = [new LookupKey { Field = "Product", Column = "product" }, new LookupKey { Field = "Api", Column = "api" }],
        Cache = new CacheDefinition { Policy = policy, ReloadMinutes = 7, MaxRows = 2, TtlMinutes = 3, MaxRetries = 1 },
    };

    [Fact]
    public void TableOf_CompositeKey_ListsKeyColumnsInOrder()
    {
        var table = LookupCacheFactory.TableOf(Lookup("all"));

        Assert.Equal("api_meta", table.Name);
        Assert.Equal(["product", "api"], table.KeyColumns);
    }

    [Fact]
    public async Task Create_PolicyAll_ReturnsAllTableCacheReloadingAtConfiguredInterval()
    {
        var source = new FakeDimensionSource().Row(new DimensionKey("acc", "DescribeX"), ("priority", "P1"));

        var cache = LookupCacheFactory.Create(Lookup("all"), source, _clock);
        await cache.WarmAsync([], CancellationToken.None);
        _clock.Advance(TimeSpan.FromMinutes(6));
        await cache.WarmAsync([], CancellationToken.None);
        Assert.Equal(1, source.LoadAllCalls);
        _clock.Advance(TimeSpan.FromMinutes(1));
        await cache.WarmAsync([], CancellationToken.None);

        Assert.IsType<AllTableCache>(cache);
        Assert.Equal(2, source.LoadAllCalls);
        Assert.Equal(["product", "api"], cache.Table.KeyColumns);
    }

    [Fact]
    public async Task Create_PolicyLru_ReturnsLruCacheWithConfiguredLimits()
    {
        var source = new FakeDimensionSource { Failing = true };
        var delays = new List<TimeSpan>();
        var settings = new LookupCacheSettings
        {
            Delay = (d, _) =>
            {
                delays.Add(d);
                return Task.CompletedTask;
            },
        };

        var cache = LookupCacheFactory.Create(Lookup("LRU"), source, _clock, settings);
        await cache.WarmAsync([new DimensionKey("acc", "DescribeX")], CancellationToken.None);

        var lru = Assert.IsType<LruTableCache>(cache);
        Assert.Equal(2, source.TotalGetCalls); // maxRetries 1
        Assert.Equal([TimeSpan.FromMilliseconds(100)], delays);
        Assert.Equal(1, lru.Stats.LoadFailures);
    }

    [Fact]
    public void Create_UnknownPolicy_ThrowsNamingLookupAndPolicy()
    {
        var ex = Assert.Throws<ArgumentException>(
            () => LookupCacheFactory.Create(Lookup("random"), new FakeDimensionSource(), _clock));

        Assert.Contains("api_meta", ex.Message);
        Assert.Contains("'random'", ex.Message);
    }

    [Fact]
    public void Create_LruWithZeroTtl_ThrowsNamingSetting()
    {
        var lookup = Lookup("lru");
        lookup.Cache.TtlMinutes = 0;

        var ex = Assert.Throws<ArgumentException>(() => LookupCacheFactory.Create(lookup, new FakeDimensionSource(), _clock));

        Assert.Contains("ttlMinutes", ex.Message);
    }

    [Fact]
    public async Task Create_LruOverCsvSource_ResolvesRowsFromFile()
    {
        var dir = Path.Combine(Path.GetTempPath(), "logmetrics-factory-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir, "api_meta.csv"), "product,api,priority\r\nacc,DescribeX,P1\r\n");
            var cache = LookupCacheFactory.Create(Lookup("lru"), new CsvDimensionSource(dir), _clock);
            DimensionKey[] keys = [new("acc", "DescribeX"), new("acc", "Other")];

            await cache.WarmAsync(keys, CancellationToken.None);

            Assert.True(cache.TryGet(keys[0], out var row));
            Assert.Equal("P1", row["priority"]);
            Assert.False(cache.TryGet(keys[1], out _));
            Assert.Equal(1, cache.Stats.Misses);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
