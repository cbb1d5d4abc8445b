using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
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
    private readonly string[] _missing;
    private readonly string[] _isNull;
    private readonly int _timeSlot;
    private readonly long _timeScale;
    private readonly string _timeField;

    private const string ContentAfterObject = "invalid JSON: content after the object";

    private readonly bool[] _rawSlots;
    private readonly bool[] _unreadSlots;
    private readonly Located[] _found;
    private readonly ulong?[] _hashes; // per slot: the Utf8Strings hash of a cached value's text, else null

    /// <param name="rawSlots">Slots read only as text by parse-json or parse-kv: kept as UTF-8 bytes, never decoded to a string.</param>
    /// <param name="unreadSlots">Slots of fields that nothing reads (<see cref="CompiledPipeline.UnreadSlots"/>): a string
    /// there is only checked to decode, as the reader decodes every field the pipeline names, and kept nowhere.</param>
    public RecordParser(FieldTable fields, IReadOnlyList<TypedField> typed, string timeField, string timeUnit, IReadOnlySet<int>? rawSlots = null,
        IReadOnlySet<int>? unreadSlots = null)
    {
        // A typed field is always read as its type; the time field, too, is never left unread.
        bool Untyped(int slot) => !typed.Any(t => t.Slot == slot);
        _rawSlots = SlotFlags(fields.Count, rawSlots, Untyped);
        _unreadSlots = SlotFlags(fields.Count, unreadSlots, slot => Untyped(slot) && fields.Names[slot] != timeField);
        _typed = [.. typed];
        _timeField = timeField;
        _timeSlot = fields.GetOrAdd(timeField);
        _names = new Utf8NameTable(fields.Names.Select((name, slot) => KeyValuePair.Create(name, slot)));
        _found = new Located[fields.Count];
        _hashes = new ulong?[fields.Count];
        _timeScale = timeUnit == "ms" ? 1 : 1000;
        if (!_typed.Any(t => t.Slot == _timeSlot))
        {
            _typed = [.. _typed, new TypedField(timeField, _timeSlot, FieldType.Int, true, null)];
        }
        // The reasons that name only the field, made once.
        _missing = [.. _typed.Select(t => $"{t.Name}: missing")];
        _isNull = [.. _typed.Select(t => $"{t.Name}: is null")];
    }

    // The parse-json source walked in the line (FuseParseJson), and its step; -1: none.
    private int _walkedSlot = -1;
    private IEscapedJsonWalker? _walker;

    /// <summary>
    /// Has the only reader of raw slot <paramref name="slot"/>, a <c>parse-json</c> step, walk it where it stands in
    /// the line (<see cref="IEscapedJsonWalker"/>): the slot then holds a <see cref="FieldValue.Walked"/> value
    /// with no bytes, and the record the fields the step sets, instead of an unescaped copy the step walks again.
    /// The caller makes sure nothing else reads the slot before the step.
    /// </summary>
    internal void FuseParseJson(int slot, IEscapedJsonWalker walker)
    {
        if (slot < 0 || slot >= _rawSlots.Length || !_rawSlots[slot]) throw new ArgumentException($"slot {slot} is not a raw slot", nameof(slot));
        _walkedSlot = slot;
        _walker = walker;
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
        // The locator reads every byte of the line: outside strings only ASCII is JSON, and it checks as UTF-8 each
        // string it saw a byte that is not ASCII in. Only when one is not valid, when a value is a container, or when
        // it did not take the line, is the whole line checked as UTF-8, so a line is read once; the verdict (and its
        // precedence) is that of checking first.
        var location = TryLocate(line, record, out var failedAt, out var checkLine);
        if ((location != Location.Located || checkLine) && !Utf8.IsValid(line))
        {
            record.Clear();
            return "invalid UTF-8";
        }
        switch (location)
        {
            case Location.Located:
                return Validate(record);
            case Location.Invalid:
                // The reader would throw here; the reason is said without an exception.
                return failedAt < 0 ? ContentAfterObject : $"invalid JSON: syntax error at byte {failedAt}";
            default:
                record.Clear();
                return ParseWithReader(line, record);
        }
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
    internal Location TryLocate(ReadOnlySpan<byte> line, Record record, out int failedAt) => TryLocate(line, record, out failedAt, out _);

    /// <summary>
    /// As <see cref="TryLocate(ReadOnlySpan{byte}, Record, out int)"/>, on any bytes: <paramref name="checkLine"/> is
    /// false only when the line was taken and is valid UTF-8 (every byte ASCII, or each string holding one that is not
    /// valid UTF-8 itself); true when the caller must check the whole line.
    /// </summary>
    internal Location TryLocate(ReadOnlySpan<byte> line, Record record, out int failedAt, out bool checkLine)
    {
        failedAt = 0;
        checkLine = true;
        // The whole line needs checking as UTF-8: a container seen, or a string that is not valid UTF-8.
        var checkWhole = false;
        var found = _found;
        Array.Clear(found);
        // Per located slot: the Utf8Strings hash of its text when it is taken from the cache by its bytes (set with the slot's Located).
        var hashes = _hashes;
        var pos = JsonScan.SkipWhitespace(line, 0);
        if (pos >= line.Length || line[pos] != (byte)'{') return Location.Unsupported;
        pos = JsonScan.SkipWhitespace(line, pos + 1);
        if (pos < line.Length && line[pos] == (byte)'}')
        {
            pos++;
        }
        else
        {
            while (true)
            {
                // Positions are plain locals moved by the position-returning scanners (never passed by
                // reference), so that they stay in registers.
                if (pos >= line.Length || line[pos] != (byte)'"') return Invalid(pos, out failedAt);
                var nameStart = pos + 1;
                pos = JsonScan.StringEnd(line, nameStart - 1, out var escapedName, out var nameHigh);
                if (pos < 0) return Invalid(nameStart - 1, out failedAt);
                checkWhole |= NotUtf8(nameHigh, line, nameStart - 1, pos);
                if (escapedName) return Location.Unsupported;
                var name = line[nameStart..(pos - 1)];
                pos = JsonScan.SkipWhitespace(line, pos);
                if (pos >= line.Length || line[pos] != (byte)':') return Invalid(pos, out failedAt);
                pos = JsonScan.SkipWhitespace(line, pos + 1);
                var valueStart = pos;
                JsonToken token;
                var escaped = false;
                // A container's strings are not looked at: any container makes the whole line checked.
                if (pos < line.Length && line[pos] is (byte)'{' or (byte)'[') checkWhole = true;
                bool valueHigh;
                if (!_names.TryGetValue(name, out var slot))
                {
                    if (pos < line.Length && line[pos] == (byte)'"')
                    {
                        pos = JsonScan.StringEnd(line, pos, out _, out valueHigh);
                        checkWhole |= NotUtf8(valueHigh, line, valueStart, pos);
                    }
                    else
                    {
                        pos = JsonScan.ValueEnd(line, pos, 1, out _);
                    }
                    if (pos < 0) return Invalid(valueStart, out failedAt);
                }
                else if (pos < line.Length && line[pos] == (byte)'"' && slot < _unreadSlots.Length && _unreadSlots[slot])
                {
                    // Read by nothing: only checked, as the reader would decode it (an escape that does not decode is
                    // its verdict); no copy, no string. Most strings are answered 64 bytes at a time, escapes and all.
                    var end = JsonScan.DecodableStringEnd(line, pos, out valueHigh);
                    if (end < 0)
                    {
                        var scratch = record.Reserve(line.Length - pos, out _, out _);
                        end = pos;
                        var decodes = JsonScan.TryCopyString(line, ref end, scratch, out _, out valueHigh);
                        record.Unreserve(scratch.Length);
                        if (!decodes) return NotCopied(line, valueStart, out failedAt);
                    }
                    pos = end;
                    checkWhole |= NotUtf8(valueHigh, line, valueStart, pos);
                }
                else if (pos < line.Length && line[pos] == (byte)'"' && slot < _rawSlots.Length && _rawSlots[slot])
                {
                    if (slot == _walkedSlot)
                    {
                        // Read only by a parse-json step that walks it here: checked and its fields found in one pass.
                        var walked = record.WalkedFields;
                        walked.Clear();
                        var walkedEnd = _walker!.WalkEscaped(line, pos, _strings, walked, out valueHigh);
                        if (walkedEnd >= 0)
                        {
                            pos = walkedEnd;
                            checkWhole |= NotUtf8(valueHigh, line, valueStart, pos);
                            record.WalkedBy = _walker;
                            record.Values[slot] = new FieldValue { Kind = ValueKind.Utf8String, Utf8 = [], Walked = true };
                            found[slot] = new Located(JsonToken.None, valueStart, pos, false);
                            goto AfterValue;
                        }
                        walked.Clear();
                        record.WalkedBy = null;
                    }
                    // Read only by parse-json or parse-kv: unescaped into the record's buffer while it is checked.
                    var span = record.Reserve(line.Length - pos, out var buffer, out var offset);
                    var end = pos;
                    if (!JsonScan.TryCopyString(line, ref end, span, out var written, out valueHigh))
                    {
                        // Not a valid string, or one whose escapes do not decode (the reader's reason then).
                        return NotCopied(line, valueStart, out failedAt);
                    }
                    pos = end;
                    checkWhole |= NotUtf8(valueHigh, line, valueStart, pos);
                    record.Unreserve(span.Length - written);
                    record.Values[slot] = new FieldValue { Kind = ValueKind.Utf8String, Utf8 = buffer, Utf8Offset = offset, Utf8Length = written };
                    found[slot] = new Located(JsonToken.None, valueStart, pos, false);
                }
                else
                {
                    if (pos < line.Length && line[pos] == (byte)'"')
                    {
                        pos = JsonScan.StringEnd(line, pos, out escaped, out valueHigh);
                        checkWhole |= NotUtf8(valueHigh, line, valueStart, pos);
                        token = JsonToken.String;
                    }
                    else
                    {
                        pos = JsonScan.ValueEnd(line, pos, 1, out token);
                    }
                    if (pos < 0) return Invalid(valueStart, out failedAt);
                    ref var at = ref found[slot];
                    // The reader decodes every occurrence: an earlier escaped one could fail where the last does not.
                    if (at.Token == JsonToken.String && at.Escaped) return Location.Unsupported;
                    at = new Located(token, valueStart, pos, escaped);
                    // The value's string comes from the cache: its set is asked for now, so that it is loaded while
                    // the rest of the line is read (a later occurrence of the name asks again and wins).
                    if (Cached(line, at, out var text))
                    {
                        var hash = Utf8Strings.Hash(text);
                        hashes[slot] = hash;
                        _strings.Prefetch(hash);
                    }
                    else
                    {
                        hashes[slot] = null;
                    }
                }
            AfterValue:
                pos = JsonScan.SkipWhitespace(line, pos);
                if (pos >= line.Length) return Invalid(pos, out failedAt);
                if (line[pos] == (byte)',')
                {
                    pos = JsonScan.SkipWhitespace(line, pos + 1);
                    continue;
                }
                if (line[pos] != (byte)'}') return Invalid(pos, out failedAt);
                pos++;
                break;
            }
        }
        if (JsonScan.SkipWhitespace(line, pos) != line.Length)
        {
            failedAt = -1;
            return Location.Invalid;
        }
        checkLine = checkWhole;
        var values = record.Values;
        // The sets were asked for as the values were found; now the strings they will be compared with.
        for (var slot = 0; slot < found.Length; slot++)
        {
            if (found[slot].Token != JsonToken.None && hashes[slot] is { } hash) _strings.PrefetchValue(hash);
        }
        for (var slot = 0; slot < found.Length; slot++)
        {
            var at = found[slot];
            // None: absent, or a raw string already in place.
            if (at.Token == JsonToken.None) continue;
            // The usual values, here as TryRead reads them, without its call: a plain string taken from the cache by its
            // hash, a plain integer. (One inlined helper shared with TryRead made Parse about 3 % slower: --ab, both orders.)
            if (at.Token == JsonToken.String && !at.Escaped && hashes[slot] is { } hash)
            {
                // Cached: 1 to MaxCachedBytes bytes, so not empty (a key's test for an empty text then reads no string).
                values[slot] = FieldValue.FromNonEmptyString(_strings.Get(line[(at.Start + 1)..(at.End - 1)], hash));
                continue;
            }
            if (at.Token == JsonToken.Number && PlainInteger(line[at.Start..at.End], out var integer))
            {
                values[slot] = FieldValue.FromIntegerToken(integer);
                continue;
            }
            if (!TryRead(line, at, _strings, hashes[slot], out values[slot]))
            {
                return Location.Unsupported;
            }
        }
        return Location.Located;
    }

    /// <summary>The text of a located value that <see cref="TryRead"/> takes from <see cref="Utf8Strings"/> by its bytes as they are.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Cached(ReadOnlySpan<byte> line, Located at, out ReadOnlySpan<byte> text)
    {
        if (at.Token == JsonToken.String && !at.Escaped)
        {
            text = line[(at.Start + 1)..(at.End - 1)];
            return text.Length is > 0 and <= Utf8Strings.MaxCachedBytes;
        }
        if (at.Token == JsonToken.Number)
        {
            // A plain integer's text is made only when read (FieldValue.IntegerText).
            text = line[at.Start..at.End];
            return text.Length <= Utf8Strings.MaxCachedBytes && !PlainInteger(text, out _);
        }
        text = default;
        return false;
    }

    /// <summary>
    /// Whether a string at [<paramref name="start"/>, <paramref name="end"/>) of the line, which its scan saw a byte that
    /// is not ASCII in (<paramref name="high"/>), is not valid UTF-8. Outside strings the locator takes only ASCII, so a
    /// located line is valid UTF-8 exactly when each such string is: only they are checked, not the whole line.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool NotUtf8(bool high, ReadOnlySpan<byte> line, int start, int end) =>
        high && end >= start && !Utf8.IsValid(line[start..end]);

    /// <summary>
    /// A string at <paramref name="at"/> that <see cref="JsonScan.TryCopyString(ReadOnlySpan{byte}, ref int, Span{byte}, out int, out bool)"/>
    /// refused: a valid string whose escapes do not decode is left to the reader (its reason), any other is invalid JSON.
    /// </summary>
    private static Location NotCopied(ReadOnlySpan<byte> line, int at, out int failedAt)
    {
        failedAt = 0;
        return JsonScan.StringEnd(line, at, out _) >= 0 ? Location.Unsupported : Invalid(at, out failedAt);
    }

    /// <summary>A flag per slot of the <paramref name="count"/>: set for the <paramref name="slots"/> given that <paramref name="allowed"/> takes.</summary>
    private static bool[] SlotFlags(int count, IReadOnlySet<int>? slots, Func<int, bool> allowed)
    {
        var flags = new bool[count];
        foreach (var slot in slots ?? new HashSet<int>())
        {
            if (slot < count && allowed(slot)) flags[slot] = true;
        }
        return flags;
    }

    private static Location Invalid(int at, out int failedAt)
    {
        failedAt = at;
        return Location.Invalid;
    }

    /// <summary>What <see cref="TryLocate"/> made of a line.</summary>
    internal enum Location
    {
        /// <summary>A valid object; its fields are set.</summary>
        Located,
        /// <summary>A line starting with '{' that is not one valid JSON object (the reader's verdict too).</summary>
        Invalid,
        /// <summary>Left to the reader: not starting with '{', an escaped property name, an escape that does not decode, an escaped value repeated.</summary>
        Unsupported,
    }

    /// <summary>Where a located value is in its JSON: its first token, [Start, End) including quotes or brackets.</summary>
    internal readonly record struct Located(JsonToken Token, int Start, int End, bool Escaped);

    /// <summary>
    /// A located value as a field, exactly as <see cref="ReadValue"/> reads it from the reader: false when
    /// an escape does not decode (where the reader throws).
    /// </summary>
    internal static bool TryRead(ReadOnlySpan<byte> json, Located at, Utf8Strings strings, out FieldValue value) =>
        TryRead(json, at, strings, null, out value);

    /// <summary>As <see cref="TryRead(ReadOnlySpan{byte}, Located, Utf8Strings, out FieldValue)"/>, with the <see cref="Utf8Strings.Hash"/> of the text when the caller has it.</summary>
    internal static bool TryRead(ReadOnlySpan<byte> json, Located at, Utf8Strings strings, ulong? hash, out FieldValue value)
    {
        var token = json[at.Start..at.End];
        switch (at.Token)
        {
            case JsonToken.String:
            {
                var body = token[1..^1];
                if (!at.Escaped)
                {
                    value = FieldValue.FromString(hash is { } h ? strings.Get(body, h) : strings.Get(body));
                    return true;
                }
                return TryReadEscaped(body, strings, out value);
            }
            case JsonToken.Number:
                if (PlainInteger(token, out var integer))
                {
                    value = FieldValue.FromIntegerToken(integer);
                    return true;
                }
                value = new FieldValue { Kind = ValueKind.Number, Text = hash is { } n ? strings.Get(token, n) : strings.Get(token) };
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

    /// <summary>
    /// A valid JSON number token that is an integer of at most 15 digits other than <c>-0</c>: its text is the
    /// canonical decimal of its value, and its value is exact as a double (what <see cref="JsonScan.TryGetDouble"/>
    /// gives), so it can be kept as the number alone (<see cref="FieldValue.FromIntegerToken"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool PlainInteger(ReadOnlySpan<byte> token, out long value)
    {
        value = 0;
        var negative = token.Length > 0 && token[0] == (byte)'-';
        var digits = negative ? token[1..] : token;
        if (digits.Length is 0 or > 15 || (negative && digits[0] == (byte)'0')) return false;
        long v = 0;
        foreach (var b in digits)
        {
            var d = (uint)(b - '0');
            if (d > 9) return false;
            v = (v * 10) + d;
        }
        value = negative ? -v : v;
        return true;
    }

    /// <summary>An escaped string value: unescaped (on the stack when it is short), then taken from the cache or decoded.</summary>
    [SkipLocalsInit]
    private static bool TryReadEscaped(ReadOnlySpan<byte> body, Utf8Strings strings, out FieldValue value)
    {
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
            if (slot < _unreadSlots.Length && _unreadSlots[slot] && reader.TokenType == JsonTokenType.String)
            {
                // Read by nothing: decoded (its verdict) and kept nowhere, as TryLocate does.
                if (reader.ValueIsEscaped)
                {
                    var scratch = record.Reserve(reader.ValueSpan.Length, out _, out _);
                    reader.CopyString(scratch);
                    record.Unreserve(scratch.Length);
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
            return ContentAfterObject;
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
        for (var f = 0; f < _typed.Length; f++)
        {
            var field = _typed[f];
            ref var value = ref record.Values[field.Slot];
            if (!value.IsPresent)
            {
                if (field.Required)
                {
                    return value.Kind == ValueKind.Null ? _isNull[f] : _missing[f];
                }
                value = default;
                continue;
            }
            switch (field.Type)
            {
                case FieldType.String:
                    if (value.Kind != ValueKind.String)
                    {
                        return Reason(f, 0, value, 0) ?? Remember($"{field.Name}: expected a string, got {Describe(value)}");
                    }
                    break;
                case FieldType.Int:
                {
                    if (!TryInteger(value, out var integer))
                    {
                        return Reason(f, 1, value, 0) ?? Remember($"{field.Name}: expected an integer, got {Describe(value)}");
                    }
                    if (field.Min is { } min && integer < min)
                    {
                        return Reason(f, 2, default, integer) ?? Remember($"{field.Name}: {integer} is below the minimum {min}");
                    }
                    // A plain integer token is canonical as it is: not written back (a copy of a value that holds a
                    // reference is a write barrier).
                    if (!value.IntegerText) value = Canonical(value, integer, _strings);
                    break;
                }
                case FieldType.Number:
                    if (!value.TryGetNumber(out var number) || (value.Kind != ValueKind.Number && value.Kind != ValueKind.String))
                    {
                        return Reason(f, 3, value, 0) ?? Remember($"{field.Name}: expected a number, got {Describe(value)}");
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
    /// <remarks>Not for a plain integer token (<see cref="FieldValue.IntegerText"/>): that is kept as its number, its text made when read.</remarks>
    [SkipLocalsInit]
    private static FieldValue Canonical(in FieldValue read, long integer, Utf8Strings strings)
    {
        // An integer's text (TryInteger: a JSON integer token, or ASCII digits) is already canonical unless
        // it is "-0" or has a leading zero.
        var read0 = read.Text.AsSpan();
        string text;
        if (read0.Length == 1 || (read0.Length > 1 && (read0[0] is not ('0' or '-') || (read0[0] == '-' && read0[1] != '0'))))
        {
            text = read.Text!;
        }
        else
        {
            // "0404" → "404", from the cache like any other value.
            Span<byte> utf8 = stackalloc byte[20];
            integer.TryFormat(utf8, out var written, default, CultureInfo.InvariantCulture);
            text = strings.Get(utf8[..written]);
        }
        return new FieldValue { Kind = ValueKind.Number, Text = text, Number = integer, HasNumber = true };
    }

    // The reasons that name a value, remembered by (field, check, value) in a small direct-mapped cache:
    // a source that sends a bad value sends it again, and its reason is then not made again.
    private readonly ReasonEntry[] _reasons = new ReasonEntry[256];
    private int _reasonAt;

    private struct ReasonEntry
    {
        public int Field;
        public int Check;
        public ValueKind Kind;
        public string? Text;
        public long Number;
        public string? Reason;
    }

    private string? Reason(int field, int check, in FieldValue value, long number)
    {
        var at = (int)((uint)HashCode.Combine(field, check, value.Kind, value.Text is null ? 0 : RuntimeHelpers.GetHashCode(value.Text), number) % (uint)_reasons.Length);
        ref var entry = ref _reasons[at];
        _reasonAt = at;
        if (entry.Reason is not null && entry.Field == field && entry.Check == check && entry.Kind == value.Kind && ReferenceEquals(entry.Text, value.Text) && entry.Number == number)
        {
            return entry.Reason;
        }
        entry = new ReasonEntry { Field = field, Check = check, Kind = value.Kind, Text = value.Text, Number = number };
        return null;
    }

    private string Remember(string reason) => _reasons[_reasonAt].Reason = reason;

    /// <summary>
    /// DESIGN §4: an integer is a JSON number written without fraction or exponent, or a string of
    /// ASCII digits. <c>14.0</c>, <c>"1.5"</c>, <c>1e3</c> and booleans are not integers.
    /// </summary>
    internal static bool TryInteger(in FieldValue value, out long integer)
    {
        if (value.IntegerText)
        {
            integer = (long)value.Number;
            return true;
        }
        integer = 0;
        var text = value.Text.AsSpan();
        if (value.Kind == ValueKind.Number)
        {
            return text.IndexOfAny('.', 'e', 'E') < 0
                && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out integer);
        }
        if (value.Kind == ValueKind.String)
        {
            // Up to 18 digits (no overflow), as below without its calls: an HTTP code, a size.
            if (text.Length is > 0 and <= 18)
            {
                long v = 0;
                foreach (var c in text)
                {
                    var digit = (uint)(c - '0');
                    if (digit > 9) return false;
                    v = (v * 10) + digit;
                }
                integer = v;
                return true;
            }
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
