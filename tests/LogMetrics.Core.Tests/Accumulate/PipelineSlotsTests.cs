using System.Text;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Tests.EndToEnd;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Accumulate;

/// <summary>
/// A pipeline with two slots prepares its next batch while the batch before waits to complete or completes, on
/// another thread (the pipelined replay's workers): the signals, dead letters and lookup counts are, batch for batch,
/// those of a pipeline that prepares and completes one batch at a time; and a pipeline refuses what its slots cannot
/// hold (a batch more than it has slots, a batch completed twice, two batches prepared at once).
/// </summary>
public class PipelineSlotsTests
{
    private static Pipeline NewPipeline(IDeadLetterSink deadLetters, IDimensionSource? source = null) =>
        GoldenBatches.NewPipeline(8, deadLetters, source);

    private static string Lookups(Pipeline pipeline) =>
        string.Join(";", pipeline.Enricher.Stats.Select(s => $"{s.Name}={s.Stats.Hits}/{s.Stats.Misses}/{s.Stats.Errors}"));

    /// <param name="concurrently">Batch k + 1 is prepared on another thread while batch k completes (the order of their
    /// steps left to the threads); otherwise it is prepared whole before batch k completes (a batch prepared early waits
    /// for its turn with the next one prepared behind it).</param>
    [Theory]
    [InlineData(37, false)]
    [InlineData(200, false)]
    [InlineData(37, true)]
    [InlineData(200, true)]
    public async Task TwoSlots_NextBatchPreparedBeforeTheLastCompletes_SameAsOneBatchAtATime(int batchLines, bool concurrently)
    {
        var batches = GoldenBatches.Of(batchLines);
        var plainLetters = new RecordingDeadLetterSink();
        var plain = NewPipeline(plainLetters);
        var plainLane = new LaneState("a");
        var expected = new List<string>();
        foreach (var batch in batches)
        {
            var before = plainLetters.Lines.Count;
            var signals = await plain.IngestAsync(plainLane, batch, IngestHorizon.Unknown, long.MaxValue, CancellationToken.None);
            // Each batch's signals, and the dead letters written with them.
            expected.Add(GoldenBatches.Snapshot(signals) + string.Join("\n", plainLetters.Lines.Skip(before)));
            plain.Recycle(signals);
        }

        var slottedLetters = new RecordingDeadLetterSink();
        var slotted = NewPipeline(slottedLetters);
        slotted.AddSlots(2);
        var lane = new LaneState("a");
        var actual = new List<string>();
        // Batch k + 1 is prepared on another thread, before or while batch k completes here, as a worker and the complete stage do.
        var next = Task.Run(() => slotted.PrepareAsync("a", batches[0], long.MaxValue, deferDeadLetters: true, CancellationToken.None));
        for (var k = 0; k < batches.Count; k++)
        {
            var prepared = await next;
            var following = k + 1 < batches.Count ? batches[k + 1] : null;
            var after = following is not null
                ? Task.Run(() => slotted.PrepareAsync("a", following, long.MaxValue, deferDeadLetters: true, CancellationToken.None))
                : null;
            if (!concurrently && after is not null) await after;
            var before = slottedLetters.Lines.Count;
            var signals = slotted.Complete(lane, prepared, IngestHorizon.Unknown, long.MaxValue);
            actual.Add(GoldenBatches.Snapshot(signals) + string.Join("\n", slottedLetters.Lines.Skip(before)));
            slotted.Recycle(signals);
            if (after is not null) next = after;
        }

        Assert.Equal(expected.Count, actual.Count);
        for (var k = 0; k < expected.Count; k++) Assert.True(expected[k] == actual[k], $"batch {k} differs");
        Assert.Equal(plainLetters.Lines, slottedLetters.Lines);
        Assert.True(plainLetters.Lines.Count >= 4, $"{plainLetters.Lines.Count} dead letters");
        Assert.Equal(Lookups(plain), Lookups(slotted));
    }

    [Fact]
    public async Task Slots_AllHoldingBatches_PrepareThrows_CompleteTwiceThrows()
    {
        var pipeline = NewPipeline(NullDeadLetterSink.Instance);
        var batches = GoldenBatches.Of(20);
        var lane = new LaneState("a");
        var first = await pipeline.PrepareAsync("a", batches[0], long.MaxValue, deferDeadLetters: true, CancellationToken.None);
        var full = await Assert.ThrowsAsync<InvalidOperationException>(() => pipeline.PrepareAsync("a", batches[1], long.MaxValue, deferDeadLetters: true, CancellationToken.None));
        Assert.Contains("every slot of this pipeline (1)", full.Message, StringComparison.Ordinal);

        pipeline.Complete(lane, first, IngestHorizon.Unknown, long.MaxValue);
        var twice = Assert.Throws<InvalidOperationException>(() => pipeline.Complete(lane, first, IngestHorizon.Unknown, long.MaxValue));
        Assert.Contains("completed already", twice.Message, StringComparison.Ordinal);

        // The slot is free again: the next batch goes through.
        var second = await pipeline.PrepareAsync("a", batches[1], long.MaxValue, deferDeadLetters: true, CancellationToken.None);
        Assert.NotEmpty(pipeline.Complete(lane, second, IngestHorizon.Unknown, long.MaxValue));
    }

    [Fact]
    public async Task TwoBatchesPreparedAtOnce_SecondThrows_FirstGoesOn()
    {
        // The lru lookup's first fetch waits until released: the first prepare is under way when the second is asked.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var source = new GatedSource(new CsvDimensionSource(Path.Combine(GoldenCorpusTests.GoldenDir, "dimensions")), gate.Task);
        var pipeline = NewPipeline(NullDeadLetterSink.Instance, source);
        pipeline.AddSlots(2);
        var batches = GoldenBatches.Of(20);
        var first = pipeline.PrepareAsync("a", batches[0], long.MaxValue, deferDeadLetters: true, CancellationToken.None);
        await source.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(first.IsCompleted);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => pipeline.PrepareAsync("a", batches[1], long.MaxValue, deferDeadLetters: true, CancellationToken.None));
        Assert.Contains("prepares one at a time", error.Message, StringComparison.Ordinal);

        gate.SetResult();
        var prepared = await first.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotEmpty(pipeline.Complete(new LaneState("a"), prepared, IngestHorizon.Unknown, long.MaxValue));
        // Both slots are free: two batches can be held again.
        var a = await pipeline.PrepareAsync("a", batches[1], long.MaxValue, deferDeadLetters: true, CancellationToken.None);
        var b = await pipeline.PrepareAsync("a", batches[2], long.MaxValue, deferDeadLetters: true, CancellationToken.None);
        var lane = new LaneState("a");
        pipeline.Complete(lane, a, IngestHorizon.Unknown, long.MaxValue);
        pipeline.Complete(lane, b, IngestHorizon.Unknown, long.MaxValue);
    }

    [Fact]
    public async Task Complete_DeadLetterStoreFails_SlotTakesTheRetriedBatch()
    {
        var sink = new FailingOnceDeadLetterSink();
        var pipeline = NewPipeline(sink);
        var lane = new LaneState("a");
        List<LaneEvent> batch = [new LaneEvent(1, "not json"u8.ToArray()), new LaneEvent(2, Encoding.UTF8.GetBytes(GoldenBatches.Lines[0]))];
        var prepared = await pipeline.PrepareAsync("a", batch, long.MaxValue, deferDeadLetters: true, CancellationToken.None);
        await Assert.ThrowsAsync<IOException>(() => Task.Run(() => pipeline.Complete(lane, prepared, IngestHorizon.Unknown, long.MaxValue)));

        // The host retries the batch on the same pipeline (as the Functions host does on a redelivery): it goes through.
        var signals = await pipeline.IngestAsync(new LaneState("a"), batch, IngestHorizon.Unknown, long.MaxValue, CancellationToken.None);
        Assert.NotEmpty(signals);
        Assert.Equal(["a 1"], sink.Written);
    }

    /// <summary>Fails the first write (a dead-letter store that is down), takes the others.</summary>
    private sealed class FailingOnceDeadLetterSink : IDeadLetterSink
    {
        private bool _failed;

        public List<string> Written { get; } = [];

        public void Write(DeadLetter letter)
        {
            if (!_failed)
            {
                _failed = true;
                throw new IOException("dead-letter store down");
            }
            Written.Add($"{letter.Lane} {letter.Sequence}");
        }
    }

    /// <summary>The dead letters a sink was given, in order, as text.</summary>
    private sealed class RecordingDeadLetterSink : IDeadLetterSink
    {
        public List<string> Lines { get; } = [];

        public void Write(DeadLetter letter) => Lines.Add($"{letter.Lane} {letter.Sequence} {letter.Reason}");
    }

    /// <summary>A source whose row fetches wait for a gate (and say when the first one started).</summary>
    private sealed class GatedSource(IDimensionSource inner, Task gate) : IDimensionSource
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>> LoadAllAsync(TableSpec table, CancellationToken cancellationToken) =>
            inner.LoadAllAsync(table, cancellationToken);

        public async Task<IReadOnlyDictionary<string, string>?> GetAsync(TableSpec table, DimensionKey key, CancellationToken cancellationToken)
        {
            Entered.TrySetResult();
            await gate.WaitAsync(cancellationToken);
            return await inner.GetAsync(table, key, cancellationToken);
        }
    }
}
