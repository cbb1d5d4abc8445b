using System.Buffers;

namespace LogMetrics.Core.Parse;

/// <summary>
/// Decides, without throwing, whether bytes are one complete JSON document exactly as a final-block
/// <see cref="System.Text.Json.Utf8JsonReader"/> with comments and trailing commas disallowed would read it
/// to its end without an exception: RFC 8259 grammar, at most <c>maxDepth</c> nested objects and arrays,
/// nothing but whitespace after the root value. A differential property test holds it to the reader's
/// verdict on random, mutated and adversarial inputs. Used where invalid JSON is expected data (a
/// <c>parse-json</c> field), so that a bad value costs a scan instead of a thrown exception.
/// </summary>
public static class JsonValidator
{
    private static readonly SearchValues<byte> StringSpecial = SearchValues.Create(
        [(byte)'"', (byte)'\\', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]);

    /// <summary>True when <paramref name="json"/> is one valid JSON document.</summary>
    public static bool IsValid(ReadOnlySpan<byte> json, int maxDepth = 64) => Classify(json, maxDepth) != JsonVerdict.Invalid;

    /// <summary>The verdict on <paramref name="json"/>, and whether its root is an object.</summary>
    public static JsonVerdict Classify(ReadOnlySpan<byte> json, int maxDepth = 64)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxDepth, 64);
        var pos = SkipWhitespace(json, 0);
        if (pos == json.Length) return JsonVerdict.Invalid;
        var rootIsObject = json[pos] == (byte)'{';
        var depth = 0;
        ulong objects = 0; // bit d set: the container at depth d is an object

    Value:
        if (pos >= json.Length) return JsonVerdict.Invalid;
        switch (json[pos])
        {
            case (byte)'{':
                if (depth >= maxDepth) return JsonVerdict.Invalid;
                objects |= 1UL << depth;
                depth++;
                pos = SkipWhitespace(json, pos + 1);
                if (pos < json.Length && json[pos] == (byte)'}')
                {
                    pos++;
                    depth--;
                    goto AfterValue;
                }
                goto Name;
            case (byte)'[':
                if (depth >= maxDepth) return JsonVerdict.Invalid;
                objects &= ~(1UL << depth);
                depth++;
                pos = SkipWhitespace(json, pos + 1);
                if (pos < json.Length && json[pos] == (byte)']')
                {
                    pos++;
                    depth--;
                    goto AfterValue;
                }
                goto Value;
            case (byte)'"':
                if (!TryString(json, ref pos)) return JsonVerdict.Invalid;
                goto AfterValue;
            case (byte)'t':
                if (!TryLiteral(json, ref pos, "true"u8)) return JsonVerdict.Invalid;
                goto AfterValue;
            case (byte)'f':
                if (!TryLiteral(json, ref pos, "false"u8)) return JsonVerdict.Invalid;
                goto AfterValue;
            case (byte)'n':
                if (!TryLiteral(json, ref pos, "null"u8)) return JsonVerdict.Invalid;
                goto AfterValue;
            default:
                if (!TryNumber(json, ref pos)) return JsonVerdict.Invalid;
                goto AfterValue;
        }

    Name:
        if (pos >= json.Length || json[pos] != (byte)'"' || !TryString(json, ref pos)) return JsonVerdict.Invalid;
        pos = SkipWhitespace(json, pos);
        if (pos >= json.Length || json[pos] != (byte)':') return JsonVerdict.Invalid;
        pos = SkipWhitespace(json, pos + 1);
        goto Value;

    AfterValue:
        pos = SkipWhitespace(json, pos);
        if (depth == 0)
        {
            if (pos != json.Length) return JsonVerdict.Invalid;
            return rootIsObject ? JsonVerdict.Object : JsonVerdict.OtherValue;
        }
        if (pos >= json.Length) return JsonVerdict.Invalid;
        var inObject = (objects & (1UL << (depth - 1))) != 0;
        var c = json[pos];
        if (c == (byte)',')
        {
            pos = SkipWhitespace(json, pos + 1);
            if (inObject) goto Name;
            goto Value;
        }
        if (c == (inObject ? (byte)'}' : (byte)']'))
        {
            pos++;
            depth--;
            goto AfterValue;
        }
        return JsonVerdict.Invalid;
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> json, int pos)
    {
        while (pos < json.Length && json[pos] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r') pos++;
        return pos;
    }

    private static bool TryLiteral(ReadOnlySpan<byte> json, ref int pos, ReadOnlySpan<byte> literal)
    {
        if (!json[pos..].StartsWith(literal)) return false;
        pos += literal.Length;
        return true;
    }

    /// <summary>At an opening quote: moves past the closing quote of a valid string (escapes checked, no raw control characters).</summary>
    private static bool TryString(ReadOnlySpan<byte> json, ref int pos)
    {
        pos++;
        while (true)
        {
            var next = json[pos..].IndexOfAny(StringSpecial);
            if (next < 0) return false;
            pos += next;
            var c = json[pos];
            if (c == (byte)'"')
            {
                pos++;
                return true;
            }
            if (c != (byte)'\\' || pos + 1 >= json.Length) return false;
            switch (json[pos + 1])
            {
                case (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t':
                    pos += 2;
                    break;
                case (byte)'u':
                    if (pos + 6 > json.Length) return false;
                    for (var i = pos + 2; i < pos + 6; i++)
                    {
                        if (!char.IsAsciiHexDigit((char)json[i])) return false;
                    }
                    pos += 6;
                    break;
                default:
                    return false;
            }
        }
    }

    /// <summary><c>-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?</c>; what follows is checked by the caller.</summary>
    private static bool TryNumber(ReadOnlySpan<byte> json, ref int pos)
    {
        var i = pos;
        if (i < json.Length && json[i] == (byte)'-') i++;
        if (i >= json.Length) return false;
        if (json[i] == (byte)'0')
        {
            i++;
        }
        else if (json[i] is >= (byte)'1' and <= (byte)'9')
        {
            i = Digits(json, i + 1);
        }
        else
        {
            return false;
        }
        if (i < json.Length && json[i] == (byte)'.')
        {
            var start = i + 1;
            i = Digits(json, start);
            if (i == start) return false;
        }
        if (i < json.Length && json[i] is (byte)'e' or (byte)'E')
        {
            i++;
            if (i < json.Length && json[i] is (byte)'+' or (byte)'-') i++;
            var start = i;
            i = Digits(json, start);
            if (i == start) return false;
        }
        pos = i;
        return true;
    }

    private static int Digits(ReadOnlySpan<byte> json, int i)
    {
        while (i < json.Length && json[i] is >= (byte)'0' and <= (byte)'9') i++;
        return i;
    }
}

/// <summary>What <see cref="JsonValidator.Classify"/> found.</summary>
public enum JsonVerdict : byte
{
    /// <summary>Not one valid JSON document.</summary>
    Invalid,
    /// <summary>Valid, and the root is an object.</summary>
    Object,
    /// <summary>Valid, and the root is an array, string, number or literal.</summary>
    OtherValue,
}
