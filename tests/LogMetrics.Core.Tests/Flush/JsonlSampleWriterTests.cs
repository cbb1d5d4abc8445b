using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Tests.Flush;

/// <summary>
/// The writer formats the common sample itself, without <see cref="Utf8JsonWriter"/>; its bytes must be the
/// ones <see cref="Utf8JsonWriter"/> writes (with the relaxed encoder) line by line, for every sample.
/// </summary>
public class JsonlSampleWriterTests
{
    /// <summary>The reference: one <see cref="Utf8JsonWriter"/> object per line, as the writer did before it formatted lines itself.</summary>
    internal static byte[] Reference(IEnumerable<Sample> samples)
    {
        using var stream = new MemoryStream();
        using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        foreach (var s in samples)
        {
            writer.WriteStartObject();
            writer.WriteString("name", s.Name);
            writer.WriteStartObject("labels");
            foreach (var l in s.Labels) writer.WriteString(l.Name, l.Value);
            writer.WriteEndObject();
            writer.WriteNumber("timestamp", s.TimestampMs);
            writer.WriteNumber("value", s.Value);
            writer.WriteEndObject();
            writer.Flush();
            writer.Reset();
            stream.WriteByte((byte)'\n');
        }
        return stream.ToArray();
    }

    private static async Task<byte[]> Written(params IReadOnlyList<Sample>[] batches)
    {
        var stream = new MemoryStream();
        var writer = new JsonlSampleWriter(stream);
        foreach (var batch in batches) await writer.WriteAsync(batch, CancellationToken.None);
        return stream.ToArray();
    }

    private static void AssertSameText(byte[] expected, byte[] actual) =>
        Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(actual));

    [Fact]
    public async Task WriteAsync_EveryAsciiCharacterInNamesAndValues_SameBytesAsUtf8JsonWriter()
    {
        var samples = new List<Sample>();
        for (var c = 0; c < 128; c++)
        {
            var text = $"a{(char)c}b";
            samples.Add(new Sample("m" + text, [new Label("product", text), new Label("x" + text, "v")], 1_768_484_060_000, c));
        }
        AssertSameText(Reference(samples), await Written(samples));
    }

    [Fact]
    public async Task WriteAsync_NonAsciiAndSurrogates_SameBytesAsUtf8JsonWriter()
    {
        Sample[] samples =
        [
            new("namespace_tenant_gw_http_req", [new Label("uid", "é"), new Label("zone", "杭州")], 0, 1),
            new("m", [new Label("emoji", "\U0001F600"), new Label("sep", "\u2028\u2029")], -5, 2),
            new("m", [new Label("lone", "\uD800x"), new Label("bom", "\uFEFF")], 1, 3),
            new("m", [new Label("del", "\u007F\u0080\u00A0")], 2, 4),
        ];
        AssertSameText(Reference(samples), await Written(samples));
    }

    [Fact]
    public async Task WriteAsync_EveryLetterWrittenAsItIs_SameBytesAsUtf8JsonWriter_TheEncoderLeavesEachAsItIs()
    {
        // Every letter the writer formats itself outside ASCII, in names and values, 64 to a sample.
        var letters = Enumerable.Range(0, char.MaxValue + 1).Select(c => (char)c).Where(JsonlSampleWriter.IsPlainLetter).ToArray();
        Assert.Equal((0x17F - 0xC0 + 1 - 2) + (0x9FA5 - 0x4E00 + 1), letters.Length);
        foreach (var c in letters)
        {
            Assert.Equal(-1, JavaScriptEncoder.UnsafeRelaxedJsonEscaping.FindFirstCharacterToEncodeUtf8(Encoding.UTF8.GetBytes(c.ToString())));
        }
        var samples = letters.Chunk(64).Select((chunk, i) =>
            new Sample("m" + chunk[0], [new Label("a" + chunk[^1], new string(chunk)), new Label("b", "x" + chunk[0] + "y")], i, i)).ToList();
        AssertSameText(Reference(samples), await Written(samples));
    }

    [Fact]
    public async Task WriteAsync_LettersNextToThePlainOnes_AndMixedWithEscapes_SameBytesAsUtf8JsonWriter()
    {
        // Just outside the ranges written as they are, and plain letters beside text that must be escaped.
        string[] texts =
        [
            "\u00BF", "\u00C0", "\u00D7", "\u00F7", "\u017F", "\u0180", "\u4DFF", "\u4E00", "\u9FA5", "\u9FA6", "\u9FFF",
            "caf\u00E9\"", "\u6570\u636E\\", "\u00E9<>&", "\u00E9\u2028", "\u00E9\U0001F600", "\u00E9\uD800", "\u00E9\u0001",
        ];
        var samples = texts.SelectMany((t, i) => new[]
        {
            new Sample("m", [new Label("v", t)], i, i),
            new Sample("m" + t, [new Label(t, "\u00E9")], i, 0.5),
        }).ToList();
        AssertSameText(Reference(samples), await Written(samples));
    }

    [Fact]
    public async Task WriteAsync_Numbers_SameBytesAsUtf8JsonWriter()
    {
        var random = new Random(10);
        var values = new List<double>
        {
            0, -0.0, 1, -1, 0.1, 1.0 / 3, 2.0 / 3, 1e21, 1e-7, 123456789012345678, double.MaxValue, double.MinValue,
            double.Epsilon, -double.Epsilon, 0.30000000000000004, 5e-324, 1.7976931348623157e308, 4.35, 99.5,
        };
        for (var i = 0; i < 2000; i++)
        {
            values.Add(BitConverter.Int64BitsToDouble(random.NextInt64()) is var d && double.IsFinite(d) ? d : i);
            values.Add(random.Next(0, 100_000) / (double)random.Next(1, 1000));
            values.Add(random.Next());
        }
        long[] stamps = [0, 1, -1, long.MaxValue, long.MinValue, 1_768_484_060_000];
        var samples = values.Select((v, i) => new Sample("m", [new Label("a", "b")], stamps[i % stamps.Length], v)).ToList();
        AssertSameText(Reference(samples), await Written(samples));
    }

    [Fact]
    public async Task WriteAsync_IntegralValuesAroundTheirFastPath_SameBytesAsUtf8JsonWriter()
    {
        // Integers under 10^15 are formatted as integers: the edges of that range, -0, halves beside integers.
        var values = new List<double> { 0, -0.0, 1, -1, 1e15, -1e15, 1e15 - 1, -(1e15 - 1), 1e15 + 1, 1e15 - 0.5, 1e16, 9007199254740992, 4503599627370496.5, 1e14, 1e14 + 0.5 };
        var random = new Random(3);
        for (var i = 0; i < 3000; i++)
        {
            var magnitude = Math.Pow(10, random.Next(0, 17));
            var integral = Math.Truncate(random.NextDouble() * magnitude) * (random.Next(2) == 0 ? 1 : -1);
            values.Add(integral);
            values.Add(integral + 0.5);
            // The doubles next to it (integral or not; the bits below zero are not numbers).
            if (BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(integral) + random.Next(-2, 3)) is var near && double.IsFinite(near)) values.Add(near);
        }
        var samples = values.Select((v, i) => new Sample("m", [new Label("a", "b")], i, v)).ToList();
        AssertSameText(Reference(samples), await Written(samples));
    }

    /// <summary>
    /// As a flush writes them: the samples of a family's metrics one metric after another, each series' label array
    /// shared by its metrics' samples (the writer keeps each array's text for the batch), arrays of other batches
    /// (and lists) met again at other places, label arrays that need escaping beside plain ones, more arrays than the
    /// writer keeps texts of, and names and timestamps that change.
    /// </summary>
    [Fact]
    public async Task WriteAsync_LabelArraysSharedBySamplesAndBatches_SameBytesAsUtf8JsonWriter()
    {
        var random = new Random(5);
        var batches = new List<IReadOnlyList<Sample>>();
        for (var b = 0; b < 6; b++)
        {
            var series = Enumerable.Range(0, b switch { 0 => 3, 1 => 200, 5 => 30_000, _ => 5000 }).Select(i => (IReadOnlyList<Label>)(random.Next(10) switch
            {
                0 => [new Label("api", "a\"" + i), new Label("product", "Ecs")],
                1 => new List<Label> { new("api", "caf\u00E9" + i), new("product", "\u6570\u636E") },
                _ => [new Label("api", "Api" + i + new string('x', random.Next(0, 90))), new Label("product", "p" + (i % 7)), new Label("region", "cn-" + (i % 3))],
            })).ToArray();
            var batch = new List<Sample>();
            foreach (var metric in new[] { "namespace_api_gw_http_req", "namespace_api_gw_http_5xx", "m\"x", "namespace_api_gw_http_req" })
            {
                foreach (var labels in series)
                {
                    batch.Add(new Sample(metric, labels, 1_768_484_060_000 + 10_000 * random.Next(3), random.Next(5) == 0 ? 0.25 : random.Next(100)));
                }
            }
            batches.Add(batch);
        }
        AssertSameText(Reference(batches.SelectMany(x => x)), await Written([.. batches]));
    }

    /// <summary>
    /// Label texts of every size the writer keeps (in chunks of 4 KiB growing to 64 KiB) and does not (longer than a chunk),
    /// each array met twice in its batch, batch after batch, so that later batches reuse the chunks of earlier ones,
    /// including texts longer than the chunk they come to.
    /// </summary>
    [Fact]
    public async Task WriteAsync_LabelTextsOfEveryChunkSize_ReusedAcrossBatches_SameBytesAsUtf8JsonWriter()
    {
        var random = new Random(11);
        int[] sizes = [1, 50, 3000, 4090, 4100, 9000, 20_000, 40_000, 65_400, 65_600, 100_000];
        var batches = new List<IReadOnlyList<Sample>>();
        for (var b = 0; b < 8; b++)
        {
            var series = Enumerable.Range(0, 40).Select(i => (IReadOnlyList<Label>)[
                new Label("api", new string((char)('a' + (i % 26)), sizes[random.Next(sizes.Length)])),
                new Label("product", "p" + i)]).ToArray();
            var batch = new List<Sample>();
            foreach (var metric in new[] { "m_one", "m_two" })
            {
                foreach (var labels in series) batch.Add(new Sample(metric, labels, 1_768_484_060_000 + b, random.Next(100)));
            }
            batches.Add(batch);
        }
        AssertSameText(Reference(batches.SelectMany(x => x)), await Written([.. batches]));
    }

    [Fact]
    public async Task WriteAsync_NoLabelsLongValuesAndManyBatches_SameBytesAsUtf8JsonWriter()
    {
        var longText = new string('x', 70_000);
        Sample[] first = [new("m", [], 10, 1), new("m", [new Label("big", longText)], 20, 2)];
        var second = Enumerable.Range(0, 3000).Select(i => new Sample("namespace_api_gw_http_req", [new Label("api", "Api" + i), new Label("product", "Ecs")], i, i * 0.5)).ToList();
        AssertSameText(Reference([.. first, .. second]), await Written(first, second, []));
    }

    [Fact]
    public async Task WriteAsync_NotFiniteValue_ThrowsAsUtf8JsonWriterDoes()
    {
        var writer = new JsonlSampleWriter(new MemoryStream());
        await Assert.ThrowsAsync<ArgumentException>(() => writer.WriteAsync([new Sample("m", [], 0, double.NaN)], CancellationToken.None));
    }
}
