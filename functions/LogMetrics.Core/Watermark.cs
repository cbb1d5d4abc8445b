namespace LogMetrics.Core;

/// <summary>
/// Event time up to which windows are complete (DESIGN §3): a lane's newest event time minus the
/// allowed out-of-orderness; the global watermark is the minimum over the live lanes. One type for
/// ingest (a record is late when the watermark has sealed its base window), the console replay and
/// the flush (which seals and closes windows up to the global watermark). Stored and sent as its
/// milliseconds (<see cref="Ms"/>).
/// </summary>
public readonly record struct Watermark(long Ms) : IComparable<Watermark>
{
    /// <summary>Nothing seen yet: seals nothing.</summary>
    public static readonly Watermark None = new(long.MinValue);

    /// <summary>A finished lane (or the end of input): holds nothing back, seals everything.</summary>
    public static readonly Watermark Final = new(long.MaxValue);

    /// <summary>The watermark of a lane whose newest accepted event is at <paramref name="maxEventTimeMs"/> (long.MinValue: none yet).</summary>
    public static Watermark Of(long maxEventTimeMs, long outOfOrdernessMs) =>
        maxEventTimeMs == long.MinValue ? None : new Watermark(maxEventTimeMs - outOfOrdernessMs);

    /// <summary>True when the window <c>[startMs, startMs + lengthMs)</c> ends at or before the watermark: it is closed, later events for it are late.</summary>
    public bool Seals(long startMs, long lengthMs) => Ms != long.MinValue && startMs + lengthMs <= Ms;

    /// <summary>The global watermark: the minimum over the live lanes (<see cref="None"/> when there is none).</summary>
    public static Watermark Global(IEnumerable<Watermark> liveLanes)
    {
        var min = Final;
        var any = false;
        foreach (var w in liveLanes)
        {
            any = true;
            if (w < min) min = w;
        }
        return any ? min : None;
    }

    public static Watermark Min(Watermark a, Watermark b) => a <= b ? a : b;

    public static Watermark Max(Watermark a, Watermark b) => a >= b ? a : b;

    public int CompareTo(Watermark other) => Ms.CompareTo(other.Ms);

    public static bool operator <(Watermark left, Watermark right) => left.Ms < right.Ms;

    public static bool operator >(Watermark left, Watermark right) => left.Ms > right.Ms;

    public static bool operator <=(Watermark left, Watermark right) => left.Ms <= right.Ms;

    public static bool operator >=(Watermark left, Watermark right) => left.Ms >= right.Ms;

    public override string ToString() => Ms switch
    {
        long.MinValue => "none",
        long.MaxValue => "final",
        _ => DateTimeOffset.FromUnixTimeMilliseconds(Ms).ToString("O", System.Globalization.CultureInfo.InvariantCulture),
    };
}
