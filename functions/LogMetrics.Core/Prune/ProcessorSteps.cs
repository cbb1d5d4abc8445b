using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Prune;

/// <summary>One compiled processor step. <see cref="Apply"/> returns false when the record is filtered out.</summary>
public abstract class ProcessorStep
{
    // Compiled steps are shared by every pipeline of a process (one per lane, running concurrently),
    // so per-call scratch lives with the thread, never in the step.
    [ThreadStatic]
    private static byte[]? t_text;

    public abstract bool Apply(Record record);

    /// <summary>
    /// <paramref name="text"/> as UTF-8 in this thread's scratch buffer: valid until the next call on
    /// the thread, i.e. for the step that asked (steps of a record run one after another).
    /// </summary>
    protected static ReadOnlySpan<byte> Utf8Scratch(string text)
    {
        var buffer = t_text;
        if (buffer is null || buffer.Length < Encoding.UTF8.GetMaxByteCount(text.Length))
        {
            buffer = t_text = new byte[Math.Max(Encoding.UTF8.GetMaxByteCount(text.Length), 4096)];
        }
        return buffer.AsSpan(0, Encoding.UTF8.GetBytes(text, buffer));
    }
}

/// <summary><c>where</c>: keeps the records the predicate accepts.</summary>
public sealed class WhereStep(Func<Record, bool> predicate) : ProcessorStep
{
    public override bool Apply(Record record) => predicate(record);
}

/// <summary><c>project</c>: clears every slot not kept, so nothing downstream can read a dropped column.</summary>
public sealed class ProjectStep(bool[] keep) : ProcessorStep
{
    public override bool Apply(Record record)
    {
        var values = record.Values;
        for (var i = 0; i < keep.Length; i++)
        {
            if (!keep[i]) values[i] = default;
        }
        return true;
    }
}

/// <summary>
/// <c>parse-json</c>: parses a JSON string field and sets the flattened fields the pipeline uses
/// (<c>prefix + a_b_c</c> for nested objects). Invalid JSON yields no fields at all; it is recognised
/// in the same single byte-level pass that finds the fields (<see cref="JsonScan"/>), so bad values cost no
/// exception. Only objects on the way to a used field are descended into; names are matched as UTF-8 bytes.
/// </summary>
public sealed partial class ParseJsonStep : ProcessorStep
{
    private readonly int _source;
    private readonly byte[] _prefix;
    private readonly Utf8NameTable _targets;
    private readonly Utf8NameTable _descend;
    // Compiled steps are shared by every pipeline of a process (one per lane, running concurrently),
    // so per-call scratch lives with the thread, never in the step.
    [ThreadStatic]
    private static List<(int Slot, FieldValue Value)>? t_staged;
    [ThreadStatic]
    private static byte[]? t_name;

    public ParseJsonStep(int sourceSlot, string prefix, IReadOnlyDictionary<string, int> targets)
    {
        _source = sourceSlot;
        _prefix = Encoding.UTF8.GetBytes(prefix);
        var t = new Dictionary<string, int>(targets, StringComparer.Ordinal);
        _targets = new Utf8NameTable(t);
        // Every "prefix + path + _" on the way to a target: objects worth descending into.
        var descend = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in t.Keys)
        {
            for (var i = name.IndexOf('_', prefix.Length); i >= 0; i = name.IndexOf('_', i + 1))
            {
                descend.Add(name[..(i + 1)]);
            }
        }
        _descend = new Utf8NameTable(descend.Select(d => KeyValuePair.Create(d, 0)));
    }

    public override bool Apply(Record record)
    {
        ref var source = ref record.Values[_source];
        ReadOnlySpan<byte> json;
        if (source.Kind == ValueKind.Utf8String)
        {
            if (source.Walked)
            {
                // Walked by the parser over the escaped line (WalkEscaped): its fields are staged in the record.
                if (!ReferenceEquals(record.WalkedBy, this)) throw new InvalidOperationException("parse-json source walked for another step");
                foreach (var (slot, value) in record.WalkedFields)
                {
                    record.Values[slot] = value;
                }
                return true;
            }
            json = source.Utf8Span;
        }
        else if (source.Kind is ValueKind.String or ValueKind.Json && !string.IsNullOrEmpty(source.Text))
        {
            json = Utf8Scratch(source.Text);
        }
        else
        {
            return true;
        }
        var staged = t_staged ??= [];
        staged.Clear();
        if (Walk(json, record.Strings, staged))
        {
            foreach (var (slot, value) in staged)
            {
                record.Values[slot] = value;
            }
        }
        staged.Clear();
        return true;
    }

    /// <summary>
    /// One pass over <paramref name="json"/>: checks it is one strict JSON document whose root is an object
    /// (the verdict of <see cref="JsonValidator"/> and <see cref="Utf8JsonReader"/>) while staging the target
    /// fields. False, with nothing to apply, when it is not, or when a name or value read does not decode.
    /// </summary>
    internal bool Walk(ReadOnlySpan<byte> json, Utf8Strings strings, List<(int Slot, FieldValue Value)> staged)
    {
        var pos = JsonScan.SkipWhitespace(json, 0);
        if (pos >= json.Length || json[pos] != (byte)'{') return false;
        var name = t_name ??= new byte[1024];
        _prefix.CopyTo(name, 0);
        pos = WalkObject(json, pos, 0, name, _prefix.Length, strings, staged);
        return pos >= 0 && JsonScan.SkipWhitespace(json, pos) == json.Length;
    }

    /// <summary>
    /// The object at <paramref name="pos"/>, opened under <paramref name="depth"/> containers, whose names extend
    /// <c>name[..baseLength]</c>: the index after it, or -1 when it is not valid. Positions are plain locals moved
    /// by the position-returning scanners, so that they stay in registers.
    /// </summary>
    private int WalkObject(ReadOnlySpan<byte> json, int pos, int depth, byte[] name, int baseLength, Utf8Strings strings, List<(int Slot, FieldValue Value)> staged)
    {
        if (depth >= JsonScan.MaxDepth) return -1;
        depth++;
        pos = JsonScan.SkipWhitespace(json, pos + 1);
        if (pos < json.Length && json[pos] == (byte)'}') return pos + 1;
        while (true)
        {
            if (pos >= json.Length || json[pos] != (byte)'"') return -1;
            var nameStart = pos + 1;
            pos = JsonScan.StringEnd(json, pos, out var escapedName);
            if (pos < 0) return -1;
            var raw = json[nameStart..(pos - 1)];
            pos = JsonScan.SkipWhitespace(json, pos);
            if (pos >= json.Length || json[pos] != (byte)':') return -1;
            pos = JsonScan.SkipWhitespace(json, pos + 1);
            var length = baseLength;
            // As the reader path did: a name (escaped length) that does not fit the buffer matches nothing.
            var fits = raw.Length + baseLength < name.Length - 1;
            if (fits)
            {
                if (!escapedName)
                {
                    raw.CopyTo(name.AsSpan(baseLength));
                    length += raw.Length;
                }
                else if (JsonScan.TryUnescape(raw, name.AsSpan(baseLength), out var written))
                {
                    length += written;
                }
                else
                {
                    return -1;
                }
            }
            var valueStart = pos;
            if (fits && _targets.TryGetValue(name.AsSpan(0, length), out var slot))
            {
                var escaped = false;
                JsonToken token;
                if (pos < json.Length && json[pos] == (byte)'"')
                {
                    pos = JsonScan.StringEnd(json, pos, out escaped);
                    token = JsonToken.String;
                }
                else
                {
                    pos = JsonScan.ValueEnd(json, pos, depth, out token);
                }
                if (pos < 0) return -1;
                if (!RecordParser.TryRead(json, new RecordParser.Located(token, valueStart, pos, escaped), strings, out var value)) return -1;
                staged.Add((slot, value));
            }
            else if (fits && pos < json.Length && json[pos] == (byte)'{' && Descend(name, length))
            {
                pos = WalkObject(json, pos, depth, name, length + 1, strings, staged);
                if (pos < 0) return -1;
            }
            else
            {
                pos = JsonScan.ValueEnd(json, pos, depth, out _);
                if (pos < 0) return -1;
            }
            pos = JsonScan.SkipWhitespace(json, pos);
            if (pos >= json.Length) return -1;
            if (json[pos] == (byte)',')
            {
                pos = JsonScan.SkipWhitespace(json, pos + 1);
                continue;
            }
            if (json[pos] != (byte)'}') return -1;
            return pos + 1;
        }
    }

    private bool Descend(byte[] name, int length)
    {
        name[length] = (byte)'_';
        return _descend.Contains(name.AsSpan(0, length + 1));
    }
}

/// <summary>
/// <c>parse-kv</c>: splits a <c>k=v;k=v</c> string and sets the fields mapped from its keys.
/// Keys match exactly (no trimming; <c>SubRegionId</c> is not <c>RegionId</c>); a repeated key's last value wins.
/// The text is split as UTF-8 bytes and keys are matched as bytes; a value seen before allocates nothing.
/// </summary>
public sealed class ParseKvStep : ProcessorStep
{
    private readonly int _source;
    private readonly byte[] _pairDelimiter;
    private readonly byte[] _kvDelimiter;
    private readonly Utf8NameTable _keys;

    /// <summary>The slot this step reads.</summary>
    internal int SourceSlot => _source;

    public ParseKvStep(int sourceSlot, string pairDelimiter, string kvDelimiter, IReadOnlyDictionary<string, int> keyToSlot)
    {
        _source = sourceSlot;
        _pairDelimiter = Encoding.UTF8.GetBytes(pairDelimiter);
        _kvDelimiter = Encoding.UTF8.GetBytes(kvDelimiter);
        _keys = new Utf8NameTable(keyToSlot);
        // A few keys, each neither empty nor holding a delimiter, each to its own slot: every key is found
        // by a search for "key=" from the end of the text instead of splitting every pair.
        if (_pairDelimiter.Length == 1 && _kvDelimiter.Length == 1 && keyToSlot.Count <= MaxSearchedKeys
            && keyToSlot.Values.Distinct().Count() == keyToSlot.Count
            && keyToSlot.Keys.All(k => k.Length > 0 && !k.Contains(pairDelimiter, StringComparison.Ordinal) && !k.Contains(kvDelimiter, StringComparison.Ordinal)))
        {
            _searched = [.. keyToSlot.Select(k => (Encoding.UTF8.GetBytes(pairDelimiter + k.Key + kvDelimiter), k.Value))];
        }
    }

    private const int MaxSearchedKeys = 4;

    // Each key after the (one-byte) pair delimiter and followed by the key-value delimiter, and its slot; null
    // when the text is split pair by pair.
    private readonly (byte[] AfterDelimiter, int Slot)[]? _searched;

    public override bool Apply(Record record)
    {
        ref var source = ref record.Values[_source];
        ReadOnlySpan<byte> rest;
        if (source.Kind == ValueKind.Utf8String)
        {
            rest = source.Utf8Span;
        }
        else if (source.Kind == ValueKind.String && !string.IsNullOrEmpty(source.Text))
        {
            rest = Utf8Scratch(source.Text);
        }
        else
        {
            return true;
        }
        if (rest.IsEmpty) return true;
        if (_searched is not null)
        {
            ApplySearched(rest, record);
            return true;
        }
        if (_pairDelimiter.Length == 1 && _kvDelimiter.Length == 1)
        {
            ApplySingleByte(rest, record);
            return true;
        }
        while (true)
        {
            var cut = rest.IndexOf(_pairDelimiter);
            var pair = cut < 0 ? rest : rest[..cut];
            var eq = pair.IndexOf(_kvDelimiter);
            if (eq >= 0 && _keys.TryGetValue(pair[..eq], out var slot))
            {
                record.Values[slot] = FieldValue.FromString(record.Strings.Get(pair[(eq + _kvDelimiter.Length)..]));
            }
            if (cut < 0) break;
            rest = rest[(cut + _pairDelimiter.Length)..];
        }
        return true;
    }

    /// <summary>
    /// Single-byte delimiters (the usual <c>;</c> and <c>=</c>): one pass that finds both a 32-byte block at a
    /// time, each pair split at its first key-value delimiter, as the general loop does.
    /// </summary>
    private void ApplySingleByte(ReadOnlySpan<byte> text, Record record)
    {
        var pairDelimiter = _pairDelimiter[0];
        var kvDelimiter = _kvDelimiter[0];
        var pairStart = 0;
        var eq = -1;
        var i = 0;
        ref var start = ref MemoryMarshal.GetReference(text);
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + Vector256<byte>.Count <= text.Length; i += Vector256<byte>.Count)
            {
                var v = Vector256.LoadUnsafe(ref start, (nuint)i);
                var pairs = Vector256.Equals(v, Vector256.Create(pairDelimiter)).ExtractMostSignificantBits();
                var both = pairs | Vector256.Equals(v, Vector256.Create(kvDelimiter)).ExtractMostSignificantBits();
                while (both != 0)
                {
                    var bit = BitOperations.TrailingZeroCount(both);
                    both &= both - 1;
                    var at = i + bit;
                    if ((pairs & (1u << bit)) != 0)
                    {
                        Pair(text, pairStart, eq, at, record);
                        pairStart = at + 1;
                        eq = -1;
                    }
                    else if (eq < 0)
                    {
                        eq = at;
                    }
                }
            }
        }
        for (; i < text.Length; i++)
        {
            if (text[i] == pairDelimiter)
            {
                Pair(text, pairStart, eq, i, record);
                pairStart = i + 1;
                eq = -1;
            }
            else if (text[i] == kvDelimiter && eq < 0)
            {
                eq = i;
            }
        }
        Pair(text, pairStart, eq, text.Length, record);
    }

    /// <summary>
    /// The last pair of each key, found from the end of the text: <c>key=</c> at the start of the text or
    /// right after a pair delimiter is a pair whose first key-value delimiter ends the key (the key holds
    /// none), so this is what splitting every pair gives. The last one after a pair delimiter is the last
    /// <c>;key=</c> (one search, which occurrences of <c>key=</c> inside other pairs do not stop); only when
    /// there is none can the pair be the text's first.
    /// </summary>
    private void ApplySearched(ReadOnlySpan<byte> text, Record record)
    {
        var pairDelimiter = _pairDelimiter[0];
        foreach (var (afterDelimiter, slot) in _searched!)
        {
            // key= itself: what follows the pair delimiter.
            var needle = afterDelimiter.AsSpan(1);
            var at = text.LastIndexOf(afterDelimiter);
            if (at >= 0)
            {
                at++;
            }
            else if (text.StartsWith(needle))
            {
                at = 0;
            }
            else
            {
                continue;
            }
            var value = text[(at + needle.Length)..];
            var cut = value.IndexOf(pairDelimiter);
            record.Values[slot] = FieldValue.FromString(record.Strings.Get(cut < 0 ? value : value[..cut]));
        }
    }

    private void Pair(ReadOnlySpan<byte> text, int start, int eq, int end, Record record)
    {
        if (eq >= 0 && _keys.TryGetValue(text[start..eq], out var slot))
        {
            record.Values[slot] = FieldValue.FromString(record.Strings.Get(text[(eq + 1)..end]));
        }
    }
}

/// <summary><c>parse-regexp</c>: matches a field against a regular expression; each named group that matched sets a field.</summary>
public sealed class ParseRegexpStep(int sourceSlot, Regex regex, IReadOnlyList<(string Group, int Slot)> groups) : ProcessorStep
{
    public override bool Apply(Record record)
    {
        ref var source = ref record.Values[sourceSlot];
        if (!source.IsPresent || source.Text is not { } text)
        {
            return true;
        }
        var match = regex.Match(text);
        if (!match.Success)
        {
            return true;
        }
        foreach (var (group, slot) in groups)
        {
            var g = match.Groups[group];
            if (g.Success)
            {
                record.Values[slot] = FieldValue.FromString(g.Value);
            }
        }
        return true;
    }
}
