using System.Runtime.CompilerServices;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Tests.Parse;

/// <summary>A field value holds one reference, its text or its UTF-8 buffer: each reads back as set, the other as none.</summary>
public class FieldValueTests
{
    [Fact]
    public void TextAndUtf8_EachReadsBackAsSet_TheOtherNull()
    {
        var bytes = "a=b"u8.ToArray();
        var raw = new FieldValue { Kind = ValueKind.Utf8String, Utf8 = bytes, Utf8Offset = 0, Utf8Length = bytes.Length };
        Assert.Same(bytes, raw.Utf8);
        Assert.Null(raw.Text);
        Assert.Equal("a=b", raw.AsText);
        Assert.True(raw.Utf8Span.SequenceEqual("a=b"u8));

        var text = FieldValue.FromString("x");
        Assert.Equal("x", text.Text);
        Assert.Equal("x", text.AsText);
        Assert.Null(text.Utf8);
        Assert.True(text.Utf8Span.IsEmpty);

        // The last one set is the value's reference.
        var both = new FieldValue { Kind = ValueKind.String, Utf8 = bytes, Text = "y" };
        Assert.Equal("y", both.Text);
        Assert.Null(both.Utf8);
        var back = new FieldValue { Kind = ValueKind.Utf8String, Text = "y", Utf8 = bytes, Utf8Length = 3 };
        Assert.Null(back.Text);
        Assert.Same(bytes, back.Utf8);

        // A plain integer's text is made when read; missing and null read as empty.
        Assert.Equal("404", new FieldValue { Kind = ValueKind.Number, Number = 404, HasNumber = true, IntegerText = true }.AsText);
        Assert.Equal("", default(FieldValue).AsText);
        Assert.Equal("", new FieldValue { Kind = ValueKind.Null }.AsText);
    }

    /// <summary>
    /// IsEmptyText is the text's emptiness, for every kind of value; a value made as a string known not to be empty says
    /// so without its string, and setting another text or a UTF-8 buffer forgets it.
    /// </summary>
    [Fact]
    public void IsEmptyText_EmptinessOfTheText_FlagForgottenWhenTheTextChanges()
    {
        var known = FieldValue.FromNonEmptyString("uid-1");
        Assert.True(known.TextNotEmpty);
        Assert.False(known.IsEmptyText);
        Assert.True(FieldValue.FromString("").IsEmptyText);
        Assert.False(FieldValue.FromString("x").IsEmptyText);
        Assert.True(default(FieldValue).IsEmptyText);
        Assert.True(new FieldValue { Kind = ValueKind.Null }.IsEmptyText);
        Assert.False(new FieldValue { Kind = ValueKind.Number, Number = 0, HasNumber = true, IntegerText = true }.IsEmptyText);
        Assert.True(new FieldValue { Kind = ValueKind.Utf8String, Utf8 = [], Utf8Length = 0 }.IsEmptyText);

        var replaced = FieldValue.FromNonEmptyString("x");
        replaced.Text = "";
        Assert.False(replaced.TextNotEmpty);
        Assert.True(replaced.IsEmptyText);
        var bytes = FieldValue.FromNonEmptyString("x");
        bytes.Kind = ValueKind.Utf8String;
        bytes.Utf8 = [];
        Assert.False(bytes.TextNotEmpty);
        Assert.True(bytes.IsEmptyText);
        // Made missing or null in place: empty, whatever the flag says.
        var nulled = FieldValue.FromNonEmptyString("x");
        nulled.Kind = ValueKind.Null;
        Assert.True(nulled.IsEmptyText);
    }

    [Fact]
    public void Size_32Bytes() => Assert.Equal(32, Unsafe.SizeOf<FieldValue>());
}
