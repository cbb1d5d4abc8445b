using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using FsCheck;
using FsCheck.Fluent;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Prune;
using LogMetrics.Core.Tests.EndToEnd;
using LogMetrics.Core.Tests.Support;

using Record = LogMetrics.Core.Parse.Record;

namespace LogMetrics.Core.Tests.Parse;

/// <summary>
/// Differential property tests of the hot path's byte-level JSON locators (issue 10): on random,
/// mutated and adversarial lines, the single pass (<see cref="RecordParser.TryLocate"/>,
/// <see cref="ParseJsonStep"/>'s walk, <see cref="JsonScan"/>) gives the verdict and the fields of the
/// <see cref="Utf8JsonReader"/> path it replaces.
/// </summary>
public class LocatorDifferentialTests
{
    private static readonly string[] Seeds = File.ReadLines(Path.Combine(GoldenCorpusTests.GoldenDir, "lane-0.jsonl")).Take(60).ToArray();

    private static readonly string[] Names =
    [
        "__time__", "Product", "Api", "HttpCode", "TotalUsedTime", "Domain", "Ext5", "RequestContent", "Version", "ErrorCode",
        "CallerUid", "LocalIp", "RegionId", "Other", "", "a b", "Pro\\u0064uct", "Ext\\u0035", "\\ud800x", "é", "Api\\\"",
    ];

    private static readonly string[] StringBodies =
    [
        "", "acc", "Describe", "404", "0404", "-5", " 5", "1.5", "200", "cn-hangzhou", "caf\\u00e9", "café", "\\uD83D\\uDE00", "😀",
        "\\ud800", "\\udc00", "\\uDE00\\uD83D", "\\uD83Dx", "\\uD83D\\u0041", "a\\\"b", "a\\\\b", "\\/\\b\\f\\n\\r\\t", "\\u0000",
        "RegionId=cn-beijing;SubRegionId=x;RegionId=cn-shanghai", "RegionId=r\\u00e9;k=v", "popwarmup.aliyuncs.com",
        new string('x', 127), new string('y', 129), new string('z', 140) + "\\n", "\\u00e9" + new string('q', 130),
    ];

    private static readonly string[] Scalars =
    [
        "0", "-0", "1", "-1", "12.5", "1e5", "1E+5", "-2.5e-3", "1768484243", "18446744073709551616", "1e400", "-1e400",
        "9007199254740993", "0.1", "404", "-404", "123456789012345", "-999999999999999", "1234567890123456", "1023", "1024", "true", "false", "null", "[]", "{}", "[1,\"a\",{\"b\":null}]",
        "{\"appGroup\":\"g\"}",
    ];

    private static readonly string[] Fragments =
    [
        "", " ", "\t", "\n", "\r", "{", "}", "[", "]", "\"", "\\", ":", ",", "null", "tru", "-", "01", "1.", ".5", "1e",
        "\u0000", "\u001f", "\u00e9", "\ud83d\ude00", "\\u", "\\ud800", "\\x", "\"__time__\":", "\"Ext5\":\"{\\\"appGroup\\\":", "/*", "//",
    ];

    private static Gen<string> Ext5Json(int depth) =>
        from parts in Gen.Elements("appGroup", "callerInfo", "a", "x", "é", "app\\u0047roup", "\\ud800").Select(k => "\\\"" + k + "\\\"").ArrayOf()
        from values in NestedValue(depth).ArrayOf(8)
        select "{" + string.Join(",", parts.Take(6).Select((k, i) => k + ":" + values[i])) + "}";

    private static Gen<string> NestedValue(int depth) =>
        depth <= 0
            ? Gen.OneOf(Gen.Elements(Scalars.Where(s => !s.Contains('"')).ToArray()), Gen.Elements(StringBodies.Where(b => !b.Contains('"') && !b.Contains('\\')).ToArray()).Select(b => "\\\"" + b + "\\\""))
            : Gen.OneOf(NestedValue(0), Ext5Json(depth - 1));

    private static Gen<string> Value() =>
        Gen.OneOf(
            Gen.Elements(StringBodies).Select(b => "\"" + b + "\""),
            Gen.Elements(Scalars),
            Ext5Json(2).Select(j => "\"" + j + "\""),
            from n in Gen.Choose(60, 66)
            select string.Concat(Enumerable.Repeat("[", n)) + string.Concat(Enumerable.Repeat("]", n)));

    private static Gen<string> SyntheticLine() =>
        from names in Gen.Elements(Names).ArrayOf()
        from values in Value().ArrayOf(16)
        from ws in Gen.Elements("", " ", "\t", "\r\n ")
        select "{" + ws + string.Join("," + ws, names.Take(16).Select((n, i) => "\"" + n + "\"" + ws + ":" + ws + values[i])) + ws + "}";

    private static string Splice(string s, int at, int length, string fragment)
    {
        at = Math.Min(at, s.Length);
        length = Math.Min(length, s.Length - at);
        return s[..at] + fragment + s[(at + length)..];
    }

    private static Gen<string> TextLine() =>
        Gen.OneOf(
            Gen.Elements(Seeds),
            SyntheticLine(),
            from seed in Gen.OneOf(Gen.Elements(Seeds), SyntheticLine())
            from at in Gen.Choose(0, 5000)
            from length in Gen.Choose(0, 8)
            from fragment in Gen.Elements(Fragments)
            select Splice(seed, at, length, fragment),
            from seed in Gen.Elements(Seeds)
            from at in Gen.Choose(0, 5000)
            select seed[..Math.Min(at, seed.Length)],
            Gen.Elements(Fragments).ArrayOf().Select(f => "{" + string.Concat(f.Take(20))));

    private static readonly byte[] Interesting = [.. Encoding.UTF8.GetBytes("{}[]\":,\\ \tu0e1-."), 0x00, 0x1F, 0x80, 0xC3, 0xFF];

    private static Gen<byte[]> Line() =>
        Gen.OneOf(
            TextLine().Select(Encoding.UTF8.GetBytes),
            from line in TextLine()
            from at in Gen.Choose(0, 5000)
            from with in Gen.Elements(Interesting)
            select Overwrite(Encoding.UTF8.GetBytes(line), at, with));

    private static byte[] Overwrite(byte[] bytes, int at, byte with)
    {
        if (bytes.Length == 0) return [with];
        var copy = bytes.ToArray();
        copy[at % copy.Length] = with;
        return copy;
    }

    private static string Describe(in FieldValue v) =>
        $"{v.Kind}|{v.Text}|{v.HasNumber}|{v.Number.ToString("R", CultureInfo.InvariantCulture)}|{(v.Kind == ValueKind.Utf8String ? Convert.ToHexString(v.Utf8Span) : "")}";

    private static string Snapshot(string? reason, Record record) =>
        reason + "\n" + record.EventTimeMs + "\n" + string.Join("\n", record.Values.Select((v, i) => i + ":" + Describe(v)));

    [Fact]
    public void Parse_RandomMutatedAdversarialLines_SameReasonAndFieldsAsUtf8JsonReader()
    {
        var compiled = Flagship.Pipeline;
        var parser = compiled.CreateParser();
        var fast = compiled.CreateRecord();
        var reference = compiled.CreateRecord();
        int located = 0, fellBack = 0, flaggedNotEmpty = 0;
        Prop.ForAll(Line().ToArbitrary(), (byte[] line) =>
        {
            var reason = parser.Parse(line, fast);
            var actual = Snapshot(reason, fast);
            reference.Clear();
            var expectedReason = Utf8.IsValid(line) ? parser.ParseWithReader(line, reference) : "invalid UTF-8";
            var expected = Snapshot(expectedReason, reference);
            // A value the parser says has a text that is not empty (FieldValue.TextNotEmpty, which spares a key's test
            // for an empty text a read of the string) has one.
            if (fast.Values.FirstOrDefault(v => v.TextNotEmpty && v.AsText.Length == 0) is { TextNotEmpty: true } lying)
            {
                return false.Label($"{Encoding.UTF8.GetString(line)}\n{lying.Kind} value flagged not empty, but empty");
            }
            if (reason is null) flaggedNotEmpty += fast.Values.Count(v => v.TextNotEmpty);
            if (Utf8.IsValid(line))
            {
                fast.Clear();
                if (parser.TryLocate(line, fast, out _) == RecordParser.Location.Located) located++;
                else fellBack++;
            }
            // Invalid JSON: the same verdict; the locator words its own reason (no exception), the fields do not matter.
            if (reason is not null && expectedReason is not null && reason.StartsWith("invalid JSON", StringComparison.Ordinal))
            {
                return expectedReason.StartsWith("invalid JSON", StringComparison.Ordinal).Label($"{Encoding.UTF8.GetString(line)}\nlocator: {reason}\nreader: {expectedReason}");
            }
            return (actual == expected).Label($"{Encoding.UTF8.GetString(line)}\nlocator:\n{actual}\nreader:\n{expected}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(20_000));
        // The generator reaches both paths.
        Assert.True(located > 2_000 && fellBack > 2_000, $"{located} located, {fellBack} read by the reader");
        Assert.True(flaggedNotEmpty > 10_000, $"{flaggedNotEmpty} values flagged not empty");
    }

    /// <summary>The verdict alone: where the reader reads a whole object with no escaped property name and no surrogate escape, the locator takes the line, and it never takes one the reader refuses.</summary>
    [Fact]
    public void TryLocate_RandomMutatedAdversarialLines_VerdictOfUtf8JsonReader()
    {
        var compiled = Flagship.Pipeline;
        var parser = compiled.CreateParser();
        var record = compiled.CreateRecord();
        Prop.ForAll(Line().Where(l => Utf8.IsValid(l)).ToArbitrary(), (byte[] line) =>
        {
            record.Clear();
            var location = parser.TryLocate(line, record, out _);
            var located = location == RecordParser.Location.Located;
            // Invalid is said only of what the reader refuses too.
            if (location == RecordParser.Location.Invalid && ReaderVerdict(line, out _, out _)) return false.Label($"{Encoding.UTF8.GetString(line)}: locator invalid, reader valid");
            var valid = ReaderVerdict(line, out var escapedRootName, out var repeatedEscaped);
            var surrogateEscape = Encoding.UTF8.GetString(line).Contains("\\u", StringComparison.Ordinal);
            var ok = located ? valid : !(valid && !escapedRootName && !repeatedEscaped && !surrogateEscape);
            return ok.Label($"{Encoding.UTF8.GetString(line)}: locator {located}, reader {valid}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(10_000));
    }

    /// <summary>
    /// Does a final-block reader (MaxDepth 64) read the whole line as one object? Does a root property name
    /// hold an escape, and does a field come again after an escaped string value (cases left to the reader)?
    /// </summary>
    private static bool ReaderVerdict(byte[] line, out bool escapedRootName, out bool repeatedEscaped)
    {
        escapedRootName = false;
        repeatedEscaped = false;
        var escapedValue = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1) continue;
                if (reader.ValueIsEscaped) escapedRootName = true;
                var name = Encoding.UTF8.GetString(reader.ValueSpan);
                if (escapedValue.Contains(name)) repeatedEscaped = true;
                reader.Read();
                if (reader.TokenType == JsonTokenType.String && reader.ValueIsEscaped) escapedValue.Add(name);
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) reader.Skip();
            }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static Gen<string> EscapedBody() =>
        Gen.OneOf(
            Gen.Elements(StringBodies),
            Gen.Elements(StringBodies.Concat(["\\u12", "\\q", "\"", "\u0001", "\\u0041", "\\uDBFF\\uDFFF", "\\uD800\\uD800", "\\uDFFF",
                    // JSON inside a JSON string: 16-byte blocks whose only escapes are \" or \/ (the shuffle path).
                    "{\\\"appGroup\\\":\\\"pop-region\\\",", "\\\"k\\\":\\\"v\\\"}", "http:\\/\\/a.b\\/c", "\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\""]).ToArray())
                .ArrayOf().Select(parts => string.Concat(parts.Take(12))));

    /// <summary>
    /// <see cref="JsonScan.DecodableStringEnd"/>, which checks a string that nothing reads 64 bytes at a time: on random
    /// strings dense with escapes and runs of backslashes, across block edges and near the line's end, it answers only
    /// for a string the reader reads and decodes, with the reader's end; and it answers for every such string with no
    /// <c>\u</c> escape whose closing quote lies in a whole block of the line.
    /// </summary>
    [Fact]
    public void DecodableStringEnd_RandomEscapesAndBackslashRuns_AnswersOnlyWhatTheReaderDecodes()
    {
        var part = Gen.OneOf(
            EscapedBody(),
            from run in Gen.Choose(1, 6)
            from after in Gen.Elements("\"", "n", "u00e9", "ud800", "x", "/", "\\", "")
            select new string('\\', run) + after,
            Gen.Choose(0, 70).Select(n => new string('a', n)),
            Gen.Elements("é", "😀", "\u0001", "\u007f", "\t", "{\\\"k\\\":\\\"v\\\"}"));
        var lines =
            from parts in part.ArrayOf()
            from tail in Gen.Choose(0, 100)
            select (Body: string.Concat(parts.Take(10)), Tail: tail);
        int answered = 0, decodable = 0;
        Prop.ForAll(lines.ToArbitrary(), ((string Body, int Tail) t) =>
        {
            var line = Encoding.UTF8.GetBytes("{\"k\":\"" + t.Body + "\",\"z\":\"" + new string('x', t.Tail) + "\"}");
            const int Pos = 5;
            // Reference: the reader's string token (its verdict does not depend on what follows it), then CopyString.
            string expected;
            var end = -1;
            try
            {
                var reader = new Utf8JsonReader(line, isFinalBlock: false, default);
                reader.Read();
                reader.Read();
                if (!reader.Read() || reader.TokenType != JsonTokenType.String) throw new JsonException("no string token");
                end = (int)reader.BytesConsumed;
                try
                {
                    reader.CopyString(new byte[line.Length]);
                    expected = "ok";
                }
                catch (InvalidOperationException)
                {
                    expected = "undecodable";
                }
            }
            catch (JsonException)
            {
                expected = "invalid";
            }
            var actual = JsonScan.DecodableStringEnd(line, Pos, out var nonAscii);
            if (expected == "ok") decodable++;
            if (actual >= 0)
            {
                answered++;
                if (expected != "ok" || actual != end) return false.Label($"{t.Body}: answered {actual}, reader {expected} ending at {end}");
                if (!nonAscii && line.AsSpan(Pos, end - Pos).IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0) return false.Label($"{t.Body}: not ASCII, said ASCII");
                return true.ToProperty();
            }
            // A string read and decoded with no \u escape, its closing quote in a whole block: it must answer.
            if (expected == "ok" && !HasUnicodeEscape(line.AsSpan(Pos + 1, end - Pos - 2)))
            {
                var block = Pos + 1 + ((end - 1 - (Pos + 1)) / 64 * 64);
                if (block + 64 <= line.Length) return false.Label($"{t.Body}: no answer for a decodable string");
            }
            return true.ToProperty();
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(30_000));
        Assert.True(answered > 3_000 && decodable - answered > 1_000, $"{answered} answered of {decodable} decodable");
    }

    /// <summary>Whether a valid string's body holds a <c>\u</c> escape (a backslash escaped by another starts none).</summary>
    private static bool HasUnicodeEscape(ReadOnlySpan<byte> body)
    {
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] != (byte)'\\') continue;
            if (body[i + 1] == (byte)'u') return true;
            i++;
        }
        return false;
    }

    [Fact]
    public void CopyString_RandomEscapes_SameBytesOrFailureAsUtf8JsonReader()
    {
        Prop.ForAll(EscapedBody().ToArbitrary(), (string body) =>
        {
            var json = Encoding.UTF8.GetBytes("\"" + body + "\"");
            // Reference: the reader's token verdict, then CopyString (which throws on a bad surrogate).
            string expected;
            try
            {
                var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
                reader.Read();
                var buffer = new byte[json.Length];
                try
                {
                    expected = "ok:" + Convert.ToHexString(buffer, 0, reader.CopyString(buffer));
                }
                catch (InvalidOperationException)
                {
                    expected = "undecodable";
                }
                if (reader.Read()) expected = "invalid";
            }
            catch (JsonException)
            {
                expected = "invalid";
            }
            var skipped = JsonScan.StringEnd(json, 0, out var escaped) == json.Length;
            var copyPos = 0;
            var destination = new byte[json.Length];
            var copied = JsonScan.TryCopyString(json, ref copyPos, destination, out var written) && copyPos == json.Length;
            // The escape-by-escape path (no SSSE3) copies the same.
            var portablePos = 0;
            var portable = new byte[json.Length];
            var portableCopied = JsonScan.TryCopyString<JsonScan.NoShuffles>(json, ref portablePos, portable, out var portableWritten, out _) && portablePos == json.Length;
            if (portableCopied != copied || (copied && !portable.AsSpan(0, portableWritten).SequenceEqual(destination.AsSpan(0, written))))
            {
                return false.Label($"{body}: portable copy differs");
            }
            string actual;
            if (!skipped)
            {
                actual = "invalid";
            }
            else
            {
                var unescaped = new byte[json.Length];
                var body8 = json.AsSpan(1, json.Length - 2);
                actual = JsonScan.TryUnescape(body8, unescaped, out var n) ? "ok:" + Convert.ToHexString(unescaped, 0, n) : "undecodable";
                // The fused copy agrees with skip + unescape, and the escape flag is right.
                var fused = copied ? "ok:" + Convert.ToHexString(destination, 0, written) : "undecodable";
                if (fused != actual) return false.Label($"{body}: fused {fused}, unescape {actual}");
                if (escaped != body8.Contains((byte)'\\')) return false.Label($"{body}: escaped flag {escaped}");
            }
            return (actual == expected).Label($"{body}: scan {actual}, reader {expected}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(20_000));
    }

    [Fact]
    public void TryGetDouble_RandomNumbers_SameAsUtf8JsonReader()
    {
        var digits = Gen.Choose(0, 9).Select(d => (char)('0' + d)).ArrayOf().Select(a => new string(a.Take(25).ToArray()));
        var number =
            from sign in Gen.Elements("", "-")
            from first in Gen.Choose(1, 9)
            from integer in digits
            from fraction in Gen.OneOf(Gen.Constant(""), digits.Where(d => d.Length > 0).Select(d => "." + d))
            from exponent in Gen.OneOf(Gen.Constant(""), from e in Gen.Elements("e", "E+", "e-") from n in Gen.Choose(0, 400) select e + n)
            select sign + first + integer + fraction + exponent;
        Prop.ForAll(Gen.OneOf(number, Gen.Elements(Scalars.Where(s => char.IsAsciiDigit(s[^1])).ToArray())).ToArbitrary(), (string text) =>
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            var reader = new Utf8JsonReader(bytes);
            reader.Read();
            var expected = reader.TryGetDouble(out var e) && double.IsFinite(e) ? e.ToString("R", CultureInfo.InvariantCulture) : "none";
            var actual = JsonScan.TryGetDouble(bytes, out var a) ? a.ToString("R", CultureInfo.InvariantCulture) : "none";
            return (actual == expected).Label($"{text}: {actual} vs {expected}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(10_000));
    }

    private static readonly Dictionary<string, int> Targets = new()
    {
        ["ext5_appGroup"] = 1, ["ext5_a"] = 2, ["ext5_a_b"] = 3, ["ext5_callerInfo_callerUid"] = 4, ["ext5_x_y_z"] = 5, ["ext5_é"] = 6,
    };

    private static Gen<string> NestedJson(int depth) =>
        from keys in Gen.Elements("appGroup", "a", "b", "x", "y", "z", "callerInfo", "callerUid", "é", "\\u00e9", "app\\u0047roup", "\\ud800", "c d", "")
            .ArrayOf().Select(k => k.Take(6).ToArray())
        from values in (depth <= 0 ? NestedScalar() : Gen.OneOf(NestedScalar(), NestedJson(depth - 1))).ArrayOf(6)
        from ws in Gen.Elements("", " ", "\n")
        select "{" + ws + string.Join("," + ws, keys.Select((k, i) => "\"" + k + "\"" + ws + ":" + ws + values[i])) + ws + "}";

    private static Gen<string> NestedScalar() =>
        Gen.OneOf(Gen.Elements(Scalars), Gen.Elements(StringBodies).Select(b => "\"" + b + "\""));

    private static Gen<byte[]> Ext5() =>
        Gen.OneOf(
            NestedJson(3).Select(Encoding.UTF8.GetBytes),
            from doc in NestedJson(3)
            from at in Gen.Choose(0, 2000)
            from length in Gen.Choose(0, 4)
            from fragment in Gen.Elements(Fragments)
            select Encoding.UTF8.GetBytes(Splice(doc, at, length, fragment)),
            from doc in NestedJson(3)
            from at in Gen.Choose(0, 2000)
            from with in Gen.Elements(Interesting)
            select Overwrite(Encoding.UTF8.GetBytes(doc), at, with),
            from n in Gen.Choose(60, 66)
            select Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"a\":", n)) + "1" + new string('}', n)),
            Gen.Elements(Scalars).Select(Encoding.UTF8.GetBytes));

    [Fact]
    public void ParseJson_RandomMutatedAdversarialDocuments_SameFieldsAsUtf8JsonReaderWalk()
    {
        var step = new ParseJsonStep(0, "ext5_", Targets);
        var strings = new Utf8Strings();
        var staged = new List<(int Slot, FieldValue Value)>();
        int withFields = 0, without = 0;
        // The step only ever sees valid UTF-8 (the line passed Utf8.IsValid, and unescaping keeps it valid),
        // on which the reader's CopyString does not throw for the bytes themselves.
        Prop.ForAll(Ext5().Where(j => Utf8.IsValid(j)).ToArbitrary(), (byte[] json) =>
        {
            staged.Clear();
            var actualOk = step.Walk(json, strings, staged);
            var actual = actualOk ? string.Join(";", staged.Select(s => s.Slot + "=" + Describe(s.Value))) : "none";
            var expected = ReferenceWalk(json, strings);
            if (actualOk) withFields++;
            else without++;
            return (actual == expected).Label($"{Encoding.UTF8.GetString(json)}\nwalk: {actual}\nreader: {expected}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(20_000));
        Assert.True(withFields > 2_000 && without > 2_000, $"{withFields} walked, {without} refused");
    }

    /// <summary>
    /// <paramref name="doc"/> written as the body of a JSON string, each character escaped one of the ways
    /// JSON allows, chosen by <paramref name="choices"/>: quotes as <c>\"</c> or <c>\u0022</c>, backslashes
    /// as <c>\\</c> or <c>\u005C</c>, a slash as is or <c>\/</c>, any character as <c>\uXXXX</c> (surrogate pairs for
    /// astral ones, either hex case), control characters by their short escapes.
    /// </summary>
    private static string EscapeAsStringBody(string doc, int[] choices)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < doc.Length; i++)
        {
            var c = doc[i];
            var choice = choices.Length == 0 ? 0 : choices[i % choices.Length];
            var unicode = choice % 5 == 4;
            if (unicode)
            {
                sb.Append("\\u").Append(((int)c).ToString(choice % 2 == 0 ? "x4" : "X4", CultureInfo.InvariantCulture));
                continue;
            }
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '/': sb.Append(choice % 2 == 0 ? "/" : "\\/"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                case '\r': sb.Append("\\r"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case < ' ': sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"); break;
                default: sb.Append(c); break;
            }
        }
        return sb.ToString();
    }

    /// <summary>Escaped bytes that break the string or its inner JSON: bad escapes, lone or reversed surrogates, quotes and controls.</summary>
    private static readonly string[] EscapedFragments =
    [
        "\\x", "\\u12", "\\ud800", "\\udc00", "\\udc00\\ud800", "\\ud83d\\ude00", "\\uD83D\\uDE00", "\\u0022", "\\\"", "\\\\", "\\\\\\\"",
        "\\u005c", "\\u005C\\u0022", "\\n", "\\t", "\\u0000", "\\u001F", "\\u0020", "\\/", "\"", "\u0001", "\\", "{", "}", ":", ",", "\\u007b", "\\u007D",
    ];

    private static Gen<string> EscapedExt5() =>
        from doc in Gen.OneOf(
            NestedJson(3),
            Gen.Elements(Seeds).Select(InnerDocument),
            from n in Gen.Choose(60, 66)
            select string.Concat(Enumerable.Repeat("{\"a\":", n)) + "\"v\"" + new string('}', n),
            from n in Gen.Choose(60, 66)
            select "{\"appGroup\":" + string.Concat(Enumerable.Repeat("[", n)) + string.Concat(Enumerable.Repeat("]", n)) + "}")
        from choices in Gen.OneOf(Gen.Constant(Array.Empty<int>()), Gen.Choose(0, 9).ArrayOf())
        from mutations in Gen.Choose(0, 2)
        from at in Gen.Choose(0, 3000).ArrayOf(2)
        from length in Gen.Choose(0, 6).ArrayOf(2)
        from fragment in Gen.Elements(EscapedFragments).ArrayOf(2)
        select Mutate(EscapeAsStringBody(doc, choices), mutations, at, length, fragment);

    private static string Mutate(string body, int mutations, int[] at, int[] length, string[] fragment)
    {
        for (var m = 0; m < mutations; m++) body = Splice(body, at[m], length[m], fragment[m]);
        return body;
    }

    /// <summary>The unescaped Ext5 of a seed line (the corpus's own inner JSON), or an empty object.</summary>
    private static string InnerDocument(string seed)
    {
        try
        {
            using var doc = JsonDocument.Parse(seed);
            return doc.RootElement.TryGetProperty("Ext5", out var ext5) && ext5.ValueKind == JsonValueKind.String ? ext5.GetString()! : "{}";
        }
        catch (JsonException)
        {
            return "{}";
        }
    }

    /// <summary>
    /// JSON inside a JSON string, as <c>Ext5</c> is: adversarially escaped, mutated inner documents in a whole
    /// line. The parser's copy of the string (kept as UTF-8 for <c>parse-json</c>) and the walk over it give
    /// what the reader gives: its <c>CopyString</c> of the value (or its refusal of the line), then its walk
    /// of the copy (or no fields).
    /// </summary>
    [Fact]
    public void ParseJson_EscapedInnerJsonInALine_SameVerdictAndFieldsAsUtf8JsonReader()
    {
        var compiled = Flagship.AllSteps;
        var parser = compiled.CreateParser();
        var record = compiled.CreateRecord();
        var reference = compiled.CreateRecord();
        Assert.True(compiled.Fields.TryGet("Ext5", out var ext5));
        Assert.Contains(ext5, compiled.RawSlots);
        var step = new ParseJsonStep(0, "ext5_", Targets);
        var strings = new Utf8Strings();
        var staged = new List<(int Slot, FieldValue Value)>();
        int withFields = 0, without = 0, refused = 0;
        Prop.ForAll(EscapedExt5().ToArbitrary(), (string body) =>
        {
            var line = Encoding.UTF8.GetBytes("{\"__time__\":1768484243,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":\"200\",\"TotalUsedTime\":5,\"Ext5\":\"" + body + "\",\"Domain\":\"d\"}");
            if (!Utf8.IsValid(line)) return true.Label("not UTF-8");
            var reason = parser.Parse(line, record);
            reference.Clear();
            var expectedReason = parser.ParseWithReader(line, reference);
            if ((reason is null) != (expectedReason is null)) return false.Label($"{body}\nlocator: {reason}\nreader: {expectedReason}");
            if (reason is not null)
            {
                refused++;
                return true.Label("refused by both");
            }
            var copy = record.Values[ext5];
            var expectedCopy = reference.Values[ext5];
            if (!copy.Utf8Span.SequenceEqual(expectedCopy.Utf8Span)) return false.Label($"{body}\ncopy {Convert.ToHexString(copy.Utf8Span)}\nreader {Convert.ToHexString(expectedCopy.Utf8Span)}");
            staged.Clear();
            var inner = copy.Utf8Span.ToArray();
            var ok = step.Walk(inner, strings, staged);
            var actual = ok ? string.Join(";", staged.Select(s => s.Slot + "=" + Describe(s.Value))) : "none";
            if (ok) withFields++;
            else without++;
            var expected = ReferenceWalk(inner, strings);
            return (actual == expected).Label($"{body}\nwalk: {actual}\nreader: {expected}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(10_000));
        Assert.True(withFields > 1_000 && without > 1_000 && refused > 200, $"{withFields} walked, {without} not JSON, {refused} lines refused");
    }

    /// <summary>Inner documents escaped the plain way (every quote <c>\"</c>, no other escape of the inner text), so that the walk in the line answers often.</summary>
    private static Gen<string> PlainEscapedExt5() =>
        from doc in Gen.OneOf(
            NestedJson(3).Select(d => d.Replace("\n", " ", StringComparison.Ordinal)),
            Gen.Elements(Seeds).Select(InnerDocument),
            from n in Gen.Choose(60, 66)
            select string.Concat(Enumerable.Repeat("{\"a\":", n)) + "\"v\"" + new string('}', n),
            from n in Gen.Choose(60, 66)
            select "{\"x\":{\"y\":" + string.Concat(Enumerable.Repeat("[", n)) + string.Concat(Enumerable.Repeat("]", n)) + "}}")
        from mutations in Gen.Choose(0, 1)
        from at in Gen.Choose(0, 3000).ArrayOf(2)
        from length in Gen.Choose(0, 6).ArrayOf(2)
        from fragment in Gen.Elements(EscapedFragments).ArrayOf(2)
        select Mutate(EscapeAsStringBody(doc, []), mutations, at, length, fragment);

    /// <summary>
    /// The walk of parse-json's source in the line, still escaped (<see cref="ParseJsonStep.WalkEscaped"/>): where it
    /// answers, the reader reads the string (its <c>CopyString</c> succeeds and the string ends where the walk says),
    /// the unescaped body is a document the reader reads whole, and the fields are those of the reader's walk of it;
    /// its ASCII verdict is right. Where it does not answer, the parser copies and walks as before.
    /// </summary>
    [Fact]
    public void WalkEscaped_EscapedInnerJson_SameVerdictAndFieldsAsReaderCopyThenWalk()
    {
        var step = new ParseJsonStep(0, "ext5_", Targets);
        var strings = new Utf8Strings();
        var staged = new List<(int Slot, FieldValue Value)>();
        int walked = 0, left = 0, leftValid = 0;
        var suffixes = new[] { "", ",\"a\":1}", "}" + new string(' ', 40) };
        Prop.ForAll(Gen.OneOf(PlainEscapedExt5(), EscapedExt5()).ToArbitrary(), Gen.Choose(0, 2).ToArbitrary(), (string body, int suffix) =>
        {
            var json = Encoding.UTF8.GetBytes("\"" + body + "\"" + suffixes[suffix]);
            if (!Utf8.IsValid(json)) return true.Label("not UTF-8");
            staged.Clear();
            var end = step.WalkEscaped(json, 0, strings, staged, out var nonAscii);
            var expected = ReferenceCopyThenWalk(json, strings, out var expectedEnd);
            if (end < 0)
            {
                left++;
                if (expected != "none") leftValid++;
                return true.Label("left to the copy");
            }
            walked++;
            var actual = string.Join(";", staged.Select(v => v.Slot + "=" + Describe(v.Value)));
            if (end != expectedEnd) return false.Label($"{body}\nwalk ends at {end}, reader at {expectedEnd}");
            if (!nonAscii && !Ascii.IsValid(json.AsSpan(0, end))) return false.Label($"{body}\nnot ASCII, said ASCII");
            return (actual == expected).Label($"{body}\nwalk in line: {actual}\nreader: {expected}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(20_000));
        // Both ways are reached, and documents the reader takes are left to the copy too (escapes the walk does not read).
        Assert.True(walked > 2_000 && left > 3_000 && leftValid > 1_000, $"{walked} walked in the line, {left} left to the copy ({leftValid} of them valid)");
    }

    /// <summary>Characters of inner strings: plain, non-ASCII, and the ones that end, escape or break a string.</summary>
    private static readonly string[] InnerChars = ["a", "Z", "0", "-", " ", ":", ",", "{", "}", "[", "]", "/", "é", "😀", "\"", "\\", "\n", "\u0001"];

    /// <summary>Characters of inner strings the walk reads in the line (not a control character without a short escape, nor an astral one).</summary>
    private static readonly string[] WalkedInnerChars = ["a", "a", "a", "a", "Z", "0", "-", " ", ":", ",", "{", "}", "[", "]", "/", "é", "\"", "\\", "\n"];

    /// <summary>
    /// Sub-objects the walk only checks (as <c>callerInfo</c>, <c>headers</c>, <c>ramAuth</c> are): names and string
    /// values of 0 to 40 characters, so that closing quotes fall on both sides of the 16 bytes a short string is read in
    /// at once and near the end of the line; plainly escaped, then possibly mutated.
    /// </summary>
    private static Gen<string> SkippedSubObjectExt5() =>
        from chars in Gen.Frequency((9, Gen.Constant(WalkedInnerChars)), (1, Gen.Constant(InnerChars)))
        from strings in Gen.Choose(0, 40).SelectMany(n => Gen.Elements(chars).ArrayOf(n).Select(cs => string.Concat(cs))).ArrayOf(8)
        from shape in Gen.Choose(0, 5).ArrayOf(4)
        from mutations in Gen.Choose(0, 1)
        from at in Gen.Choose(0, 400).ArrayOf(2)
        from length in Gen.Choose(0, 4).ArrayOf(2)
        from fragment in Gen.Elements(EscapedFragments).ArrayOf(2)
        select Mutate(EscapeAsStringBody(SubObjectDocument(strings, shape), []), mutations, at, length, fragment);

    private static readonly JsonSerializerOptions RelaxedEscaping = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string SubObjectDocument(string[] s, int[] shape)
    {
        static string Quote(string text) => JsonSerializer.Serialize(text, RelaxedEscaping);
        var members = new List<string>();
        for (var i = 0; i + 1 < s.Length; i += 2)
        {
            var value = shape[i / 2] switch
            {
                0 => Quote(s[i + 1]),
                1 => "{" + Quote(s[i + 1]) + ":" + Quote(s[i]) + "}",
                2 => "[" + Quote(s[i + 1]) + "," + Quote(s[i]) + "]",
                // A member in an array (not JSON), and an object in an array after a string.
                3 => "[" + Quote(s[i + 1]) + "," + Quote(s[i]) + ":" + Quote(s[i + 1]) + "]",
                4 => "[" + Quote(s[i + 1]) + ",{" + Quote(s[i]) + ":" + Quote(s[i + 1]) + "}]",
                _ => "7",
            };
            members.Add(Quote(s[i]) + ":" + value);
        }
        return "{\"appGroup\":\"g\",\"b\":{" + string.Join(",", members) + "},\"traceId\":" + Quote(s[0]) + "}";
    }

    /// <summary>
    /// <see cref="ParseJsonStep.WalkEscaped"/> over sub-objects it only checks, with strings around the 16-byte
    /// boundary of its inline string read: the same verdict, end, fields and ASCII verdict as the reader's copy then walk.
    /// </summary>
    [Fact]
    public void WalkEscaped_SkippedSubObjectsShortStrings_SameVerdictAndFieldsAsReaderCopyThenWalk()
    {
        var step = new ParseJsonStep(0, "ext5_", Targets);
        var strings = new Utf8Strings();
        var staged = new List<(int Slot, FieldValue Value)>();
        int walked = 0, left = 0;
        var suffixes = new[] { "", "}", "," };
        Prop.ForAll(SkippedSubObjectExt5().ToArbitrary(), Gen.Choose(0, 2).ToArbitrary(), (string body, int suffix) =>
        {
            var json = Encoding.UTF8.GetBytes("\"" + body + "\"" + suffixes[suffix]);
            if (!Utf8.IsValid(json)) return true.Label("not UTF-8");
            staged.Clear();
            var end = step.WalkEscaped(json, 0, strings, staged, out var nonAscii);
            var expected = ReferenceCopyThenWalk(json, strings, out var expectedEnd);
            if (end < 0)
            {
                left++;
                return true.Label("left to the copy");
            }
            walked++;
            if (expected == "none") return false.Label($"{body}\nwalked, the reader refuses it");
            var actual = string.Join(";", staged.Select(v => v.Slot + "=" + Describe(v.Value)));
            if (end != expectedEnd) return false.Label($"{body}\nwalk ends at {end}, reader at {expectedEnd}");
            if (!nonAscii && !Ascii.IsValid(json.AsSpan(0, end))) return false.Label($"{body}\nnot ASCII, said ASCII");
            return (actual == expected).Label($"{body}\nwalk in line: {actual}\nreader: {expected}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(20_000));
        Assert.True(walked > 2_000 && left > 2_000, $"{walked} walked in the line, {left} left to the copy");
    }

    /// <summary>
    /// The reference for a JSON string at the start of <paramref name="json"/>: the reader reads the string token and
    /// copies it (<c>CopyString</c>), then its walk of the copy; "none" when the string or the document is refused.
    /// </summary>
    private static string ReferenceCopyThenWalk(byte[] json, Utf8Strings strings, out int end)
    {
        end = -1;
        byte[] inner;
        try
        {
            var reader = new Utf8JsonReader(json, isFinalBlock: false, default);
            if (!reader.Read() || reader.TokenType != JsonTokenType.String) return "none";
            var buffer = new byte[json.Length];
            inner = buffer.AsSpan(0, reader.CopyString(buffer)).ToArray();
            end = (int)reader.BytesConsumed;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return "none";
        }
        return ReferenceWalk(inner, strings);
    }

    /// <summary>
    /// Whole lines (the corpus's, synthetic ones with escaped inner JSON, mutated ones) through a parser that walks
    /// Ext5 in the line, then parse-json: the same verdict, reason and fields as a parser that copies Ext5 and a
    /// parse-json that walks the copy.
    /// </summary>
    [Fact]
    public void Parse_ParseJsonWalkedInTheLine_SameReasonAndFieldsAsCopyThenWalk()
    {
        var compiled = Flagship.AllSteps;
        var fused = compiled.CreateParser();
        var step = LogMetrics.Core.Pipeline.FuseParseJson(fused, compiled);
        Assert.NotNull(step);
        Assert.True(compiled.Fields.TryGet("Ext5", out var ext5));
        var copying = compiled.CreateParser();
        var record = compiled.CreateRecord();
        var reference = compiled.CreateRecord();
        int walked = 0, accepted = 0;
        var lines = Gen.OneOf(
            Line(),
            from body in Gen.OneOf(PlainEscapedExt5(), EscapedExt5())
            from twice in Gen.Elements(false, false, true)
            select Encoding.UTF8.GetBytes("{\"__time__\":1768484243,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":\"200\",\"TotalUsedTime\":5,\"Ext5\":\""
                + body + "\",\"Domain\":\"d\"" + (twice ? ",\"Ext5\":\"{\\\"appGroup\\\":\\\"second\\\"}\"" : "") + "}"));
        Prop.ForAll(lines.ToArbitrary(), (byte[] line) =>
        {
            var reason = fused.Parse(line, record);
            if (reason is null)
            {
                if (record.Values[ext5].Walked) walked++;
                step.Apply(record);
                accepted++;
            }
            var expectedReason = copying.Parse(line, reference);
            if (expectedReason is null) step.Apply(reference);
            var actual = reason + "\n" + record.EventTimeMs + "\n" + string.Join("\n", record.Values.Select((v, i) => i == ext5 ? "" : i + ":" + Describe(v)));
            var expected = expectedReason + "\n" + reference.EventTimeMs + "\n" + string.Join("\n", reference.Values.Select((v, i) => i == ext5 ? "" : i + ":" + Describe(v)));
            return (actual == expected).Label($"{Encoding.UTF8.GetString(line)}\nwalked in the line:\n{actual}\ncopied:\n{expected}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(20_000));
        Assert.True(walked > 2_000 && accepted - walked > 1_000, $"{walked} of {accepted} accepted lines walked in the line");
    }

    /// <summary>The walk this replaced: the whole document read by the reader (no exception), then walked with it.</summary>
    private static string ReferenceWalk(byte[] json, Utf8Strings strings)
    {
        try
        {
            var check = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!check.Read() || check.TokenType != JsonTokenType.StartObject) return "none";
            while (check.Read())
            {
            }
        }
        catch (JsonException)
        {
            return "none";
        }
        var staged = new List<(int, FieldValue)>();
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            reader.Read();
            var name = new byte[1024];
            "ext5_"u8.CopyTo(name);
            ReferenceObject(ref reader, json, name, 5, strings, staged);
        }
        catch (InvalidOperationException)
        {
            return "none";
        }
        return string.Join(";", staged.Select(s => s.Item1 + "=" + Describe(s.Item2)));
    }

    private static void ReferenceObject(ref Utf8JsonReader reader, byte[] json, byte[] name, int baseLength, Utf8Strings strings, List<(int, FieldValue)> staged)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var length = baseLength;
            var fits = reader.ValueSpan.Length + baseLength < name.Length - 1;
            if (fits)
            {
                length += reader.CopyString(name.AsSpan(baseLength));
            }
            reader.Read();
            var text = Encoding.UTF8.GetString(name, 0, length);
            if (fits && Targets.TryGetValue(text, out var slot))
            {
                staged.Add((slot, RecordParser.ReadValue(ref reader, json, strings)));
                continue;
            }
            if (fits && reader.TokenType == JsonTokenType.StartObject && Targets.Keys.Any(t => t.StartsWith(text + "_", StringComparison.Ordinal)))
            {
                name[length] = (byte)'_';
                ReferenceObject(ref reader, json, name, length + 1, strings, staged);
                continue;
            }
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip();
            }
        }
    }
}
