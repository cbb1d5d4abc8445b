using System.Globalization;

namespace LogMetrics.Core.Parse;

/// <summary>How a field arrived in the record.</summary>
public enum ValueKind : byte
{
    Missing,
    String,
    Number,
    Bool,
    Null,
    /// <summary>An object or array; <see cref="FieldValue.Text"/> holds its raw JSON.</summary>
    Json,
}

/// <summary>
/// One field of a record. <see cref="Text"/> is the value's text as decoded from JSON (the raw token
/// for numbers, the canonical decimal text for fields declared <c>int</c>), which is what labels use.
/// </summary>
public struct FieldValue
{
    public ValueKind Kind;
    public string? Text;
    /// <summary>The numeric value when <see cref="HasNumber"/>.</summary>
    public double Number;
    public bool HasNumber;

    public static FieldValue FromString(string text) => new() { Kind = ValueKind.String, Text = text };

    public static FieldValue FromInteger(long value) => new()
    {
        Kind = ValueKind.Number,
        Text = value.ToString(CultureInfo.InvariantCulture),
        Number = value,
        HasNumber = true,
    };

    public readonly bool IsPresent => Kind is not (ValueKind.Missing or ValueKind.Null);

    /// <summary>Text for string comparisons and labels: empty when missing or null.</summary>
    public readonly string AsText => IsPresent ? Text ?? "" : "";

    /// <summary>The value as a number: JSON numbers, and strings that parse as a finite invariant-culture number.</summary>
    public readonly bool TryGetNumber(out double value)
    {
        if (HasNumber)
        {
            value = Number;
            return true;
        }
        if (Kind == ValueKind.String && double.TryParse(Text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value))
        {
            return true;
        }
        value = 0;
        return false;
    }
}
