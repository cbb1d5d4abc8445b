using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;

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
    /// <summary>
    /// A JSON string kept as unescaped UTF-8 in its record's own buffer (<see cref="FieldValue.Utf8Span"/>),
    /// for fields only <c>parse-json</c> or <c>parse-kv</c> read: no UTF-16 copy of a 4 KB blob per record.
    /// Valid until the record is parsed into again (in a <see cref="Pipeline"/>, whose records share these bytes,
    /// until the end of Prune, when it is dropped); <see cref="Record.Clone"/> turns it into a string.
    /// </summary>
    Utf8String,
}

/// <summary>
/// One field of a record. <see cref="Text"/> is the value's text as decoded from JSON (the raw token
/// for numbers, the canonical decimal text for fields declared <c>int</c>), which is what labels use.
/// </summary>
public struct FieldValue
{
    // The one reference a value holds: its text (a string), or the buffer of a Utf8String (a byte[]), never both (no
    // value has both). One reference instead of two: a value is 32 bytes, and copying one into a record's array
    // (the hot path does it for every field) takes one write barrier instead of two.
    private object? _ref;
    // Whether _ref is the byte[] (set with it by the setters): the getters take it without a type check.
    private bool _refIsBytes;

    /// <summary>The numeric value when <see cref="HasNumber"/>.</summary>
    public double Number;
    public int Utf8Offset;
    public int Utf8Length;
    public ValueKind Kind;
    /// <summary>
    /// A <see cref="ValueKind.Number"/> whose text is the canonical decimal of <see cref="Number"/> (a JSON
    /// integer token of at most 15 digits, not <c>-0</c>): <see cref="Text"/> is made only when read.
    /// </summary>
    internal bool IntegerText;
    public bool HasNumber;

    /// <summary>
    /// The value's text. For a number the parser read as a plain integer it is made on first use (from a
    /// table of small integers, else this thread's <see cref="Utf8Strings"/>), so a number read only as a
    /// number costs no string.
    /// </summary>
    public string? Text
    {
        readonly get => (_refIsBytes ? null : Unsafe.As<string>(_ref)) ?? (IntegerText ? IntegerString((long)Number) : null);
        set
        {
            _ref = value;
            _refIsBytes = false;
            IntegerText = false;
            TextNotEmpty = false;
        }
    }

    /// <summary>
    /// Set (by <see cref="FromNonEmptyString"/>) when the value's string is known not to be empty, so that a test for
    /// an empty text (a lookup key's) need not read the string: the parser hands out strings of its cache, which are
    /// usually not in the processor's cache when the record's keys are taken. False says nothing.
    /// </summary>
    internal bool TextNotEmpty;

    /// <summary>The buffer of a <see cref="ValueKind.Utf8String"/>: its bytes are <c>Utf8[Utf8Offset..(Utf8Offset + Utf8Length)]</c>.</summary>
    public byte[]? Utf8
    {
        readonly get => _refIsBytes ? Unsafe.As<byte[]>(_ref) : null;
        set
        {
            _ref = value;
            _refIsBytes = true;
            TextNotEmpty = false;
        }
    }

    /// <summary>
    /// A <see cref="ValueKind.Utf8String"/> that has no bytes: a <c>parse-json</c> source the parser walked in the
    /// line itself (<see cref="IEscapedJsonWalker"/>), its fields staged in <see cref="Record.WalkedFields"/>.
    /// </summary>
    internal bool Walked;

    /// <summary>The bytes of a <see cref="ValueKind.Utf8String"/>.</summary>
    public readonly ReadOnlySpan<byte> Utf8Span => Utf8.AsSpan(Utf8Offset, Utf8Length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FieldValue FromString(string text) => new() { Kind = ValueKind.String, Text = text };

    /// <summary>As <see cref="FromString"/>, for a string the caller knows is not empty (<see cref="TextNotEmpty"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static FieldValue FromNonEmptyString(string text)
    {
        Debug.Assert(text.Length > 0, "an empty string made as a non-empty one");
        return new() { Kind = ValueKind.String, Text = text, TextNotEmpty = true };
    }

    /// <summary>
    /// Whether <see cref="AsText"/> is empty; without reading the string when it is known not to be (<see cref="TextNotEmpty"/>,
    /// on a value still of kind <see cref="ValueKind.String"/>).
    /// </summary>
    public readonly bool IsEmptyText
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => !(TextNotEmpty && Kind == ValueKind.String) && AsText.Length == 0;
    }

    public static FieldValue FromInteger(long value) => new()
    {
        Kind = ValueKind.Number,
        Text = value.ToString(CultureInfo.InvariantCulture),
        Number = value,
        HasNumber = true,
    };

    /// <summary>A number read as a plain integer (see <see cref="IntegerText"/>): its text is made when it is read.</summary>
    internal static FieldValue FromIntegerToken(long value) => new()
    {
        Kind = ValueKind.Number,
        Number = value,
        HasNumber = true,
        IntegerText = true,
    };

    // The texts of 0..1023 (HTTP codes and the like), made once each.
    private static readonly string?[] SmallIntegers = new string?[1024];

    [SkipLocalsInit]
    private static string IntegerString(long value)
    {
        if ((ulong)value < (ulong)SmallIntegers.Length)
        {
            return SmallIntegers[value] ??= value.ToString(CultureInfo.InvariantCulture);
        }
        Span<byte> utf8 = stackalloc byte[20];
        value.TryFormat(utf8, out var written, default, CultureInfo.InvariantCulture);
        return Utf8Strings.ForThread.Get(utf8[..written]);
    }

    public readonly bool IsPresent => Kind is not (ValueKind.Missing or ValueKind.Null);

    /// <summary>Text for string comparisons and labels: empty when missing or null.</summary>
    public readonly string AsText
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Kind is not (ValueKind.Missing or ValueKind.Null or ValueKind.Utf8String) && !_refIsBytes && Unsafe.As<string>(_ref) is { } text ? text : OtherText();
    }

    private readonly string OtherText() => Kind switch
    {
        ValueKind.Missing or ValueKind.Null => "",
        ValueKind.Utf8String => System.Text.Encoding.UTF8.GetString(Utf8!, Utf8Offset, Utf8Length),
        _ => Text ?? "",
    };

    /// <summary>This value with any parser-owned bytes turned into a string, safe to keep.</summary>
    public readonly FieldValue Detached() => Kind == ValueKind.Utf8String ? FromString(AsText) : this;

    /// <summary>The value as a number: JSON numbers, and strings that parse as a finite invariant-culture number.</summary>
    public readonly bool TryGetNumber(out double value)
    {
        if (HasNumber)
        {
            value = Number;
            return true;
        }
        if (Kind is ValueKind.String or ValueKind.Utf8String && double.TryParse(AsText, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value))
        {
            return true;
        }
        value = 0;
        return false;
    }
}
