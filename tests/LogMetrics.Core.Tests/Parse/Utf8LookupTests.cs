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
