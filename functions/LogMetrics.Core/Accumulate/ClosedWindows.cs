using System.Globalization;
using System.Text.Json.Serialization;

namespace LogMetrics.Core.Accumulate;

/// <summary>
/// A shard's small header: all a flush tick reads of a shard before it knows what to close. The shard
/// publishes it (<see cref="ShardMessages.HeaderEntity"/>) in the same operation as every seal and
/// eviction, so it is at most one tick behind the shard. It stays well under 1 KB for a few lanes and
/// closed windows: no cells, no labels.
/// </summary>
public sealed class ShardHeader
{
    /// <summary>Increases with every header the shard publishes; an older one never replaces a newer one.</summary>
    public long Version { get; set; }
    public Dictionary<string, LaneView> Lanes { get; set; } = new(StringComparer.Ordinal);
    public long SealedThroughMs { get; set; } = long.MinValue;
    public List<long> WrittenThroughMs { get; set; } = [];
    /// <summary>Per family, the oldest closed metric window exported and not yet written (each listed once), oldest first.</summary>
    public List<ClosedWindowRef> Closed { get; set; } = [];
    /// <summary>Samples the wholly sealed, unwritten windows of the shard give at most: the flusher's backlog bound.</summary>
    public long PendingSamples { get; set; }
    /// <summary>Base windows still open in the shard.</summary>
    public int OpenWindows { get; set; }
    public long LateContributions { get; set; }
    public long LateRecords { get; set; }
    public long CountedRecords { get; set; }
    public long DuplicateSignals { get; set; }
    public long SupersededSignals { get; set; }

    public long WrittenThrough(int family) => family < WrittenThroughMs.Count ? WrittenThroughMs[family] : long.MinValue;

    /// <summary>Keeps the newer of two headers (signals from a shard arrive in order, but a store may replay).</summary>
    public static ShardHeader Newer(ShardHeader? current, ShardHeader incoming) =>
        current is null || incoming.Version >= current.Version ? incoming : current;
}

/// <summary>What a shard knows of a lane, as far as the flusher needs it (the global watermark, idle lanes).</summary>
public sealed class LaneView
{
    public long WatermarkMs { get; set; } = long.MinValue;
    public long LastSeenMs { get; set; }
    public bool Finished { get; set; }
}

/// <summary>
/// One metric window of one resolution, wholly sealed and exported by a shard into its own
/// <see cref="ClosedWindow"/> document. <see cref="Parts"/> is how many base windows it holds (a check:
/// the document is stored whole, by one message).
/// </summary>
public sealed class ClosedWindowRef
{
    public long ResolutionMs { get; set; }
    /// <summary>Start of the metric window (a multiple of <see cref="ResolutionMs"/>).</summary>
    public long Start { get; set; }
    public int Parts { get; set; }
    /// <summary>Families with cells in the window.</summary>
    public List<int> Families { get; set; } = [];
    /// <summary>Samples closing it gives at most (cells × metrics): the flusher's backlog bound.</summary>
    public long Samples { get; set; }

    [JsonIgnore]
    public long End => Start + ResolutionMs;

    /// <summary>The document's entity key: <c>shard-07-60000-1768484040000</c>.</summary>
    public string Key(int shard) => string.Create(CultureInfo.InvariantCulture, $"shard-{shard:D2}-{ResolutionMs}-{Start}");
}

/// <summary>The cells of one base window for the families of one resolution, self-contained (labels inline).</summary>
public sealed class ClosedPart
{
    /// <summary>Start of the base window.</summary>
    public long Base { get; set; }
    public long Newest { get; set; }
    public List<int> Families { get; set; } = [];
    public List<string[]> Labels { get; set; } = [];
    /// <summary>Each cell's slot vector, end to end; an empty min/max slot is ±Infinity (JSON strings).</summary>
    [JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)]
    public List<double> Values { get; set; } = [];

    /// <summary>
    /// In memory only (null once stored and read back): each cell's series id in the shard that exported it. The parts
    /// of one document are exported together, so within it an id is one series (family and labels), and the roll-up
    /// matches cells by id instead of by their labels' text (<c>ShardRollup.Merge</c>).
    /// </summary>
    [JsonIgnore]
    internal int[]? SeriesIds { get; set; }
}

/// <summary>
/// The state of a closed-window document: one metric window's cells from one shard, one part per base
/// window. Written only by its shard (stored whole once, then deleted once written); read by the flusher.
/// </summary>
public sealed class ClosedWindow
{
    public List<ClosedPart> Parts { get; set; } = [];

    /// <summary>
    /// Stores the window; a replayed store keeps what is there (the content is the same). An empty
    /// state (the entity SDK starts a new entity with a default instance) is no content.
    /// </summary>
    public static ClosedWindow Store(ClosedWindow? state, ClosedWindow window) => state is { Parts.Count: > 0 } ? state : window;
}

/// <summary>
/// A message a shard sends in the same operation that changed it (entity to entity: delivered once,
/// in order per receiver). <see cref="Input"/> is a <see cref="ShardHeader"/>, a <see cref="ClosedWindow"/> or null.
/// </summary>
public sealed record ShardMessage(string Entity, string Key, string Operation, object? Input);

/// <summary>Entity and operation names of the shard's satellites.</summary>
public static class ShardMessages
{
    /// <summary>Holds a shard's <see cref="ShardHeader"/>; key = the shard key.</summary>
    public const string HeaderEntity = "windowhead";
    /// <summary>Holds one <see cref="ClosedWindow"/>; key = <see cref="ClosedWindowRef.Key"/>.</summary>
    public const string ClosedEntity = "windowclosed";
    public const string SetOperation = "set";
    public const string StoreOperation = "store";
    public const string DeleteOperation = "delete";
}
