using System.Text;
using FsCheck;
using FsCheck.Fluent;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Tests.EndToEnd;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Robustness;

/// <summary>
/// No exception caused by data escapes a stage: random and mutated lines go through the whole
/// pipeline (Parse → Prune → Enrich → Accumulate → Flush), and every non-blank line is counted once
/// as accepted, malformed or filtered.
/// </summary>
public class NoExceptionFromDataTests
{
    private static readonly string[] Seeds = File.ReadLines(Path.Combine(GoldenCorpusTests.GoldenDir, "lane-0.jsonl")).Take(40).ToArray();

    private static readonly string[] Fragments =
    [
        "", " ", "\t", "\r", "{", "}", "[", "]", "\"", "\\", ":", ",", "null", "true", "-1", "1e308", "-0", "18446744073709551616",
        "\"__time__\":", "\"HttpCode\":", "\"TotalUsedTime\":", "\u0000", "\u00e9", "\ud83d\ude00", "\"Ext5\":\"{\\\"a\\\":", "32503680000",
    ];

    /// <summary>A line: a golden record mutated (cut, spliced, a span replaced), or pure noise, or blank.</summary>
    private static Gen<string> Line() =>
        Gen.OneOf(
            Gen.Elements(Seeds),
            from seed in Gen.Elements(Seeds)
            from at in Gen.Choose(0, 5000)
            select seed[..Math.Min(at, seed.Length)],
            from seed in Gen.Elements(Seeds)
            from at in Gen.Choose(0, 5000)
            from length in Gen.Choose(0, 40)
            from fragment in Gen.Elements(Fragments)
            select Splice(seed, at, length, fragment),
            from seed in Gen.Elements(Seeds)
            from value in Gen.OneOf(Gen.Elements(Fragments), Gen.Choose(int.MinValue, int.MaxValue).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            select System.Text.RegularExpressions.Regex.Replace(seed, "\"__time__\":\"?\\d+\"?", "\"__time__\":" + value),
            from chars in Gen.Choose(0, 0x2FFF).Select(i => (char)i).ArrayOf()
            select new string(chars),
            Gen.Elements(Fragments).ArrayOf().Select(f => string.Concat(f)));

    private static string Splice(string s, int at, int length, string fragment)
    {
        at = Math.Min(at, s.Length);
        length = Math.Min(length, s.Length - at);
        return s[..at] + fragment + s[(at + length)..];
    }

    private static bool IsBlank(string line) => Encoding.UTF8.GetBytes(line).AsSpan().IndexOfAnyExcept((byte)' ', (byte)'\t', (byte)'\r') < 0;

    [Fact]
    public void Fuzz_RandomAndMutatedLines_NoExceptionEscapes_EveryEventCountedOnce()
    {
        var lanes = Line().ArrayOf().Select(a => a.Take(30).ToArray()).ArrayOf().Select(a => a.Take(3).Where(l => l.Length > 0).ToArray());
        long accepted = 0, malformed = 0;
        Prop.ForAll(lanes.ToArbitrary(), (string[][] input) =>
        {
            if (input.Length == 0) return true;
            var (samples, counters, dead) = Flagship.RunAsync(Flagship.Pipeline, Flagship.EmptyDimensions(), input, batchLines: 7).GetAwaiter().GetResult();
            var nonBlank = input.Sum(lane => lane.Count(l => !IsBlank(l)));
            accepted += counters.Accepted;
            malformed += counters.Malformed;
            return counters.Events == nonBlank
                && counters.Events == counters.Accepted + counters.Malformed + counters.Filtered
                && dead.Count == counters.Malformed
                && counters.Late <= counters.Accepted
                && samples.All(s => double.IsFinite(s.Value) || s.Name.EndsWith("_rate", StringComparison.Ordinal));
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(150));
        // The generator reaches both sides: records that pass and records that are refused.
        Assert.True(accepted > 0 && malformed > 0, $"accepted {accepted}, malformed {malformed}");
    }

    [Fact]
    public async Task RegexTimeout_RecordDeadLetteredWithReason_OthersAccepted()
    {
        var compiled = PipelineCompiler.Compile(DefinitionLoader.Load("""
            { "name": "t",
              "source": { "timeField": "__time__", "timeUnit": "s", "windowSeconds": 10, "outOfOrdernessSeconds": 5,
                          "fields": [ { "name": "__time__", "type": "int", "required": true } ] },
              "processor": [ { "parse-regexp": { "field": "Domain", "pattern": "^(?<svc>(a+)+)$" } } ],
              "metrics": [ { "prefix": "t_", "labels": { "svc": "svc" }, "resolutionSeconds": 10,
                             "metrics": [ { "name": "req", "aggregate": "count" } ] } ] }
            """));
        var evil = new string('a', 40) + "!";
        string[] lane =
        [
            """{"__time__":1768484000,"Domain":"aaa"}""",
            $$"""{"__time__":1768484001,"Domain":"{{evil}}"}""",
            """{"__time__":1768484002,"Domain":"aa"}""",
        ];

        var (samples, counters, dead) = await Flagship.RunAsync(compiled, Flagship.EmptyDimensions(), [lane]);

        var letter = Assert.Single(dead);
        Assert.Equal(Pipeline.RegexTimeout, letter.Reason);
        Assert.Equal(2, letter.Sequence);
        Assert.Equal((3, 2, 1), (counters.Events, counters.Accepted, counters.Malformed));
        Assert.Equal(2, samples.Sum(s => s.Value));
    }
}
