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

    public void Clear()
    {
        Array.Clear(Values);
        EventTimeMs = 0;
        Sequence = 0;
    }

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
