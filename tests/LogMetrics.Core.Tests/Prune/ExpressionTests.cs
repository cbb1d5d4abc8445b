using LogMetrics.Core.Parse;
using LogMetrics.Core.Prune;

using Record = LogMetrics.Core.Parse.Record;

namespace LogMetrics.Core.Tests.Prune;

public class ExpressionTests
{
    private static bool Eval(string expression, params (string Name, FieldValue Value)[] fields)
    {
        var table = new FieldTable();
        foreach (var (name, _) in fields) table.GetOrAdd(name);
        var predicate = ExpressionCompiler.Compile(ExpressionParser.Parse(expression), table);
        var record = new Record(table.Count);
        foreach (var (name, value) in fields)
        {
            table.TryGet(name, out var slot);
            record.Values[slot] = value;
        }
        return predicate(record);
    }

    private static (string, FieldValue) Int(string name, long v) => (name, FieldValue.FromInteger(v));

    private static (string, FieldValue) Str(string name, string v) => (name, FieldValue.FromString(v));

    [Theory]
    [InlineData("HttpCode >= 500", 503, true)]
    [InlineData("HttpCode >= 500", 499, false)]
    [InlineData("HttpCode == 503", 503, true)]
    [InlineData("HttpCode = 503", 503, true)]
    [InlineData("HttpCode != 503", 503, false)]
    [InlineData("HttpCode <> 503", 200, true)]
    [InlineData("HttpCode >= 200 and HttpCode < 300", 204, true)]
    [InlineData("HttpCode >= 200 and HttpCode < 300", 300, false)]
    [InlineData("HttpCode >= 200 && HttpCode < 300", 250, true)]
    [InlineData("HttpCode in (429, 503)", 503, true)]
    [InlineData("HttpCode in (429, 503)", 500, false)]
    [InlineData("not HttpCode in (429, 503)", 500, true)]
    [InlineData("!(HttpCode < 400)", 404, true)]
    [InlineData("HttpCode < 300 or HttpCode > 500 and HttpCode < 504", 503, true)]
    [InlineData("(HttpCode < 300 or HttpCode > 500) and HttpCode < 504", 504, false)]
    public void Compile_NumericComparisons_Evaluate(string expression, long code, bool expected)
    {
        Assert.Equal(expected, Eval(expression, Int("HttpCode", code)));
    }

    [Fact]
    public void Compile_NumericComparisonOnNumericString_ParsesText()
    {
        Assert.True(Eval("TotalUsedTime > 1000", Str("TotalUsedTime", "1001")));
        Assert.False(Eval("TotalUsedTime > 1000", Str("TotalUsedTime", "abc")));
        Assert.True(Eval("TotalUsedTime != 1000", Str("TotalUsedTime", "abc")));
    }

    [Theory]
    [InlineData("ErrorCode startswith 'Throttling'", "Throttling.User", true)]
    [InlineData("ErrorCode startswith 'Throttling'", "throttling", false)]
    [InlineData("ErrorCode != ''", "", false)]
    [InlineData("ErrorCode != ''", "X", true)]
    [InlineData("ErrorCode in ('A', \"B\")", "B", true)]
    [InlineData("ErrorCode == 'it\\'s'", "it's", true)]
    [InlineData("ErrorCode < 'B'", "A", true)]
    public void Compile_StringComparisons_Evaluate(string expression, string value, bool expected)
    {
        Assert.Equal(expected, Eval(expression, Str("ErrorCode", value)));
    }

    [Fact]
    public void Compile_MissingField_ReadsAsEmpty()
    {
        Assert.True(Eval("Domain != 'popwarmup.aliyuncs.com'", ("Domain", default)));
        Assert.False(Eval("ErrorCode != ''", ("ErrorCode", default)));
        Assert.False(Eval("ErrorCode startswith 'T'", ("ErrorCode", default)));
    }

    [Fact]
    public void Compile_ThrottlingRule_MatchesEitherSide()
    {
        const string rule = "HttpCode == 429 or ErrorCode startswith 'Throttling'";
        Assert.True(Eval(rule, Int("HttpCode", 429), Str("ErrorCode", "")));
        Assert.True(Eval(rule, Int("HttpCode", 400), Str("ErrorCode", "Throttling.Api")));
        Assert.False(Eval(rule, Int("HttpCode", 400), Str("ErrorCode", "Invalid")));
    }

    [Fact]
    public void Parse_Fields_ListsEveryReference()
    {
        var expr = ExpressionParser.Parse("a == 1 or (b startswith 'x' and not c in (1, 2))");
        Assert.Equal(["a", "b", "c"], expr.Fields.OrderBy(f => f, StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("HttpCode >=", 11)]
    [InlineData("HttpCode 500", 9)]
    [InlineData("(HttpCode == 1", 14)]
    [InlineData("ErrorCode == 'open", 13)]
    [InlineData("a == 1 b", 7)]
    [InlineData("a startswith b", 13)]
    public void Parse_BadExpression_ReportsOffset(string expression, int offset)
    {
        var e = Assert.Throws<ExpressionException>(() => ExpressionParser.Parse(expression));
        Assert.Equal(offset, e.Position);
    }
}
