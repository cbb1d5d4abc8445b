using System.Buffers.Text;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text;

namespace LogMetrics.Core.Parse;

/// <summary>
/// The byte-level pieces of the hot-path JSON locators (<see cref="RecordParser"/>, <c>parse-json</c>):
/// strict RFC 8259 tokens exactly as a final-block <see cref="System.Text.Json.Utf8JsonReader"/> with
/// comments and trailing commas disallowed accepts them, and JSON string unescaping exactly as its
/// <c>CopyString</c> does it (an escaped lone surrogate fails). Strings are scanned 32 or 16 bytes at a
/// time (<see cref="Vector256"/>, <see cref="Vector128"/>, portable; no AVX-512). Differential property
/// tests hold every user of these to the reader's verdict and values.
/// </summary>
internal static class JsonScan
{
    /// <summary>Nesting limit of the reader the locators match (<c>JsonReaderOptions.MaxDepth</c> 64).</summary>
    public const int MaxDepth = 64;

    /// <summary>Index of the first byte at or after <paramref name="pos"/> that is not JSON whitespace.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SkipWhitespace(ReadOnlySpan<byte> json, int pos)
    {
        while ((uint)pos < (uint)json.Length && json[pos] <= (byte)' ')
        {
            if (json[pos] is not ((byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')) return pos;
            pos++;
        }
        return pos;
    }

    /// <summary>
    /// At an opening quote: the index after the closing quote of a valid string (escapes checked, no raw
    /// control characters), or -1. <paramref name="escaped"/> tells whether it holds a backslash. Every special
    /// byte (quote, backslash, control) of a block is handled from one mask. Positions are returned, not moved
    /// by reference, so that the callers' positions stay in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int StringEnd(ReadOnlySpan<byte> json, int pos, out bool escaped) => StringEnd(json, pos, out escaped, out _);

    /// <summary>
    /// As <see cref="StringEnd(ReadOnlySpan{byte}, int, out bool)"/>; <paramref name="nonAscii"/> is true when a byte of the
    /// string (or of the rest of a block read with it) is not ASCII: where it is false, the string is valid UTF-8
    /// without another look at its bytes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int StringEnd(ReadOnlySpan<byte> json, int pos, out bool escaped, out bool nonAscii)
    {
        // Most names and values are short: a string whose closing quote is the first special byte of the
        // 16 after its opening one is done here, inline, without the loop.
        if (Vector128.IsHardwareAccelerated && (uint)pos + 1 + (uint)Vector128<byte>.Count <= (uint)json.Length)
        {
            var v = Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(json), (nuint)(uint)pos + 1);
            var bits = Special(v);
            if (bits != 0)
            {
                var first = BitOperations.TrailingZeroCount(bits);
                if (json[pos + 1 + first] == (byte)'"')
                {
                    escaped = false;
                    nonAscii = (v.ExtractMostSignificantBits() & ((1u << first) - 1)) != 0;
                    return pos + 2 + first;
                }
            }
        }
        return LongStringEnd(json, pos, out escaped, out nonAscii);
    }

    private static int LongStringEnd(ReadOnlySpan<byte> json, int pos, out bool escaped, out bool nonAscii)
    {
        var esc = false;
        uint high = 0;
        var i = pos + 1;
        ref var start = ref MemoryMarshal.GetReference(json);
        var length = json.Length;
        while (true)
        {
            uint bits;
            int width;
            if (Vector256.IsHardwareAccelerated && i + Vector256<byte>.Count <= length)
            {
                var v = Vector256.LoadUnsafe(ref start, (nuint)i);
                bits = Special(v);
                high |= v.ExtractMostSignificantBits();
                width = Vector256<byte>.Count;
            }
            else if (Vector128.IsHardwareAccelerated && i + Vector128<byte>.Count <= length)
            {
                var v = Vector128.LoadUnsafe(ref start, (nuint)i);
                bits = Special(v);
                high |= v.ExtractMostSignificantBits();
                width = Vector128<byte>.Count;
            }
            else
            {
                // The last bytes, one at a time: the first special byte, if any.
                var at = i;
                while (at < length && json[at] is not ((byte)'"' or (byte)'\\') && json[at] >= 0x20)
                {
                    high |= json[at] & 0x80u;
                    at++;
                }
                if (at >= length) break;
                bits = 1;
                width = 1;
                i = at;
            }
            while (bits != 0)
            {
                var p = i + BitOperations.TrailingZeroCount(bits);
                var c = json[p];
                if (c == (byte)'"')
                {
                    escaped = esc;
                    nonAscii = high != 0;
                    return p + 1;
                }
                if (c != (byte)'\\') goto Fail;
                esc = true;
                var next = SkipEscape(json, p);
                if (next < 0) goto Fail;
                if (next >= i + width)
                {
                    i = next;
                    goto Reload;
                }
                bits &= ~0u << (next - i);
            }
            i += width;
        Reload:;
        }
    Fail:
        escaped = esc;
        nonAscii = true;
        return -1;
    }

    /// <summary>
    /// At an opening quote: the index after the closing quote of a valid string whose escapes all decode, found 64
    /// bytes at a time however many escapes it holds (JSON inside a JSON string is mostly <c>\"</c>), or -1 when it
    /// cannot say so cheaply: a string that is not valid, one with a <c>\u</c> escape (which may be a lone surrogate,
    /// where the reader's <c>CopyString</c> throws), one that ends in the line's last 64 bytes, or no vectors. The
    /// caller then asks <see cref="TryCopyString(ReadOnlySpan{byte}, ref int, Span{byte}, out int, out bool)"/>, whose
    /// verdict is the reader's. A run of backslashes escapes the byte after it when its length is odd: the escaped
    /// bytes of a block come from its backslash mask with a few integer operations (simdjson's escape scanner,
    /// carried from block to block). <paramref name="nonAscii"/> as for <see cref="StringEnd(ReadOnlySpan{byte}, int, out bool, out bool)"/>.
    /// </summary>
    public static int DecodableStringEnd(ReadOnlySpan<byte> json, int pos, out bool nonAscii)
    {
        nonAscii = true;
        if (!Vector128.IsHardwareAccelerated) return -1;
        const ulong OddBits = 0xAAAA_AAAA_AAAA_AAAAUL;
        ref var start = ref MemoryMarshal.GetReference(json);
        ulong carry = 0; // 1: the block's first byte is escaped by a backslash at the end of the block before
        ulong high = 0;
        for (var i = pos + 1; (uint)i + 64u <= (uint)json.Length; i += 64)
        {
            Blocks(ref start, i, out var quotes, out var backslashes, out var controls, out var blockHigh);
            ulong escaped;
            if ((backslashes | carry) == 0)
            {
                escaped = 0;
            }
            else
            {
                var potential = backslashes & ~carry;
                var codes = (((potential << 1) | OddBits) - potential) ^ OddBits;
                escaped = codes ^ (backslashes | carry);
                carry = (codes & backslashes) >> 63;
            }
            var closing = quotes & ~escaped;
            // The bytes before the closing quote (all 64 when it is not in this block).
            var inside = closing == 0 ? ~0UL : (closing & (0UL - closing)) - 1;
            if ((controls & inside) != 0) return -1;
            // Escaped bytes other than a quote: a backslash, '/', b f n r t are plain escapes; anything else (u, or
            // not an escape) is left to the caller.
            var others = escaped & ~quotes & inside;
            while (others != 0)
            {
                var c = json[i + BitOperations.TrailingZeroCount(others)];
                if (c is not ((byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t')) return -1;
                others &= others - 1;
            }
            high |= blockHigh & inside;
            if (closing != 0)
            {
                nonAscii = high != 0;
                return i + BitOperations.TrailingZeroCount(closing) + 1;
            }
        }
        return -1;
    }

    /// <summary>The quotes, backslashes, control bytes and non-ASCII bytes of the 64 bytes from <paramref name="i"/>, as bit masks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Blocks(ref byte start, int i, out ulong quotes, out ulong backslashes, out ulong controls, out ulong high)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.LoadUnsafe(ref start, (nuint)(uint)i);
            var b = Vector256.LoadUnsafe(ref start, (nuint)(uint)i + 32);
            quotes = Vector256.Equals(a, Vector256.Create((byte)'"')).ExtractMostSignificantBits()
                | ((ulong)Vector256.Equals(b, Vector256.Create((byte)'"')).ExtractMostSignificantBits() << 32);
            backslashes = Vector256.Equals(a, Vector256.Create((byte)'\\')).ExtractMostSignificantBits()
                | ((ulong)Vector256.Equals(b, Vector256.Create((byte)'\\')).ExtractMostSignificantBits() << 32);
            controls = Vector256.LessThan(a, Vector256.Create((byte)0x20)).ExtractMostSignificantBits()
                | ((ulong)Vector256.LessThan(b, Vector256.Create((byte)0x20)).ExtractMostSignificantBits() << 32);
            high = a.ExtractMostSignificantBits() | ((ulong)b.ExtractMostSignificantBits() << 32);
            return;
        }
        quotes = backslashes = controls = high = 0;
        for (var k = 0; k < 4; k++)
        {
            var v = Vector128.LoadUnsafe(ref start, (nuint)(uint)(i + (16 * k)));
            var shift = 16 * k;
            quotes |= (ulong)Vector128.Equals(v, Vector128.Create((byte)'"')).ExtractMostSignificantBits() << shift;
            backslashes |= (ulong)Vector128.Equals(v, Vector128.Create((byte)'\\')).ExtractMostSignificantBits() << shift;
            controls |= (ulong)Vector128.LessThan(v, Vector128.Create((byte)0x20)).ExtractMostSignificantBits() << shift;
            high |= (ulong)v.ExtractMostSignificantBits() << shift;
        }
    }

    /// <summary>
    /// At an opening quote: as <see cref="StringEnd(ReadOnlySpan{byte}, int, out bool)"/>, and writes the string's unescaped UTF-8 to
    /// <paramref name="destination"/>, which must hold as many bytes as are left in <paramref name="json"/>
    /// after <paramref name="pos"/>. False when the string is not valid, or when an escape is a lone or
    /// reversed surrogate (where the reader's <c>CopyString</c> throws).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCopyString(ReadOnlySpan<byte> json, ref int pos, Span<byte> destination, out int written) =>
        TryCopyString(json, ref pos, destination, out written, out _);

    /// <summary>As <see cref="TryCopyString(ReadOnlySpan{byte}, ref int, Span{byte}, out int)"/>, telling (as <see cref="StringEnd(ReadOnlySpan{byte}, int, out bool, out bool)"/> does) whether a byte read was not ASCII.</summary>
    public static bool TryCopyString(ReadOnlySpan<byte> json, ref int pos, Span<byte> destination, out int written, out bool nonAscii) =>
        TryCopyString<Shuffles>(json, ref pos, destination, out written, out nonAscii);

    /// <summary>Whether <see cref="TryCopyString{TCompaction}"/> compacts 16-byte blocks of escapes with SSSE3 shuffles.</summary>
    internal interface ICompaction
    {
        static abstract bool Enabled { get; }
    }

    /// <summary>Shuffles where SSSE3 is (the production path).</summary>
    internal readonly struct Shuffles : ICompaction
    {
        public static bool Enabled => Ssse3.IsSupported;
    }

    /// <summary>Never: the escape-by-escape path of a machine without SSSE3, which the tests run on any machine.</summary>
    internal readonly struct NoShuffles : ICompaction
    {
        public static bool Enabled => false;
    }

    /// <summary>
    /// As <see cref="TryCopyString(ReadOnlySpan{byte}, ref int, Span{byte}, out int, out bool)"/>; a struct type
    /// argument, so each variant is compiled with its choice as a constant.
    /// </summary>
    internal static bool TryCopyString<TCompaction>(ReadOnlySpan<byte> json, ref int pos, Span<byte> destination, out int written, out bool nonAscii)
        where TCompaction : struct, ICompaction
    {
        uint high = 0;
        var i = pos + 1;
        var w = 0;
        ref var source = ref MemoryMarshal.GetReference(json);
        ref var target = ref MemoryMarshal.GetReference(destination);
        var length = json.Length;
        if (destination.Length < length - i) throw new ArgumentException("destination too short", nameof(destination));
        while (true)
        {
            uint bits;
            if (Vector256.IsHardwareAccelerated && i + Vector256<byte>.Count <= length)
            {
                // w <= i - pos - 1, so the whole block fits the destination.
                var v = Vector256.LoadUnsafe(ref source, (nuint)i);
                v.StoreUnsafe(ref target, (nuint)w);
                bits = Special(v);
                high |= v.ExtractMostSignificantBits();
                if (bits == 0)
                {
                    i += Vector256<byte>.Count;
                    w += Vector256<byte>.Count;
                    continue;
                }
            }
            else if (Vector128.IsHardwareAccelerated && i + Vector128<byte>.Count <= length)
            {
                var v = Vector128.LoadUnsafe(ref source, (nuint)i);
                v.StoreUnsafe(ref target, (nuint)w);
                bits = Special(v);
                high |= v.ExtractMostSignificantBits();
                if (bits == 0)
                {
                    i += Vector128<byte>.Count;
                    w += Vector128<byte>.Count;
                    continue;
                }
            }
            else
            {
                while (i < length && json[i] is not ((byte)'"' or (byte)'\\') && json[i] >= 0x20)
                {
                    high |= json[i] & 0x80u;
                    destination[w++] = json[i++];
                }
                if (i >= length)
                {
                    written = 0;
                    nonAscii = true;
                    return false;
                }
                bits = 1; // the special byte is at i
            }
            if (TCompaction.Enabled && Ssse3.IsSupported && i + 16 <= length && w + 24 <= destination.Length)
            {
                // JSON inside a JSON string: 16 bytes whose only special bytes are escapes \" or \/ (neither
                // ending the string nor cut by the block's end) are compacted at once, the backslashes dropped by
                // two shuffles, one per half (what stands for an escape is the byte after its backslash).
                var v = Vector128.LoadUnsafe(ref source, (nuint)i);
                var backslashes = Vector128.Equals(v, Vector128.Create((byte)'\\')).ExtractMostSignificantBits();
                var quotes = Vector128.Equals(v, Vector128.Create((byte)'"')).ExtractMostSignificantBits();
                var slashes = Vector128.Equals(v, Vector128.Create((byte)'/')).ExtractMostSignificantBits();
                var controls = Vector128.LessThan(v, Vector128.Create((byte)0x20)).ExtractMostSignificantBits();
                var escapedBytes = backslashes << 1;
                if (backslashes != 0 && controls == 0 && (backslashes & (escapedBytes | 0x8000u)) == 0
                    && (quotes & ~escapedBytes) == 0 && (escapedBytes & ~(quotes | slashes)) == 0)
                {
                    ref var table = ref MemoryMarshal.GetArrayDataReference(Compaction.Table);
                    var low = backslashes & 0xFF;
                    var kept = 8 - BitOperations.PopCount(low);
                    Ssse3.Shuffle(v, Vector128.LoadUnsafe(ref table, low * 16)).StoreUnsafe(ref target, (nuint)w);
                    Ssse3.Shuffle(v, Vector128.LoadUnsafe(ref table, (backslashes >> 8) * 16) + Vector128.Create((byte)8)).StoreUnsafe(ref target, (nuint)(w + kept));
                    high |= v.ExtractMostSignificantBits();
                    w += 16 - BitOperations.PopCount(backslashes);
                    i += 16;
                    continue;
                }
            }
            var skip = BitOperations.TrailingZeroCount(bits);
            i += skip;
            w += skip;
            var c = json[i];
            if (c == (byte)'"')
            {
                pos = i + 1;
                written = w;
                nonAscii = high != 0;
                return true;
            }
            if (c == (byte)'\\' && i + 1 < length)
            {
                // The escapes of JSON inside a JSON string (\" \\ \/) stand for the byte after the backslash:
                // written here, and the next block loaded after it, without a call.
                var e = Unsafe.Add(ref source, (nuint)(i + 1));
                if (e is (byte)'"' or (byte)'\\' or (byte)'/')
                {
                    Unsafe.Add(ref target, (nuint)w) = e;
                    w++;
                    i += 2;
                    continue;
                }
            }
            // Copies, so that i and w themselves are never address-taken and stay in registers.
            var at = i;
            var to = w;
            if (c != (byte)'\\' || SkipEscape(json, at) < 0 || !TryDecodeEscape(json, ref at, destination, ref to))
            {
                written = 0;
                nonAscii = true;
                return false;
            }
            i = at;
            w = to;
        }
    }

    /// <summary>For each 8-bit mask of bytes to drop, the shuffle that keeps the others in order (0x80: a zero byte).</summary>
    private static class Compaction
    {
        public static readonly byte[] Table = Build();

        private static byte[] Build()
        {
            var table = new byte[256 * 16];
            for (var mask = 0; mask < 256; mask++)
            {
                var n = 0;
                for (var j = 0; j < 8; j++)
                {
                    if ((mask & (1 << j)) == 0) table[(mask * 16) + n++] = (byte)j;
                }
                while (n < 16) table[(mask * 16) + n++] = 0x80;
            }
            return table;
        }
    }

    /// <summary>The bytes of a block that end or interrupt a JSON string's plain run: quote, backslash, control.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Special(Vector256<byte> v) =>
        (Vector256.Equals(v, Vector256.Create((byte)'"'))
            | Vector256.Equals(v, Vector256.Create((byte)'\\'))
            | Vector256.LessThan(v, Vector256.Create((byte)0x20))).ExtractMostSignificantBits();

    /// <inheritdoc cref="Special(Vector256{byte})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Special(Vector128<byte> v) =>
        (Vector128.Equals(v, Vector128.Create((byte)'"'))
            | Vector128.Equals(v, Vector128.Create((byte)'\\'))
            | Vector128.LessThan(v, Vector128.Create((byte)0x20))).ExtractMostSignificantBits();

    /// <summary>At a backslash: the index after its escape, or -1 when it is not one of JSON's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SkipEscape(ReadOnlySpan<byte> json, int at)
    {
        if (at + 1 >= json.Length) return -1;
        switch (json[at + 1])
        {
            case (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t':
                return at + 2;
            case (byte)'u':
                if (at + 6 > json.Length) return -1;
                for (var h = at + 2; h < at + 6; h++)
                {
                    if (!char.IsAsciiHexDigit((char)json[h])) return -1;
                }
                return at + 6;
            default:
                return -1;
        }
    }

    /// <summary><c>-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?</c> at <paramref name="pos"/>: the index after the number, or -1; what follows is checked by the caller.</summary>
    public static int NumberEnd(ReadOnlySpan<byte> json, int pos)
    {
        var i = pos;
        if (i < json.Length && json[i] == (byte)'-') i++;
        if (i >= json.Length) return -1;
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
            return -1;
        }
        if (i < json.Length && json[i] == (byte)'.')
        {
            var start = i + 1;
            i = Digits(json, start);
            if (i == start) return -1;
        }
        if (i < json.Length && json[i] is (byte)'e' or (byte)'E')
        {
            i++;
            if (i < json.Length && json[i] is (byte)'+' or (byte)'-') i++;
            var start = i;
            i = Digits(json, start);
            if (i == start) return -1;
        }
        return i;
    }

    private static int Digits(ReadOnlySpan<byte> json, int i)
    {
        while (i < json.Length && json[i] is >= (byte)'0' and <= (byte)'9') i++;
        return i;
    }

    /// <summary>At <c>t</c>, <c>f</c> or <c>n</c>: the index after <c>true</c>, <c>false</c> or <c>null</c>, or -1.</summary>
    public static int LiteralEnd(ReadOnlySpan<byte> json, int pos, out JsonToken token)
    {
        var rest = json[pos..];
        switch (json[pos])
        {
            case (byte)'t' when rest.StartsWith("true"u8):
                token = JsonToken.True;
                return pos + 4;
            case (byte)'f' when rest.StartsWith("false"u8):
                token = JsonToken.False;
                return pos + 5;
            case (byte)'n' when rest.StartsWith("null"u8):
                token = JsonToken.Null;
                return pos + 4;
            default:
                token = JsonToken.None;
                return -1;
        }
    }

    /// <summary>
    /// At the first byte of a value nested <paramref name="depth"/> containers deep: the index after the whole
    /// value, checked (RFC 8259, at most <see cref="MaxDepth"/> open containers in all), and the kind of its
    /// first token; -1 when it is not valid.
    /// </summary>
    public static int ValueEnd(ReadOnlySpan<byte> json, int pos, int depth, out JsonToken token)
    {
        token = JsonToken.None;
        if ((uint)pos >= (uint)json.Length) return -1;
        var first = json[pos];
        int end;
        switch (first)
        {
            case (byte)'"':
                end = StringEnd(json, pos, out _);
                if (end >= 0) token = JsonToken.String;
                return end;
            case (byte)'t' or (byte)'f' or (byte)'n':
                return LiteralEnd(json, pos, out token);
            case (byte)'{' or (byte)'[':
                end = ContainerEnd(json, pos, depth);
                if (end >= 0) token = first == (byte)'{' ? JsonToken.Object : JsonToken.Array;
                return end;
            default:
                end = NumberEnd(json, pos);
                if (end >= 0) token = JsonToken.Number;
                return end;
        }
    }

    /// <summary>An object or array at <paramref name="pos"/>, opened <paramref name="depth"/> containers deep, checked to its end: the index after it, or -1.</summary>
    private static int ContainerEnd(ReadOnlySpan<byte> json, int pos, int depth)
    {
        var text = default(PlainText);
        return ContainerEnd(json, pos, depth, ref text);
    }

    /// <summary>
    /// The text a container scan walks (<see cref="ContainerEnd{TText}"/>): how its whitespace is skipped and
    /// where its strings open and end. A struct, so that each kind of text gets its own compiled scan.
    /// </summary>
    internal interface IJsonText
    {
        /// <summary>Index of the first byte at or after <paramref name="pos"/> that is not whitespace of this text.</summary>
        static abstract int SkipWhitespace(ReadOnlySpan<byte> text, int pos);

        /// <summary>Whether a string opens at <paramref name="pos"/> (which may be past the end).</summary>
        static abstract bool IsQuote(ReadOnlySpan<byte> text, int pos);

        /// <summary>At a string's opening (<see cref="IsQuote"/>): the index after the whole string, checked, or -1.</summary>
        int StringEnd(ReadOnlySpan<byte> text, int pos);
    }

    /// <summary>JSON as it is.</summary>
    private struct PlainText : IJsonText
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int SkipWhitespace(ReadOnlySpan<byte> text, int pos) => JsonScan.SkipWhitespace(text, pos);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool IsQuote(ReadOnlySpan<byte> text, int pos) => (uint)pos < (uint)text.Length && text[pos] == (byte)'"';

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly int StringEnd(ReadOnlySpan<byte> text, int pos) => JsonScan.StringEnd(text, pos, out _);
    }

    /// <summary>
    /// An object or array at <paramref name="pos"/> of <paramref name="json"/> read as <typeparamref name="TText"/>,
    /// opened <paramref name="depth"/> containers deep, checked to its end (the reader's grammar, at most
    /// <see cref="MaxDepth"/> open containers in all): the index after it, or -1.
    /// </summary>
    internal static int ContainerEnd<TText>(ReadOnlySpan<byte> json, int pos, int depth, ref TText text)
        where TText : struct, IJsonText
    {
        var baseDepth = depth;
        ulong objects = 0; // bit d: the container opened at relative depth d is an object
        var relative = 0;

    Value:
        if ((uint)pos >= (uint)json.Length) return -1;
        switch (json[pos])
        {
            case (byte)'{':
                if (baseDepth + relative >= MaxDepth) return -1;
                objects |= 1UL << relative;
                relative++;
                pos = TText.SkipWhitespace(json, pos + 1);
                if (pos < json.Length && json[pos] == (byte)'}')
                {
                    pos++;
                    relative--;
                    goto AfterValue;
                }
                goto Name;
            case (byte)'[':
                if (baseDepth + relative >= MaxDepth) return -1;
                objects &= ~(1UL << relative);
                relative++;
                pos = TText.SkipWhitespace(json, pos + 1);
                if (pos < json.Length && json[pos] == (byte)']')
                {
                    pos++;
                    relative--;
                    goto AfterValue;
                }
                goto Value;
            case (byte)'t' or (byte)'f' or (byte)'n':
                pos = LiteralEnd(json, pos, out _);
                if (pos < 0) return -1;
                goto AfterValue;
            default:
                pos = TText.IsQuote(json, pos) ? text.StringEnd(json, pos) : NumberEnd(json, pos);
                if (pos < 0) return -1;
                goto AfterValue;
        }

    Name:
        if (!TText.IsQuote(json, pos)) return -1;
        pos = text.StringEnd(json, pos);
        if (pos < 0) return -1;
        pos = TText.SkipWhitespace(json, pos);
        if (pos >= json.Length || json[pos] != (byte)':') return -1;
        pos = TText.SkipWhitespace(json, pos + 1);
        goto Value;

    AfterValue:
        if (relative == 0) return pos;
        pos = TText.SkipWhitespace(json, pos);
        if (pos >= json.Length) return -1;
        var inObject = (objects & (1UL << (relative - 1))) != 0;
        var c = json[pos];
        if (c == (byte)',')
        {
            pos = TText.SkipWhitespace(json, pos + 1);
            if (inObject) goto Name;
            goto Value;
        }
        if (c == (inObject ? (byte)'}' : (byte)']'))
        {
            pos++;
            relative--;
            goto AfterValue;
        }
        return -1;
    }

    /// <summary>
    /// The number token's value as <see cref="System.Text.Json.Utf8JsonReader.TryGetDouble"/> gives it:
    /// parsed by <see cref="Utf8Parser"/>, and only when finite.
    /// </summary>
    public static bool TryGetDouble(ReadOnlySpan<byte> number, out double value)
    {
        if (Utf8Parser.TryParse(number, out double parsed, out var consumed) && consumed == number.Length && double.IsFinite(parsed))
        {
            value = parsed;
            return true;
        }
        value = 0;
        return false;
    }

    /// <summary>
    /// Unescapes the body of a valid JSON string (between its quotes) into <paramref name="destination"/>
    /// (at least as long as <paramref name="escaped"/>): false when an escape is a lone or reversed
    /// surrogate, where the reader's <c>CopyString</c> throws.
    /// </summary>
    public static bool TryUnescape(ReadOnlySpan<byte> escaped, Span<byte> destination, out int written)
    {
        var i = 0;
        var w = 0;
        ref var source = ref MemoryMarshal.GetReference(escaped);
        ref var target = ref MemoryMarshal.GetReference(destination);
        var length = escaped.Length;
        if (destination.Length < length) throw new ArgumentException("destination too short", nameof(destination));
        while (true)
        {
            if (Vector256.IsHardwareAccelerated && i + Vector256<byte>.Count <= length)
            {
                var v = Vector256.LoadUnsafe(ref source, (nuint)i);
                v.StoreUnsafe(ref target, (nuint)w);
                var bits = Vector256.Equals(v, Vector256.Create((byte)'\\')).ExtractMostSignificantBits();
                if (bits == 0)
                {
                    i += Vector256<byte>.Count;
                    w += Vector256<byte>.Count;
                    continue;
                }
                var skip = BitOperations.TrailingZeroCount(bits);
                i += skip;
                w += skip;
            }
            else
            {
                var next = escaped[i..].IndexOf((byte)'\\');
                var run = next < 0 ? length - i : next;
                escaped.Slice(i, run).CopyTo(destination[w..]);
                i += run;
                w += run;
                if (next < 0)
                {
                    written = w;
                    return true;
                }
            }
            var at = i;
            var to = w;
            if (!TryDecodeEscape(escaped, ref at, destination, ref to))
            {
                written = 0;
                return false;
            }
            i = at;
            w = to;
        }
    }

    /// <summary>At a backslash starting a valid escape: writes what it stands for and moves past it; false on a bad surrogate.</summary>
    private static bool TryDecodeEscape(ReadOnlySpan<byte> json, ref int i, Span<byte> destination, ref int w)
    {
        var e = json[i + 1];
        if (e != (byte)'u')
        {
            destination[w++] = e switch
            {
                (byte)'b' => (byte)'\b',
                (byte)'f' => (byte)'\f',
                (byte)'n' => (byte)'\n',
                (byte)'r' => (byte)'\r',
                (byte)'t' => (byte)'\t',
                _ => e, // " \ /
            };
            i += 2;
            return true;
        }
        var scalar = Hex4(json.Slice(i + 2, 4));
        i += 6;
        if (scalar is >= 0xD800 and <= 0xDFFF)
        {
            // A high surrogate must be followed by an escaped low one.
            if (scalar >= 0xDC00 || i + 6 > json.Length || json[i] != (byte)'\\' || json[i + 1] != (byte)'u')
            {
                return false;
            }
            var lowHex = json.Slice(i + 2, 4);
            foreach (var h in lowHex)
            {
                if (!char.IsAsciiHexDigit((char)h)) return false;
            }
            var low = Hex4(lowHex);
            if (low is < 0xDC00 or > 0xDFFF) return false;
            i += 6;
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00);
        }
        w += new Rune(scalar).EncodeToUtf8(destination[w..]);
        return true;
    }

    private static int Hex4(ReadOnlySpan<byte> hex)
    {
        var value = 0;
        foreach (var h in hex)
        {
            value = (value << 4) | (h <= (byte)'9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        return value;
    }
}

/// <summary>The kind of a located JSON value (its first token).</summary>
internal enum JsonToken : byte
{
    None,
    String,
    Number,
    True,
    False,
    Null,
    Object,
    Array,
}
