using System.Text.Json.Serialization;
using LogMetrics.Core.Definition;

namespace LogMetrics.Core.Accumulate;

/// <summary>What applying one signal did.</summary>
public enum ApplyOutcome
{
    /// <summary>Merged.</summary>
    Applied,
    /// <summary>The whole sequence range was applied before (a redelivered batch): ignored.</summary>
    Duplicate,
    /// <summary>The range starts inside what was applied before: ignored and counted, since its partials cannot be split.</summary>
    Overlap,
}

/// <summary>
/// The state one window-shard entity holds: per-lane progress, the base-window partials of the
/// series hashed to this shard, and the sealed horizon. All transitions are pure functions of
/// (state, input) — the durable entity and the in-memory store only persist the result.
/// <para>Exactly-once (DESIGN §3): Event Hubs redelivers batches; a signal whose sequence range was
/// already applied for its lane is ignored, so counts stay exact. Partials merge commutatively, so
/// the order signals arrive in does not change the result.</para>
/// </summary>
public sealed class WindowShardState
{
    public Dictionary<string, LaneProgress> Lanes { get; set; } = new(StringComparer.Ordinal);
    public List<SeriesPartial> Partials { get; set; } = [];
    /// <summary>Base windows ending at or before this are closed: partials for them are late.</summary>
    public long SealedThroughMs { get; set; } = long.MinValue;
    /// <summary>Record contributions (record × family) refused because their window was sealed.</summary>
    public long LateContributions { get; set; }
    public long DuplicateSignals { get; set; }
    public long OverlappingSignals { get; set; }
    /// <summary>Record contributions in overlapping signals that were ignored (see <see cref="ApplyOutcome.Overlap"/>).</summary>
    public long OverlapContributions { get; set; }

    [JsonIgnore]
    private Dictionary<PartialKey, SeriesPartial>? _index;

    /// <summary>(series, base window) cells held.</summary>
    [JsonIgnore]
    public int CellCount => Partials.Count;

    [JsonIgnore]
    public long LateRecords => LateContributions;

    [JsonIgnore]
    public long SupersededSignals => 0;

    /// <summary>Serialized bytes of the cells a flush can close now (metric window sealed).</summary>
    public long ClosedBytes(CompiledPipeline pipeline) =>
        Partials.Where(p => MetricWindowEnd(p, pipeline) <= SealedThroughMs).Sum(p => (long)System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(p).Length);

    private Dictionary<PartialKey, SeriesPartial> Index
    {
        get
        {
            if (_index is null)
            {
                _index = new Dictionary<PartialKey, SeriesPartial>(Partials.Count);
                foreach (var p in Partials) _index[p.Key] = p;
            }
            return _index;
        }
    }

    public ApplyOutcome Apply(ShardSignal signal, CompiledPipeline pipeline)
    {
        if (!Lanes.TryGetValue(signal.Lane, out var lane))
        {
            lane = new LaneProgress();
            Lanes[signal.Lane] = lane;
        }
        if (signal.LastSequence <= lane.HighestSequence)
        {
            DuplicateSignals++;
            return ApplyOutcome.Duplicate;
        }
        if (signal.FirstSequence <= lane.HighestSequence)
        {
            OverlappingSignals++;
            OverlapContributions += signal.Partials.Sum(p => (long)p.Values[0]);
            lane.HighestSequence = signal.LastSequence;
            lane.WatermarkMs = Math.Max(lane.WatermarkMs, signal.LaneWatermarkMs);
            return ApplyOutcome.Overlap;
        }
        lane.HighestSequence = signal.LastSequence;
        lane.WatermarkMs = Math.Max(lane.WatermarkMs, signal.LaneWatermarkMs);
        lane.Finished |= signal.LaneFinished;
        lane.LastSeenMs = Math.Max(lane.LastSeenMs, signal.SentAtMs);

        var index = Index;
        foreach (var partial in signal.Partials)
        {
            if (partial.WindowStartMs + pipeline.WindowMs <= SealedThroughMs)
            {
                LateContributions += (long)partial.Values[0];
                continue;
            }
            var key = partial.Key;
            if (index.TryGetValue(key, out var existing))
            {
                pipeline.Families[partial.Family].Merge(existing.Values, partial.Values);
                existing.NewestEventMs = Math.Max(existing.NewestEventMs, partial.NewestEventMs);
            }
            else
            {
                var copy = partial.Clone();
                index[key] = copy;
                Partials.Add(copy);
            }
        }
        return ApplyOutcome.Applied;
    }

    /// <summary>Seals and evicts after a flush; returns the number of partials evicted.</summary>
    public int Advance(FlushAdvance advance, CompiledPipeline pipeline)
    {
        SealedThroughMs = Math.Max(SealedThroughMs, advance.SealThroughMs);
        if (advance.EvictThroughMs is not { } through)
        {
            return 0;
        }
        var removed = Partials.RemoveAll(p => MetricWindowEnd(p, pipeline) <= through);
        if (removed > 0) _index = null;
        return removed;
    }

    /// <summary>End of the metric window (at the family's resolution) a partial belongs to.</summary>
    public static long MetricWindowEnd(SeriesPartial p, CompiledPipeline pipeline)
    {
        var r = pipeline.Families[p.Family].ResolutionMs;
        return CompiledPipeline.FloorTo(p.WindowStartMs, r) + r;
    }

    /// <summary>
    /// A cheap read view for an in-process flush: lanes and counters copied, partials shared by
    /// reference. Safe because the flusher reads values only of sealed windows, and a sealed
    /// window's partials never change again (later partials for it are refused as late).
    /// </summary>
    public WindowShardState Snapshot() => new()
    {
        Lanes = Lanes.ToDictionary(kv => kv.Key, kv => kv.Value.Clone(), StringComparer.Ordinal),
        Partials = [.. Partials],
        SealedThroughMs = SealedThroughMs,
        LateContributions = LateContributions,
        DuplicateSignals = DuplicateSignals,
        OverlappingSignals = OverlappingSignals,
        OverlapContributions = OverlapContributions,
    };
}
