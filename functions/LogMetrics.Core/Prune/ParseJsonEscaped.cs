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
        var blocks = EscapedBlocks.None;
        var p = pos + 1;
        if (p >= line.Length || line[p] != (byte)'{') return -1;
        var name = t_name ??= new byte[1024];
        _prefix.CopyTo(name, 0);
        p = WalkEscapedObject(line, p, 0, name, _prefix.Length, strings, staged, ref blocks);
        if (p < 0 || p >= line.Length || line[p] != (byte)'"') return -1;
        nonAscii = blocks.High != 0;
        return p + 1;
    }

    /// <summary>As <see cref="WalkObject"/>, over the escaped text: the index after the object, or -1 (cannot say).</summary>
    private int WalkEscapedObject(ReadOnlySpan<byte> e, int pos, int depth, byte[] name, int baseLength, Utf8Strings strings, List<(int Slot, FieldValue Value)> staged, ref EscapedBlocks blocks)
    {
        if (depth >= JsonScan.MaxDepth) return -1;
        depth++;
        pos = SkipSpaces(e, pos + 1);
        if (pos < e.Length && e[pos] == (byte)'}') return pos + 1;
        while (true)
        {
            if (!InnerQuote(e, pos)) return -1;
            var nameStart = pos + 2;
            pos = InnerStringEnd(e, nameStart, out var plainName, ref blocks);
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
                    var end = InnerStringEnd(e, pos + 2, out var plain, ref blocks);
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
                pos = WalkEscapedObject(e, pos, depth, name, length + 1, strings, staged, ref blocks);
                if (pos < 0) return -1;
            }
            else
            {
                pos = ValueEndEscaped(e, pos, depth, ref blocks);
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
    /// no backslash in the body (its escaped bytes are its unescaped bytes). Its special bytes are found in
    /// <paramref name="blocks"/>, which read every byte of the string (and the rest of their 64).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int InnerStringEnd(ReadOnlySpan<byte> e, int p, out bool plain, ref EscapedBlocks blocks)
    {
        // Most inner strings end at their first special byte (no escape in them): found in the block, inline.
        var q = blocks.NextSpecial(e, p);
        if ((uint)(q + 1) < (uint)e.Length && e[q] == (byte)'\\' && e[q + 1] == (byte)'"')
        {
            plain = true;
            return q + 2;
        }
        return EscapedInnerStringEnd(e, p, out plain, ref blocks);
    }

    /// <summary>As <see cref="InnerStringEnd"/>, for a string with escapes (or none that ends).</summary>
    private static int EscapedInnerStringEnd(ReadOnlySpan<byte> e, int p, out bool plain, ref EscapedBlocks blocks)
    {
        plain = true;
        var length = e.Length;
        while (true)
        {
            var q = blocks.NextSpecial(e, p);
            // A raw quote ends the outer string inside the inner one; a control byte is not JSON (past the end: -1 too).
            if (q + 1 >= length || e[q] != (byte)'\\') return -1;
            var next = e[q + 1];
            if (next == (byte)'"') return q + 2;
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

    /// <summary>
    /// The special bytes (quote, backslash, control) of the escaped text, found 64 at a time: a bit mask of the 64 bytes
    /// from <see cref="Base"/>, which the walk's string scans share (several inner strings of one block cost one read
    /// of it), and whether a byte of any block read was not ASCII. Positions asked for only grow in a walk; one before
    /// the block reads a block again.
    /// </summary>
    internal struct EscapedBlocks
    {
        /// <summary>The first index <see cref="Special"/> covers.</summary>
        public int Base;
        /// <summary>Bit i: the byte at <see cref="Base"/> + i is a quote, a backslash or a control byte, or past the end.</summary>
        public ulong Special;
        /// <summary>Not 0 when a block read held a byte that is not ASCII.</summary>
        public uint High;

        /// <summary>No block read yet.</summary>
        public static EscapedBlocks None => new() { Base = -64 };

        /// <summary>The index of the first special byte at or after <paramref name="p"/> (at least the text's length when there is none).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int NextSpecial(ReadOnlySpan<byte> e, int p)
        {
            var offset = (uint)(p - Base);
            if (offset < 64)
            {
                var rest = Special >> (int)offset;
                if (rest != 0) return p + BitOperations.TrailingZeroCount(rest);
                p = Base + 64;
            }
            return NextSpecialRead(e, p);
        }

        /// <summary>As <see cref="NextSpecial"/>, reading blocks from <paramref name="p"/> on.</summary>
        private int NextSpecialRead(ReadOnlySpan<byte> e, int p)
        {
            while (true)
            {
                Base = p;
                Special = Read(e, p, ref High);
                if (Special != 0) return p + BitOperations.TrailingZeroCount(Special);
                p += 64;
            }
        }

        /// <summary>The special bytes of the 64 from <paramref name="p"/> (those past the end count as special); their high bits into <paramref name="high"/>.</summary>
        private static ulong Read(ReadOnlySpan<byte> e, int p, ref uint high)
        {
            ref var start = ref MemoryMarshal.GetReference(e);
            if ((uint)p + 64u <= (uint)e.Length)
            {
                if (Vector256.IsHardwareAccelerated)
                {
                    var a = Vector256.LoadUnsafe(ref start, (nuint)(uint)p);
                    var b = Vector256.LoadUnsafe(ref start, (nuint)(uint)p + 32);
                    high |= (a | b).ExtractMostSignificantBits();
                    return JsonScan.Special(a) | ((ulong)JsonScan.Special(b) << 32);
                }
                if (Vector128.IsHardwareAccelerated)
                {
                    var a = Vector128.LoadUnsafe(ref start, (nuint)(uint)p);
                    var b = Vector128.LoadUnsafe(ref start, (nuint)(uint)p + 16);
                    var c = Vector128.LoadUnsafe(ref start, (nuint)(uint)p + 32);
                    var d = Vector128.LoadUnsafe(ref start, (nuint)(uint)p + 48);
                    high |= (a | b | c | d).ExtractMostSignificantBits();
                    return JsonScan.Special(a) | ((ulong)JsonScan.Special(b) << 16) | ((ulong)JsonScan.Special(c) << 32) | ((ulong)JsonScan.Special(d) << 48);
                }
            }
            // The last bytes (or no vectors): one at a time, those past the end special.
            ulong bits = 0;
            for (var i = 0; i < 64; i++)
            {
                var at = p + i;
                if ((uint)at >= (uint)e.Length)
                {
                    bits |= ~0UL << i;
                    break;
                }
                var c = e[at];
                high |= c & 0x80u;
                if (c is (byte)'"' or (byte)'\\' || c < 0x20) bits |= 1UL << i;
            }
            return bits;
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
    private static int ValueEndEscaped(ReadOnlySpan<byte> e, int pos, int depth, ref EscapedBlocks blocks)
    {
        if ((uint)pos >= (uint)e.Length) return -1;
        switch (e[pos])
        {
            case (byte)'\\':
                return InnerQuote(e, pos) ? InnerStringEnd(e, pos + 2, out _, ref blocks) : -1;
            case (byte)'t' or (byte)'f' or (byte)'n':
                return JsonScan.LiteralEnd(e, pos, out _);
            case (byte)'{' or (byte)'[':
                return ContainerEndEscaped(e, pos, depth, ref blocks);
            default:
                return JsonScan.NumberEnd(e, pos);
        }
    }

    /// <summary>As <see cref="JsonScan"/>'s container scan (the same scan: same grammar and depth limit), over the escaped text.</summary>
    private static int ContainerEndEscaped(ReadOnlySpan<byte> e, int pos, int depth, ref EscapedBlocks blocks)
    {
        var text = new EscapedText { Blocks = blocks };
        var end = JsonScan.ContainerEnd(e, pos, depth, ref text);
        blocks = text.Blocks;
        return end;
    }

    /// <summary>
    /// JSON escaped inside a JSON string, for <see cref="JsonScan.ContainerEnd{TText}"/>: strings open with <c>\"</c>,
    /// whitespace is spaces only, and its strings are scanned in the walk's <see cref="EscapedBlocks"/>.
    /// </summary>
    private struct EscapedText : JsonScan.IJsonText
    {
        public EscapedBlocks Blocks;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int SkipWhitespace(ReadOnlySpan<byte> text, int pos) => SkipSpaces(text, pos);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool IsQuote(ReadOnlySpan<byte> text, int pos) => InnerQuote(text, pos);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int StringEnd(ReadOnlySpan<byte> text, int pos) => InnerStringEnd(text, pos + 2, out _, ref Blocks);
    }
}
