using LogMetrics.Functions.Hosting;

namespace LogMetrics.Functions.Tests.Hosting;

public sealed class DimensionRowKeyTests
{
    [Fact]
    public void Encode_DocExample_MatchesLoaderScript()
    {
        // infra/scripts/load-dimensions.sh: "|".join(urllib.parse.quote(v, safe="") for v in key values)
        Assert.Equal("acc|A%7CB%2FC%3Dd%20%C3%A9", DimensionRowKey.Encode(["acc", "A|B/C=d é"]));
    }

    [Theory]
    [InlineData("11.197.1.2", "11.197.1.2")]
    [InlineData("a|b", "a%7Cb")]
    [InlineData("x/y", "x%2Fy")]
    [InlineData("50%", "50%25")]
    [InlineData("keep-._~", "keep-._~")]
    [InlineData("#?\\", "%23%3F%5C")]
    [InlineData("日本", "%E6%97%A5%E6%9C%AC")]
    public void Encode_SinglePart_PercentEncodesLikeTheScript(string value, string expected)
    {
        Assert.Equal(expected, DimensionRowKey.Encode([value]));
    }

    [Fact]
    public void Encode_DocCompositeExample_JoinsWithBar()
    {
        Assert.Equal("a%7Cb|x%2Fy", DimensionRowKey.Encode(["a|b", "x/y"]));
        Assert.Equal("acc|DescribeCustomResourceDetail", DimensionRowKey.Encode(["acc", "DescribeCustomResourceDetail"]));
    }

    [Theory]
    [InlineData("acc", "A|B/C=d é")]
    [InlineData("|", "||")]
    [InlineData("%7C", "%")]
    [InlineData("", "empty first")]
    [InlineData("naïve", "Ωmega", "🙂")]
    public void Decode_EncodedParts_RoundTrips(params string[] parts)
    {
        var rowKey = DimensionRowKey.Encode(parts);

        Assert.Equal(parts, DimensionRowKey.Decode(rowKey));
        Assert.DoesNotContain('/', rowKey);
        Assert.DoesNotContain('#', rowKey);
        Assert.DoesNotContain('?', rowKey);
        Assert.DoesNotContain('\\', rowKey);
    }

    [Fact]
    public void Encode_NoParts_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => DimensionRowKey.Encode([]));
    }

    [Theory]
    [InlineData("gateway_cluster", "gatewaycluster")]
    [InlineData("user_level", "userlevel")]
    [InlineData("api_meta", "apimeta")]
    [InlineData("Api2_Meta", "Api2Meta")]
    public void TableNameOf_LookupName_DropsNonAlphanumerics(string lookup, string table)
    {
        Assert.Equal(table, DimensionRowKey.TableNameOf(lookup));
        Assert.Equal(lookup, DimensionRowKey.PartitionKeyOf(lookup));
    }

    [Fact]
    public void TableNameOf_NoLettersOrDigits_Throws()
    {
        Assert.Throws<ArgumentException>(() => DimensionRowKey.TableNameOf("__"));
    }
}
