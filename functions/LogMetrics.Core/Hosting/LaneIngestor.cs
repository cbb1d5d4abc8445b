using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;

namespace LogMetrics.Core.Hosting;

/// <summary>
/// The ingest side of a streaming host (the Event Hubs trigger): one lane per partition, each with its
/// own <see cref="LaneState"/> and <see cref="Pipeline"/> (a pipeline runs one batch at a time), so
/// partitions ingest in parallel while a partition's batches stay in order. A batch is folded into
/// one signal per shard and sent through the <see cref="IShardStore"/> given for the call.
/// <para>The host cannot know the other lanes' watermarks, so it ingests with
/// <see cref="IngestHorizon.Unknown"/>: lateness is then decided by the shards (a partial for a sealed
/// window is counted late there), at batch granularity.</para>
/// </summary>
[SuppressMessage("Reliability", "CA1001", Justification = "The per-lane SemaphoreSlims never allocate a wait handle (AvailableWaitHandle is not used).")]
public sealed class LaneIngestor
{
    private readonly ConcurrentDictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
    private readonly Func<Pipeline> _newPipeline;
    private readonly TimeProvider _clock;

    public LaneIngestor(CompiledPipeline compiled, Enricher enricher, PipelineCounters counters, IDeadLetterSink deadLetters, int shardCount, TimeProvider clock)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shardCount);
        ShardCount = shardCount;
        _clock = clock;
        _newPipeline = () => new Pipeline(compiled, enricher, counters, deadLetters, shardCount);
    }

    public int ShardCount { get; }

    /// <summary>
    /// Ingests one batch of one lane and signals every shard. <paramref name="sequenceNumbers"/>[i] is
    /// the sequence number of <paramref name="bodies"/>[i] (Event Hubs: contiguous, increasing per
    /// partition). Returns the number of shards signalled (0 for an empty batch).
    /// <para>Safe to re-run with the same batch (a retry or a redelivery): every shard ignores a
    /// sequence range it has applied, so nothing is counted twice.</para>
    /// </summary>
    public async Task<int> IngestAsync(string lane, IReadOnlyList<byte[]> bodies, IReadOnlyList<long> sequenceNumbers, IShardStore store, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(lane);
        if (bodies.Count != sequenceNumbers.Count)
        {
            throw new ArgumentException($"lane '{lane}': {bodies.Count} events but {sequenceNumbers.Count} sequence numbers.", nameof(sequenceNumbers));
        }
        if (store.ShardCount != ShardCount)
        {
            throw new ArgumentException($"the shard store has {store.ShardCount} shards; ingest was configured for {ShardCount}.", nameof(store));
        }
        var events = new LaneEvent[bodies.Count];
        for (var i = 0; i < events.Length; i++)
        {
            if (i > 0 && sequenceNumbers[i] <= sequenceNumbers[i - 1])
            {
                // Dedupe in the shards relies on increasing ranges; a batch that breaks this cannot be applied exactly once.
                throw new ArgumentException($"lane '{lane}': sequence numbers are not increasing at index {i} ({sequenceNumbers[i - 1]} then {sequenceNumbers[i]}).", nameof(sequenceNumbers));
            }
            events[i] = new LaneEvent(sequenceNumbers[i], bodies[i]);
        }

        var state = _lanes.GetOrAdd(lane, name => new Lane(new LaneState(name), _newPipeline()));
        await state.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (events.Length > 0 && state.NextSequence != events[0].Sequence)
            {
                // Not the continuation of this instance's last batch (a redelivery, or the partition came
                // back to this instance): the lane's memory describes other events, so start it afresh
                // as a restarted instance would. A watermark from events beyond this batch would seal too early.
                state.State = new LaneState(lane);
                state.ChainStart = events[0].Sequence;
            }
            if (events.Length > 0) state.NextSequence = events[^1].Sequence + 1;
            var signals = await state.Pipeline.IngestAsync(state.State, events, IngestHorizon.Unknown, _clock.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false);
            foreach (var signal in signals) signal.ChainStart = state.ChainStart;
            await Task.WhenAll(signals.Select((signal, shard) => store.SignalAsync(shard, signal, cancellationToken))).ConfigureAwait(false);
            // Every store has serialized (durable) or applied (in memory) each signal when its call returns: reuse them.
            var sent = signals.Length;
            state.Pipeline.Recycle(signals);
            return sent;
        }
        finally
        {
            state.Gate.Release();
        }
    }

    /// <summary>
    /// The lane has no more events (end of a simulated partition): every shard learns it, so the lane no
    /// longer holds the watermark back. <paramref name="nextSequence"/> is the sequence number after the last event.
    /// </summary>
    public async Task EndLaneAsync(string lane, long nextSequence, IShardStore store, CancellationToken cancellationToken)
    {
        var state = _lanes.GetOrAdd(lane, name => new Lane(new LaneState(name), _newPipeline()));
        await state.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            state.State.Finished = true;
            var signals = await state.Pipeline.IngestAsync(state.State, [], IngestHorizon.Unknown, _clock.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false);
            foreach (var signal in signals)
            {
                // An empty range right after the last event: it continues the lane's last batch, which can then be folded in.
                signal.FirstSequence = nextSequence;
                signal.LastSequence = nextSequence - 1;
                signal.ChainStart = state.ChainStart == long.MinValue ? nextSequence : state.ChainStart;
            }
            await Task.WhenAll(signals.Select((signal, shard) => store.SignalAsync(shard, signal, cancellationToken))).ConfigureAwait(false);
        }
        finally
        {
            state.Gate.Release();
        }
    }

    private sealed class Lane(LaneState state, Pipeline pipeline)
    {
        public LaneState State { get; set; } = state;
        public Pipeline Pipeline { get; } = pipeline;
        /// <summary>Sequence number right after this instance's last batch of the lane (long.MinValue: none yet).</summary>
        public long NextSequence { get; set; } = long.MinValue;
        /// <summary>First sequence number of this instance's run of consecutive batches of the lane.</summary>
        public long ChainStart { get; set; } = long.MinValue;
        public SemaphoreSlim Gate { get; } = new(1, 1);
    }
}
