using Microsoft.Extensions.Logging;

namespace LogMetrics.Functions;

/// <summary>The app's log messages (stage words as in DESIGN §1). Event ids 1xxx, apart from the core's.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Startup: pipeline '{Pipeline}' from {Path}; {Shards} window shards, {ExpectedLanes} expected lanes, remote write to {RemoteWriteHost} (auth {Auth})")]
    public static partial void Started(ILogger logger, string pipeline, string path, int shards, int expectedLanes, string remoteWriteHost, string auth);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Debug, Message = "Ingest: lane {Lane}, {Events} events (sequence {First}..{Last}), {Shards} shards signalled")]
    public static partial void Ingested(ILogger logger, string lane, int events, long first, long last, int shards);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Parse: malformed event in lane {Lane} at sequence {Sequence} ({Bytes} bytes): {Reason}")]
    public static partial void DeadLetter(ILogger logger, string lane, long sequence, int bytes, string reason);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Error, Message = "Ingest: batch of lane {Lane} (sequence {First}..{Last}) failed; the trigger retries it (shards ignore what they already applied), after the last retry it is stored in the dead-letter container")]
    public static partial void IngestFailed(ILogger logger, Exception exception, string lane, long first, long last);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Error, Message = "Ingest: batch of lane {Lane} (sequence {First}..{Last}, {Events} events) failed after its last retry (attempt {Attempts}); stored as {Blob}: {Reason}")]
    public static partial void BatchDeadLettered(ILogger logger, string lane, long first, long last, int events, int attempts, string blob, string reason);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Critical, Message = "Ingest: batch of lane {Lane} (sequence {First}..{Last}, {Events} events) failed after its last retry and could NOT be stored in the dead-letter container; it is lost (counted): {Reason}")]
    public static partial void DeadLetterStoreFailed(ILogger logger, Exception exception, string lane, long first, long last, int events, string reason);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Information, Message = "Parse: {Count} malformed events of lane {Lane} (batch {First}..{Last}) stored as {Blob}")]
    public static partial void MalformedStored(ILogger logger, int count, string lane, long first, long last, string blob);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "Flush: watermark {WatermarkMs}, {Windows} windows closed, {Written} samples written, {Dropped} dropped, {Pending} pending (outcome {Outcome})")]
    public static partial void Flushed(ILogger logger, long watermarkMs, int windows, int written, int dropped, int pending, string outcome);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "Flush: timer is past due (last {Last:o}); catching up")]
    public static partial void FlushPastDue(ILogger logger, DateTime last);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Information, Message = "Enrich: loaded {Rows} rows of table {Table} (partition {Partition})")]
    public static partial void DimensionsLoaded(ILogger logger, int rows, string table, string partition);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "Enrich: table {Table} row {RowKey} has {Parts} key parts, the lookup has {Columns} key columns; row skipped")]
    public static partial void DimensionRowSkipped(ILogger logger, string table, string rowKey, int parts, int columns);

    [LoggerMessage(EventId = 1401, Level = LogLevel.Warning, Message = "Write: self-metrics not written this tick: {Reason}")]
    public static partial void SelfMetricsFailed(ILogger logger, string reason);
}
