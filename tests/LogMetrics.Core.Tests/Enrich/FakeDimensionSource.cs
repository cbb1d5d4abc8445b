using System.Collections.Concurrent;
using LogMetrics.Core.Enrich;

namespace LogMetrics.Core.Tests.Enrich;

/// <summary>An in-memory dimension source that counts calls and fails on demand.</summary>
internal sealed class FakeDimensionSource : IDimensionSource
{
    private readonly ConcurrentDictionary<DimensionKey, int> _getCalls = new();
    private Dictionary<DimensionKey, IReadOnlyDictionary<string, string>> _rows = [];
    private int _loadAllCalls;
    private int _loadFailuresLeft;
    private int _getFailuresLeft;

    /// <summary>Every load and get fails while true.</summary>
    public bool Failing { get; set; }

    /// <summary>Called at the start of every <see cref="GetAsync"/> (inside the call), for concurrency probes.</summary>
    public Func<DimensionKey, Task>? OnGet { get; set; }

    public int LoadAllCalls => Volatile.Read(ref _loadAllCalls);

    public int TotalGetCalls => _getCalls.Values.Sum();

    public int GetCalls(DimensionKey key) => _getCalls.TryGetValue(key, out var n) ? n : 0;

    /// <summary>Sets (or replaces) a row; the values are column → value pairs.</summary>
    public FakeDimensionSource Row(DimensionKey key, params (string Column, string Value)[] values)
    {
        var rows = new Dictionary<DimensionKey, IReadOnlyDictionary<string, string>>(_rows)
        {
            [key] = values.ToDictionary(v => v.Column, v => v.Value),
        };
        _rows = rows;
        return this;
    }

    /// <summary>The next <paramref name="count"/> whole-table loads fail.</summary>
    public void FailNextLoads(int count) => _loadFailuresLeft = count;

    /// <summary>The next <paramref name="count"/> key fetches fail.</summary>
    public void FailNextGets(int count) => _getFailuresLeft = count;

    public async Task<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>> LoadAllAsync(
        TableSpec table, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _loadAllCalls);
        await Task.Yield();
        if (Failing || Interlocked.Decrement(ref _loadFailuresLeft) >= 0)
        {
            throw new IOException($"source down ({table.Name})");
        }

        return new Dictionary<DimensionKey, IReadOnlyDictionary<string, string>>(_rows);
    }

    /// <summary>Keys answered synchronously (a completed or faulted task, as the CSV source does); null = none, every answer yields first.</summary>
    public Func<DimensionKey, bool>? AnswersSynchronously { get; set; }

    /// <summary>A synchronous failure is thrown by the call itself rather than returned as a faulted task.</summary>
    public bool ThrowsSynchronously { get; set; }

    public Task<IReadOnlyDictionary<string, string>?> GetAsync(TableSpec table, DimensionKey key, CancellationToken cancellationToken)
    {
        if (AnswersSynchronously?.Invoke(key) != true)
        {
            return GetYieldingAsync(table, key, cancellationToken);
        }
        _getCalls.AddOrUpdate(key, 1, (_, n) => n + 1);
        if (Failing || Interlocked.Decrement(ref _getFailuresLeft) >= 0)
        {
            var failure = new IOException($"source down ({table.Name}/{key})");
            if (ThrowsSynchronously) throw failure;
            return Task.FromException<IReadOnlyDictionary<string, string>?>(failure);
        }
        return Task.FromResult(_rows.TryGetValue(key, out var row) ? row : null);
    }

    private async Task<IReadOnlyDictionary<string, string>?> GetYieldingAsync(TableSpec table, DimensionKey key, CancellationToken cancellationToken)
    {
        _getCalls.AddOrUpdate(key, 1, (_, n) => n + 1);
        if (OnGet is not null)
        {
            await OnGet(key);
        }

        await Task.Yield();
        if (Failing || Interlocked.Decrement(ref _getFailuresLeft) >= 0)
        {
            throw new IOException($"source down ({table.Name}/{key})");
        }

        return _rows.TryGetValue(key, out var row) ? row : null;
    }
}
