using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Tests.Parse;

/// <summary>
/// Differential tests: <see cref="JsonValidator"/> must give the verdict of a final-block
/// <see cref="Utf8JsonReader"/> (MaxDepth 64, no comments, no trailing commas) reading every token,
/// on random, mutated and adversarial inputs.
/// </summary>
public class JsonValidatorTests
{
    /// <summary>The reference: does the reader get through every token, and is the root an object?</summary>
    private static JsonVerdict Reference(byte[] json)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read()) return JsonVerdict.Invalid;
            var root = reader.TokenType;
            while (reader.Read())
            {
            }
            return root == JsonTokenType.StartObject ? JsonVerdict.Object : JsonVerdict.OtherValue;
        }
        catch (JsonException)
        {
            return JsonVerdict.Invalid;
        }
    }

    private static readonly string[] Scalars =
    [
        "0", "-0", "1", "-1", "12.5", "1e5", "1E+5", "-2.5e-3", "01", "1.", ".5", "-", "+1", "1e", "0x1", "Infinity", "NaN",
        "true", "false", "null", "tru", "nul", "True", "\"\"", "\"a\"", "\"\\u00e9\"", "\"\\uD83D\\uDE00\"", "\"\\ud800\"", "\"\\uZZZZ\"",
        "\"\\q\"", "\"\\/\"", "\"tab\there\"", "\"é\"", "\"😀\"", "\"a\\\"b\"", "\"unterminated",
    ];

    private static readonly string[] Noise =
    [
        "{", "}", "[", "]", ":", ",", "\"", "\\", " ", "\t", "\n", "\r", "\u0000", "\u001f", "/", "//", "/*", "*/", "t", "1", "-", "e", ".",
        "\"k\":", ",,", "\u00a0", "\ufeff",
    ];

    private static Gen<string> Value(int depth) =>
        depth <= 0
            ? Gen.Elements(Scalars)
            : Gen.OneOf(
                Gen.Elements(Scalars),
                from items in Value(depth - 1).ArrayOf().Select(a => a.Take(4).ToArray())
                from ws in Gen.Elements("", " ", "\n", "\t ", "\r\n")
                select "[" + ws + string.Join("," + ws, items) + ws + "]",
                from keys in Gen.Elements("a", "appGroup", "k", "", "\\u0061", "a b").ArrayOf().Select(a => a.Take(4).ToArray())
                from values in Value(depth - 1).ArrayOf(4)
                from ws in Gen.Elements("", " ", "\n")
                select "{" + ws + string.Join("," + ws, keys.Select((k, i) => "\"" + k + "\"" + ws + ":" + ws + values[i])) + ws + "}");

    private static byte[] Mutate(byte[] bytes, int kind, int at, byte with)
    {
        if (bytes.Length == 0) return [with];
        at %= bytes.Length;
        return kind switch
        {
            0 => bytes[..at],
            1 => [.. bytes[..at], .. bytes[(at + 1)..]],
            2 => [.. bytes[..at], with, .. bytes[at..]],
            _ => [.. bytes[..at], with, .. bytes[(at + 1)..]],
        };
    }

    private static readonly byte[] Interesting = [.. Encoding.UTF8.GetBytes("{}[]\":,\\ \t\n\rtfnue0123456789.-+Ex/"), 0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xA9, 0xED, 0xA0, 0xF0, 0xFF];

    private static Gen<byte[]> Input() =>
        Gen.OneOf(
            Value(3).Select(s => Encoding.UTF8.GetBytes(s)),
            from doc in Value(3)
            from kind in Gen.Choose(0, 3)
            from at in Gen.Choose(0, 10_000)
            from with in Gen.Elements(Interesting)
            select Mutate(Encoding.UTF8.GetBytes(doc), kind, at, with),
            Gen.Elements(Noise.Concat(Scalars).ToArray()).ArrayOf().Select(parts => Encoding.UTF8.GetBytes(string.Concat(parts.Take(12)))),
            Gen.Elements(Interesting).ArrayOf().Select(b => b.Take(24).ToArray()),
            from n in Gen.Choose(60, 68)
            from open in Gen.Elements("[", "{\"a\":")
            from inner in Gen.Elements("", "1", "[]", "{}")
            select Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(open, n)) + (open == "[" || inner.Length > 0 ? inner : "0")
                + string.Concat(Enumerable.Repeat(open == "[" ? "]" : "}", n))));

    [Fact]
    public void Classify_RandomMutatedAdversarialInputs_SameVerdictAsUtf8JsonReader()
    {
        var verdicts = new int[3];
        Prop.ForAll(Input().ToArbitrary(), (byte[] json) =>
        {
            var expected = Reference(json);
            verdicts[(int)expected]++;
            var actual = JsonValidator.Classify(json);
            return (actual == expected).Label($"{Convert.ToHexString(json)} ({Encoding.UTF8.GetString(json)}): validator {actual}, reader {expected}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(20_000));
        // The generator reaches every verdict.
        Assert.All(verdicts, n => Assert.True(n > 100, string.Join(", ", verdicts)));
    }

    [Theory]
    [InlineData("{\"appGroup\":\"x\"}", JsonVerdict.Object)]
    [InlineData(" [1, 2] ", JsonVerdict.OtherValue)]
    [InlineData("", JsonVerdict.Invalid)]
    [InlineData("   ", JsonVerdict.Invalid)]
    [InlineData("{not json", JsonVerdict.Invalid)]
    [InlineData("{'appGroup': 'x'}", JsonVerdict.Invalid)]
    [InlineData("{\"a\":1,}", JsonVerdict.Invalid)]
    [InlineData("{\"a\":1} {}", JsonVerdict.Invalid)]
    [InlineData("{\"a\":01}", JsonVerdict.Invalid)]
    [InlineData("{\"a\":\"\u0001\"}", JsonVerdict.Invalid)]
    public void Classify_Examples_MatchReader(string json, JsonVerdict expected)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        Assert.Equal(expected, Reference(bytes));
        Assert.Equal(expected, JsonValidator.Classify(bytes));
    }

    [Theory]
    [InlineData(new byte[] { (byte)'"', 0xFF, (byte)'"' })]
    [InlineData(new byte[] { (byte)'"', 0xC3, (byte)'"' })]
    [InlineData(new byte[] { (byte)'"', 0xED, 0xA0, 0x80, (byte)'"' })]
    public void Classify_InvalidUtf8InAString_MatchesReader(byte[] json) => Assert.Equal(Reference(json), JsonValidator.Classify(json));

    [Theory]
    [InlineData(64, JsonVerdict.OtherValue)]
    [InlineData(65, JsonVerdict.Invalid)]
    public void Classify_NestingAtTheDepthLimit_MatchesReader(int depth, JsonVerdict expected)
    {
        var bytes = Encoding.UTF8.GetBytes(new string('[', depth) + new string(']', depth));
        Assert.Equal(expected, Reference(bytes));
        Assert.Equal(expected, JsonValidator.Classify(bytes));
    }
}
