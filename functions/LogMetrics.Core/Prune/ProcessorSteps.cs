using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Prune;

/// <summary>One compiled processor step. <see cref="Apply"/> returns false when the record is filtered out.</summary>
public abstract class ProcessorStep
{
    public abstract bool Apply(Record record);
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
/// (<c>prefix + a_b_c</c> for nested objects). Invalid JSON yields no fields at all.
/// Only objects on the way to a used field are descended into; names are matched without allocating.
/// </summary>
public sealed class ParseJsonStep : ProcessorStep
{
    private readonly int _source;
    private readonly string _prefix;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _targets;
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _descend;
    // Compiled steps are shared by every pipeline of a process (one per lane, running concurrently),
    // so per-call scratch lives with the thread, never in the step.
    [ThreadStatic]
    private static List<(int Slot, FieldValue Value)>? t_staged;

    public ParseJsonStep(int sourceSlot, string prefix, IReadOnlyDictionary<string, int> targets)
    {
        _source = sourceSlot;
        _prefix = prefix;
        var t = new Dictionary<string, int>(targets, StringComparer.Ordinal);
        _targets = t.GetAlternateLookup<ReadOnlySpan<char>>();
        // Every "prefix + path + _" on the way to a target: objects worth descending into.
        var descend = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in t.Keys)
        {
            for (var i = name.IndexOf('_', prefix.Length); i >= 0; i = name.IndexOf('_', i + 1))
            {
                descend.Add(name[..(i + 1)]);
            }
        }
        _descend = descend.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public override bool Apply(Record record)
    {
        ref var source = ref record.Values[_source];
        if (source.Kind == ValueKind.Utf8String)
        {
            var staged = Staged();
            var chars = ArrayPool<char>.Shared.Rent(1024);
            try
            {
                if (Walk(source.Utf8.AsSpan(0, source.Utf8Length), chars, staged)) Commit(record, staged);
            }
            finally
            {
                ArrayPool<char>.Shared.Return(chars);
            }
            return true;
        }
        if (source.Kind is not (ValueKind.String or ValueKind.Json) || string.IsNullOrEmpty(source.Text))
        {
            return true;
        }
        var text = source.Text;
        var buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        var name = ArrayPool<char>.Shared.Rent(1024);
        try
        {
            var length = Encoding.UTF8.GetBytes(text, buffer);
            var staged = Staged();
            if (Walk(buffer.AsSpan(0, length), name, staged))
            {
                Commit(record, staged);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            ArrayPool<char>.Shared.Return(name);
        }
        return true;
    }

    private static List<(int Slot, FieldValue Value)> Staged()
    {
        var staged = t_staged ??= [];
        staged.Clear();
        return staged;
    }

    private static void Commit(Record record, List<(int Slot, FieldValue Value)> staged)
    {
        foreach (var (slot, value) in staged)
        {
            record.Values[slot] = value;
        }
    }

    private bool Walk(ReadOnlySpan<byte> json, char[] name, List<(int Slot, FieldValue Value)> staged)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                // Valid JSON that is not an object still has to be fully valid to be ignored quietly.
                if (reader.TokenType is JsonTokenType.StartArray) reader.Skip();
                while (reader.Read()) { }
                return false;
            }
            _prefix.CopyTo(name);
            WalkObject(ref reader, json, name, _prefix.Length, staged);
            while (reader.Read()) { }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private void WalkObject(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, char[] name, int baseLength, List<(int Slot, FieldValue Value)> staged)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var length = baseLength;
            var fits = reader.ValueSpan.Length * 2 + baseLength < name.Length - 1;
            if (fits)
            {
                length += reader.ValueIsEscaped
                    ? reader.CopyString(name.AsSpan(baseLength))
                    : Encoding.UTF8.GetChars(reader.ValueSpan, name.AsSpan(baseLength));
            }
            reader.Read();
            var full = name.AsSpan(0, length);
            if (fits && _targets.TryGetValue(full, out var slot))
            {
                staged.Add((slot, RecordParser.ReadValue(ref reader, json)));
                continue;
            }
            if (fits && reader.TokenType == JsonTokenType.StartObject)
            {
                name[length] = '_';
                if (_descend.Contains(name.AsSpan(0, length + 1)))
                {
                    WalkObject(ref reader, json, name, length + 1, staged);
                    continue;
                }
            }
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip();
            }
        }
    }
}

/// <summary>
/// <c>parse-kv</c>: splits a <c>k=v;k=v</c> string and sets the fields mapped from its keys.
/// Keys match exactly (no trimming; <c>SubRegionId</c> is not <c>RegionId</c>); a repeated key's last value wins.
/// </summary>
public sealed class ParseKvStep : ProcessorStep
{
    private readonly int _source;
    private readonly string _pairDelimiter;
    private readonly string _kvDelimiter;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _keys;

    public ParseKvStep(int sourceSlot, string pairDelimiter, string kvDelimiter, IReadOnlyDictionary<string, int> keyToSlot)
    {
        _source = sourceSlot;
        _pairDelimiter = pairDelimiter;
        _kvDelimiter = kvDelimiter;
        _keys = new Dictionary<string, int>(keyToSlot, StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public override bool Apply(Record record)
    {
        ref var source = ref record.Values[_source];
        if (source.Kind != ValueKind.String || string.IsNullOrEmpty(source.Text))
        {
            return true;
        }
        var rest = source.Text.AsSpan();
        while (true)
        {
            var cut = rest.IndexOf(_pairDelimiter, StringComparison.Ordinal);
            var pair = cut < 0 ? rest : rest[..cut];
            var eq = pair.IndexOf(_kvDelimiter, StringComparison.Ordinal);
            if (eq >= 0 && _keys.TryGetValue(pair[..eq], out var slot))
            {
                record.Values[slot] = FieldValue.FromString(pair[(eq + _kvDelimiter.Length)..].ToString());
            }
            if (cut < 0) break;
            rest = rest[(cut + _pairDelimiter.Length)..];
        }
        return true;
    }
}

/// <summary><c>parse-regexp</c>: matches a field against a regular expression; each named group that matched sets a field.</summary>
public sealed class ParseRegexpStep(int sourceSlot, Regex regex, IReadOnlyList<(string Group, int Slot)> groups) : ProcessorStep
{
    public override bool Apply(Record record)
    {
        ref var source = ref record.Values[sourceSlot];
        if (!source.IsPresent || source.Text is null)
        {
            return true;
        }
        var match = regex.Match(source.Text);
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
