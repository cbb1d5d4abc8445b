using FsCheck;
using FsCheck.Fluent;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Prune;

using Record = LogMetrics.Core.Parse.Record;

namespace LogMetrics.Core.Tests.Prune;

/// <summary>
/// Differential: <c>parse-kv</c>'s byte-level split (one vectorized pass for single-byte delimiters, the
/// general loop otherwise) sets the fields a plain string split sets: pairs cut at each pair delimiter,
/// each at its first key-value delimiter, keys matched exactly, the last occurrence winning.
/// </summary>
public class ParseKvDifferentialTests
{
    private static readonly string[] Keys = ["RegionId", "SubRegionId", "k", "é", "Region Id"];

    private static Dictionary<string, string> Reference(string text, string pairDelimiter, string kvDelimiter, string[] keys)
    {
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        if (text.Length == 0) return found;
        foreach (var pair in text.Split(pairDelimiter))
        {
            var eq = pair.IndexOf(kvDelimiter, StringComparison.Ordinal);
            if (eq >= 0 && keys.Contains(pair[..eq], StringComparer.Ordinal)) found[pair[..eq]] = pair[(eq + kvDelimiter.Length)..];
        }
        return found;
    }

    [Fact]
    public void Apply_RandomTexts_SameFieldsAsStringSplit()
    {
        var token = Gen.Elements("RegionId", "SubRegionId", "k", "é", "Region Id", "cn-beijing", "x", "", "=", ";", "&&", "::", "a=b", "😀", new string('v', 40));
        var text = token.ArrayOf().Select(parts => string.Concat(parts.Take(60)));
        var delimiters = Gen.Elements((";", "="), ("&", ":"), ("&&", "::"), (";", "=="), ("=", ";"));
        // All five keys (each pair split), or one to four of them (each key searched for from the end when
        // the delimiters are single bytes).
        var keys = Gen.OneOf(Gen.Constant(Keys), Gen.Choose(1, 4).SelectMany(n => Gen.Shuffle(Keys).Select(k => k.Take(n).ToArray())));
        var setup = from d in delimiters from utf8 in Gen.Elements(true, false) from used in keys select (d, utf8, used);
        Prop.ForAll(text.ToArbitrary(), setup.ToArbitrary(), (string input, ((string Pair, string Kv) D, bool Utf8, string[] Used) s) =>
        {
            var (d, utf8, used) = s;
            var table = new FieldTable();
            var source = table.GetOrAdd("src");
            var slots = used.ToDictionary(k => k, k => table.GetOrAdd("out_" + k), StringComparer.Ordinal);
            var step = new ParseKvStep(source, d.Pair, d.Kv, slots);
            var record = new Record(table.Count);
            record.Values[source] = utf8 ? Utf8Value(input) : FieldValue.FromString(input);
            step.Apply(record);
            var expected = Reference(input, d.Pair, d.Kv, used);
            var actual = used.Where(k => record.Values[slots[k]].IsPresent).ToDictionary(k => k, k => record.Values[slots[k]].Text!, StringComparer.Ordinal);
            return (expected.Count == actual.Count && expected.All(e => actual.TryGetValue(e.Key, out var v) && v == e.Value))
                .Label($"'{input}' {d} keys {string.Join(",", used)}: expected {string.Join(",", expected)}, got {string.Join(",", actual)}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(5_000));
    }

    private static FieldValue Utf8Value(string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        return new FieldValue { Kind = ValueKind.Utf8String, Utf8 = bytes, Utf8Offset = 0, Utf8Length = bytes.Length };
    }
}
