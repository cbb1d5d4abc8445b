using System.Globalization;
using System.Text;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Tests.Flush;

/// <summary>A small pipeline and hand-built events for the coordinator contract tests.</summary>
internal static class CoordinatorTestKit
{
    /// <summary>Start of a minute (so the 60 s family's window starts here too), epoch seconds.</summary>
    public const long T0 = 1_768_483_980;

    public const int IdleSeconds = 30;

    public static readonly CompiledPipeline Compiled = PipelineCompiler.Compile(DefinitionLoader.Load($$"""
        {
          "name": "coordinator-contract",
          "source": {
            "timeField": "__time__", "timeUnit": "s", "windowSeconds": 10, "outOfOrdernessSeconds": 5, "idleLaneTimeoutSeconds": {{IdleSeconds}},
            "fields": [
              { "name": "__time__", "type": "int", "required": true, "min": 0 },
              { "name": "Product", "type": "string", "required": true },
              { "name": "HttpCode", "type": "int", "required": true }
            ]
          },
          "metrics": [
            { "prefix": "t_", "labels": { "product": "Product" }, "resolutionSeconds": 10,
              "metrics": [ { "name": "req", "aggregate": "count" }, { "name": "err", "aggregate": "count(HttpCode >= 500)" } ] },
            { "prefix": "m_", "labels": { "product": "Product" }, "resolutionSeconds": 60,
              "metrics": [ { "name": "req", "aggregate": "count" } ] }
          ]
        }
        """));

    /// <summary>One access-log line at <see cref="T0"/> + <paramref name="second"/>.</summary>
    public static byte[] Line(long second, string product, int code) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $$"""{"__time__":{{T0 + second}},"Product":"{{product}}","HttpCode":{{code}}}"""));

    /// <summary>Key of a sample as the tests compare them: series identity and timestamp.</summary>
    public static string Key(string name, string product, long second) =>
        Sample.SeriesIdOf(name, [new Label("product", product)]) + "@" + ((T0 + second) * 1000).ToString(CultureInfo.InvariantCulture);

    public static string Key(Sample s) => s.SeriesId + "@" + s.TimestampMs.ToString(CultureInfo.InvariantCulture);

    /// <summary>Record contributions (slot 0 of every committed cell) held by the shards.</summary>
    public static double Contributions(IEnumerable<WindowShardState> states, CompiledPipeline? pipeline = null) => states.Sum(s => s.Windows.Sum(w =>
    {
        double total = 0;
        var offset = 0;
        foreach (var id in w.Series)
        {
            total += w.Values[offset];
            offset += (pipeline ?? Compiled).Families[s.SeriesFamily[id]].SlotCount;
        }
        return total;
    }));

    /// <summary>A dimension source for pipelines without lookups: never called.</summary>
    public sealed class NoDimensions : IDimensionSource
    {
        public Task<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>> LoadAllAsync(TableSpec table, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("the test pipeline has no lookups");

        public Task<IReadOnlyDictionary<string, string>?> GetAsync(TableSpec table, DimensionKey key, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("the test pipeline has no lookups");
    }
}

/// <summary>
/// A sink that records every attempt, can fail on demand, and checks that a (series, timestamp) is
/// never sent with two different values (remote write would reject the second as a duplicate).
/// </summary>
internal sealed class RecordingWriter : ISampleWriter
{
    private readonly Dictionary<string, double> _firstValue = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>The next this-many calls fail (transiently, after the retry budget).</summary>
    public int FailuresLeft { get; set; }

    public int FailedCalls { get; private set; }

    /// <summary>A failing call first delivers this many of its samples (they are accepted), as a remote write whose later requests fail.</summary>
    public int DeliveredBeforeFailing { get; set; }

    /// <summary>Failed calls whose delivered part the caller had the sink count (<see cref="WriteResult.SettlePartial"/>).</summary>
    public int Settled { get; private set; }

    /// <summary>Samples of every call that succeeded, re-sends included.</summary>
    public List<Sample> Accepted { get; } = [];

    /// <summary>(series, timestamp) sent with a value that differs from an earlier send.</summary>
    public List<string> Conflicts { get; } = [];

    /// <summary>Accepted samples older than their series' newest accepted one: what Prometheus rejects with 400 out of order.</summary>
    public List<string> OutOfOrder { get; } = [];

    private readonly Dictionary<string, long> _newest = new(StringComparer.Ordinal);

    /// <summary>Accepted samples by key; each key once (value checked equal by <see cref="Conflicts"/>).</summary>
    public Dictionary<string, double> Distinct()
    {
        lock (_gate) return Accepted.GroupBy(CoordinatorTestKit.Key).ToDictionary(g => g.Key, g => g.First().Value, StringComparer.Ordinal);
    }

    /// <summary>Keys accepted more than once.</summary>
    public List<string> Resent()
    {
        lock (_gate) return [.. Accepted.GroupBy(CoordinatorTestKit.Key).Where(g => g.Count() > 1).Select(g => g.Key)];
    }

    public Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var s in samples)
            {
                var key = CoordinatorTestKit.Key(s);
                if (!_firstValue.TryGetValue(key, out var first))
                {
                    _firstValue[key] = s.Value;
                }
                else if (!first.Equals(s.Value))
                {
                    Conflicts.Add($"{key}: {first} then {s.Value}");
                }
            }
            if (FailuresLeft > 0)
            {
                FailuresLeft--;
                FailedCalls++;
                if (DeliveredBeforeFailing == 0) return Task.FromResult(WriteResult.Fail());
                var delivered = samples.Take(DeliveredBeforeFailing).ToList();
                Accept(delivered);
                return Task.FromResult(new WriteResult(WriteOutcome.Failed, delivered.Count, WriteResult.NoDrops) { SettlePartial = () => Settled++ });
            }
            Accept(samples);
            return Task.FromResult(WriteResult.Ok(samples.Count));
        }
    }

    private void Accept(IReadOnlyList<Sample> samples)
    {
        foreach (var s in samples)
        {
            var id = s.SeriesId;
            if (_newest.TryGetValue(id, out var newest) && s.TimestampMs < newest) OutOfOrder.Add(CoordinatorTestKit.Key(s));
            else _newest[id] = s.TimestampMs;
        }
        Accepted.AddRange(samples);
    }
}

/// <summary>
/// Wraps a store and, while <see cref="LoseEvictions"/> is set, drops every advance that evicts: the
/// flusher crashed after the sink accepted the samples and before the shards were told.
/// </summary>
internal sealed class LossyShardStore(IShardStore inner) : IShardStore
{
    public bool LoseEvictions { get; set; }

    public int LostAdvances { get; private set; }

    public int ShardCount => inner.ShardCount;

    public bool AppliesImmediately => inner.AppliesImmediately;

    public Task<IReadOnlyList<ShardHeader>> ReadHeadersAsync(CancellationToken cancellationToken) => inner.ReadHeadersAsync(cancellationToken);

    public Task<ClosedWindow?> ReadClosedAsync(int shard, ClosedWindowRef window, CancellationToken cancellationToken) => inner.ReadClosedAsync(shard, window, cancellationToken);

    public Task SignalAsync(int shard, ShardSignal signal, CancellationToken cancellationToken) => inner.SignalAsync(shard, signal, cancellationToken);

    public Task AdvanceAsync(int shard, FlushAdvance advance, CancellationToken cancellationToken)
    {
        if (LoseEvictions && advance.WrittenThroughMs is not null)
        {
            LostAdvances++;
            return Task.CompletedTask;
        }
        return inner.AdvanceAsync(shard, advance, cancellationToken);
    }
}
