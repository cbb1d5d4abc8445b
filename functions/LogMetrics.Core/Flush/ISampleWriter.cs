namespace LogMetrics.Core.Flush;

/// <summary>
/// Where closed windows go. The flush coordinator evicts a window from state only after
/// <see cref="WriteAsync"/> reports every sample of it as <see cref="WriteOutcome.Written"/>
/// or permanently <see cref="WriteOutcome.Dropped"/>; on <see cref="WriteOutcome.Failed"/> the
/// windows stay in state and are offered again on the next flush.
/// </summary>
public interface ISampleWriter
{
    Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken);
}

/// <summary>What became of one write call as a whole.</summary>
public enum WriteOutcome
{
    /// <summary>Every sample was accepted (or was an identical re-send).</summary>
    Written,
    /// <summary>Some samples were rejected permanently (e.g. 400) and counted; the rest were written. Safe to evict.</summary>
    Dropped,
    /// <summary>Transient failure after the retry budget: nothing may be evicted; offer again later.</summary>
    Failed,
}

/// <summary>Result of a write: the outcome plus per-reason drop counts.</summary>
public sealed record WriteResult(WriteOutcome Outcome, long SamplesWritten, IReadOnlyDictionary<string, long> DroppedByReason)
{
    public static readonly IReadOnlyDictionary<string, long> NoDrops = new Dictionary<string, long>();

    public static WriteResult Ok(long written) => new(WriteOutcome.Written, written, NoDrops);

    public static WriteResult Fail() => new(WriteOutcome.Failed, 0, NoDrops);

    public long SamplesDropped => DroppedByReason.Values.Sum();
}
