using System.Text;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Prune;

using Record = LogMetrics.Core.Parse.Record;

namespace LogMetrics.Core.Tests.Prune;

/// <summary>An invalid <c>parse-json</c> value is recognised without an exception being thrown (issue 10).</summary>
public class ParseJsonWithoutThrowingTests
{
    [ThreadStatic]
    private static int t_thrown;

    [ThreadStatic]
    private static bool t_counting;

    static ParseJsonWithoutThrowingTests() =>
        // Counts exceptions thrown on the test's own thread only (other tests run in parallel).
        AppDomain.CurrentDomain.FirstChanceException += (_, _) =>
        {
            if (t_counting) t_thrown++;
        };

    [Theory]
    [InlineData("")]
    [InlineData("{not json")]
    [InlineData("{'appGroup': 'pop-region-x'}")]
    [InlineData("{\"appGroup\":\"g1\",")]
    [InlineData("{\"appGroup\":\"g1\"} trailing")]
    [InlineData("{\"appGroup\":\"g1\",}")]
    [InlineData("[\"appGroup\"]")]
    [InlineData("\"appGroup\"")]
    public void ParseJson_InvalidOrNotAnObject_NoFieldAndNoExceptionThrown(string ext5)
    {
        var table = new FieldTable();
        var source = table.GetOrAdd("Ext5");
        var target = table.GetOrAdd("ext5_appGroup");
        var step = new ParseJsonStep(source, "ext5_", new Dictionary<string, int> { ["ext5_appGroup"] = target });
        // Both forms the parser produces: a decoded string, and the UTF-8 kept in the record's buffer.
        foreach (var utf8 in (bool[])[false, true])
        {
            var record = new Record(table.Count);
            record.Values[source] = utf8 ? Utf8Value(ext5) : FieldValue.FromString(ext5);
            t_thrown = 0;
            t_counting = true;
            try
            {
                Assert.True(step.Apply(record));
            }
            finally
            {
                t_counting = false;
            }
            Assert.False(record.Values[target].IsPresent);
            Assert.Equal(0, t_thrown);
        }
    }

    private static FieldValue Utf8Value(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var buffer = new byte[bytes.Length + 8];
        bytes.CopyTo(buffer, 3);
        return new FieldValue { Kind = ValueKind.Utf8String, Utf8 = buffer, Utf8Offset = 3, Utf8Length = bytes.Length };
    }
}
