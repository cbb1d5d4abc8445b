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
    private readonly Lock _gate = new();

    public InMemoryShardStore(CompiledPipeline pipeline, int shardCount)
    {
        _pipeline = pipeline;
        _shards = [.. Enumerable.Range(0, shardCount).Select(_ => new WindowShardState())];
    }

    public int ShardCount => _shards.Length;

    public bool AppliesImmediately => true;

    /// <summary>Partials currently held (open windows plus closed ones not yet written).</summary>
    public int PartialCount
    {
        get { lock (_gate) return _shards.Sum(s => s.CellCount); }
    }

    /// <summary>Metric windows (family × window start at its resolution) with data still in state.</summary>
    public int OpenWindowCount
    {
        get
        {
            lock (_gate)
            {
                return _shards.SelectMany(s => s.Windows.SelectMany(w => w.Series.Select(id => s.SeriesFamily[id]).Distinct()
                        .Select(f => (f, CompiledPipeline.FloorTo(w.Start, _pipeline.Families[f].ResolutionMs)))))
                    .Distinct()
                    .Count();
            }
        }
    }

    public Task<IReadOnlyList<WindowShardState>> ReadAllAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<WindowShardState>>([.. _shards.Select(s => s.Snapshot())]);
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
            _shards[shard].Advance(advance, _pipeline);
        }
        return Task.CompletedTask;
    }
}
