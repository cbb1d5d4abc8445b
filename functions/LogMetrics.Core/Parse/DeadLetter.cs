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
    private readonly Utf8JsonWriter _writer = new(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    private readonly Lock _gate = new();

    public void Write(DeadLetter letter)
    {
        lock (_gate)
        {
            _writer.WriteStartObject();
            _writer.WriteString("lane", letter.Lane);
            _writer.WriteNumber("line", letter.Sequence);
            _writer.WriteString("reason", letter.Reason);
            var raw = letter.Raw.Span;
            if (Utf8.IsValid(raw))
            {
                // Escaped from its UTF-8 bytes: no UTF-16 copy of the line to allocate and encode back (the same bytes
                // out as from its string: JsonlDeadLetterSinkTests).
                _writer.WriteString("raw"u8, raw);
                _writer.WriteString("encoding", "utf-8");
            }
            else
            {
                _writer.WriteBase64String("raw", raw);
                _writer.WriteString("encoding", "base64");
            }
            _writer.WriteEndObject();
            _writer.Flush();
            _writer.Reset();
            stream.WriteByte((byte)'\n');
        }
    }

    public void Dispose()
    {
        _writer.Dispose();
        stream.Dispose();
    }
}
