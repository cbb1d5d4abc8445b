using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Hosting;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;

namespace LogMetrics.Core.Simulate;

/// <summary>How many faults the scheduler injects.</summary>
public enum FaultLevel
{
    None,
    Default,
    Heavy,
}

public sealed record SimulationOptions
{
    public required int Seed { get; init; }
    public int Instances { get; init; } = 3;
    public int Shards { get; init; } = 16;
    public FaultLevel Faults { get; init; } = FaultLevel.Default;
    /// <summary>Longest Event Hubs batch (the trigger's max batch size).</summary>
    public int MaxBatch { get; init; } = 400;
    /// <summary>Trigger retries before a batch goes to the dead-letter store (the retry attribute's count).</summary>
    public int MaxRetries { get; init; } = 5;
}

/// <summary>The faults a run exercised.</summary>
public sealed record SimulationFaults
{
    public long Batches { get; set; }
    public long Retries { get; set; }
    public long DeadLettered { get; set; }
    public long CrashesMidIngest { get; set; }
    public long CrashesAfterSomeSignals { get; set; }
    public long CrashesInFlushBetweenWriteAndEvict { get; set; }
    public long Restarts { get; set; }
    public long OwnershipMoves { get; set; }
    public long RedeliveredBatches { get; set; }
    public long SignalsDeliveredTwice { get; set; }
    public long SignalsReordered { get; set; }
    public long Ticks { get; set; }
    public long TicksMoved { get; set; }
    public long OverlappingTicks { get; set; }
    public long WriteFailures { get; set; }
    public long WriteTimeoutsAfterAccept { get; set; }
    /// <summary>Requests the receiver rejected (400): all samples already stored identically (a re-send), or not.</summary>
    public long RejectedResendRequests { get; set; }
    public long RejectedFreshRequests { get; set; }
}

/// <summary>What the run cost, in entity operations and bytes.</summary>
public sealed record SimulationCosts
{
    public long EntityOperations { get; set; }
    public long IngestInvocations { get; set; }
    public long SignalsSent { get; set; }
    public long MaxSignalsPerIngest { get; set; }
    public long BytesWritten { get; set; }
    public long BytesRead { get; set; }
    public long TicksWithClosedWindows { get; set; }
    /// <summary>Over ticks that closed something: bytes read (headers and documents), and bytes of the closed-window documents closed.</summary>
    public long TickBytesRead { get; set; }
    public long TickClosedBytes { get; set; }
    /// <summary>The worst tick: largest (bytes read − 2 × closed bytes) per shard.</summary>
    public long WorstTickExcessPerShard { get; set; } = long.MinValue;
    public long LargestStateBytes { get; set; }
    /// <summary>Operations of the shards' own messages to their headers and closed-window documents (sent at seal and eviction, never per ingest batch).</summary>
    public long SatelliteOperations { get; set; }
    public long LargestHeaderBytes { get; set; }
    public long LargestClosedWindowBytes { get; set; }
    public double BytesPerPartial { get; set; }
}

/// <summary>Result of one simulation.</summary>
public sealed record SimulationResult(
    IReadOnlyList<Sample> Samples, SimulationFaults Faults, SimulationCosts Costs,
    long Events, long Accepted, long Malformed, long Filtered, long Late, long SamplesDropped,
    long DuplicateSignals, long SupersededSignals, long CountedRecords);

/// <summary>
/// The Azure path in one process, under a deterministic fault scheduler: each input is one Event Hubs
/// partition, the instances are Functions hosts with their own memory, and they run the same
/// <see cref="LaneIngestor"/>, shard operations and <see cref="FlushTicker"/> as the Functions app.
/// Only the triggers (batches, checkpoints, retries, leases, the timer), the durable backend
/// (<see cref="SimulatedEntities"/>) and the clock are simulated. Same seed, same run.
/// </summary>
public sealed class Simulation
{
    private readonly CompiledPipeline _compiled;
    private readonly Func<Enricher> _newEnricher;
    private readonly IReadOnlyList<(string Lane, IReadOnlyList<LaneEvent> Events)> _partitions;
    private readonly SimulationOptions _options;
    private readonly ISampleWriter? _external;
    private readonly Random _random;
    private readonly SimulatedEntities _entities;
    private readonly SimulatedPrometheus? _server;
    private readonly RecordingWriter? _recording;
    private readonly SimulatedClock _clock;
    private readonly PipelineCounters _counters = new();
    private readonly List<Instance> _instances = [];
    private readonly SimulationFaults _faults = new();
    private readonly SimulationCosts _costs = new();
    private long _invocation;
    private int _lastTickInstance = -1;

    public Simulation(CompiledPipeline compiled, Func<Enricher> newEnricher, IReadOnlyList<(string Lane, IReadOnlyList<LaneEvent> Events)> partitions,
        SimulationOptions options, ISampleWriter? external = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Instances);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Shards);
        // The simulated clock starts at the first event and moves with the ticks, not with the data: a
        // wall-clock check would call later events "in the future" (it belongs to hosts with a real clock).
        compiled = compiled.WithoutFutureCheck();
        _compiled = compiled;
        _newEnricher = newEnricher;
        _partitions = partitions;
        _options = options;
        _external = external;
        _random = new Random(options.Seed);
        _entities = new SimulatedEntities(compiled, options.Shards);
        var start = partitions.SelectMany(p => p.Events.Take(1)).Any() ? 1_768_484_000_000L : 0;
        _clock = new SimulatedClock(start);
        var (fail, timeout) = options.Faults switch
        {
            FaultLevel.None => (0.0, 0.0),
            FaultLevel.Default => (0.03, 0.03),
            _ => (0.1, 0.1),
        };
        if (external is null)
        {
            _server = new SimulatedPrometheus(compiled.Definition.RemoteWrite.MaxSamplesPerRequest, new Random(options.Seed ^ 0x5EED), fail, timeout);
        }
        else
        {
            _recording = new RecordingWriter(external);
        }
        for (var i = 0; i < options.Instances; i++) _instances.Add(NewInstance(i));
    }

    private double P(double normal, double heavy) => _options.Faults switch
    {
        FaultLevel.None => 0,
        FaultLevel.Default => normal,
        _ => heavy,
    };

    private Instance NewInstance(int id)
    {
        ISampleWriter writer = (ISampleWriter?)_server ?? _recording!;
        return new Instance(id,
            new LaneIngestor(_compiled, _newEnricher(), _counters, NullDeadLetterSink.Instance, _options.Shards, _clock),
            new FlushTicker(_compiled, _options.Shards, writer, _counters, _clock,
                new FlushOptions { ExpectedLanes = _partitions.Count, MaxPendingSamples = _compiled.Definition.RemoteWrite.MaxPendingSamples }));
    }

    public async Task<SimulationResult> RunAsync(CancellationToken cancellationToken)
    {
        var parts = _partitions.Select((p, i) => new PartitionState(p.Lane, p.Events, i % _options.Instances)).ToList();
        _partitionsRef = parts;
        var highest = new long[parts.Count];
        Array.Fill(highest, long.MinValue);

        while (parts.Any(p => !p.Done) || _entities.PendingCount > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var open = parts.Where(p => !p.Done).ToList();
            var roll = _random.Next(100);
            if (open.Count > 0 && roll < 40)
            {
                var p = open[_random.Next(open.Count)];
                await IngestStepAsync(p, parts.IndexOf(p), highest, cancellationToken).ConfigureAwait(false);
            }
            else if (_entities.PendingCount > 0 && roll < 92)
            {
                Deliver(1 + _random.Next(48));
            }
            else
            {
                await TickAsync(endOfInput: false, cancellationToken).ConfigureAwait(false);
            }
        }

        // Drain: every lane has ended; close everything. A durable seal takes effect on the next read,
        // so tick until the shards hold nothing.
        for (var round = 0; round < 100_000; round++)
        {
            await TickAsync(endOfInput: true, cancellationToken).ConfigureAwait(false);
            Deliver(int.MaxValue);
            if (_entities.PendingCount == 0 && _entities.ClosedCount == 0 && Enumerable.Range(0, _options.Shards).All(s => _entities.Peek(s).IsEmpty)) break;
        }

        var states = Enumerable.Range(0, _options.Shards).Select(_entities.Peek).ToList();
        var (events, accepted, malformed, filtered) = await CountOnceAsync(cancellationToken).ConfigureAwait(false);
        _costs.EntityOperations = _entities.Operations;
        _costs.SatelliteOperations = _entities.SatelliteOperations;
        _costs.LargestHeaderBytes = _entities.LargestHeader;
        _costs.LargestClosedWindowBytes = _entities.LargestClosedWindow;
        _costs.BytesWritten = _entities.BytesWritten;
        _costs.BytesRead = _entities.BytesRead;
        _costs.LargestStateBytes = _entities.LargestState.Max();
        _costs.BytesPerPartial = _entities.PartialBytes.Cells == 0 ? 0 : (double)_entities.PartialBytes.Bytes / _entities.PartialBytes.Cells;
        var samples = _server is not null ? [.. _server.Stored] : _recording!.Stored;
        return new SimulationResult(samples, _faults, _costs, events, accepted, malformed, filtered,
            states.Sum(s => s.LateRecords), _counters.SamplesDroppedBacklog + (_server is null ? _recording!.Dropped : 0),
            states.Sum(s => s.DuplicateSignals), states.Sum(s => s.SupersededSignals), states.Sum(s => s.CountedRecords));
    }

    private async Task IngestStepAsync(PartitionState p, int index, long[] highest, CancellationToken cancellationToken)
    {
        _clock.Advance(20 + _random.Next(180));
        if (_random.NextDouble() < P(0.02, 0.06) && _options.Instances > 1 && p.Checkpoint < p.Events.Count)
        {
            // Ownership moves without a crash: the old owner finishes its batch from the checkpoint, the
            // new owner read the same checkpoint and starts there too, with another batch length.
            _faults.OwnershipMoves++;
            var c = p.Checkpoint;
            var to = (p.Owner + 1 + _random.Next(_options.Instances - 1)) % _options.Instances;
            var oldLength = BatchLength(p, c);
            await RunBatchAsync(p, index, _instances[p.Owner], c, oldLength, highest, allowFaults: false, cancellationToken).ConfigureAwait(false);
            p.Checkpoint = c + oldLength;
            int newLength;
            do
            {
                newLength = BatchLength(p, c);
            }
            while (newLength == oldLength && p.Events.Count - c > 1);
            p.Owner = to;
            if (await RunBatchAsync(p, index, _instances[to], c, newLength, highest, allowFaults: true, cancellationToken).ConfigureAwait(false))
            {
                p.Checkpoint = c + newLength;
            }
        }
        else
        {
            var c = p.Checkpoint;
            var length = BatchLength(p, c);
            if (await RunBatchAsync(p, index, _instances[p.Owner], c, length, highest, allowFaults: true, cancellationToken).ConfigureAwait(false))
            {
                p.Checkpoint = c + length;
            }
        }
        if (p.Checkpoint >= p.Events.Count && !p.Done)
        {
            // The partition has no more events: its owner says so (in Azure: the lane goes idle).
            await _instances[p.Owner].Ingestor.EndLaneAsync(p.Lane, p.Events.Count == 0 ? 1 : p.Events[^1].Sequence + 1,
                new SimulatedShardStore(_entities, ++_invocation), cancellationToken).ConfigureAwait(false);
            p.Done = true;
        }
    }

    private int BatchLength(PartitionState p, int from) => Math.Min(1 + _random.Next(_options.MaxBatch), p.Events.Count - from);

    /// <summary>One trigger invocation with its retries; false when the instance crashed (no checkpoint).</summary>
    private async Task<bool> RunBatchAsync(PartitionState p, int index, Instance instance, int from, int length, long[] highest, bool allowFaults, CancellationToken cancellationToken)
    {
        var batch = p.Events.Skip(from).Take(length).ToList();
        if (batch.Count == 0) return true;
        _faults.Batches++;
        if (batch[0].Sequence <= highest[index]) _faults.RedeliveredBatches++;
        highest[index] = Math.Max(highest[index], batch[^1].Sequence);
        var bodies = batch.Select(e => e.Body.ToArray()).ToList();
        var sequences = batch.Select(e => e.Sequence).ToList();
        for (var attempt = 0; ; attempt++)
        {
            var roll = allowFaults ? _random.NextDouble() : 1;
            int? failAfter = null;
            var crash = false;
            if (roll < P(0.01, 0.03))
            {
                failAfter = 0;
                crash = true;
                _faults.CrashesMidIngest++;
            }
            else if (roll < P(0.03, 0.08))
            {
                failAfter = 1 + _random.Next(Math.Max(1, _options.Shards - 1));
                crash = true;
                _faults.CrashesAfterSomeSignals++;
            }
            else if (roll < P(0.06, 0.14) && attempt < _options.MaxRetries)
            {
                failAfter = _random.Next(_options.Shards);
            }
            var store = new SimulatedShardStore(_entities, ++_invocation) { FailAfter = failAfter, FailIsCrash = crash };
            _costs.IngestInvocations++;
            try
            {
                await instance.Ingestor.IngestAsync(p.Lane, bodies, sequences, store, cancellationToken).ConfigureAwait(false);
                _costs.SignalsSent += store.Sent;
                _costs.MaxSignalsPerIngest = Math.Max(_costs.MaxSignalsPerIngest, store.Sent);
                return true;
            }
            catch (SimulatedCrashException)
            {
                _costs.SignalsSent += store.Sent;
                Crash(instance.Id);
                return false;
            }
            catch (SimulatedTransientException)
            {
                _costs.SignalsSent += store.Sent;
                _faults.Retries++;
            }
        }
    }

    /// <summary>The instance dies; its memory is gone; its partitions restart on other instances from their checkpoints.</summary>
    private void Crash(int id)
    {
        _faults.Restarts++;
        _instances[id] = NewInstance(id);
        ReassignFrom(id);
    }

    private void ReassignFrom(int id)
    {
        if (_options.Instances == 1) return;
        foreach (var p in _partitionsRef ?? [])
        {
            if (p.Owner == id) p.Owner = (id + 1 + _random.Next(_options.Instances - 1)) % _options.Instances;
        }
    }

    private List<PartitionState>? _partitionsRef;

    private void Deliver(int count)
    {
        var window = _options.Faults switch { FaultLevel.None => 1, FaultLevel.Default => 16, _ => 128 };
        for (var i = 0; i < count && _entities.PendingCount > 0; i++)
        {
            var index = _random.Next(Math.Min(window, _entities.PendingCount));
            var message = _entities.Pending[index];
            if (message.IsSatellite)
            {
                // Entity to entity: delayed, but once and in order per receiver.
                _entities.Deliver(index, keepCopy: false);
                continue;
            }
            for (var j = 0; j < index; j++)
            {
                if (!_entities.Pending[j].IsSatellite && _entities.Pending[j].Shard == message.Shard && _entities.Pending[j].Invocation != message.Invocation)
                {
                    _faults.SignalsReordered++;
                    break;
                }
            }
            var twice = _random.NextDouble() < P(0.01, 0.04);
            if (twice) _faults.SignalsDeliveredTwice++;
            _entities.Deliver(index, keepCopy: twice);
        }
    }

    private async Task TickAsync(bool endOfInput, CancellationToken cancellationToken)
    {
        _clock.Advance(50 + _random.Next(200));
        var overlapping = !endOfInput && _options.Instances > 1 && _random.NextDouble() < P(0, 0.15);
        var first = _random.Next(_options.Instances);
        await OneTickAsync(first, endOfInput, cancellationToken).ConfigureAwait(false);
        if (overlapping)
        {
            // Two ticks at once on two instances: both read the same stored states (nothing is delivered in between).
            _faults.OverlappingTicks++;
            await OneTickAsync((first + 1 + _random.Next(_options.Instances - 1)) % _options.Instances, endOfInput, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task OneTickAsync(int id, bool endOfInput, CancellationToken cancellationToken)
    {
        _faults.Ticks++;
        if (_lastTickInstance >= 0 && _lastTickInstance != id) _faults.TicksMoved++;
        _lastTickInstance = id;
        var crash = !endOfInput && _random.NextDouble() < P(0.04, 0.1);
        var store = new SimulatedShardStore(_entities, ++_invocation) { FailAfter = crash ? _random.Next(_options.Shards) : null };
        var readBefore = _entities.BytesRead;
        var closedBefore = _entities.ClosedBytesRead;
        try
        {
            await _instances[id].Ticker.TickAsync(store, endOfInput, cancellationToken).ConfigureAwait(false);
        }
        catch (SimulatedCrashException)
        {
            _faults.CrashesInFlushBetweenWriteAndEvict++;
            Crash(id);
        }
        var read = _entities.BytesRead - readBefore;
        var closedBytes = _entities.ClosedBytesRead - closedBefore;
        if (closedBytes > 0)
        {
            _costs.TicksWithClosedWindows++;
            _costs.TickBytesRead += read;
            _costs.TickClosedBytes += closedBytes;
            _costs.WorstTickExcessPerShard = Math.Max(_costs.WorstTickExcessPerShard, (read - (2 * closedBytes)) / _options.Shards);
        }
        if (_server is not null)
        {
            _faults.WriteFailures = _server.FailedBeforeAccept;
            _faults.WriteTimeoutsAfterAccept = _server.TimeoutsAfterAccept;
            _faults.RejectedResendRequests = _server.RejectedResends;
            _faults.RejectedFreshRequests = _server.RejectedFresh;
        }
    }

    /// <summary>Events, accepted, malformed and filtered, each event counted once (redeliveries count again in the live counters).</summary>
    private async Task<(long, long, long, long)> CountOnceAsync(CancellationToken cancellationToken)
    {
        var counters = new PipelineCounters();
        var pipeline = new Pipeline(_compiled, _newEnricher(), counters, NullDeadLetterSink.Instance, 1);
        foreach (var (lane, events) in _partitions)
        {
            await pipeline.IngestAsync(new LaneState(lane), events, IngestHorizon.Unknown, long.MaxValue, cancellationToken).ConfigureAwait(false);
        }
        return (counters.Events, counters.Accepted, counters.Malformed, counters.Filtered);
    }

    private sealed record Instance(int Id, LaneIngestor Ingestor, FlushTicker Ticker);

    internal sealed class PartitionState(string lane, IReadOnlyList<LaneEvent> events, int owner)
    {
        public string Lane { get; } = lane;
        public IReadOnlyList<LaneEvent> Events { get; } = events;
        public int Owner { get; set; } = owner;
        /// <summary>Index of the next event to read (the checkpoint).</summary>
        public int Checkpoint { get; set; }
        public bool Done { get; set; }
    }

    /// <summary>Processing time of the simulation: moves only when the scheduler says so.</summary>
    private sealed class SimulatedClock(long startMs) : TimeProvider
    {
        private long _nowMs = startMs;

        public void Advance(long ms) => _nowMs += ms;

        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(_nowMs);
    }

    /// <summary>Records what a real remote-write endpoint accepted, for --out.</summary>
    private sealed class RecordingWriter(ISampleWriter inner) : ISampleWriter
    {
        private readonly Dictionary<(string, long), Sample> _stored = [];

        public long Dropped { get; private set; }

        public List<Sample> Stored => [.. _stored.Values];

        public async Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
        {
            var result = await inner.WriteAsync(samples, cancellationToken).ConfigureAwait(false);
            if (result.Outcome != WriteOutcome.Failed)
            {
                foreach (var s in samples) _stored[(s.SeriesId, s.TimestampMs)] = s;
                Dropped += result.SamplesDropped;
            }
            return result;
        }
    }
}
