using System.Text;
using FsCheck;
using FsCheck.Fluent;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Parse;

/// <summary>The byte-keyed tables of the hot path: names matched as UTF-8, field strings cached by their bytes.</summary>
public class Utf8LookupTests
{
    [Fact]
    public void NameTable_EveryNameFound_OthersNot()
    {
        string[] names = ["__time__", "Api", "HttpCode", "ext5_appGroup", "é", "日本", ""];
        var table = new Utf8NameTable(names.Select((n, i) => KeyValuePair.Create(n, i)));

        for (var i = 0; i < names.Length; i++)
        {
            Assert.True(table.TryGetValue(Encoding.UTF8.GetBytes(names[i]), out var slot), names[i]);
            Assert.Equal(i, slot);
        }
        foreach (var other in (string[])["api", "Api ", "HttpCod", "__time___", "e"])
        {
            Assert.False(table.TryGetValue(Encoding.UTF8.GetBytes(other), out _), other);
        }
    }

    /// <summary>Differential: the table answers as a string dictionary would, names sharing (length, last byte) included.</summary>
    [Fact]
    public void NameTable_RandomNamesAndProbes_SameAnswersAsDictionary()
    {
        var name = Gen.Elements('a', 'b', 'A', 'q', '_', 'é', '1').ArrayOf().Select(c => new string(c.Take(70).ToArray()));
        Prop.ForAll(
            Arb.From(name.ArrayOf().Select(a => a.Distinct().Take(40).ToArray())),
            Arb.From(name.ArrayOf()),
            (string[] names, string[] probes) =>
            {
                var expected = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
                var table = new Utf8NameTable(expected);
                return names.Concat(probes).All(p =>
                    table.TryGetValue(Encoding.UTF8.GetBytes(p), out var v) == expected.TryGetValue(p, out var e) && v == (expected.ContainsKey(p) ? e : v));
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(2_000));
    }

    /// <summary>
    /// Differential, on names alike: a shared start, the same length and last byte (so the table's filter sends them to
    /// one candidate), probes that differ from a name in one byte anywhere. Names of up to 16 bytes are compared as words.
    /// </summary>
    [Fact]
    public void NameTable_NamesDifferingInOneByte_SameAnswersAsDictionary()
    {
        var name = Gen.Elements("", "__tag__:", "ext5_", "é").SelectMany(start =>
            Gen.Elements('a', 'b').ArrayOf().Select(c => start + new string(c.Take(20).ToArray()) + "z"));
        Prop.ForAll(
            Arb.From(name.ArrayOf().Select(a => a.Distinct().Take(12).ToArray())),
            (string[] names) =>
            {
                var expected = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
                var table = new Utf8NameTable(expected);
                foreach (var n in names)
                {
                    var utf8 = Encoding.UTF8.GetBytes(n);
                    if (!table.TryGetValue(utf8, out var v) || v != expected[n]) return false.Label(n);
                    for (var at = 0; at < utf8.Length; at++)
                    {
                        if (utf8[at] is not ((byte)'a' or (byte)'b')) continue;
                        var other = (byte[])utf8.Clone();
                        other[at] = utf8[at] == (byte)'a' ? (byte)'b' : (byte)'a';
                        var probe = Encoding.UTF8.GetString(other);
                        var found = table.TryGetValue(other, out var o);
                        if (found != expected.TryGetValue(probe, out var e) || (found && o != e)) return false.Label($"{probe} (from {n})");
                    }
                }
                return true.ToProperty();
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(1_000));
    }

    [Fact]
    public void Strings_ManyMoreValuesThanTheCacheHolds_EveryStringRight_RepeatsShareOneInstance()
    {
        var cache = new Utf8Strings();
        for (var round = 0; round < 2; round++)
        {
            for (var i = 0; i < 40_000; i++)
            {
                var text = "v-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + (i % 7 == 0 ? "é" : "");
                Assert.Equal(text, cache.Get(Encoding.UTF8.GetBytes(text)));
            }
        }
        var first = cache.Get("cn-hangzhou"u8);
        Assert.Same(first, cache.Get("cn-hangzhou"u8));
        Assert.Equal("", cache.Get([]));
        var longText = new string('x', Utf8Strings.MaxCachedBytes + 1);
        Assert.Equal(longText, cache.Get(Encoding.UTF8.GetBytes(longText)));
    }

    /// <summary>
    /// Every value under one hash (so they all meet in one set, and only the comparison of their bytes tells them apart):
    /// values of 1 to 40 bytes from a few letters (short ones held in the entry as words, longer ones compared with their
    /// string or key bytes), many of one length and differing in one byte, Get gives each value's own text.
    /// </summary>
    [Fact]
    public void Strings_ValuesSharingAHash_EachGetsItsOwnText()
    {
        var value = Gen.Elements('a', 'b', 'é', '日').ArrayOf().Select(c => new string(c.Take(30).ToArray()));
        Prop.ForAll(
            Arb.From(value.ArrayOf()),
            Gen.Choose(0, 3).Select(h => (ulong)h * 0x9E3779B97F4A7C15UL).ToArbitrary(),
            (string[] values, ulong hash) =>
            {
                var cache = new Utf8Strings();
                // Each value, then the same value with one byte changed at every position (where that stays UTF-8), in turn.
                foreach (var text in values.Concat(values).Concat(values.Reverse()))
                {
                    var utf8 = Encoding.UTF8.GetBytes(text);
                    if (cache.Get(utf8, hash) != text) return false.Label(text);
                    for (var at = 0; at < utf8.Length; at++)
                    {
                        if (utf8[at] is not ((byte)'a' or (byte)'b')) continue;
                        var other = (byte[])utf8.Clone();
                        other[at] = utf8[at] == (byte)'a' ? (byte)'b' : (byte)'a';
                        if (cache.Get(other, hash) != Encoding.UTF8.GetString(other)) return false.Label($"{text} changed at {at}");
                        if (cache.Get(utf8, hash) != text) return false.Label($"{text} after the change at {at}");
                    }
                }
                return true.ToProperty();
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(1_000));
    }

    [Fact]
    public void Strings_StartSmall_GrowAsValuesKeepComing_KeepingWhatTheyHeld()
    {
        var cache = new Utf8Strings();
        Assert.Equal(64, cache.SetCount);
        var recent = new Queue<(string Text, string Instance)>();
        var growths = new List<int>();
        for (var i = 0; i < 60_000; i++)
        {
            var text = "w-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + (i % 5 == 0 ? "é" : "");
            var before = cache.SetCount;
            var instance = cache.Get(Encoding.UTF8.GetBytes(text));
            Assert.Equal(text, instance);
            recent.Enqueue((text, instance));
            if (recent.Count > 4) recent.Dequeue();
            if (cache.SetCount != before)
            {
                growths.Add(cache.SetCount);
                // The last four values were in the table (no four newer ones could push them out): a growth keeps them.
                foreach (var (t, held) in recent)
                {
                    Assert.Same(held, cache.Get(Encoding.UTF8.GetBytes(t)));
                }
            }
        }
        Assert.Equal([256, 1024, 4096, 8192], growths);
        // The grown table holds a working set of 1,000 values: a second round finds each as the instance the first made.
        var round = Enumerable.Range(0, 1_000).Select(i => cache.Get(Encoding.UTF8.GetBytes("r-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)))).ToArray();
        for (var i = 0; i < round.Length; i++)
        {
            Assert.Same(round[i], cache.Get(Encoding.UTF8.GetBytes("r-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        }
    }

    [Fact]
    public void PlainInteger_RandomNumberTokens_TextAndValueOfTheToken()
    {
        // A token taken as a plain integer is kept as its value alone: its canonical text must be the token, and its
        // value what TryGetDouble reads; every other integer token is kept with its text.
        var tokens = Gen.OneOf(
            Gen.Choose(0, 16).SelectMany(n => Gen.Elements("0123456789".ToCharArray()).ArrayOf(n).Select(d => new string(d))),
            Gen.Elements("0", "-0", "-", "", "1.5", "1e3", "-12", "00", "-01", "999999999999999", "1000000000000000", "-999999999999999"))
            .SelectMany(t => Gen.Elements("", "-").Select(sign => sign + t));
        Prop.ForAll(tokens.ToArbitrary(), (string token) =>
        {
            var utf8 = Encoding.UTF8.GetBytes(token);
            // The parser asks only of valid JSON number tokens.
            if (utf8.Length == 0 || JsonScan.NumberEnd(utf8, 0) != utf8.Length) return true.Label("not a JSON number");
            if (!RecordParser.PlainInteger(utf8, out var value))
            {
                // Refused: not an integer, too long to be exact, or -0.
                return (token.Contains('.') || token.Contains('e') || token == "-0" || token.TrimStart('-').Length > 15).Label(token);
            }
            var field = FieldValue.FromIntegerToken(value);
            return (field.Text == token
                && field.AsText == token
                && JsonScan.TryGetDouble(utf8, out var d) && d == field.Number
                && field.TryGetNumber(out var n) && n == d).Label(token);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(5_000));
    }

    [Fact]
    public void Parse_EscapedPropertyNamesAndValues_ReadLikePlainOnes()
    {
        var parser = Flagship.Pipeline.CreateParser();
        var plain = Flagship.Pipeline.CreateRecord();
        var escaped = Flagship.Pipeline.CreateRecord();
        const string Line = """{"__time__":1700000000,"Product":"ecs","Api":"RunInstances","HttpCode":200,"TotalUsedTime":12,"Domain":"x"}""";
        const string Escaped = """{"__time__":1700000000,"\u0050roduct":"e\u0063s","Api":"RunInstances","Http\u0043ode":200,"TotalUsedTime":12,"Domain":"x"}""";

        Assert.Null(parser.Parse(Encoding.UTF8.GetBytes(Line), plain));
        var plainValues = plain.Values.Select(v => (v.Kind, v.AsText)).ToArray();
        Assert.Null(parser.Parse(Encoding.UTF8.GetBytes(Escaped), escaped));

        Assert.Equal(plainValues, escaped.Values.Select(v => (v.Kind, v.AsText)).ToArray());
        Assert.Equal(plain.EventTimeMs, escaped.EventTimeMs);
    }
}
