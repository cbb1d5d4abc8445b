using LogMetrics.Core.Definition;

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

    /// <summary>
    /// For a <see cref="WriteOutcome.Failed"/> call that had delivered or dropped part of its samples before it failed
    /// (<see cref="SamplesWritten"/>, <see cref="DroppedByReason"/>): records that part in the sink's own counts. A
    /// failed call's samples are normally offered again and counted when they go through, so the caller calls this only
    /// when it gives the rest up (the flush's backlog bound); null when the sink has nothing to record.
    /// </summary>
    public Action? SettlePartial { get; init; }
}

/// <summary>
/// A sink that takes every sample (it never answers <see cref="WriteOutcome.Failed"/>; a failure is thrown, by
/// the call or by a later one) and can close the windows a flush hands it itself: roll them up
/// (<see cref="WindowCloser.Close"/>) and write their samples as one batch, in the order the batches were handed,
/// possibly after the call returns. The flush then evicts the windows at once and goes on while they are closed
/// (<see cref="FlushCoordinator"/>); the samples are those the flush would have closed and written itself.
/// </summary>
public interface IClosingSampleWriter : ISampleWriter
{
    /// <summary>
    /// Closes <paramref name="windows"/> and writes their samples after every batch handed before;
    /// <paramref name="closed"/> is called with the number of samples once they are closed, before they are written
    /// (not for a batch that is not written because an earlier one failed).
    /// The documents must not change after the call.
    /// </summary>
    /// <param name="parallel">Whether the close may use the thread pool (<see cref="WindowCloser.Close"/>).</param>
    Task CloseAndWriteAsync(IReadOnlyList<WindowCloser.Window> windows, CompiledPipeline pipeline, bool parallel, Action<int> closed, CancellationToken cancellationToken);
}
