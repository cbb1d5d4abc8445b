using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Tests.Parse;

/// <summary>
/// The dead-letter file's lines: the raw line is written from its UTF-8 bytes, and must come out byte for byte as the
/// writer wrote it from the line's string before (the second implementation here), and read back as the same bytes.
/// </summary>
public sealed class JsonlDeadLetterSinkTests
{
    private static readonly JsonWriterOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A dead letter as the sink wrote it when it escaped the raw line's string (before session 15).</summary>
    private static byte[] FromString(DeadLetter letter)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, Relaxed))
        {
            writer.WriteStartObject();
            writer.WriteString("lane", letter.Lane);
            writer.WriteNumber("line", letter.Sequence);
            writer.WriteString("reason", letter.Reason);
            writer.WriteString("raw", Encoding.UTF8.GetString(letter.Raw.Span));
            writer.WriteString("encoding", "utf-8");
            writer.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }

    private static byte[] Written(params DeadLetter[] letters)
    {
        var stream = new MemoryStream();
        using (var sink = new JsonlDeadLetterSink(stream))
        {
            foreach (var letter in letters) sink.Write(letter);
        }
        return stream.ToArray();
    }

    private static DeadLetter Letter(string raw, long line = 7) => new("lanes/a.jsonl", line, "not JSON: 'x' at 3", Encoding.UTF8.GetBytes(raw));

    // Text a line may hold: JSON in JSON (quotes, backslashes), every control character, HTML-sensitive and non-ASCII
    // characters, characters outside the BMP, line and paragraph separators, a byte order mark, unassigned code points.
    private static readonly string[] Pieces =
    [
        "{\"a\":\"b\"}", "\\", "\\\\\"", "\"", "<script>&'`+", "\u007f", "café", "日本語", "\U0001F600", "\U00010348",
        "\u2028", "\u2029", "\ufeff", "\u0378", "\ufffe", "\uffff", "\u00a0", "\u200b", "\ud7ff", "\ue000", "plain text ",
        "{\"Ext5\":\"{\\\"k\\\":\\\"v\\\"}\"}",
    ];

    [Fact]
    public void EveryAsciiCharacter_ComesOutAsFromItsString()
    {
        for (var c = 0; c < 128; c++)
        {
            var letter = Letter($"x{(char)c}y{(char)c}");
            Assert.Equal(Encoding.UTF8.GetString(FromString(letter)), Encoding.UTF8.GetString(Written(letter)));
        }
    }

    [Fact]
    public void RandomLines_ComeOutAsFromTheirString_AndReadBackAsTheSameBytes()
    {
        var random = new Random(1507);
        for (var i = 0; i < 2_000; i++)
        {
            var text = new StringBuilder();
            var parts = random.Next(0, 40);
            for (var p = 0; p < parts; p++)
            {
                text.Append(random.Next(4) == 0 ? (char)random.Next(0, 32) : Pieces[random.Next(Pieces.Length)]);
            }
            var letter = Letter(text.ToString(), i);
            var written = Written(letter);

            Assert.Equal(FromString(letter), written);
            using var doc = JsonDocument.Parse(written);
            Assert.Equal(letter.Raw.ToArray(), Encoding.UTF8.GetBytes(doc.RootElement.GetProperty("raw").GetString()!));
            Assert.Equal("utf-8", doc.RootElement.GetProperty("encoding").GetString());
        }
    }

    [Fact]
    public void ALongLine_ComesOutAsFromItsString()
    {
        // Longer than the writer's buffers grow at first.
        var line = string.Concat(Enumerable.Repeat("{\"Ext5\":\"{\\\"callerInfo\\\":\\\"é\U0001F600\\\"}\",\"n\":1}", 2_000));
        var letter = Letter(line);

        Assert.Equal(FromString(letter), Written(letter));
    }

    [Fact]
    public void NotUtf8_IsBase64()
    {
        byte[] raw = [(byte)'{', 0xC3, 0x28, (byte)'}'];
        var written = Written(new DeadLetter("l", 1, "not UTF-8", raw));

        using var doc = JsonDocument.Parse(written);
        Assert.Equal("base64", doc.RootElement.GetProperty("encoding").GetString());
        Assert.Equal(raw, doc.RootElement.GetProperty("raw").GetBytesFromBase64());
    }

    [Fact]
    public void SeveralLetters_OneLineEach()
    {
        var text = Encoding.UTF8.GetString(Written(Letter("a\nb", 1), Letter("\"c\"", 2)));

        Assert.Equal(["{\"lane\":\"lanes/a.jsonl\",\"line\":1,\"reason\":\"not JSON: 'x' at 3\",\"raw\":\"a\\nb\",\"encoding\":\"utf-8\"}",
            "{\"lane\":\"lanes/a.jsonl\",\"line\":2,\"reason\":\"not JSON: 'x' at 3\",\"raw\":\"\\\"c\\\"\",\"encoding\":\"utf-8\"}", ""], text.Split('\n'));
    }
}
