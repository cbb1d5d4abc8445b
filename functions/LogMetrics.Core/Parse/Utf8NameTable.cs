using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Text;

namespace LogMetrics.Core.Parse;

/// <summary>
/// An immutable map from names to slots, looked up by the names' UTF-8 bytes: the parser matches
/// JSON property names as they are in the line, without decoding them to UTF-16. Open addressing
/// over a power-of-two table at most half full, behind a filter on (length, last byte) that turns most
/// names a line holds but the pipeline does not use away without hashing them.
/// </summary>
public sealed class Utf8NameTable
{
    private readonly ulong[] _hashes;
    private readonly byte[]?[] _names;
    private readonly int[] _values;
    // Per slot of a name of 1 to Utf8Strings.InlineBytes bytes: its bytes as two words (Utf8Strings.Inline), compared
    // without a call.
    private readonly ulong[] _low;
    private readonly ulong[] _high;
    private readonly int _mask;
    // By (length, last byte): -1 no name, ≥ 0 the one name's index in the table, -2 several (hash them).
    private readonly int[] _filter = new int[FilterSize];
    private const int FilterSize = 64 * 32;

    public Utf8NameTable(IEnumerable<KeyValuePair<string, int>> entries)
    {
        var list = entries.ToList();
        var size = 8;
        while (size < list.Count * 2) size <<= 1;
        _hashes = new ulong[size];
        _names = new byte[]?[size];
        _values = new int[size];
        _low = new ulong[size];
        _high = new ulong[size];
        _mask = size - 1;
        foreach (var (name, value) in list)
        {
            var bytes = Encoding.UTF8.GetBytes(name);
            var hash = XxHash3.HashToUInt64(bytes);
            var i = (int)(hash & (ulong)_mask);
            while (_names[i] is { } existing && !existing.AsSpan().SequenceEqual(bytes))
            {
                i = (i + 1) & _mask;
            }
            _hashes[i] = hash;
            _names[i] = bytes;
            _values[i] = value;
            if (bytes.Length is > 0 and <= Utf8Strings.InlineBytes) Utf8Strings.Inline(bytes, out _low[i], out _high[i]);
        }
        Count = list.Count;
        Array.Fill(_filter, -1);
        for (var i = 0; i < size; i++)
        {
            if (_names[i] is not { } name) continue;
            ref var f = ref _filter[Filter(name)];
            f = f == -1 ? i : -2;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Filter(ReadOnlySpan<byte> name) => name.IsEmpty ? 0 : ((name.Length & 63) << 5) | (name[^1] & 31);

    public int Count { get; }

    /// <remarks>
    /// Inlined where it is called (the parser asks for every property name of every line): a name the filter turns
    /// away, or the filter's one name of up to <see cref="Utf8Strings.InlineBytes"/> bytes, is answered without a call.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetValue(ReadOnlySpan<byte> name, out int value)
    {
        var only = _filter[Filter(name)];
        if (only >= 0 && name.Length is > 0 and <= Utf8Strings.InlineBytes)
        {
            value = _values[only];
            if (name.Length != _names[only]!.Length) return false;
            Utf8Strings.Inline(name, out var low, out var high);
            return low == _low[only] && high == _high[only];
        }
        if (only == -1)
        {
            value = 0;
            return false;
        }
        return TryGetValueSlow(name, only, out value);
    }

    /// <summary>The rest of <see cref="TryGetValue"/>: the filter's one name when it is longer, or several names (hashed).</summary>
    private bool TryGetValueSlow(ReadOnlySpan<byte> name, int only, out int value)
    {
        if (only >= 0)
        {
            value = _values[only];
            var candidate = _names[only]!;
            return name.Length == candidate.Length && name.SequenceEqual(candidate);
        }
        var hash = XxHash3.HashToUInt64(name);
        var i = (int)(hash & (ulong)_mask);
        while (_names[i] is { } candidate)
        {
            if (_hashes[i] == hash && name.SequenceEqual(candidate))
            {
                value = _values[i];
                return true;
            }
            i = (i + 1) & _mask;
        }
        value = 0;
        return false;
    }

    public bool Contains(ReadOnlySpan<byte> name) => TryGetValue(name, out _);
}
