using System.Text;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Tests.Support;

using Record = LogMetrics.Core.Parse.Record;

namespace LogMetrics.Core.Tests.Parse;

public class RecordParserTests
{
    private const string Valid = "\"__time__\":\"1768484243\",\"Product\":\"acc\",\"Api\":\"Describe\",\"HttpCode\":\"404\",\"TotalUsedTime\":\"14\"";

    private static (string? Reason, Record Record) Parse(string line) => Parse(Encoding.UTF8.GetBytes(line));

    private static (string? Reason, Record Record) Parse(byte[] line)
    {
        var p = Flagship.Pipeline;
        var record = p.CreateRecord();
        var reason = p.CreateParser().Parse(line, record);
        return (reason, record);
    }

    private static FieldValue Field(Record r, string name) => r.Values[Flagship.AllSteps.Fields.TryGet(name, out var slot) ? slot : throw new KeyNotFoundException(name)];

    [Fact]
    public void Parse_StringsForNumbers_Accepted()
    {
        var (reason, record) = Parse("{" + Valid + "}");
        Assert.Null(reason);
        Assert.Equal(1768484243000, record.EventTimeMs);
        Assert.Equal(404, Field(record, "HttpCode").Number);
        Assert.Equal("acc", Field(record, "Product").Text);
    }

    [Fact]
    public void Parse_JsonNumbers_Accepted()
    {
        var (reason, record) = Parse("{\"__time__\":1768484243,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":503,\"TotalUsedTime\":0}");
        Assert.Null(reason);
        Assert.Equal(1768484243000, record.EventTimeMs);
        Assert.Equal("503", Field(record, "HttpCode").Text);
    }

    [Fact]
    public void Parse_LeadingZeroHttpCode_CanonicalDecimalText()
    {
        var (reason, record) = Parse("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":\"0404\",\"TotalUsedTime\":1}");
        Assert.Null(reason);
        Assert.Equal("404", Field(record, "HttpCode").Text);
    }

    [Theory]
    [InlineData("-0", "0")]
    [InlineData("0", "0")]
    [InlineData("-12", "-12")]
    [InlineData("\"00\"", "0")]
    [InlineData("\"0\"", "0")]
    [InlineData("\"007\"", "7")]
    [InlineData("\"503\"", "503")]
    [InlineData("-9223372036854775808", "-9223372036854775808")]
    public void Parse_IntegerField_CanonicalDecimalText(string httpCode, string expected)
    {
        var (reason, record) = Parse("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":" + httpCode + ",\"TotalUsedTime\":1}");
        Assert.Null(reason);
        Assert.Equal(expected, Field(record, "HttpCode").Text);
        Assert.Equal(long.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), Field(record, "HttpCode").Number);
    }

    [Fact]
    public void Parse_EscapedUnicode_DecodedLikeRawUnicode()
    {
        var (r1, a) = Parse("{\"__time__\":1,\"Product\":\"caf\\u00e9\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}");
        var (r2, b) = Parse("{\"__time__\":1,\"Product\":\"café\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}");
        Assert.Null(r1);
        Assert.Null(r2);
        Assert.Equal("café", Field(a, "Product").Text);
        Assert.Equal(Field(a, "Product").Text, Field(b, "Product").Text);
    }

    [Fact]
    public void Parse_EscapedPropertyName_Matched()
    {
        var (reason, record) = Parse("{\"__time__\":1,\"Pr\\u006fduct\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}");
        Assert.Null(reason);
        Assert.Equal("acc", Field(record, "Product").Text);
    }

    [Fact]
    public void Parse_UnreferencedNestedObjects_Skipped()
    {
        var (reason, record) = Parse("{\"Other\":{\"a\":[1,2,{\"b\":null}]}," + Valid + ",\"Tail\":[true,false]}");
        Assert.Null(reason);
        Assert.Equal("Describe", Field(record, "Api").Text);
    }

    // Every malformed kind of DESIGN §4, each with the reason's leading words.
    [Theory]
    [InlineData("not json at all", "invalid JSON")]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"Desc", "invalid JSON")]
    [InlineData("[1,2,3]", "not a JSON object")]
    [InlineData("\"just a string\"", "not a JSON object")]
    [InlineData("{\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}", "__time__: missing")]
    [InlineData("{\"__time__\":\"1.5\",\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}", "__time__: expected an integer")]
    [InlineData("{\"__time__\":14.0,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}", "__time__: expected an integer")]
    [InlineData("{\"__time__\":1e3,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}", "__time__: expected an integer")]
    [InlineData("{\"__time__\":\"-5\",\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}", "__time__: expected an integer")]
    [InlineData("{\"__time__\":\" 5\",\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}", "__time__: expected an integer")]
    [InlineData("{\"__time__\":true,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}", "__time__: expected an integer")]
    [InlineData("{\"__time__\":1,\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}", "Product: missing")]
    [InlineData("{\"__time__\":1,\"Product\":5,\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}", "Product: expected a string")]
    [InlineData("{\"__time__\":1,\"Product\":null,\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1}", "Product: is null")]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"HttpCode\":200,\"TotalUsedTime\":1}", "Api: missing")]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"Api\":{\"x\":1},\"HttpCode\":200,\"TotalUsedTime\":1}", "Api: expected a string")]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"A\",\"TotalUsedTime\":1}", "HttpCode: missing")]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":\"abc\",\"TotalUsedTime\":1}", "HttpCode: expected an integer")]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":1.5,\"TotalUsedTime\":1}", "HttpCode: expected an integer")]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200}", "TotalUsedTime: missing")]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":-3}", "TotalUsedTime: -3 is below the minimum 0")]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":\"1.5\"}", "TotalUsedTime: expected an integer")]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":99999999999999999999}", "TotalUsedTime: expected an integer")]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":1} {}", "invalid JSON")]
    public void Parse_MalformedKind_RejectedWithReason(string line, string reasonStart)
    {
        var (reason, _) = Parse(line);
        Assert.NotNull(reason);
        Assert.StartsWith(reasonStart, reason);
    }

    [Fact]
    public void Parse_InvalidUtf8_Rejected()
    {
        var bytes = Encoding.UTF8.GetBytes("{" + Valid + ",\"X\":\"ab\"}");
        bytes[^4] = 0xC3; // lead byte followed by an ASCII byte: invalid
        var (reason, _) = Parse(bytes);
        Assert.Equal("invalid UTF-8", reason);
    }

    // Each kind of string the locator checks as UTF-8 by itself (a located line is not checked whole): a name, the value of
    // an unused name, of a used field, of parse-kv's raw source (copied), of parse-json's source (walked in the line).
    // "é" stands where the bytes go: as it is (valid), then with its second byte cut (a lead byte before a quote).
    [Theory]
    [InlineData(",\"Xé\":\"ab\"")]
    [InlineData(",\"X\":\"aé\"")]
    [InlineData(",\"Domain\":\"aé\"")]
    [InlineData(",\"RequestContent\":\"RegionId=aé\"")]
    [InlineData(",\"Ext5\":\"{\\\"appGroup\\\":\\\"gé\\\"}\"")]
    public void Parse_NonAsciiString_CheckedAsUtf8WhereItIs(string member)
    {
        var valid = Encoding.UTF8.GetBytes("{" + Valid + member + "}");
        Assert.Null(Parse(valid).Reason);
        // "é" is C3 A9: without A9, C3 is followed by an ASCII byte.
        var at = Array.IndexOf(valid, (byte)0xA9);
        var invalid = valid[..at].Concat(valid[(at + 1)..]).ToArray();
        Assert.False(System.Text.Unicode.Utf8.IsValid(invalid));
        Assert.Equal("invalid UTF-8", Parse(invalid).Reason);
    }

    [Theory]
    [InlineData("{\"__time__\":1,\"Product\":\"acc\",\"Api\":\"A\",\"HttpCode\":-1,\"TotalUsedTime\":1}")]
    [InlineData("{\"__time__\":0,\"Product\":\"\",\"Api\":\"A\",\"HttpCode\":200,\"TotalUsedTime\":0}")]
    public void Parse_EdgeButValid_Accepted(string line)
    {
        Assert.Null(Parse(line).Reason);
    }

    [Fact]
    public void Parse_RecordsSharingBytes_EachKeepsWhatParseJsonAndParseKvReadFromItsOwnLine()
    {
        // As in a Pipeline's pool: records share one buffer for their raw sources, dropped after Prune.
        var p = Flagship.AllSteps;
        var parser = p.CreateParser();
        var shared = new Record.Bytes();
        var records = Enumerable.Range(0, 6).Select(_ =>
        {
            var r = p.CreateRecord();
            r.ShareBytes(shared);
            return r;
        }).ToArray();
        for (var i = 0; i < records.Length; i++)
        {
            // Each line longer than the last, so the shared buffer grows while earlier records hold fields.
            var pad = new string('p', 3000 * i);
            var line = "{" + Valid + ",\"Domain\":\"d\",\"Ext5\":\"{\\\"appGroup\\\":\\\"g" + i + "\\\",\\\"pad\\\":\\\"" + pad
                + "\\\"}\",\"RequestContent\":\"RegionId=r" + i + ";k=" + pad + "\"}";
            Assert.Null(parser.Parse(Encoding.UTF8.GetBytes(line), records[i]));
            foreach (var step in p.Steps) Assert.True(step.Apply(records[i]));
            records[i].DropBytes();
        }
        for (var i = 0; i < records.Length; i++)
        {
            Assert.Equal("g" + i, Field(records[i], "ext5_appGroup").AsText);
            Assert.Equal("r" + i, Field(records[i], "request_region_id").AsText);
            Assert.Equal(ValueKind.Missing, Field(records[i], "Ext5").Kind);
        }
    }
}
