using System.Text.RegularExpressions;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Prune;

using Record = LogMetrics.Core.Parse.Record;

namespace LogMetrics.Core.Tests.Prune;

public class ProcessorStepTests
{
    private static (FieldTable Table, Record Record) Make(params string[] names)
    {
        var table = new FieldTable();
        foreach (var n in names) table.GetOrAdd(n);
        return (table, new Record(table.Count));
    }

    private static int Slot(FieldTable t, string name) => t.TryGet(name, out var s) ? s : throw new KeyNotFoundException(name);

    [Fact]
    public void ParseJson_NestedObjects_FlattenWithPrefix()
    {
        var (t, r) = Make("Ext5", "ext5_appGroup", "ext5_callerInfo_uid", "ext5_callerInfo_deep_x", "ext5_count");
        r.Values[Slot(t, "Ext5")] = FieldValue.FromString("{\"appGroup\":\"g1\",\"callerInfo\":{\"uid\":\"u\\u00e9\",\"deep\":{\"x\":true}},\"count\":7,\"headers\":{\"h\":\"v\"}}");
        var step = new ParseJsonStep(Slot(t, "Ext5"), "ext5_", new Dictionary<string, int>
        {
            ["ext5_appGroup"] = Slot(t, "ext5_appGroup"),
            ["ext5_callerInfo_uid"] = Slot(t, "ext5_callerInfo_uid"),
            ["ext5_callerInfo_deep_x"] = Slot(t, "ext5_callerInfo_deep_x"),
            ["ext5_count"] = Slot(t, "ext5_count"),
        });
        Assert.True(step.Apply(r));
        Assert.Equal("g1", r.Values[Slot(t, "ext5_appGroup")].Text);
        Assert.Equal("ué", r.Values[Slot(t, "ext5_callerInfo_uid")].Text);
        Assert.Equal("true", r.Values[Slot(t, "ext5_callerInfo_deep_x")].Text);
        Assert.Equal(7, r.Values[Slot(t, "ext5_count")].Number);
    }

    [Theory]
    [InlineData("{\"appGroup\":\"g1\",")]
    [InlineData("{\"appGroup\":\"g1\"} trailing")]
    [InlineData("not json")]
    [InlineData("[\"appGroup\"]")]
    public void ParseJson_InvalidOrNotObject_YieldsNoFields(string ext5)
    {
        var (t, r) = Make("Ext5", "ext5_appGroup");
        r.Values[Slot(t, "Ext5")] = FieldValue.FromString(ext5);
        var step = new ParseJsonStep(Slot(t, "Ext5"), "ext5_", new Dictionary<string, int> { ["ext5_appGroup"] = Slot(t, "ext5_appGroup") });
        Assert.True(step.Apply(r));
        Assert.False(r.Values[Slot(t, "ext5_appGroup")].IsPresent);
    }

    [Theory]
    [InlineData("RegionId=cn-a;Action=X", "cn-a")]
    [InlineData("Action=X;RegionId=cn-b;Version=1", "cn-b")]
    [InlineData("SubRegionId=decoy;Action=X;RegionId=cn-c", "cn-c")]
    [InlineData("RegionId=first;RegionId=last", "last")]
    [InlineData("RegionId=a=b;X=1", "a=b")]
    [InlineData("RegionId=", "")]
    public void ParseKv_KeyAnywhere_ExactMatch(string content, string expected)
    {
        var (t, r) = Make("RequestContent", "request_region_id");
        r.Values[Slot(t, "RequestContent")] = FieldValue.FromString(content);
        new ParseKvStep(Slot(t, "RequestContent"), ";", "=", new Dictionary<string, int> { ["RegionId"] = Slot(t, "request_region_id") }).Apply(r);
        Assert.Equal(expected, r.Values[Slot(t, "request_region_id")].Text);
    }

    [Theory]
    [InlineData("Action=X;SubRegionId=decoy")]
    [InlineData(" RegionId=spaced")]
    [InlineData("")]
    public void ParseKv_KeyAbsent_FieldStaysMissing(string content)
    {
        var (t, r) = Make("RequestContent", "request_region_id");
        r.Values[Slot(t, "RequestContent")] = FieldValue.FromString(content);
        new ParseKvStep(Slot(t, "RequestContent"), ";", "=", new Dictionary<string, int> { ["RegionId"] = Slot(t, "request_region_id") }).Apply(r);
        Assert.False(r.Values[Slot(t, "request_region_id")].IsPresent);
    }

    [Fact]
    public void ParseRegexp_NamedGroups_SetFields()
    {
        var (t, r) = Make("Domain", "svc", "region");
        r.Values[Slot(t, "Domain")] = FieldValue.FromString("acc-vpc.cn-huhehaote.aliyuncs.com");
        var regex = new Regex(@"^(?<svc>[a-z]+)-vpc\.(?<region>[a-z0-9-]+)\.", RegexOptions.CultureInvariant);
        new ParseRegexpStep(Slot(t, "Domain"), regex, [("svc", Slot(t, "svc")), ("region", Slot(t, "region"))]).Apply(r);
        Assert.Equal("acc", r.Values[Slot(t, "svc")].Text);
        Assert.Equal("cn-huhehaote", r.Values[Slot(t, "region")].Text);
    }

    [Fact]
    public void Project_DropsEverythingElse()
    {
        var (t, r) = Make("a", "b");
        r.Values[0] = FieldValue.FromString("keep");
        r.Values[1] = FieldValue.FromString("drop");
        new ProjectStep([true, false]).Apply(r);
        Assert.Equal("keep", r.Values[0].Text);
        Assert.False(r.Values[1].IsPresent);
    }

    [Fact]
    public void Where_Predicate_FiltersRecord()
    {
        var (t, r) = Make("Domain");
        var step = new WhereStep(ExpressionCompiler.Compile(ExpressionParser.Parse("Domain != 'popwarmup.aliyuncs.com'"), t));
        r.Values[0] = FieldValue.FromString("popwarmup.aliyuncs.com");
        Assert.False(step.Apply(r));
        r.Values[0] = FieldValue.FromString("acc.aliyuncs.com");
        Assert.True(step.Apply(r));
    }
}
