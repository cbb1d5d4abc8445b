using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace LogMetrics.Functions;

/// <summary>
/// The Ingest function's dead letters, stored through an <see cref="IDeadLetterStore"/> (the Blob
/// container), not only logged:
/// <list type="bullet">
/// <item>as the pipeline's <see cref="IDeadLetterSink"/> it logs each malformed event (lane, sequence,
/// size, reason; never the raw text) and keeps it for its lane until the batch ends;
/// <see cref="StoreMalformedAsync"/> then writes the batch's malformed events to one file;</item>
/// <item><see cref="BatchFailedAsync"/> writes a batch that failed on its last attempt whole, with its
/// reason, and counts it.</item>
/// </list>
/// A lane's batches run one at a time (one Event Hubs partition per lane), so its pending letters are
/// those of the current attempt.
/// </summary>
public sealed class IngestDeadLetters(IDeadLetterStore store, ILogger<IngestDeadLetters> logger) : IDeadLetterSink
{
    // The instruments are defined with every other self-metric, on the one LogMetrics meter.
    private static readonly Counter<long> FailedBatches = PipelineMeter.IngestBatchesFailed;
    private static readonly Counter<long> FailedEvents = PipelineMeter.IngestEventsFailed;
    private static readonly Counter<long> Stored = PipelineMeter.DeadLettersStored;
    private static readonly Counter<long> StoreErrors = PipelineMeter.DeadLetterStoreErrors;
    private static readonly KeyValuePair<string, object?> IngestStage = new(PipelineMeter.StageTag, PipelineMeter.Stage.Accumulate);
    private static readonly KeyValuePair<string, object?> ParseStage = new(PipelineMeter.StageTag, PipelineMeter.Stage.Parse);

    private readonly ConcurrentDictionary<string, List<DeadLetter>> _pending = new(StringComparer.Ordinal);

    /// <summary>Pipeline → sink: logs the letter and keeps a copy of it for its lane's batch.</summary>
    public void Write(DeadLetter letter)
    {
        Log.DeadLetter(logger, letter.Lane, letter.Sequence, letter.Raw.Length, letter.Reason);
        var letters = _pending.GetOrAdd(letter.Lane, _ => []);
        lock (letters)
        {
            letters.Add(letter with { Raw = letter.Raw.ToArray() });
        }
    }

    /// <summary>
    /// After a batch was ingested: stores its malformed events (if any) as
    /// <see cref="DeadLetterFiles.MalformedPath"/>. A failure throws, so the batch is retried (its
    /// shards ignore what they already applied) and, after the last retry, stored whole.
    /// </summary>
    public async Task StoreMalformedAsync(string lane, long first, long last, CancellationToken cancellationToken)
    {
        if (!_pending.TryRemove(lane, out var pending)) return;
        DeadLetter[] letters;
        lock (pending)
        {
            letters = [.. pending];
        }
        if (letters.Length == 0) return;
        await store.StoreMalformedAsync(lane, first, last, letters, cancellationToken).ConfigureAwait(false);
        Stored.Add(1, ParseStage, new KeyValuePair<string, object?>("kind", "malformed"));
        Log.MalformedStored(logger, letters.Length, lane, first, last, DeadLetterFiles.MalformedPath(lane, first, last));
    }

    /// <summary>
    /// A batch threw. On its last attempt (<see cref="IsLastAttempt"/>) it is stored whole with the
    /// reason and counted; before that nothing is stored (the trigger retries it). Its pending malformed
    /// letters are dropped either way: a retry parses the batch again, and a stored batch holds them.
    /// Never throws for a storage failure: that is logged critical and counted, and the caller rethrows
    /// the batch's own error. Returns true when the batch was stored.
    /// </summary>
    public async Task<bool> BatchFailedAsync(string lane, IReadOnlyList<byte[]> events, IReadOnlyList<long> sequenceNumbers, Exception error,
        RetryContext? retry, int configuredMaxRetries, CancellationToken cancellationToken)
    {
        _pending.TryRemove(lane, out _);
        if (!IsLastAttempt(retry, configuredMaxRetries)) return false;

        var reason = $"{error.GetType().FullName}: {error.Message}";
        var batch = new FailedBatch(lane, sequenceNumbers, [.. events.Select(e => (ReadOnlyMemory<byte>)e)], reason, (retry?.RetryCount ?? 0) + 1);
        FailedBatches.Add(1, IngestStage, new KeyValuePair<string, object?>("lane", PipelineMeter.LaneLabel(lane)));
        FailedEvents.Add(events.Count, IngestStage, new KeyValuePair<string, object?>("lane", PipelineMeter.LaneLabel(lane)));
        try
        {
            await store.StoreFailedBatchAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            StoreErrors.Add(1, ParseStage, new KeyValuePair<string, object?>("kind", "batch"));
            Log.DeadLetterStoreFailed(logger, e, lane, batch.First, batch.Last, events.Count, reason);
            return false;
        }
        Stored.Add(1, ParseStage, new KeyValuePair<string, object?>("kind", "batch"));
        Log.BatchDeadLettered(logger, lane, batch.First, batch.Last, events.Count, batch.Attempts, DeadLetterFiles.FailedBatchPath(lane, batch.First, batch.Last), reason);
        return true;
    }

    /// <summary>
    /// Whether this invocation is the last the host makes for its batch. The host's retry loop
    /// (WebJobs <c>FunctionExecutorExtensions.TryExecuteAsync</c>) sends no retry context on the first
    /// attempt and <c>RetryCount</c> = 1..<c>MaxRetryCount</c> on the retries; -1 means retry forever.
    /// <paramref name="configuredMaxRetries"/> is the function's retry attribute, used when the context is absent.
    /// </summary>
    public static bool IsLastAttempt(RetryContext? retry, int configuredMaxRetries)
    {
        var max = retry?.MaxRetryCount ?? configuredMaxRetries;
        return max >= 0 && (retry?.RetryCount ?? 0) >= max;
    }
}
