using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace LogMetrics.Core.Parse;

/// <summary>The declared type of a source field.</summary>
public enum FieldType { String, Int, Number }

/// <summary>A typed source field, compiled to its slot.</summary>
public sealed record TypedField(string Name, int Slot, FieldType Type, bool Required, long? Min);

/// <summary>
/// Parse stage: one UTF-8 JSON line → a <see cref="Record"/> holding only the fields the pipeline
/// refers to. Unreferenced properties are skipped without decoding. Validation of the typed fields
/// (DESIGN §4 "accepted record") happens here, so a record that leaves the parser is well-formed.
/// </summary>
public sealed class RecordParser
{
    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 64 };

    private readonly Utf8NameTable _names;
    private readonly byte[] _nameBuffer = new byte[256];
    private readonly Utf8Strings _strings = new();
    private readonly TypedField[] _typed;
    private readonly int _timeSlot;
    private readonly long _timeScale;
    private readonly string _timeField;

    private readonly bool[] _rawSlots;
    private readonly Located[] _found;

    /// <param name="rawSlots">Slots read only as text by parse-json or parse-kv: kept as UTF-8 bytes, never decoded to a string.</param>
    public RecordParser(FieldTable fields, IReadOnlyList<TypedField> typed, string timeField, string timeUnit, IReadOnlySet<int>? rawSlots = null)
    {
        _rawSlots = new bool[fields.Count];
        foreach (var slot in rawSlots ?? new HashSet<int>())
        {
            if (slot < _rawSlots.Length && !typed.Any(t => t.Slot == slot)) _rawSlots[slot] = true;
        }
        _typed = [.. typed];
        _timeField = timeField;
        _timeSlot = fields.GetOrAdd(timeField);
        _names = new Utf8NameTable(fields.Names.Select((name, slot) => KeyValuePair.Create(name, slot)));
        _found = new Located[fields.Count];
        _timeScale = timeUnit == "ms" ? 1 : 1000;
        if (!_typed.Any(t => t.Slot == _timeSlot))
        {
            _typed = [.. _typed, new TypedField(timeField, _timeSlot, FieldType.Int, true, null)];
        }
    }

    /// <summary>Parses <paramref name="line"/> into <paramref name="record"/> (cleared first); returns null when accepted, else the reason it is malformed.</summary>
    /// <remarks>
    /// One pass over the bytes (<see cref="TryLocate"/>) checks the whole line and finds the fields; a line it
    /// cannot take (invalid JSON, an escaped property name, an escape that does not decode) is parsed again
    /// by <see cref="ParseWithReader"/>, the <see cref="Utf8JsonReader"/> path, which gives the verdict and the
    /// reason. A differential property test holds the two to the same verdict and fields.
    /// </remarks>
    public string? Parse(ReadOnlySpan<byte> line, Record record)
    {
        record.Clear();
        record.Strings = _strings;
        if (!Utf8.IsValid(line))
        {
            return "invalid UTF-8";
        }
        if (TryLocate(line, record))
        {
            return Validate(record);
        }
        record.Clear();
        return ParseWithReader(line, record);
    }

    /// <summary>
    /// The reference path: <paramref name="line"/> (valid UTF-8) read token by token with <see cref="Utf8JsonReader"/>.
    /// Taken for the lines <see cref="TryLocate"/> leaves, and by the differential tests.
    /// </summary>
    internal string? ParseWithReader(ReadOnlySpan<byte> line, Record record)
    {
        record.Strings = _strings;
        try
        {
            var reason = ReadObject(line, record);
            if (reason is not null) return reason;
        }
        catch (JsonException e)
        {
            return "invalid JSON: " + FirstSentence(e.Message);
        }
        catch (InvalidOperationException e)
        {
            return "invalid JSON: " + FirstSentence(e.Message);
        }
        return Validate(record);
    }

    /// <summary>
    /// The single pass: checks that <paramref name="line"/> is one strict JSON object (the reader's grammar,
    /// depth limit and nothing after it) and sets the fields the pipeline uses, matched as bytes, the last
    /// occurrence of a name winning. False, with the record half filled, when the line is not valid or has
    /// something only the reader path decides (an escaped property name, a field value whose escapes do
    /// not decode, an escaped value repeated): the caller then clears the record and reads it with the reader.
    /// </summary>
    internal bool TryLocate(ReadOnlySpan<byte> line, Record record)
    {
        var found = _found;
        Array.Clear(found);
        var pos = JsonScan.SkipWhitespace(line, 0);
        if (pos >= line.Length || line[pos] != (byte)'{') return false;
        pos = JsonScan.SkipWhitespace(line, pos + 1);
        if (pos < line.Length && line[pos] == (byte)'}')
        {
            pos++;
        }
        else
        {
            while (true)
            {
                if (pos >= line.Length || line[pos] != (byte)'"') return false;
                var nameStart = pos + 1;
                if (!JsonScan.TrySkipString(line, ref pos, out var escapedName) || escapedName) return false;
                var name = line[nameStart..(pos - 1)];
                pos = JsonScan.SkipWhitespace(line, pos);
                if (pos >= line.Length || line[pos] != (byte)':') return false;
                pos = JsonScan.SkipWhitespace(line, pos + 1);
                var valueStart = pos;
                JsonToken token;
                var escaped = false;
                if (!_names.TryGetValue(name, out var slot))
                {
                    if (pos < line.Length && line[pos] == (byte)'"')
                    {
                        if (!JsonScan.TrySkipString(line, ref pos, out _)) return false;
                    }
                    else if (JsonScan.SkipValue(line, ref pos, 1) == JsonToken.None)
                    {
                        return false;
                    }
                }
                else if (pos < line.Length && line[pos] == (byte)'"' && slot < _rawSlots.Length && _rawSlots[slot])
                {
                    // Read only by parse-json or parse-kv: unescaped into the record's buffer while it is checked.
                    var span = record.Reserve(line.Length - pos, out var buffer, out var offset);
                    if (!JsonScan.TryCopyString(line, ref pos, span, out var written)) return false;
                    record.Unreserve(span.Length - written);
                    record.Values[slot] = new FieldValue { Kind = ValueKind.Utf8String, Utf8 = buffer, Utf8Offset = offset, Utf8Length = written };
                    found[slot] = new Located(JsonToken.None, valueStart, pos, false);
                }
                else
                {
                    if (pos < line.Length && line[pos] == (byte)'"')
                    {
                        if (!JsonScan.TrySkipString(line, ref pos, out escaped)) return false;
                        token = JsonToken.String;
                    }
                    else if ((token = JsonScan.SkipValue(line, ref pos, 1)) == JsonToken.None)
                    {
                        return false;
                    }
                    ref var at = ref found[slot];
                    // The reader decodes every occurrence: an earlier escaped one could fail where the last does not.
                    if (at.Token == JsonToken.String && at.Escaped) return false;
                    at = new Located(token, valueStart, pos, escaped);
                }
                pos = JsonScan.SkipWhitespace(line, pos);
                if (pos >= line.Length) return false;
                if (line[pos] == (byte)',')
                {
                    pos = JsonScan.SkipWhitespace(line, pos + 1);
                    continue;
                }
                if (line[pos] != (byte)'}') return false;
                pos++;
                break;
            }
        }
        if (JsonScan.SkipWhitespace(line, pos) != line.Length) return false;
        var values = record.Values;
        for (var slot = 0; slot < found.Length; slot++)
        {
            var at = found[slot];
            // None: absent, or a raw string already in place.
            if (at.Token == JsonToken.None) continue;
            if (!TryRead(line, at, _strings, out values[slot]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Where a located value is in its JSON: its first token, [Start, End) including quotes or brackets.</summary>
    internal readonly record struct Located(JsonToken Token, int Start, int End, bool Escaped);

    /// <summary>
    /// A located value as a field, exactly as <see cref="ReadValue"/> reads it from the reader: false when
    /// an escape does not decode (where the reader throws).
    /// </summary>
    internal static bool TryRead(ReadOnlySpan<byte> json, Located at, Utf8Strings strings, out FieldValue value)
    {
        var token = json[at.Start..at.End];
        switch (at.Token)
        {
            case JsonToken.String:
            {
                var body = token[1..^1];
                if (!at.Escaped)
                {
                    value = FieldValue.FromString(strings.Get(body));
                    return true;
                }
                if (body.Length <= Utf8Strings.MaxCachedBytes)
                {
                    Span<byte> buffer = stackalloc byte[Utf8Strings.MaxCachedBytes];
                    if (!JsonScan.TryUnescape(body, buffer, out var written))
                    {
                        value = default;
                        return false;
                    }
                    value = FieldValue.FromString(strings.Get(buffer[..written]));
                    return true;
                }
                var large = ArrayPool<byte>.Shared.Rent(body.Length);
                try
                {
                    if (!JsonScan.TryUnescape(body, large, out var written))
                    {
                        value = default;
                        return false;
                    }
                    value = FieldValue.FromString(Encoding.UTF8.GetString(large, 0, written));
                    return true;
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(large);
                }
            }
            case JsonToken.Number:
                value = new FieldValue { Kind = ValueKind.Number, Text = strings.Get(token) };
                if (JsonScan.TryGetDouble(token, out var d))
                {
                    value.Number = d;
                    value.HasNumber = true;
                }
                return true;
            case JsonToken.True:
                value = new FieldValue { Kind = ValueKind.Bool, Text = "true" };
                return true;
            case JsonToken.False:
                value = new FieldValue { Kind = ValueKind.Bool, Text = "false" };
                return true;
            case JsonToken.Null:
                value = new FieldValue { Kind = ValueKind.Null };
                return true;
            default:
                value = new FieldValue { Kind = ValueKind.Json, Text = Encoding.UTF8.GetString(token) };
                return true;
        }
    }

    private string? ReadObject(ReadOnlySpan<byte> line, Record record)
    {
        var reader = new Utf8JsonReader(line, isFinalBlock: true, new JsonReaderState(ReaderOptions));
        if (!reader.Read())
        {
            return "empty line";
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return "not a JSON object";
        }
        var nameBuffer = _nameBuffer;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                break;
            }
            // Property name → slot, matched as the line's UTF-8 bytes; escapes are decoded only when present.
            var found = reader.ValueIsEscaped
                ? _names.TryGetValue(Unescaped(ref reader, nameBuffer), out var slot)
                : _names.TryGetValue(reader.ValueSpan, out slot);
            reader.Read();
            if (!found)
            {
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
                continue;
            }
            record.Values[slot] = slot < _rawSlots.Length && _rawSlots[slot] && reader.TokenType == JsonTokenType.String
                ? ReadRaw(ref reader, record)
                : ReadValue(ref reader, line, _strings);
        }
        // Anything after the root object (a second value, garbage) makes the line malformed.
        if (reader.Read())
        {
            return "invalid JSON: content after the object";
        }
        return null;
    }

    /// <summary>The unescaped UTF-8 of the string token at the reader, in <paramref name="buffer"/> when it fits.</summary>
    internal static ReadOnlySpan<byte> Unescaped(ref Utf8JsonReader reader, Span<byte> buffer)
    {
        // Unescaped UTF-8 is never longer than its escaped form.
        if (reader.ValueSpan.Length <= buffer.Length)
        {
            return buffer[..reader.CopyString(buffer)];
        }
        var large = new byte[reader.ValueSpan.Length];
        return large.AsSpan(0, reader.CopyString(large));
    }

    private static FieldValue ReadRaw(ref Utf8JsonReader reader, Record record)
    {
        var length = reader.ValueSpan.Length;
        var span = record.Reserve(length, out var buffer, out var offset);
        int written;
        if (reader.ValueIsEscaped)
        {
            written = reader.CopyString(span);
            record.Unreserve(length - written);
        }
        else
        {
            reader.ValueSpan.CopyTo(span);
            written = length;
        }
        return new FieldValue { Kind = ValueKind.Utf8String, Utf8 = buffer, Utf8Offset = offset, Utf8Length = written };
    }

    /// <summary>
    /// The value at the reader as a field: strings decoded, numbers as their token text (and value),
    /// objects and arrays as their raw JSON taken from <paramref name="json"/>, the reader's input.
    /// Shared with <c>parse-json</c>, so nested fields read exactly like top-level ones. Strings and
    /// number texts come from <see cref="Utf8Strings"/>: a value seen before allocates nothing.
    /// </summary>
    internal static FieldValue ReadValue(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, Utf8Strings strings)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
            {
                if (!reader.ValueIsEscaped)
                {
                    return FieldValue.FromString(strings.Get(reader.ValueSpan));
                }
                Span<byte> buffer = stackalloc byte[Utf8Strings.MaxCachedBytes];
                return FieldValue.FromString(reader.ValueSpan.Length <= buffer.Length
                    ? strings.Get(buffer[..reader.CopyString(buffer)])
                    : reader.GetString()!);
            }
            case JsonTokenType.Number:
            {
                var value = new FieldValue { Kind = ValueKind.Number, Text = strings.Get(reader.ValueSpan) };
                if (reader.TryGetDouble(out var d) && double.IsFinite(d))
                {
                    value.Number = d;
                    value.HasNumber = true;
                }
                return value;
            }
            case JsonTokenType.True:
                return new FieldValue { Kind = ValueKind.Bool, Text = "true" };
            case JsonTokenType.False:
                return new FieldValue { Kind = ValueKind.Bool, Text = "false" };
            case JsonTokenType.Null:
                return new FieldValue { Kind = ValueKind.Null };
            default:
            {
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                var end = (int)reader.BytesConsumed;
                return new FieldValue { Kind = ValueKind.Json, Text = Encoding.UTF8.GetString(json[start..end]) };
            }
        }
    }

    private string? Validate(Record record)
    {
        foreach (var field in _typed)
        {
            ref var value = ref record.Values[field.Slot];
            if (!value.IsPresent)
            {
                if (field.Required)
                {
                    return value.Kind == ValueKind.Null ? $"{field.Name}: is null" : $"{field.Name}: missing";
                }
                value = default;
                continue;
            }
            switch (field.Type)
            {
                case FieldType.String:
                    if (value.Kind != ValueKind.String)
                    {
                        return $"{field.Name}: expected a string, got {Describe(value)}";
                    }
                    break;
                case FieldType.Int:
                {
                    if (!TryInteger(value, out var integer))
                    {
                        return $"{field.Name}: expected an integer, got {Describe(value)}";
                    }
                    if (field.Min is { } min && integer < min)
                    {
                        return $"{field.Name}: {integer} is below the minimum {min}";
                    }
                    value = Canonical(value, integer);
                    break;
                }
                case FieldType.Number:
                    if (!value.TryGetNumber(out var number) || (value.Kind != ValueKind.Number && value.Kind != ValueKind.String))
                    {
                        return $"{field.Name}: expected a number, got {Describe(value)}";
                    }
                    if (field.Min is { } nmin && number < nmin)
                    {
                        return $"{field.Name}: {number.ToString(CultureInfo.InvariantCulture)} is below the minimum {nmin}";
                    }
                    value.Number = number;
                    value.HasNumber = true;
                    break;
            }
        }
        var time = (long)record.Values[_timeSlot].Number;
        if (time > long.MaxValue / _timeScale)
        {
            return $"{_timeField}: {time} is out of range";
        }
        record.EventTimeMs = time * _timeScale;
        return null;
    }

    /// <summary>The integer as a number field whose text is its canonical decimal form, reusing the text read when it already is.</summary>
    private static FieldValue Canonical(in FieldValue read, long integer)
    {
        Span<char> canonical = stackalloc char[20];
        integer.TryFormat(canonical, out var length, default, CultureInfo.InvariantCulture);
        var text = read.Text.AsSpan().SequenceEqual(canonical[..length]) ? read.Text! : integer.ToString(CultureInfo.InvariantCulture);
        return new FieldValue { Kind = ValueKind.Number, Text = text, Number = integer, HasNumber = true };
    }

    /// <summary>
    /// DESIGN §4: an integer is a JSON number written without fraction or exponent, or a string of
    /// ASCII digits. <c>14.0</c>, <c>"1.5"</c>, <c>1e3</c> and booleans are not integers.
    /// </summary>
    internal static bool TryInteger(in FieldValue value, out long integer)
    {
        integer = 0;
        var text = value.Text.AsSpan();
        if (value.Kind == ValueKind.Number)
        {
            return text.IndexOfAny('.', 'e', 'E') < 0
                && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out integer);
        }
        if (value.Kind == ValueKind.String)
        {
            return text.Length > 0
                && !text.ContainsAnyExcept(Digits)
                && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out integer);
        }
        return false;
    }

    private static readonly SearchValues<char> Digits = SearchValues.Create("0123456789");

    private static string Describe(in FieldValue value) => value.Kind switch
    {
        ValueKind.String => Quote(value.Text ?? ""),
        ValueKind.Number => value.Text ?? "a number",
        ValueKind.Bool => value.Text ?? "a boolean",
        ValueKind.Json => value.Text is { Length: > 0 } t && t[0] == '[' ? "an array" : "an object",
        _ => "nothing",
    };

    private static string Quote(string s) => s.Length > 40 ? $"\"{s[..40]}…\"" : $"\"{s}\"";

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(". ", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message.TrimEnd('.');
    }
}
