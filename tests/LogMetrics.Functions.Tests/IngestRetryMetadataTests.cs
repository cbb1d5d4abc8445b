using System.Text.Json;

namespace LogMetrics.Functions.Tests;

/// <summary>
/// The host runs the Ingest function's retries from the retry policy in the generated functions.metadata;
/// the function decides its last attempt (when a failing batch is dead-lettered) from the same number.
/// </summary>
public sealed class IngestRetryMetadataTests
{
    [Fact]
    public void Metadata_IngestRetryPolicy_IsExponentialWithMaxRetries()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "functions.metadata")));
        var ingest = doc.RootElement.EnumerateArray().Single(f => f.GetProperty("name").GetString() == "Ingest");

        var retry = ingest.GetProperty("retry");

        Assert.Equal("exponentialBackoff", retry.GetProperty("strategy").GetString());
        Assert.Equal(IngestFunction.MaxRetries, retry.GetProperty("maxRetryCount").GetInt32());
    }
}
