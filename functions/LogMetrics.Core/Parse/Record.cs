namespace LogMetrics.Core.Parse;

/// <summary>A parsed record: one <see cref="FieldValue"/> per slot of the pipeline's <see cref="FieldTable"/>.</summary>
public sealed class Record
{
    public Record(int slots) => Values = new FieldValue[slots];

    public FieldValue[] Values { get; }

    /// <summary>Event time in milliseconds since the epoch.</summary>
    public long EventTimeMs { get; set; }

    /// <summary>Sequence number of the record in its lane.</summary>
    public long Sequence { get; set; }

    public ref FieldValue this[int slot] => ref Values[slot];

    private Utf8Strings? _strings;

    /// <summary>
    /// Where the strings of this record's values come from: the cache of the parser that filled it
    /// (one thread at a time, as the parser), else the current thread's.
    /// </summary>
    public Utf8Strings Strings
    {
        get => _strings ?? Utf8Strings.ForThread;
        set => _strings = value;
    }

    // The record's own bytes for Utf8String values: reused from one parse to the next.
    private byte[] _arena = [];
    private int _arenaUsed;

    public void Clear()
    {
        Array.Clear(Values);
        EventTimeMs = 0;
        Sequence = 0;
        _arenaUsed = 0;
    }

    /// <summary>
    /// Room for <paramref name="length"/> bytes of a value, valid until the next <see cref="Clear"/>. A grown
    /// buffer is a new array, so values written before keep their bytes.
    /// </summary>
    internal Span<byte> Reserve(int length, out byte[] buffer, out int offset)
    {
        if (_arena.Length - _arenaUsed < length)
        {
            _arena = new byte[Math.Max(Math.Max(_arena.Length * 2, 4096), length)];
            _arenaUsed = 0;
        }
        buffer = _arena;
        offset = _arenaUsed;
        _arenaUsed += length;
        return _arena.AsSpan(offset, length);
    }

    /// <summary>Gives back the unused end of the last <see cref="Reserve"/> (its value was shorter than reserved).</summary>
    internal void Unreserve(int unused) => _arenaUsed -= unused;

    public Record Clone()
    {
        var copy = new Record(Values.Length) { EventTimeMs = EventTimeMs, Sequence = Sequence };
        for (var i = 0; i < Values.Length; i++)
        {
            copy.Values[i] = Values[i].Detached();
        }
        return copy;
    }
}
