using System.Text;
using System.Text.Json;
using LogMetrics.Core.Parse;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogMetrics.Functions.Tests;

/// <summary>
/// A batch whose trigger supplied no partition id cannot be ingested (its sequence numbers belong to no
/// lane). It must not be lost: every attempt fails naming the problem, and the last one stores the batch
/// whole in the dead-letter container under <see cref="IngestFunction.NoPartitionLane"/>.
/// </summary>
public sealed class IngestNoPartitionTests
{
    private sealed class Store : IDeadLetterStore
    {
        public List<FailedBatch> Batches { get; } = [];

        public Task StoreFailedBatchAsync(FailedBatch batch, CancellationToken cancellationToken)
        {
            Batches.Add(batch);
            return Task.CompletedTask;
        }

        public Task StoreMalformedAsync(string lane, long first, long last, IReadOnlyList<DeadLetter> letters, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("a refused batch has no malformed events to store");
    }

    private sealed class Retry(int count, int max) : RetryContext
    {
        public override int RetryCount => count;

        public override int MaxRetryCount => max;
    }

    private sealed class Context(RetryContext? retry) : FunctionContext
    {
        public override string InvocationId => "test";

        public override string FunctionId => "Ingest";

        public override TraceContext TraceContext => throw new NotSupportedException();

        public override BindingContext BindingContext => throw new NotSupportedException();

        public override RetryContext RetryContext => retry!;

        public override IServiceProvider InstanceServices { get; set; } = null!;

        public override FunctionDefinition FunctionDefinition => throw new NotSupportedException();

        public override IDictionary<object, object> Items { get; set; } = new Dictionary<object, object>();

        public override IInvocationFeatures Features => throw new NotSupportedException();

        public override CancellationToken CancellationToken => CancellationToken.None;
    }

    private static JsonElement Json(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    // The ingestor, settings and durable client are never reached: the batch is refused before ingest.
    // Were they reached, the null ingestor's NullReferenceException would be the stored reason instead.
    private static IngestFunction Function(Store store) =>
        new(null!, null!, new IngestDeadLetters(store, NullLogger<IngestDeadLetters>.Instance), NullLogger<IngestFunction>.Instance);

    [Fact]
    public async Task NoPartitionId_EveryAttemptFails_LastOneStoresTheBatchUnderTheNoPartitionLane()
    {
        var store = new Store();
        var function = Function(store);
        byte[][] events = [Encoding.UTF8.GetBytes("""{"a":1}"""), Encoding.UTF8.GetBytes("""{"a":2}""")];
        long[] sequence = [41, 42];

        for (var attempt = 0; attempt < IngestFunction.MaxRetries; attempt++)
        {
            var retry = attempt == 0 ? null : new Retry(attempt, IngestFunction.MaxRetries);
            var early = await Assert.ThrowsAsync<InvalidOperationException>(() => function.RunAsync(events, sequence, Json("{}"), null!, new Context(retry)));
            Assert.Contains("PartitionId", early.Message, StringComparison.Ordinal);
        }
        Assert.Empty(store.Batches);

        var last = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            function.RunAsync(events, sequence, Json("""{"PartitionId":null}"""), null!, new Context(new Retry(IngestFunction.MaxRetries, IngestFunction.MaxRetries))));

        Assert.Contains("PartitionId", last.Message, StringComparison.Ordinal);
        var batch = Assert.Single(store.Batches);
        Assert.Equal("_no-partition-id", batch.Lane);
        Assert.Equal([41L, 42L], batch.SequenceNumbers.ToArray());
        Assert.Equal(events, batch.Bodies.Select(b => b.ToArray()));
        Assert.StartsWith("System.InvalidOperationException: ", batch.Reason, StringComparison.Ordinal);
        Assert.Contains("PartitionId", batch.Reason, StringComparison.Ordinal);
        Assert.Equal(IngestFunction.MaxRetries + 1, batch.Attempts);
    }
}
