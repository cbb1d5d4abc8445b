using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LogMetrics.Core.Parse;

/// <summary>A batch of one lane that still failed after its last retry: its raw events, in order, and why.</summary>
/// <param name="SequenceNumbers">The sequence number of each body (Event Hubs: increasing within the lane).</param>
/// <param name="Attempts">How many times the batch was tried (1 + retries).</param>
public sealed record FailedBatch(string Lane, IReadOnlyList<long> SequenceNumbers, IReadOnlyList<ReadOnlyMemory<byte>> Bodies, string Reason, int Attempts)
{
    public long First => SequenceNumbers.Count > 0 ? SequenceNumbers[0] : -1;

    public long Last => SequenceNumbers.Count > 0 ? SequenceNumbers[^1] : -1;
}

/// <summary>
/// Durable storage of what the pipeline could not deliver, so that nothing a team cares about exists only
/// in a log line (the Functions app: a Blob container). Files are laid out by <see cref="DeadLetterFiles"/>.
/// Storing the same batch twice (a redelivery) overwrites the same file.
/// </summary>
public interface IDeadLetterStore
{
    /// <summary>Stores a failed batch whole as a lane file (<see cref="DeadLetterFiles.FailedBatchPath"/>) with its reason.</summary>
    Task StoreFailedBatchAsync(FailedBatch batch, CancellationToken cancellationToken);

    /// <summary>Stores the malformed records of one batch (<see cref="DeadLetterFiles.MalformedPath"/>).</summary>
    Task StoreMalformedAsync(string lane, long first, long last, IReadOnlyList<DeadLetter> letters, CancellationToken cancellationToken);
}

/// <summary>
/// The dead-letter layout (docs/FUNCTIONS.md "Dead letters"), all under one container:
/// <list type="bullet">
/// <item><c>deadletter/&lt;lane&gt;/&lt;first&gt;-&lt;last&gt;.jsonl.gz</c>: a failed batch, its raw event bodies one per line,
/// a lane file <c>logmetrics replay</c> reads as it is (line i is the event with the i-th sequence number);</item>
/// <item><c>deadletter/&lt;lane&gt;/&lt;first&gt;-&lt;last&gt;.json</c>: its sidecar (lane, sequence numbers, reason, attempts);</item>
/// <item><c>deadletter/&lt;lane&gt;/malformed/&lt;first&gt;-&lt;last&gt;.jsonl.gz</c>: the malformed records of the batch
/// first..last, one <c>{"lane","line","reason","raw","encoding"}</c> each, like the console's dead.jsonl
/// (<c>line</c> is the sequence number).</item>
/// </list>
/// </summary>
public static class DeadLetterFiles
{
    public const string Root = "deadletter";

    /// <summary>Failed batch file of a lane's sequence range.</summary>
    public static string FailedBatchPath(string lane, long first, long last) => $"{LanePrefix(lane)}{Range(first, last)}.jsonl.gz";

    /// <summary>The sidecar of <see cref="FailedBatchPath"/>.</summary>
    public static string SidecarPath(string lane, long first, long last) => $"{LanePrefix(lane)}{Range(first, last)}.json";

    /// <summary>Malformed records of a batch.</summary>
    public static string MalformedPath(string lane, long first, long last) => $"{LanePrefix(lane)}malformed/{Range(first, last)}.jsonl.gz";

    /// <summary>The lane as one path segment: percent-encoded, so a lane name never adds or escapes a folder.</summary>
    private static string LanePrefix(string lane)
    {
        ArgumentException.ThrowIfNullOrEmpty(lane);
        return $"{Root}/{Uri.EscapeDataString(lane)}/";
    }

    private static string Range(long first, long last) =>
        first.ToString(CultureInfo.InvariantCulture) + "-" + last.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes the bodies gzip-compressed, one per line (a lane file). A body must stay one line: a valid
    /// JSON body can only hold CR/LF as whitespace between tokens (strict JSON forbids them raw inside
    /// strings), so they become spaces and the record is unchanged. A body with a line break that is not
    /// valid JSON is written as a JSON string of its base64, so that it stays exactly one malformed line.
    /// </summary>
    public static void WriteLaneFile(Stream output, IReadOnlyList<ReadOnlyMemory<byte>> bodies)
    {
        using var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true);
        foreach (var body in bodies)
        {
            var span = body.Span;
            if (span.IndexOfAny((byte)'\n', (byte)'\r') < 0)
            {
                gzip.Write(span);
            }
            else if (IsJson(span))
            {
                var copy = span.ToArray();
                for (var i = 0; i < copy.Length; i++)
                {
                    if (copy[i] is (byte)'\n' or (byte)'\r') copy[i] = (byte)' ';
                }
                gzip.Write(copy);
            }
            else
            {
                gzip.Write(JsonSerializer.SerializeToUtf8Bytes(Convert.ToBase64String(span), DeadLetterJsonContext.Default.String));
            }
            gzip.WriteByte((byte)'\n');
        }
    }

    /// <summary>Writes dead letters gzip-compressed in the dead.jsonl format of <see cref="JsonlDeadLetterSink"/>.</summary>
    public static void WriteMalformedFile(Stream output, IReadOnlyList<DeadLetter> letters)
    {
        var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true);
        using var sink = new JsonlDeadLetterSink(gzip);
        foreach (var letter in letters) sink.Write(letter);
    }

    /// <summary>The sidecar of a failed batch: <c>{"lane","first","last","events","sequenceNumbers","reason","attempts"}</c>.</summary>
    public static byte[] Sidecar(FailedBatch batch) => JsonSerializer.SerializeToUtf8Bytes(new SidecarDocument(
        batch.Lane, batch.First, batch.Last, batch.Bodies.Count, batch.SequenceNumbers, batch.Reason, batch.Attempts), DeadLetterJsonContext.Default.SidecarDocument);

    /// <summary>The sidecar's shape (camelCase names, <see cref="JsonSerializerDefaults.Web"/>).</summary>
    internal sealed record SidecarDocument(string Lane, long First, long Last, int Events, IReadOnlyList<long> SequenceNumbers, string Reason, int Attempts);

    private static bool IsJson(ReadOnlySpan<byte> utf8)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8);
            while (reader.Read())
            {
            }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

/// <summary>
/// Source-generated serializer of the dead-letter files (the sidecar with <see cref="JsonSerializerDefaults.Web"/>,
/// camelCase, as before; a body kept as a base64 JSON string): no reflection, so the Native AOT build can write them.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(DeadLetterFiles.SidecarDocument))]
[JsonSerializable(typeof(string))]
internal sealed partial class DeadLetterJsonContext : JsonSerializerContext;
