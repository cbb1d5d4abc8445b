using System.Diagnostics.Metrics;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;
using LogMetrics.Functions;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogMetrics.Functions.Tests.Telemetry;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeterCollection
{
    public const string Name = "LogMetrics meter (Functions)";
}

/// <summary>
/// The Ingest function's counters (issue 7 §6/§7) are instruments of the one <c>LogMetrics</c> meter
/// (<see cref="PipelineMeter"/>), read back with a <see cref="MeterListener"/>: a batch that failed after
/// its last retry (and its events), dead-letter files stored, and a store that failed.
/// </summary>
[Collection(MeterCollection.Name)]
public sealed class IngestDeadLetterMetricsTests
{
    private sealed class Store(bool fail) : IDeadLetterStore
    {
        public Task StoreFailedBatchAsync(FailedBatch batch, CancellationToken cancellationToken) =>
            fail ? throw new IOException("container unavailable") : Task.CompletedTask;

        public Task StoreMalformedAsync(string lane, long first, long last, IReadOnlyList<DeadLetter> letters, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [Fact]
    public async Task FailedBatchesAndDeadLetters_AreCountedOnTheLogMetricsMeter()
    {
        var seen = new List<(string Name, long Value, Dictionary<string, string?> Tags, Meter Meter)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == PipelineMeter.Name) l.EnableMeasurementEvents(i);
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
        {
            lock (seen) seen.Add((i.Name, v, tags.ToArray().ToDictionary(t => t.Key, t => t.Value?.ToString()), i.Meter));
        });
        listener.Start();

        var ok = new IngestDeadLetters(new Store(fail: false), NullLogger<IngestDeadLetters>.Instance);
        ok.Write(new DeadLetter("7", 11, "invalid JSON: x", new byte[] { 1 }));
        await ok.StoreMalformedAsync("7", 10, 12, CancellationToken.None);
        Assert.True(await ok.BatchFailedAsync("7", [[1], [2], [3]], [20, 21, 22], new InvalidOperationException("boom"), null, 0, CancellationToken.None));
        var broken = new IngestDeadLetters(new Store(fail: true), NullLogger<IngestDeadLetters>.Instance);
        Assert.False(await broken.BatchFailedAsync("7", [[1]], [30], new InvalidOperationException("boom"), null, 0, CancellationToken.None));

        Assert.All(seen, m => Assert.Same(PipelineMeter.Meter, m.Meter));
        var batches = seen.Where(m => m.Name == "logmetrics_accumulate_batches_failed_total").ToList();
        Assert.Equal(2, batches.Sum(m => m.Value));
        Assert.All(batches, m => Assert.Equal(("accumulate", "7"), (m.Tags["stage"], m.Tags["lane"])));
        Assert.Equal(4, seen.Where(m => m.Name == "logmetrics_accumulate_batch_events_failed_total").Sum(m => m.Value));
        Assert.Equal(1, seen.Where(m => m.Name == "logmetrics_parse_deadletters_stored_total" && m.Tags["kind"] == "malformed").Sum(m => m.Value));
        Assert.Equal(1, seen.Where(m => m.Name == "logmetrics_parse_deadletters_stored_total" && m.Tags["kind"] == "batch").Sum(m => m.Value));
        Assert.Equal(1, seen.Where(m => m.Name == "logmetrics_parse_deadletter_store_errors_total").Sum(m => m.Value));
        Assert.All(seen.Where(m => m.Name.StartsWith("logmetrics_parse_dead", StringComparison.Ordinal)), m => Assert.Equal("parse", m.Tags["stage"]));
    }
}
