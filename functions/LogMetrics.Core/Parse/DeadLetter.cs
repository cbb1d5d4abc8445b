using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace LogMetrics.Core.Parse;

/// <summary>A malformed record: where it came from, why it was refused, and its raw bytes.</summary>
public sealed record DeadLetter(string Lane, long Sequence, string Reason, ReadOnlyMemory<byte> Raw);

/// <summary>Receives malformed records. Writing one never stops the batch.</summary>
public interface IDeadLetterSink
{
    void Write(DeadLetter letter);
}

/// <summary>Drops dead letters (they are still counted by the pipeline).</summary>
public sealed class NullDeadLetterSink : IDeadLetterSink
{
    public static readonly NullDeadLetterSink Instance = new();

    public void Write(DeadLetter letter) { }
}

/// <summary>
/// Writes dead letters as JSON lines: <c>{"lane","line","reason","raw","encoding"}</c>, where raw
/// is the text when it is valid UTF-8 and base64 otherwise.
/// </summary>
public sealed class JsonlDeadLetterSink(Stream stream) : IDeadLetterSink, IDisposable
{
    // Made at the first dead letter: its encoder's tables (over all of Unicode) cost about 0.1 ms to build, which a run
    // without a malformed line, as most short replays are, need not pay.
    private Utf8JsonWriter? _writer;
    private readonly Lock _gate = new();

    public void Write(DeadLetter letter)
    {
        lock (_gate)
        {
            var writer = _writer ??= new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            writer.WriteStartObject();
            writer.WriteString("lane", letter.Lane);
            writer.WriteNumber("line", letter.Sequence);
            writer.WriteString("reason", letter.Reason);
            var raw = letter.Raw.Span;
            if (Utf8.IsValid(raw))
            {
                // Escaped from its UTF-8 bytes: no UTF-16 copy of the line to allocate and encode back (the same bytes
                // out as from its string: JsonlDeadLetterSinkTests).
                writer.WriteString("raw"u8, raw);
                writer.WriteString("encoding", "utf-8");
            }
            else
            {
                writer.WriteBase64String("raw", raw);
                writer.WriteString("encoding", "base64");
            }
            writer.WriteEndObject();
            writer.Flush();
            writer.Reset();
            stream.WriteByte((byte)'\n');
        }
    }

    public void Dispose()
    {
        _writer?.Dispose();
        stream.Dispose();
    }
}
