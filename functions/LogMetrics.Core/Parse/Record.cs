using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LogMetrics.Core.Parse;

/// <summary>A parsed record: one <see cref="FieldValue"/> per slot of the pipeline's <see cref="FieldTable"/>.</summary>
public sealed class Record
{
    public Record(int slots) => Values = new FieldValue[slots];

    public FieldValue[] Values { get; }

    /// <summary>
    /// Starts loading this record's values into the cache: a caller going through a batch's records, each last
    /// touched a whole batch ago, asks for the next ones while it works on this one, so that their misses overlap.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Prefetch()
    {
        var values = Values;
        CachePrefetch.Bytes(ref Unsafe.As<FieldValue, byte>(ref MemoryMarshal.GetArrayDataReference(values)), values.Length * Unsafe.SizeOf<FieldValue>());
    }

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

    /// <summary>
    /// The bytes of <see cref="ValueKind.Utf8String"/> values: a record's own, or one that the records of a
    /// <see cref="Pipeline"/> share (<see cref="ShareBytes"/>), reused from one parse to the next.
    /// </summary>
    internal sealed class Bytes
    {
        public byte[] Buffer = [];
        public int Used;

        /// <summary>The fields staged for a <c>parse-json</c> step whose source was walked in the line (<see cref="WalkedFields"/>): dropped with the bytes.</summary>
        public readonly List<(int Slot, FieldValue Value)> Walked = [];
    }

    private Bytes _bytes = new();

    /// <summary>
    /// Makes this record keep its <see cref="ValueKind.Utf8String"/> values in <paramref name="bytes"/>, which
    /// other records share: parsing any of them into again reuses the bytes, so its owner drops those values
    /// (<see cref="DropBytes"/>) before it parses another record.
    /// </summary>
    internal void ShareBytes(Bytes bytes) => _bytes = bytes;

    /// <summary>Sets every <see cref="ValueKind.Utf8String"/> value missing (its bytes are about to be reused).</summary>
    internal void DropBytes()
    {
        var values = Values;
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i].Kind == ValueKind.Utf8String) values[i] = default;
        }
    }

    /// <summary>
    /// The fields <see cref="WalkedBy"/> (a <c>parse-json</c> step) stages from its source when it applies, found by the
    /// parser while it read the source in the line (<see cref="FieldValue.Walked"/>). Kept with the bytes of the
    /// record's raw values, so records that share those (<see cref="ShareBytes"/>) share these too, and drop them alike.
    /// </summary>
    internal List<(int Slot, FieldValue Value)> WalkedFields => _bytes.Walked;

    internal IEscapedJsonWalker? WalkedBy { get; set; }

    public void Clear()
    {
        WalkedFields.Clear();
        WalkedBy = null;
        Array.Clear(Values);
        EventTimeMs = 0;
        Sequence = 0;
        _bytes.Used = 0;
    }

    /// <summary>
    /// Room for <paramref name="length"/> bytes of a value, valid until the next <see cref="Clear"/>. A grown
    /// buffer is a new array, so values written before keep their bytes.
    /// </summary>
    internal Span<byte> Reserve(int length, out byte[] buffer, out int offset)
    {
        var bytes = _bytes;
        if (bytes.Buffer.Length - bytes.Used < length)
        {
            bytes.Buffer = new byte[Math.Max(Math.Max(bytes.Buffer.Length * 2, 4096), length)];
            bytes.Used = 0;
        }
        buffer = bytes.Buffer;
        offset = bytes.Used;
        bytes.Used += length;
        return buffer.AsSpan(offset, length);
    }

    /// <summary>Gives back the unused end of the last <see cref="Reserve"/> (its value was shorter than reserved).</summary>
    internal void Unreserve(int unused) => _bytes.Used -= unused;

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
