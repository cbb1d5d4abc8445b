using System.Text.Json;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Hosting;

namespace LogMetrics.Core.Tests.Hosting;

/// <summary>
/// A shard store that behaves like durable entities: <see cref="SignalAsync"/> and
/// <see cref="AdvanceAsync"/> only enqueue; nothing is applied until the test calls
/// <see cref="PumpAll"/> or <see cref="PumpOne"/>. Operations are in order per sender (a lane's
/// signals, the flusher's advances) and interleaved across senders and shards in a seeded random
/// order; with <see cref="DuplicateEvery"/> some messages are delivered twice (at least once). State and every
/// message are stored as System.Text.Json (default options, as the worker's serializer), so each
/// operation runs <see cref="WindowShardOperations"/> on state that went through a JSON round trip.
/// </summary>
internal sealed class QueuedShardStore : IShardStore
{
    private const string FlusherSender = "\u0000flusher";
    private const string SatellitePrefix = "\u0000to:";

    private readonly CompiledPipeline _pipeline;
    private readonly string?[] _states;
    private readonly string?[] _headers;
    private readonly Dictionary<string, string> _closed = new(StringComparer.Ordinal);
    private readonly List<Channel> _channels = [];
    private readonly Random _random;
    private readonly Lock _gate = new();
    private long _messages;

    public QueuedShardStore(CompiledPipeline pipeline, int shardCount, int seed = 7)
    {
        _pipeline = pipeline;
        _states = new string?[shardCount];
        _headers = new string?[shardCount];
        _random = new Random(seed);
    }

    /// <summary>
    /// Every n-th message is delivered twice (0 = never). The copy arrives after the sender's next
    /// message (or at the next pump), never before the original: durable entities keep a sender's
    /// messages in order, and the shards' per-lane dedupe relies on it (docs/FUNCTIONS.md, known limits).
    /// </summary>
    public int DuplicateEvery { get; init; }

    public int ShardCount => _states.Length;

    public bool AppliesImmediately => false;

    /// <summary>Messages enqueued and not yet applied.</summary>
    public int Pending
    {
        get { lock (_gate) return _channels.Sum(c => c.Queue.Count); }
    }

    /// <summary>Messages applied so far, duplicates included.</summary>
    public int Applied { get; private set; }

    /// <summary>The JSON a shard's state is persisted as (null before its first operation).</summary>
    public string? StateJson(int shard)
    {
        lock (_gate) return _states[shard];
    }

    /// <summary>Every shard's state as stored (tests; the flusher reads headers).</summary>
    public IReadOnlyList<WindowShardState> States()
    {
        lock (_gate)
        {
            return [.. _states.Select(json => json is null ? new WindowShardState() : Deserialize<WindowShardState>(json))];
        }
    }

    public Task<IReadOnlyList<ShardHeader>> ReadHeadersAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            IReadOnlyList<ShardHeader> headers = [.. _headers.Select(json => json is null ? new ShardHeader() : Deserialize<ShardHeader>(json))];
            return Task.FromResult(headers);
        }
    }

    public Task<ClosedWindow?> ReadClosedAsync(int shard, ClosedWindowRef window, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_closed.TryGetValue(window.Key(shard), out var json) ? Deserialize<ClosedWindow>(json) : null);
        }
    }

    /// <summary>Closed-window documents that exist.</summary>
    public int ClosedCount
    {
        get { lock (_gate) return _closed.Count; }
    }

    public Task SignalAsync(int shard, ShardSignal signal, CancellationToken cancellationToken)
    {
        Enqueue(shard, signal.Lane, WindowShardOperations.ApplyOperation, JsonSerializer.Serialize(signal));
        return Task.CompletedTask;
    }

    public Task AdvanceAsync(int shard, FlushAdvance advance, CancellationToken cancellationToken)
    {
        Enqueue(shard, FlusherSender, WindowShardOperations.AdvanceOperation, JsonSerializer.Serialize(advance));
        return Task.CompletedTask;
    }

    /// <summary>Applies every queued message (and any duplicates), in a random interleaving that keeps each sender's order per shard.</summary>
    public void PumpAll()
    {
        lock (_gate)
        {
            foreach (var channel in _channels.Where(c => c.Redelivery is not null))
            {
                channel.Queue.Enqueue(channel.Redelivery!.Value);
                channel.Redelivery = null;
            }
        }
        while (PumpOne())
        {
        }
    }

    /// <summary>Applies one queued message, picked at random among the heads of the non-empty channels; false when none is left.</summary>
    public bool PumpOne()
    {
        lock (_gate)
        {
            var ready = _channels.Where(c => c.Queue.Count > 0).ToList();
            if (ready.Count == 0) return false;
            var channel = ready[_random.Next(ready.Count)];
            var (operation, input) = channel.Queue.Dequeue();
            Applied++;
            if (channel.Sender.StartsWith(SatellitePrefix, StringComparison.Ordinal))
            {
                DeliverSatellite(channel.Shard, channel.Sender[SatellitePrefix.Length..], operation, input);
                return true;
            }
            var state = _states[channel.Shard] is { } json ? Deserialize<WindowShardState>(json) : null;
            switch (operation)
            {
                case WindowShardOperations.ApplyOperation:
                    state = WindowShardOperations.Apply(state, Deserialize<ShardSignal>(input), _pipeline);
                    break;
                case WindowShardOperations.AdvanceOperation:
                    (state, var messages) = WindowShardOperations.Advance(state, Deserialize<FlushAdvance>(input), _pipeline, channel.Shard);
                    foreach (var m in messages)
                    {
                        // Entity to entity: once, in order per receiver (a channel of its own, never duplicated).
                        ChannelOf(channel.Shard, SatellitePrefix + m.Entity + "/" + m.Key).Queue.Enqueue((m.Operation, WindowShardOperations.InputJson(m)));
                    }
                    break;
                default:
                    throw new InvalidOperationException($"unknown operation '{operation}'");
            }
            _states[channel.Shard] = JsonSerializer.Serialize(state);
            return true;
        }
    }

    private void DeliverSatellite(int shard, string receiver, string operation, string input)
    {
        var slash = receiver.IndexOf('/', StringComparison.Ordinal);
        var (entity, key) = (receiver[..slash], receiver[(slash + 1)..]);
        if (entity == ShardMessages.HeaderEntity)
        {
            _headers[shard] = WindowShardOperations.ApplyMessageJson(_headers[shard], entity, key, operation, input);
            return;
        }
        if (WindowShardOperations.ApplyMessageJson(_closed.GetValueOrDefault(key), entity, key, operation, input) is { } kept) _closed[key] = kept;
        else _closed.Remove(key);
    }

    private void Enqueue(int shard, string sender, string operation, string input)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, ShardCount);
        lock (_gate)
        {
            var channel = ChannelOf(shard, sender);
            channel.Queue.Enqueue((operation, input));
            if (channel.Redelivery is { } late)
            {
                // The copy of the previous message arrives after this one (and is then a stale duplicate).
                channel.Queue.Enqueue(late);
                channel.Redelivery = null;
            }
            _messages++;
            if (DuplicateEvery > 0 && _messages % DuplicateEvery == 0)
            {
                channel.Redelivery = (operation, input);
            }
        }
    }

    private Channel ChannelOf(int shard, string sender)
    {
        var channel = _channels.FirstOrDefault(c => c.Shard == shard && c.Sender == sender);
        if (channel is null)
        {
            channel = new Channel(shard, sender);
            _channels.Add(channel);
        }
        return channel;
    }

    private static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json) ?? throw new InvalidOperationException($"{typeof(T).Name} deserialized to null from {json}");

    private sealed record Channel(int Shard, string Sender)
    {
        public Queue<(string Operation, string Input)> Queue { get; } = new();

        /// <summary>A copy of the last message, delivered again after the next one.</summary>
        public (string Operation, string Input)? Redelivery { get; set; }
    }
}
