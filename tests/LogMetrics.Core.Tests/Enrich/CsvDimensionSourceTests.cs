using System.Text;
using LogMetrics.Core.Enrich;
using Xunit;

namespace LogMetrics.Core.Tests.Enrich;

public sealed class CsvDimensionSourceTests : IDisposable
{
    private static readonly TableSpec GatewayCluster = new("gateway_cluster", ["local_ip"]);
    private static readonly TableSpec ApiMeta = new("api_meta", ["product", "api"]);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "logmetrics-csv-" + Guid.NewGuid().ToString("N"));
    private readonly CsvDimensionSource _source;

    public CsvDimensionSourceTests()
    {
        Directory.CreateDirectory(_dir);
        _source = new CsvDimensionSource(_dir, recheckInterval: TimeSpan.Zero);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Write(string table, string text, bool bom = false)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        File.WriteAllBytes(Path.Combine(_dir, table + ".csv"), bom ? [0xEF, 0xBB, 0xBF, .. bytes] : bytes);
    }

    private Task<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>> LoadAsync(TableSpec table) =>
        _source.LoadAllAsync(table, CancellationToken.None);

    [Fact]
    public async Task LoadAllAsync_PlainFile_KeysRowsByKeyColumnWithAllColumns()
    {
        Write("gateway_cluster", "local_ip,app_group,region_id\n11.197.0.1,pop-region-cn-huhehaote,cn-huhehaote\n11.197.0.2,pop-region-cn-shanghai,cn-shanghai\n");

        var rows = await LoadAsync(GatewayCluster);

        Assert.Equal(2, rows.Count);
        var row = rows[new DimensionKey("11.197.0.2")];
        Assert.Equal("11.197.0.2", row["local_ip"]);
        Assert.Equal("pop-region-cn-shanghai", row["app_group"]);
        Assert.Equal("cn-shanghai", row["region_id"]);
    }

    [Fact]
    public async Task LoadAllAsync_QuotedFields_UnquotesCommasDoubledQuotesAndLineBreaks()
    {
        Write("gateway_cluster",
            "local_ip,app_group,region_id\n" +
            "\"11.197.0.1\",\"group, with comma\",\"say \"\"hi\"\"\"\n" +
            "11.197.0.2,\"two\nlines\",\"\"\n");

        var rows = await LoadAsync(GatewayCluster);

        var first = rows[new DimensionKey("11.197.0.1")];
        Assert.Equal("group, with comma", first["app_group"]);
        Assert.Equal("say \"hi\"", first["region_id"]);
        var second = rows[new DimensionKey("11.197.0.2")];
        Assert.Equal("two\nlines", second["app_group"]);
        Assert.Equal("", second["region_id"]);
    }

    [Fact]
    public async Task LoadAllAsync_Utf8Bom_FirstHeaderColumnHasNoBom()
    {
        Write("gateway_cluster", "local_ip,region_id\n11.197.0.1,華北\n", bom: true);

        var rows = await LoadAsync(GatewayCluster);

        Assert.Equal("華北", rows[new DimensionKey("11.197.0.1")]["region_id"]);
        Assert.True(rows[new DimensionKey("11.197.0.1")].ContainsKey("local_ip"));
    }

    [Fact]
    public async Task LoadAllAsync_CrlfLineEndings_ValuesHaveNoCarriageReturn()
    {
        Write("gateway_cluster", "local_ip,region_id\r\n11.197.0.1,cn-huhehaote\r\n\"11.197.0.2\",\"cn-shanghai\"\r\n");

        var rows = await LoadAsync(GatewayCluster);

        Assert.Equal("cn-huhehaote", rows[new DimensionKey("11.197.0.1")]["region_id"]);
        Assert.Equal("cn-shanghai", rows[new DimensionKey("11.197.0.2")]["region_id"]);
    }

    [Fact]
    public async Task LoadAllAsync_NoFinalNewlineAndBlankLines_ReadsEveryRow()
    {
        Write("gateway_cluster", "local_ip,region_id\n\n11.197.0.1,a\n\r\n11.197.0.2,b");

        var rows = await LoadAsync(GatewayCluster);

        Assert.Equal(2, rows.Count);
        Assert.Equal("b", rows[new DimensionKey("11.197.0.2")]["region_id"]);
    }

    [Fact]
    public async Task LoadAllAsync_CompositeKey_KeysByColumnsInDeclaredOrder()
    {
        // File column order (api before product) differs from the key order (product, api).
        Write("api_meta", "api,priority,product\nDescribeX,P1,acc\nRunInstances,P0,ecs\n");

        var rows = await LoadAsync(ApiMeta);

        Assert.Equal("P0", rows[new DimensionKey("ecs", "RunInstances")]["priority"]);
        Assert.Equal("P1", rows[new DimensionKey("acc", "DescribeX")]["priority"]);
        Assert.False(rows.ContainsKey(new DimensionKey("DescribeX", "acc")));
    }

    [Fact]
    public async Task LoadAllAsync_DuplicateKey_LastRowWins()
    {
        Write("api_meta", "product,api,priority\nacc,DescribeX,P1\nacc,DescribeX,P2\n");

        var rows = await LoadAsync(ApiMeta);

        Assert.Single(rows);
        Assert.Equal("P2", rows[new DimensionKey("acc", "DescribeX")]["priority"]);
    }

    [Fact]
    public async Task LoadAllAsync_MissingFile_ThrowsNamingFile()
    {
        var ex = await Assert.ThrowsAsync<FileNotFoundException>(() => LoadAsync(GatewayCluster));

        Assert.Contains(Path.Combine(_dir, "gateway_cluster.csv"), ex.Message);
        Assert.Equal(Path.Combine(_dir, "gateway_cluster.csv"), ex.FileName);
    }

    [Fact]
    public async Task LoadAllAsync_MissingKeyColumn_ThrowsNamingFileAndColumn()
    {
        Write("api_meta", "product,API,priority\nacc,DescribeX,P1\n");

        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => LoadAsync(ApiMeta));

        Assert.Contains("api_meta.csv", ex.Message);
        Assert.Contains("'api'", ex.Message);
    }

    [Fact]
    public async Task LoadAllAsync_RowWithWrongFieldCount_ThrowsNamingLine()
    {
        Write("gateway_cluster", "local_ip,region_id\n11.197.0.1,a\n11.197.0.2,b,extra\n");

        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => LoadAsync(GatewayCluster));

        Assert.Contains("gateway_cluster.csv", ex.Message);
        Assert.Contains("line 3", ex.Message);
    }

    [Fact]
    public async Task LoadAllAsync_UnclosedQuote_ThrowsNamingLine()
    {
        Write("gateway_cluster", "local_ip,region_id\n11.197.0.1,\"open\n11.197.0.2,b\n");

        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => LoadAsync(GatewayCluster));

        Assert.Contains("line 2", ex.Message);
    }

    [Fact]
    public async Task LoadAllAsync_TextAfterClosingQuote_Throws()
    {
        Write("gateway_cluster", "local_ip,region_id\n11.197.0.1,\"a\"b\n");

        await Assert.ThrowsAsync<InvalidDataException>(() => LoadAsync(GatewayCluster));
    }

    [Fact]
    public async Task LoadAllAsync_EmptyFile_Throws()
    {
        Write("gateway_cluster", "");

        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => LoadAsync(GatewayCluster));

        Assert.Contains("gateway_cluster.csv", ex.Message);
    }

    [Fact]
    public async Task LoadAllAsync_TableNameWithPath_Throws()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => LoadAsync(new TableSpec("../secrets", ["k"])));
    }

    [Fact]
    public async Task GetAsync_KnownAndUnknownKeys_ReturnsRowOrNull()
    {
        Write("api_meta", "product,api,priority\nacc,DescribeX,P1\n");

        var row = await _source.GetAsync(ApiMeta, new DimensionKey("acc", "DescribeX"), CancellationToken.None);
        var none = await _source.GetAsync(ApiMeta, new DimensionKey("acc", "Nope"), CancellationToken.None);

        Assert.NotNull(row);
        Assert.Equal("P1", row["priority"]);
        Assert.Null(none);
    }

    [Fact]
    public async Task GetAsync_FileRewritten_ReadsNewContent()
    {
        Write("api_meta", "product,api,priority\nacc,DescribeX,P1\n");
        await _source.GetAsync(ApiMeta, new DimensionKey("acc", "DescribeX"), CancellationToken.None);

        Write("api_meta", "product,api,priority\nacc,DescribeX,P0-urgent\n");
        var row = await _source.GetAsync(ApiMeta, new DimensionKey("acc", "DescribeX"), CancellationToken.None);

        Assert.Equal("P0-urgent", row!["priority"]);
    }

    /// <summary>
    /// Within the recheck interval the index is kept without a look at the file. A table longer than
    /// <see cref="CsvRowIndex.WholeFileBytes"/> keeps only its row index (key hash + offset), so a row comes from the file
    /// as it is now; a shorter one is held whole, so its rows are those it was indexed with until a recheck sees the change.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GetAsync_WithinRecheckInterval_KeepsItsIndexWithoutStat_RowsFromTheFileOrItsHeldBytes(bool heldWhole)
    {
        // Rows of other keys after the one asked for, past the size a table is held whole at when it is not to be.
        var filler = heldWhole ? "" : string.Concat(Enumerable.Range(0, 5000).Select(i => $"q{i},api,filler\n"));
        var source = new CsvDimensionSource(_dir, recheckInterval: TimeSpan.FromHours(1));
        Write("api_meta", "product,api,priority\nacc,DescribeX,P1\n" + filler);
        Assert.Equal(heldWhole, new FileInfo(Path.Combine(_dir, "api_meta.csv")).Length <= CsvRowIndex.WholeFileBytes);
        await source.GetAsync(ApiMeta, new DimensionKey("acc", "DescribeX"), CancellationToken.None);

        Write("api_meta", "product,api,priority\nacc,DescribeX,P0-urgent\n" + filler);
        var row = await source.GetAsync(ApiMeta, new DimensionKey("acc", "DescribeX"), CancellationToken.None);

        Assert.Equal(heldWhole ? "P1" : "P0-urgent", row!["priority"]);
        // A source that checks the file every time sees the change either way.
        using var checking = new CsvDimensionSource(_dir, recheckInterval: TimeSpan.Zero);
        Assert.Equal("P0-urgent", (await checking.GetAsync(ApiMeta, new DimensionKey("acc", "DescribeX"), CancellationToken.None))!["priority"]);
    }

    public static TheoryData<string, byte[], string> BrokenTables => new()
    {
        { "ragged row", "product,api,priority\nacc,A,P1\nacc,B\n"u8.ToArray(), "line 3 has 2 fields; the header has 3" },
        { "no key column in header", "acc,A,P1\nacc,B,P2\n"u8.ToArray(), "has no key column 'product'" },
        { "bad encoding", [.. "product,api,priority\nacc,A,P1\nacc,"u8, 0xC3, 0x28, .. ",P2\n"u8], "line 3: not valid UTF-8" },
        { "unclosed quote", "product,api,priority\nacc,\"A,P1\n"u8.ToArray(), "line 2: a quoted field is not closed" },
        { "empty", [], "is empty" },
    };

    [Theory]
    [MemberData(nameof(BrokenTables))]
    public async Task ValidateAsync_BrokenTable_NamesFileAndLine(string kind, byte[] content, string expected)
    {
        File.WriteAllBytes(Path.Combine(_dir, "api_meta.csv"), content);

        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => new CsvDimensionSource(_dir).ValidateAsync(ApiMeta, CancellationToken.None));

        Assert.Contains("api_meta.csv", ex.Message);
        Assert.True(ex.Message.Contains(expected, StringComparison.Ordinal), $"{kind}: {ex.Message}");
    }

    [Fact]
    public async Task GetAsync_LargeTable_IndexOf16BytesPerRow_RowsFromTheFile_LastDuplicateWins_QuotedNewlines()
    {
        var sb = new System.Text.StringBuilder("product,api,priority\n");
        for (var i = 0; i < 50_000; i++) sb.Append('p').Append(i).Append(",api,P").Append(i % 7).Append('\n');
        sb.Append("p7,api,\"multi\nline, quoted \"\"x\"\"\"\n");   // a later duplicate of p7, spanning two lines
        Write("api_meta", sb.ToString());
        var source = new CsvDimensionSource(_dir);

        await source.ValidateAsync(ApiMeta, CancellationToken.None);
        var p7 = await source.GetAsync(ApiMeta, new DimensionKey("p7", "api"), CancellationToken.None);
        var p49999 = await source.GetAsync(ApiMeta, new DimensionKey("p49999", "api"), CancellationToken.None);
        var missing = await source.GetAsync(ApiMeta, new DimensionKey("p50000", "api"), CancellationToken.None);

        Assert.Equal(16, CsvRowIndex.BytesPerRow);
        Assert.Equal("multi\nline, quoted \"x\"", p7!["priority"]);
        Assert.Equal("P" + (49999 % 7), p49999!["priority"]);
        Assert.Null(missing);
    }

    [Fact]
    public async Task GetAsync_KeyRepeatedThroughoutTheFile_LastRowWins()
    {
        // Many rows of one key, spread among others: the index sorts by hash, and the rows of one hash must
        // stay in file order, whatever the sort does with equal keys.
        var sb = new StringBuilder("product,api,priority\n");
        for (var i = 0; i < 3_000; i++) sb.Append(i % 3 == 0 ? "dup" : "p" + i).Append(",api,v").Append(i).Append('\n');
        Write("api_meta", sb.ToString());
        using var source = new CsvDimensionSource(_dir);
        await source.ValidateAsync(ApiMeta, CancellationToken.None);

        Assert.Equal("v2997", (await source.GetAsync(ApiMeta, new DimensionKey("dup", "api"), CancellationToken.None))!["priority"]);
        Assert.Equal("v2998", (await source.GetAsync(ApiMeta, new DimensionKey("p2998", "api"), CancellationToken.None))!["priority"]);
        Assert.Equal("v2997", (await LoadAsync(ApiMeta))[new DimensionKey("dup", "api")]["priority"]);
    }

    [Fact]
    public async Task GetAsync_KeyLongerThanTheStackBuffer_Found()
    {
        // A key of more than 512 UTF-8 bytes is hashed through a rented buffer: the same hash as the index pass's.
        var long1 = new string('ü', 300);
        var long2 = new string('x', 700);
        Write("api_meta", $"product,api,priority\n{long1},{long2},P9\nacc,{long2},P1\n");
        using var source = new CsvDimensionSource(_dir);
        await source.ValidateAsync(ApiMeta, CancellationToken.None);

        Assert.Equal("P9", (await source.GetAsync(ApiMeta, new DimensionKey(long1, long2), CancellationToken.None))!["priority"]);
        Assert.Equal("P1", (await source.GetAsync(ApiMeta, new DimensionKey("acc", long2), CancellationToken.None))!["priority"]);
        Assert.Null(await source.GetAsync(ApiMeta, new DimensionKey(long2, long1), CancellationToken.None));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1_000, 3)]
    [InlineData(5_000, 1_000)]
    [InlineData(5_000, 1 << 30)]
    public void SortByHashThenOffset_OrdersByHash_EqualHashesByOffset(int rows, int distinctHashes)
    {
        var random = new Random(rows + distinctHashes);
        var hashes = Enumerable.Range(0, rows).Select(_ => (ulong)random.Next(distinctHashes) * 0x9E3779B97F4A7C15UL).ToArray();
        // Offsets in file order, as the index pass meets the rows.
        var offsets = Enumerable.Range(0, rows).Select(i => i * 10L + random.Next(10)).ToArray();
        var expected = hashes.Zip(offsets).OrderBy(r => r.First).ThenBy(r => r.Second).ToArray();

        CsvRowIndex.SortByHashThenOffset(hashes, offsets);

        Assert.Equal(expected.Select(r => r.First), hashes);
        Assert.Equal(expected.Select(r => r.Second), offsets);
    }

    [Theory]
    [InlineData(CsvRowIndex.RadixSortRows - 1, 300)]
    [InlineData(CsvRowIndex.RadixSortRows, 300)]
    [InlineData(2_700, 70_000)]
    [InlineData(20_000, 1)]
    public void SortByHashThenOffset_HashesSharingTheirHighBytes_OffsetsInAnyOrder(int rows, int distinctHashes)
    {
        // Small hashes (every high byte zero: the radix sort skips those passes), some shared, and offsets not
        // in file order: sorted by hash, then offset, as LINQ sorts the pairs.
        var random = new Random(rows ^ distinctHashes);
        var hashes = Enumerable.Range(0, rows).Select(_ => (ulong)random.Next(distinctHashes)).ToArray();
        var offsets = Enumerable.Range(0, rows).Select(_ => (long)random.Next(1_000_000)).ToArray();
        var expected = hashes.Zip(offsets).OrderBy(r => r.First).ThenBy(r => r.Second).ToArray();

        CsvRowIndex.SortByHashThenOffset(hashes, offsets);

        Assert.Equal(expected.Select(r => r.First), hashes);
        Assert.Equal(expected.Select(r => r.Second), offsets);
    }

    [Fact]
    public async Task GetAsync_KeysOutsideAscii_QuotedAndInTheHeader_FoundAsLoadAllFindsThem()
    {
        // The index hashes a key's bytes as the file holds them (UTF-8, unquoted); a lookup hashes its key's
        // UTF-8: the two must meet for any text, quoted or not, and the header is decoded as LoadAll decodes it.
        TableSpec cities = new("city_ü", ["städt", "land"]);
        Write("city_ü",
            "städt,land,名前\n" +
            "Zürich,CH,\"eins, zwei\"\n" +
            "\"東京\",JP,二\n" +
            "\"say \"\"hi\"\"\",\"a,b\",drei\n" +
            "😀,\"multi\nline\",vier\n" +
            "Zürich,CH,letzte\n");
        using var source = new CsvDimensionSource(_dir);
        await source.ValidateAsync(cities, CancellationToken.None);

        var all = await source.LoadAllAsync(cities, CancellationToken.None);
        Assert.Equal(4, all.Count);
        foreach (var (key, expected) in all)
        {
            var row = await source.GetAsync(cities, key, CancellationToken.None);
            Assert.Equal(expected.OrderBy(c => c.Key, StringComparer.Ordinal), row!.OrderBy(c => c.Key, StringComparer.Ordinal));
        }
        Assert.Equal("letzte", (await source.GetAsync(cities, new DimensionKey("Zürich", "CH"), CancellationToken.None))!["名前"]);
        Assert.Equal("vier", (await source.GetAsync(cities, new DimensionKey("😀", "multi\nline"), CancellationToken.None))!["名前"]);
        Assert.Null(await source.GetAsync(cities, new DimensionKey("Zurich", "CH"), CancellationToken.None));
        Assert.Null(await source.GetAsync(cities, new DimensionKey("\ud800", "CH"), CancellationToken.None));
        Assert.Null(await source.GetAsync(cities, new DimensionKey(new string('ü', 400), "CH"), CancellationToken.None));
    }

    [Fact]
    public async Task GetAsync_MissingFile_ThrowsNamingFile()
    {
        var ex = await Assert.ThrowsAsync<FileNotFoundException>(
            () => _source.GetAsync(GatewayCluster, new DimensionKey("11.197.0.1"), CancellationToken.None));

        Assert.Contains("gateway_cluster.csv", ex.Message);
    }

    /// <summary>A table held whole (at most <see cref="CsvRowIndex.WholeFileBytes"/>: its rows read from its bytes) and one read from the file.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task GetAsync_KeptOpenFile_ReturnsTheRowsOfLoadAll_ForEveryKey_RowsLongerThanOneRead(bool heldWhole)
    {
        // Rows longer than a lookup's read (a 3,000-byte field, a quoted field with a line break across a
        // read's end), a byte order mark, CRLF, blank lines and a duplicate key (the last row wins).
        var sb = new StringBuilder("product,api,priority\r\n");
        for (var i = 0; i < 300; i++)
        {
            sb.Append('p').Append(i).Append(",api,");
            if (i % 50 == 7) sb.Append('"').Append(new string('x', CsvRowIndex.LookupBufferBytes - 20 + i)).Append("\r\nsecond \"\"line\"\"\"");
            else if (i % 50 == 9) sb.Append(new string('y', 3000 + i));
            else sb.Append('P').Append(i % 7);
            sb.Append("\r\n");
            if (i % 97 == 0) sb.Append("\r\n");
        }
        sb.Append("p3,api,last-wins\r\n");
        // Filler rows past the size a table is held whole at.
        for (var i = 0; !heldWhole && sb.Length <= CsvRowIndex.WholeFileBytes; i++) sb.Append('q').Append(i).Append(",api,filler\r\n");
        Write("api_meta", sb.ToString(), bom: true);
        Assert.Equal(heldWhole, new FileInfo(Path.Combine(_dir, "api_meta.csv")).Length <= CsvRowIndex.WholeFileBytes);
        using var source = new CsvDimensionSource(_dir);

        var all = await source.LoadAllAsync(ApiMeta, CancellationToken.None);
        await source.ValidateAsync(ApiMeta, CancellationToken.None);
        Assert.Equal(300, all.Count(r => r.Key.Parts[0].StartsWith('p')));
        foreach (var (key, expected) in all)
        {
            var row = await source.GetAsync(ApiMeta, key, CancellationToken.None);
            Assert.Equal(expected.OrderBy(c => c.Key, StringComparer.Ordinal), row!.OrderBy(c => c.Key, StringComparer.Ordinal));
        }
        Assert.Equal("last-wins", (await source.GetAsync(ApiMeta, new DimensionKey("p3", "api"), CancellationToken.None))!["priority"]);
        Assert.Equal(3009, (await source.GetAsync(ApiMeta, new DimensionKey("p9", "api"), CancellationToken.None))!["priority"].Length);
        Assert.Null(await source.GetAsync(ApiMeta, new DimensionKey("p300", "api"), CancellationToken.None));
    }

    [Fact]
    public async Task GetAsync_FileReplacedByRename_OldIndexKeepsReadingItsOwnFile_UntilTheRecheckIndexesTheNewOne()
    {
        var path = Path.Combine(_dir, "api_meta.csv");
        Write("api_meta", "product,api,priority\nacc,DescribeX,P1\nacc,B,P2\n");
        using var trusting = new CsvDimensionSource(_dir, recheckInterval: TimeSpan.FromHours(1));
        Assert.Equal("P1", (await trusting.GetAsync(ApiMeta, new DimensionKey("acc", "DescribeX"), CancellationToken.None))!["priority"]);

        // A new file renamed over the old one (how editors and deploy tools replace a file), rows moved.
        File.WriteAllText(path + ".new", "product,api,priority\nacc,B,Q2-longer\nacc,DescribeX,Q1-longer\n");
        File.Move(path + ".new", path, overwrite: true);

        // Within the recheck interval the index and the rows it reads come from the same (old) file, consistently.
        Assert.Equal("P2", (await trusting.GetAsync(ApiMeta, new DimensionKey("acc", "B"), CancellationToken.None))!["priority"]);
        // A source that checks every time sees the new file's size, indexes it again and reads its rows.
        using var checking = new CsvDimensionSource(_dir, recheckInterval: TimeSpan.Zero);
        Assert.Equal("Q1-longer", (await checking.GetAsync(ApiMeta, new DimensionKey("acc", "DescribeX"), CancellationToken.None))!["priority"]);
        Assert.Equal("Q2-longer", (await _source.GetAsync(ApiMeta, new DimensionKey("acc", "B"), CancellationToken.None))!["priority"]);
    }

    [Fact]
    public async Task GetAsync_FileRewrittenWhileLookupsRun_EveryLookupGetsAnOldOrANewRow_NeverAnError()
    {
        var path = Path.Combine(_dir, "api_meta.csv");
        static string Table(int version) =>
            "product,api,priority\n" + string.Concat(Enumerable.Range(0, 200).Select(i => $"p{(i * 7 + version) % 200},api,v{version}-{(i * 7 + version) % 200}" + new string('-', version % 5) + "\n"));
        File.WriteAllText(path, Table(0));
        // Recheck on every lookup: each rewrite is indexed again, closing the old index while others may be reading it.
        using var source = new CsvDimensionSource(_dir, recheckInterval: TimeSpan.Zero);
        await source.ValidateAsync(ApiMeta, CancellationToken.None);

        using var stop = new CancellationTokenSource();
        var lookups = Enumerable.Range(0, 4).Select(t => Task.Run(async () =>
        {
            var done = 0;
            for (var n = 0; !stop.IsCancellationRequested || n < 200; n++, done++)
            {
                var key = (n * 13 + t) % 200;
                var row = await source.GetAsync(ApiMeta, new DimensionKey($"p{key}", "api"), CancellationToken.None);
                Assert.NotNull(row);
                Assert.Matches($"^v\\d+-{key}-*$", row["priority"]);
            }
            return done;
        })).ToArray();
        for (var version = 1; version <= 30; version++)
        {
            File.WriteAllText(path + ".new", Table(version));
            File.Move(path + ".new", path, overwrite: true);
            await Task.Yield();
        }
        await stop.CancelAsync();
        Assert.All(await Task.WhenAll(lookups), done => Assert.True(done >= 200));
        Assert.Equal("v30-5", (await source.GetAsync(ApiMeta, new DimensionKey("p5", "api"), CancellationToken.None))!["priority"]);
    }

    [Fact]
    public async Task RowIndex_Disposed_ClosesItsFile_LookupsThrowObjectDisposed()
    {
        Write("api_meta", "product,api,priority\nacc,DescribeX,P1\n");
        var index = CsvRowIndex.Build(ApiMeta, Path.Combine(_dir, "api_meta.csv"));
        Assert.Equal("P1", index.Get(new DimensionKey("acc", "DescribeX"))!["priority"]);

        index.Dispose();

        Assert.True(index.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => index.Get(new DimensionKey("acc", "DescribeX")));
        // A closed source refuses lookups rather than reopening files behind its owner's back.
        var source = new CsvDimensionSource(_dir);
        await source.ValidateAsync(ApiMeta, CancellationToken.None);
        source.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => source.GetAsync(ApiMeta, new DimensionKey("acc", "DescribeX"), CancellationToken.None));
    }
}
