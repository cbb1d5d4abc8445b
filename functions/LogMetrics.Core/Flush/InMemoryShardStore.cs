using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;

namespace LogMetrics.Core.Flush;

/// <summary>
/// Shards in memory, for the console host and tests: the same <see cref="WindowShardState"/>
/// transitions the durable entity runs, applied synchronously.
/// </summary>
public sealed class InMemoryShardStore : IShardStore
{
    private readonly CompiledPipeline _pipeline;
    private readonly WindowShardState[] _shards;
    private readonly ShardSatellites _satellites;
    private readonly Lock _gate = new();

    public InMemoryShardStore(CompiledPipeline pipeline, int shardCount)
    {
        _pipeline = pipeline;
        _shards = [.. Enumerable.Range(0, shardCount).Select(_ => new WindowShardState())];
        _satellites = new ShardSatellites(shardCount);
    }

    public int ShardCount => _shards.Length;

    public bool AppliesImmediately => true;

    /// <summary>Partials currently held in open windows and ranges held apart.</summary>
    public int PartialCount
    {
        get { lock (_gate) return _shards.Sum(s => s.CellCount); }
    }

    /// <summary>Metric windows (family × window start at its resolution) with data still held: open, or closed and not yet written.</summary>
    public int OpenWindowCount
    {
        get
        {
            lock (_gate)
            {
                var open = _shards.SelectMany(s => s.Windows.SelectMany(w => w.Series.Select(id => s.SeriesFamily[id]).Distinct()
                        .Select(f => (f, CompiledPipeline.FloorTo(w.Start, _pipeline.Families[f].ResolutionMs)))))
                    .Distinct()
                    .Count();
                return open + _shards.Sum(s => s.Exported.Sum(e => e.Families.Count));
            }
        }
    }

    /// <summary>The shards' states (tests and diagnostics; the flusher reads headers).</summary>
    public IReadOnlyList<WindowShardState> States => _shards;

    public Task<IReadOnlyList<ShardHeader>> ReadHeadersAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_satellites.Headers());
        }
    }

    public Task<ClosedWindow?> ReadClosedAsync(int shard, ClosedWindowRef window, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_satellites.Closed(shard, window) is { } doc ? new ClosedWindow { Parts = [.. doc.Parts] } : null);
        }
    }

    public Task SignalAsync(int shard, ShardSignal signal, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _shards[shard].Apply(signal, _pipeline);
        }
        return Task.CompletedTask;
    }

    public Task AdvanceAsync(int shard, FlushAdvance advance, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var message in _shards[shard].Advance(advance, _pipeline, shard)) _satellites.Apply(shard, message);
        }
        return Task.CompletedTask;
    }
}
