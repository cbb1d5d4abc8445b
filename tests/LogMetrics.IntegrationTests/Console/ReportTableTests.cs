using LogMetrics.Local;
using LogMetrics.Local.Html;
using Spectre.Console;
using Xunit;

namespace LogMetrics.IntegrationTests.Console;

/// <summary>The final report's table written directly (<see cref="ReportTable"/>) must be Spectre's bytes, or left to Spectre.</summary>
public class ReportTableTests
{
    public static TheoryData<bool, ColorSystemSupport, int> Consoles()
    {
        var data = new TheoryData<bool, ColorSystemSupport, int>();
        foreach (var ansi in new[] { true, false })
        {
            foreach (var colors in new[] { ColorSystemSupport.NoColors, ColorSystemSupport.Standard, ColorSystemSupport.EightBit, ColorSystemSupport.TrueColor })
            {
                foreach (var width in new[] { 240, 80 })
                {
                    data.Add(ansi, colors, width);
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Consoles))]
    public void TryRender_PlainRows_SpectresBytes(bool ansi, ColorSystemSupport colors, int width)
    {
        var random = new Random(width + (int)colors * 7 + (ansi ? 1 : 0));
        var rendered = 0;
        for (var n = 0; n < 300; n++)
        {
            var rows = RandomRows(random, width);
            var (expected, capabilities) = Spectre(rows, ansi, colors, width);
            if (!ansi)
            {
                // Without ANSI Spectre colours through System.Console: always left to it.
                Assert.False(ReportTable.TryRender(rows, capabilities, width, out _));
                continue;
            }
            if (ReportTable.TryRender(rows, capabilities, width, out var text))
            {
                Assert.Equal(expected, text);
                rendered++;
            }
            else
            {
                // Random rows are plain text: left to Spectre only when the table is wider than the console.
                var natural = Math.Max(5, rows.Max(r => r.Stage.Length)) + Math.Max(7, rows.Max(r => r.Counter.Length)) + Math.Max(5, rows.Max(r => r.Value.Length)) + 10;
                Assert.True(natural > width, $"a table {natural} wide was left to Spectre on a console {width} wide");
            }
        }
        Assert.True(!ansi || rendered > 100, $"only {rendered} of 300 tables rendered directly");
    }

    [Fact]
    public void TryRender_TheReplayReport_SpectresBytes()
    {
        List<ReportRow> rows =
        [
            new("Parse", "events (non-blank lines)", "400"),
            new("Enrich", "gateway_cluster: hit / miss / error", "325 / 61 / 0"),
            new("Flush", "samples dropped (backlog bound)", "12", Alert: true),
            new("Account", "out: samples = written + dropped", "1,495 = 1,483 + 12", Alert: true),
            new("Account", "lane not read to its end: /tmp/x [1].jsonl", "stopped", Alert: true),
            new("Write", "endpoint", ""),
            new("Run", "throughput", "68,292 events/s, 280.3 MB/s (uncompressed input)"),
        ];
        foreach (var colors in new[] { ColorSystemSupport.EightBit, ColorSystemSupport.Standard })
        {
            var (expected, capabilities) = Spectre(rows, ansi: true, colors, 240);
            Assert.True(ReportTable.TryRender(rows, capabilities, 240, out var text));
            Assert.Equal(expected, text);
            Assert.Contains("\e[", text, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Zürich")]
    [InlineData("tab\there")]
    [InlineData("two  spaces")]
    [InlineData(" leading")]
    [InlineData("trailing ")]
    [InlineData("an :smile: emoji")]
    [InlineData("a:b:c")]
    public void TryRender_TextSpectreMayChange_LeftToSpectre(string counter)
    {
        var (_, capabilities) = Spectre([new("Run", "lanes", "2")], ansi: true, ColorSystemSupport.EightBit, 240);
        Assert.False(ReportTable.TryRender([new("Run", counter, "2")], capabilities, 240, out _));
        Assert.True(ReportTable.TryRender([new("Run", "a: b:c", "2")], capabilities, 240, out _));
    }

    [Fact]
    public void TryRender_WiderThanTheConsole_LeftToSpectre()
    {
        List<ReportRow> rows = [new("Run", new string('x', 100), "1")];
        var (_, capabilities) = Spectre(rows, ansi: true, ColorSystemSupport.NoColors, 240);
        Assert.True(ReportTable.TryRender(rows, capabilities, 100 + 5 + 5 + 10, out _));
        Assert.False(ReportTable.TryRender(rows, capabilities, 100 + 5 + 5 + 10 - 1, out _));
    }

    private static (string Text, IReadOnlyCapabilities Capabilities) Spectre(IReadOnlyList<ReportRow> rows, bool ansi, ColorSystemSupport colors, int width)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = ansi ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = colors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = width;
        console.Profile.Capabilities.Unicode = true;
        console.Write(Report.FinalTable(rows));
        return (writer.ToString(), console.Profile.Capabilities);
    }

    private static List<ReportRow> RandomRows(Random random, int width)
    {
        string[] stages = ["Parse", "Prune", "Accumulate", "Enrich", "Flush", "Write", "Account", "Run"];
        const string Letters = "abcdefghijklmnopqrstuvwxyzABC0123456789_-/.,()=+[]<>#%&*!?'\"@$^{}|~";
        string Words(int most)
        {
            var words = random.Next(1, most + 1);
            var parts = new string[words];
            for (var w = 0; w < words; w++)
            {
                var chars = new char[random.Next(1, 12)];
                for (var c = 0; c < chars.Length; c++) chars[c] = Letters[random.Next(Letters.Length)];
                parts[w] = new string(chars);
            }
            var text = string.Join(' ', parts);
            // Sometimes "name: rest", as the report's counters read.
            return random.Next(4) == 0 ? text + ": " + Words(2) : text;
        }
        var rows = new List<ReportRow>();
        for (var i = random.Next(1, 25); i > 0; i--)
        {
            // Wide enough now and then to be left to Spectre.
            rows.Add(new(stages[random.Next(stages.Length)], Words(random.Next(1, width / 20)), random.Next(5) == 0 ? "" : Words(random.Next(1, width / 30)), Alert: random.Next(4) == 0));
        }
        return rows;
    }
}
