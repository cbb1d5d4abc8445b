using System.Text.Json;
using LogMetrics.Core.Hosting;
using LogMetrics.Functions.Hosting;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;

namespace LogMetrics.Functions;

/// <summary>
/// Event Hubs → window shards. Binds a batch as bytes plus its sequence numbers and partition id
/// (the lane), and hands it to <see cref="LaneIngestor"/>, which parses, prunes, enriches, folds the
/// batch into partials and signals every shard entity.
/// </summary>
/// <remarks>
/// The host checkpoints after the invocation even when it throws (AZURE-API §2), so a failure is
/// retried in-process by the retry attribute; re-running a batch is safe because every shard ignores
/// a sequence range it already applied. A batch that still fails on its last attempt is stored whole in
/// the dead-letter container and counted (<see cref="IngestDeadLetters"/>); the malformed events of a
/// batch are stored there too. A batch whose trigger supplied no partition id cannot be ingested (its
/// sequence numbers belong to no lane): it fails every attempt, and its last one stores it under the lane
/// <see cref="NoPartitionLane"/> with the reason, so it is counted and kept, not lost.
/// </remarks>
public sealed class IngestFunction(LaneIngestor ingestor, HostSettings settings, IngestDeadLetters deadLetters, ILogger<IngestFunction> logger)
{
    /// <summary>Retries after the first attempt (the attribute below); the last one dead-letters a failing batch.</summary>
    public const int MaxRetries = 5;

    /// <summary>
    /// The dead-letter lane of a batch without a partition id. Event Hubs partition ids are numbers, so it
    /// names no real partition.
    /// </summary>
    public const string NoPartitionLane = "_no-partition-id";

    [Function("Ingest")]
    [ExponentialBackoffRetry(MaxRetries, "00:00:02", "00:01:00")]
    public async Task RunAsync(
        [EventHubTrigger("%EVENTHUB_NAME%", Connection = "EventHubConnection", ConsumerGroup = "%EVENTHUB_CONSUMER_GROUP%", IsBatched = true)] byte[][] events,
        long[] sequenceNumberArray,
        JsonElement partitionContext,
        [DurableClient] DurableTaskClient client,
        FunctionContext context)
    {
        var partition = PartitionContextReader.TryGetPartitionId(partitionContext);
        var lane = partition ?? NoPartitionLane;
        var first = sequenceNumberArray.Length > 0 ? sequenceNumberArray[0] : -1;
        var last = sequenceNumberArray.Length > 0 ? sequenceNumberArray[^1] : -1;
        try
        {
            if (partition is null) throw PartitionContextReader.Missing(partitionContext);
            var shards = await ingestor.IngestAsync(lane, events, sequenceNumberArray, new DurableShardStore(client, settings.ShardCount), context.CancellationToken).ConfigureAwait(false);
            await deadLetters.StoreMalformedAsync(lane, first, last, context.CancellationToken).ConfigureAwait(false);
            Log.Ingested(logger, lane, events.Length, first, last, shards);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.IngestFailed(logger, e, lane, first, last);
            await deadLetters.BatchFailedAsync(lane, events, sequenceNumberArray, e, context.RetryContext, MaxRetries, context.CancellationToken).ConfigureAwait(false);
            throw;
        }
    }
}
