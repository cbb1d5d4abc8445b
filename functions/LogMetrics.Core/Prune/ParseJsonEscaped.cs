using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Prune;

/// <summary>
/// <c>parse-json</c> over its source still escaped in the line (JSON inside a JSON string, as <c>Ext5</c> is):
/// the parser hands the string to <see cref="WalkEscaped"/> instead of unescaping it into a copy that the step
/// then walks again. One pass checks the string, checks its unescaped body is one JSON object, and stages the
/// fields <see cref="Walk"/> would stage from the copy. It answers only for the plain way of escaping (every
/// inner quote <c>\"</c>, a backslash <c>\\</c>, a slash as is or <c>\/</c>, a character of an inner string as
/// <c>\uXXXX</c> unless it is a surrogate, a quote, a backslash or a control character, no whitespace but spaces
/// outside inner strings, no inner <c>\u</c> escape, no escape in a name or a staged string); anything else, and any
/// inner document that is not valid, is left to the copy and <see cref="Walk"/>, whose verdict stands. A
/// differential property test holds it to the reader's <c>CopyString</c> and walk.
/// </summary>
public sealed partial class ParseJsonStep : IEscapedJsonWalker
{
    /// <summary>The slot this step reads.</summary>
    internal int SourceSlot => _source;

    /// <summary>
    /// At <paramref name="pos"/>, the opening quote of a JSON string in <paramref name="line"/>: when its body,
    /// unescaped, is a JSON object written the plain way, the index after the string's closing quote, with the
    /// fields <see cref="Walk"/> of the unescaped body stages added to <paramref name="staged"/>;
    /// <paramref name="nonAscii"/> false only when every byte of the string is ASCII. -1 when it cannot say
    /// (<paramref name="staged"/> then holds nothing to apply).
    /// </summary>
    public int WalkEscaped(ReadOnlySpan<byte> line, int pos, Utf8Strings strings, List<(int Slot, FieldValue Value)> staged, out bool nonAscii)
    {
        nonAscii = true;
        uint high = 0;
        var p = pos + 1;
        if (p >= line.Length || line[p] != (byte)'{') return -1;
        var name = t_name ??= new byte[1024];
        _prefix.CopyTo(name, 0);
        p = WalkEscapedObject(line, p, 0, name, _prefix.Length, strings, staged, ref high);
        if (p < 0 || p >= line.Length || line[p] != (byte)'"') return -1;
        nonAscii = high != 0;
        return p + 1;
    }

    /// <summary>As <see cref="WalkObject"/>, over the escaped text: the index after the object, or -1 (cannot say).</summary>
    private int WalkEscapedObject(ReadOnlySpan<byte> e, int pos, int depth, byte[] name, int baseLength, Utf8Strings strings, List<(int Slot, FieldValue Value)> staged, ref uint high)
    {
        if (depth >= JsonScan.MaxDepth) return -1;
        depth++;
        pos = SkipSpaces(e, pos + 1);
        if (pos < e.Length && e[pos] == (byte)'}') return pos + 1;
        while (true)
        {
            if (!InnerQuote(e, pos)) return -1;
            var nameStart = pos + 2;
            pos = InnerStringEnd(e, nameStart, out var plainName, ref high);
            if (pos < 0 || !plainName) return -1;
            var raw = e[nameStart..(pos - 2)];
            pos = SkipSpaces(e, pos);
            if (pos >= e.Length || e[pos] != (byte)':') return -1;
            pos = SkipSpaces(e, pos + 1);
            if (pos >= e.Length) return -1;
            var length = baseLength;
            // As Walk: a name that does not fit the buffer matches nothing.
            var fits = raw.Length + baseLength < name.Length - 1;
            if (fits)
            {
                raw.CopyTo(name.AsSpan(baseLength));
                length += raw.Length;
            }
            var first = e[pos];
            if (fits && _targets.TryGetValue(name.AsSpan(0, length), out var slot))
            {
                FieldValue value;
                if (first == (byte)'\\')
                {
                    if (!InnerQuote(e, pos)) return -1;
                    var end = InnerStringEnd(e, pos + 2, out var plain, ref high);
                    // An escaped value is unescaped by Walk (TryRead): left to it.
                    if (end < 0 || !plain) return -1;
                    value = FieldValue.FromString(strings.Get(e[(pos + 2)..(end - 2)]));
                    pos = end;
                }
                else
                {
                    // A container's raw JSON is the unescaped text: left to Walk.
                    if (first is (byte)'{' or (byte)'[') return -1;
                    JsonToken token;
                    int end;
                    if (first is (byte)'t' or (byte)'f' or (byte)'n')
                    {
                        end = JsonScan.LiteralEnd(e, pos, out token);
                    }
                    else
                    {
                        end = JsonScan.NumberEnd(e, pos);
                        token = JsonToken.Number;
                    }
                    if (end < 0 || !RecordParser.TryRead(e, new RecordParser.Located(token, pos, end, false), strings, out value)) return -1;
                    pos = end;
                }
                staged.Add((slot, value));
            }
            else if (fits && first == (byte)'{' && Descend(name, length))
            {
                pos = WalkEscapedObject(e, pos, depth, name, length + 1, strings, staged, ref high);
                if (pos < 0) return -1;
            }
            else
            {
                pos = ValueEndEscaped(e, pos, depth, ref high);
                if (pos < 0) return -1;
            }
            pos = SkipSpaces(e, pos);
            if (pos >= e.Length) return -1;
            if (e[pos] == (byte)',')
            {
                pos = SkipSpaces(e, pos + 1);
                continue;
            }
            if (e[pos] != (byte)'}') return -1;
            return pos + 1;
        }
    }

    /// <summary>An inner quote (<c>\"</c>) at <paramref name="pos"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool InnerQuote(ReadOnlySpan<byte> e, int pos) =>
        (uint)(pos + 1) < (uint)e.Length && e[pos] == (byte)'\\' && e[pos + 1] == (byte)'"';

    /// <summary>Inner whitespace written plainly: spaces (a tab or a line break is an escape, which is left to Walk).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SkipSpaces(ReadOnlySpan<byte> e, int pos)
    {
        while ((uint)pos < (uint)e.Length && e[pos] == (byte)' ') pos++;
        return pos;
    }

    /// <summary>
    /// At the first byte of an inner string's body (after its <c>\"</c>): the index after its closing <c>\"</c>,
    /// or -1 when it does not end so or holds an escape other than the plain ones. <paramref name="plain"/>:
    /// no backslash in the body (its escaped bytes are its unescaped bytes). Every byte read, and the rest of the
    /// blocks read with them, goes into <paramref name="high"/>.
    /// </summary>
    internal static int InnerStringEnd(ReadOnlySpan<byte> e, int p, out bool plain, ref uint high)
    {
        plain = true;
        ref var start = ref MemoryMarshal.GetReference(e);
        var length = e.Length;
        // The high bits gather in a register, and reach the caller once per string.
        uint h = 0;
        while (true)
        {
            int q;
            if (Vector256.IsHardwareAccelerated && p + Vector256<byte>.Count <= length)
            {
                var v = Vector256.LoadUnsafe(ref start, (nuint)p);
                h |= v.ExtractMostSignificantBits();
                var bits = (Vector256.Equals(v, Vector256.Create((byte)'"'))
                    | Vector256.Equals(v, Vector256.Create((byte)'\\'))
                    | Vector256.LessThan(v, Vector256.Create((byte)0x20))).ExtractMostSignificantBits();
                if (bits == 0)
                {
                    p += Vector256<byte>.Count;
                    continue;
                }
                q = p + BitOperations.TrailingZeroCount(bits);
            }
            else if (Vector128.IsHardwareAccelerated && p + Vector128<byte>.Count <= length)
            {
                var v = Vector128.LoadUnsafe(ref start, (nuint)p);
                h |= v.ExtractMostSignificantBits();
                var bits = (Vector128.Equals(v, Vector128.Create((byte)'"'))
                    | Vector128.Equals(v, Vector128.Create((byte)'\\'))
                    | Vector128.LessThan(v, Vector128.Create((byte)0x20))).ExtractMostSignificantBits();
                if (bits == 0)
                {
                    p += Vector128<byte>.Count;
                    continue;
                }
                q = p + BitOperations.TrailingZeroCount(bits);
            }
            else
            {
                q = p;
                while (q < length && e[q] is not ((byte)'"' or (byte)'\\') && e[q] >= 0x20)
                {
                    h |= e[q] & 0x80u;
                    q++;
                }
            }
            // A raw quote ends the outer string inside the inner one; a control byte is not JSON.
            if (q + 1 >= length || e[q] != (byte)'\\') return -1;
            var next = e[q + 1];
            if (next == (byte)'"')
            {
                high |= h;
                return q + 2;
            }
            plain = false;
            if (next == (byte)'/')
            {
                p = q + 2;
                continue;
            }
            if (next == (byte)'u')
            {
                // A character written \uXXXX in the outer string: content of the inner one unless it is a surrogate
                // (a pair, or a lone one the outer string cannot decode), a quote, a backslash or a control character,
                // which would change the inner document: left to the copy.
                if (q + 6 > length || !TryHex4(e.Slice(q + 2, 4), out var scalar)) return -1;
                if (scalar is < 0x20 or (byte)'"' or (byte)'\\' or (>= 0xD800 and <= 0xDFFF)) return -1;
                p = q + 6;
                continue;
            }
            // An inner escape: \\ then what it escapes, itself written plainly.
            if (next != (byte)'\\' || q + 2 >= length) return -1;
            var escaped = e[q + 2];
            if (escaped == (byte)'\\')
            {
                if (q + 3 >= length || e[q + 3] is not ((byte)'"' or (byte)'\\' or (byte)'/')) return -1;
                p = q + 4;
                continue;
            }
            if (escaped is not ((byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t')) return -1;
            p = q + 3;
        }
    }

    private static bool TryHex4(ReadOnlySpan<byte> hex, out int value)
    {
        value = 0;
        foreach (var h in hex)
        {
            int digit;
            if (h is >= (byte)'0' and <= (byte)'9') digit = h - '0';
            else if ((h | 0x20) is >= (byte)'a' and <= (byte)'f') digit = (h | 0x20) - 'a' + 10;
            else return false;
            value = (value << 4) | digit;
        }
        return true;
    }

    /// <summary>As <see cref="JsonScan.ValueEnd"/>, over the escaped text.</summary>
    private static int ValueEndEscaped(ReadOnlySpan<byte> e, int pos, int depth, ref uint high)
    {
        if ((uint)pos >= (uint)e.Length) return -1;
        switch (e[pos])
        {
            case (byte)'\\':
                return InnerQuote(e, pos) ? InnerStringEnd(e, pos + 2, out _, ref high) : -1;
            case (byte)'t' or (byte)'f' or (byte)'n':
                return JsonScan.LiteralEnd(e, pos, out _);
            case (byte)'{' or (byte)'[':
                return ContainerEndEscaped(e, pos, depth, ref high);
            default:
                return JsonScan.NumberEnd(e, pos);
        }
    }

    /// <summary>As <see cref="JsonScan"/>'s container scan (the same scan: same grammar and depth limit), over the escaped text.</summary>
    private static int ContainerEndEscaped(ReadOnlySpan<byte> e, int pos, int depth, ref uint high)
    {
        var text = new EscapedText { High = high };
        var end = JsonScan.ContainerEnd(e, pos, depth, ref text);
        high = text.High;
        return end;
    }

    /// <summary>
    /// JSON escaped inside a JSON string, for <see cref="JsonScan.ContainerEnd{TText}"/>: strings open with <c>\"</c>,
    /// whitespace is spaces only, and every byte a string scan reads goes into <see cref="High"/>.
    /// </summary>
    private struct EscapedText : JsonScan.IJsonText
    {
        public uint High;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int SkipWhitespace(ReadOnlySpan<byte> text, int pos) => SkipSpaces(text, pos);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool IsQuote(ReadOnlySpan<byte> text, int pos) => InnerQuote(text, pos);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int StringEnd(ReadOnlySpan<byte> text, int pos) => InnerStringEnd(text, pos + 2, out _, ref High);
    }
}
