using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;

namespace LogMetrics.Core.Accumulate;

/// <summary>
/// The partial aggregate of one series in one base window: the family's slot vector (slot 0 is the
/// record count). Serializable with System.Text.Json defaults: it travels in shard signals and state.
/// </summary>
public sealed class SeriesPartial
{
    public int Family { get; set; }
    /// <summary>Label values in the family's (sorted) label order.</summary>
    public string[] Labels { get; set; } = [];
    public long WindowStartMs { get; set; }
    /// <summary>Slot values; an empty min/max slot is ±Infinity, written as the JSON strings "Infinity"/"-Infinity" whatever the serializer's options.</summary>
    [JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)]
    public double[] Values { get; set; } = [];
    /// <summary>Newest event time folded in (for end-to-end freshness).</summary>
    public long NewestEventMs { get; set; }

    /// <summary>
    /// The series' <see cref="Accumulate.SeriesHash"/> as the accumulator computed it, 0 when not known (in memory
    /// only: a shard uses it to find its memo slot for <see cref="Labels"/> without reading the array).
    /// </summary>
    [JsonIgnore]
    public ulong SeriesHash { get; set; }

    public PartialKey Key => new(Family, WindowStartMs, Labels);

    public SeriesPartial Clone() => new()
    {
        Family = Family,
        Labels = Labels,
        WindowStartMs = WindowStartMs,
        Values = Values.AsSpan().ToArray(),
        NewestEventMs = NewestEventMs,
        SeriesHash = SeriesHash,
    };
}

/// <summary>Identity of a partial: family, base window and label values, compared by content.</summary>
public readonly struct PartialKey : IEquatable<PartialKey>
{
    private readonly int _hash;

    public PartialKey(int family, long windowStartMs, string[] labels)
    {
        Family = family;
        WindowStartMs = windowStartMs;
        Labels = labels;
        _hash = Hash(family, windowStartMs, labels);
    }

    /// <summary>
    /// <see cref="XxHash3"/> over the label values' UTF-16 code units, chained through the seed: not randomized per
    /// process like string hashing (nothing persists it), and cheaper than Marvin per value.
    /// </summary>
    private static int Hash(int family, long windowStartMs, string[] labels)
    {
        var h = (ulong)windowStartMs * 0x9E3779B97F4A7C15UL ^ (uint)family;
        foreach (var l in labels)
        {
            h = XxHash3.HashToUInt64(MemoryMarshal.AsBytes(l.AsSpan()), (long)h);
        }
        return (int)h ^ (int)(h >> 32);
    }

    public int Family { get; }
    public long WindowStartMs { get; }
    public string[] Labels { get; }

    public bool Equals(PartialKey other)
    {
        if (_hash != other._hash || Family != other.Family || WindowStartMs != other.WindowStartMs || Labels.Length != other.Labels.Length)
        {
            return false;
        }
        for (var i = 0; i < Labels.Length; i++)
        {
            if (!string.Equals(Labels[i], other.Labels[i], StringComparison.Ordinal)) return false;
        }
        return true;
    }

    public override bool Equals(object? obj) => obj is PartialKey k && Equals(k);

    public override int GetHashCode() => _hash;

    public static bool operator ==(PartialKey left, PartialKey right) => left.Equals(right);

    public static bool operator !=(PartialKey left, PartialKey right) => !left.Equals(right);
}

/// <summary>
/// What an ingest batch sends to one window shard: its partials plus the lane's progress. Every
/// shard gets one per batch (possibly with no partials) so every shard learns every lane's
/// watermark, in order (DESIGN §3: a shard never closes a window before it has seen every lane up to it).
/// </summary>
public sealed class ShardSignal
{
    public string Lane { get; set; } = "";
    public long FirstSequence { get; set; }
    /// <summary>
    /// Where the sender's run of consecutive batches began (its first batch since it started or took
    /// the partition); long.MinValue when unknown. Before a shard has committed anything of a lane it
    /// waits for a range starting there, so a first batch that arrives late is not skipped.
    /// </summary>
    public long ChainStart { get; set; } = long.MinValue;
    public long LastSequence { get; set; }
    /// <summary>Lane watermark after this batch: max accepted event time − out-of-orderness.</summary>
    public long LaneWatermarkMs { get; set; } = long.MinValue;
    /// <summary>The lane has ended (end of a replayed file); it no longer holds the watermark back.</summary>
    public bool LaneFinished { get; set; }
    /// <summary>Processing time the batch was signalled (for idle-lane detection).</summary>
    public long SentAtMs { get; set; }
    public List<SeriesPartial> Partials { get; set; } = [];
}

/// <summary>
/// Sent by the flusher to each shard after a flush: record (and evict) what was written, and seal
/// windows the watermark has passed so that later cells for them are counted late instead of merged.
/// </summary>
public sealed class FlushAdvance
{
    /// <summary>Per family: metric windows ending at or before this were written (or dropped, counted): evict them. Null evicts nothing.</summary>
    public List<long>? WrittenThroughMs { get; set; }
    /// <summary>Seal base windows ending at or before this (monotonic).</summary>
    public long SealThroughMs { get; set; } = long.MinValue;
    /// <summary>Samples dropped instead of written (backlog bound); counted by the shard's owner.</summary>
    public long DroppedSamples { get; set; }
}
