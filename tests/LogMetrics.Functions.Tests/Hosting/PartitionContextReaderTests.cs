using System.Text.Json;
using LogMetrics.Functions.Hosting;

namespace LogMetrics.Functions.Tests.Hosting;

public sealed class PartitionContextReaderTests
{
    private static JsonElement Json(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    [Theory]
    [InlineData("""{"ConsumerGroup":"$Default","EventHubName":"accesslogs","PartitionId":"3"}""", "3")]
    [InlineData("""{"partitionId":"7"}""", "7")]
    [InlineData("""{"PARTITIONID":" 5 "}""", "5")]
    [InlineData("""{"PartitionId":12}""", "12")]
    [InlineData("\"{\\\"PartitionId\\\":\\\"4\\\"}\"", "4")]
    public void GetPartitionId_ObjectOrJsonString_ReadsIt(string json, string expected)
    {
        Assert.Equal(expected, PartitionContextReader.GetPartitionId(Json(json)));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"PartitionId":null}""")]
    [InlineData("""{"PartitionId":""}""")]
    [InlineData("\"not json\"")]
    [InlineData("null")]
    [InlineData("[]")]
    public void GetPartitionId_NoPartitionId_ThrowsNamingIt(string json)
    {
        var error = Assert.Throws<InvalidOperationException>(() => PartitionContextReader.GetPartitionId(Json(json)));

        Assert.Contains("PartitionId", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetPartitionId_Unbound_ThrowsNamingIt()
    {
        var error = Assert.Throws<InvalidOperationException>(() => PartitionContextReader.GetPartitionId(default));

        Assert.Contains("got nothing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryGetPartitionId_JsonText_ReadsIt()
    {
        Assert.Equal("0", PartitionContextReader.TryGetPartitionId("""{"PartitionId":"0"}"""));
        Assert.Null(PartitionContextReader.TryGetPartitionId((string?)null));
    }
}
