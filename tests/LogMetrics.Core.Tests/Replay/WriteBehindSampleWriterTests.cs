using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Replay;

/// <summary>The samples file's own stage: batches reach the sink in order and whole, failures are thrown, never dropped silently.</summary>
public class WriteBehindSampleWriterTests
{
    private static IEnumerable<string> Keys(IEnumerable<Sample> samples) => samples.Select(s => $"{s.SeriesId}@{s.TimestampMs}={s.Value}");

    private static Sample[] Batch(int first, int count) =>
        [.. Enumerable.Range(first, count).Select(i => new Sample("m", [new Label("i", i.ToString(System.Globalization.CultureInfo.InvariantCulture))], i * 1000L, i))];

    /// <summary>Records batches; can be held (a slow disk) or made to fail at a given call.</summary>
    private sealed class Sink(int failAt = -1, WriteOutcome answer = WriteOutcome.Written, bool held = false) : ISampleWriter
    {
        public List<Sample[]> Batches { get; } = [];
        public SemaphoreSlim Gate { get; } = new(held ? 0 : int.MaxValue);

        public async Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
        {
            await Gate.WaitAsync(cancellationToken);
            if (Batches.Count == failAt) throw new IOException("No space left on device");
            Batches.Add([.. samples]);
            return answer == WriteOutcome.Written ? WriteResult.Ok(samples.Count) : new WriteResult(answer, 0, WriteResult.NoDrops);
        }
    }

    [Fact]
    public async Task Batches_ReachTheSinkInOrder_AndCompleteWaitsForThem()
    {
        var sink = new Sink();
        await using var writer = new WriteBehindSampleWriter(sink, capacity: 2);
        var expected = new List<Sample>();
        for (var b = 0; b < 50; b++)
        {
            var batch = Batch(b * 10, 1 + b % 7);
            expected.AddRange(batch);
            var result = await writer.WriteAsync(batch, CancellationToken.None);
            Assert.Equal((WriteOutcome.Written, (long)batch.Length), (result.Outcome, result.SamplesWritten));
        }
        await writer.CompleteAsync();

        Assert.Equal(Keys(expected), Keys(sink.Batches.SelectMany(b => b)));
    }

    /// <summary>One family-0 window of the flagship pipeline at <paramref name="startMs"/> with <paramref name="series"/> series of one record each.</summary>
    private static WindowCloser.Window Window(long startMs, int series)
    {
        var family = Flagship.Pipeline.Families[0];
        var part = new ClosedPart { Base = startMs, Newest = startMs };
        for (var i = 0; i < series; i++)
        {
            part.Families.Add(family.Index);
            part.Labels.Add([.. family.LabelNames.Select(n => $"{n}-{i}")]);
            var values = family.NewValues();
            values[0] = 1;
            part.Values.AddRange(values);
        }
        return new WindowCloser.Window(new ClosedWindow { Parts = [part] }, family.Index, startMs);
    }

    /// <summary>
    /// Hands the writer 12 batches in turn: closes of <paramref name="windows"/>(b) (big ones before small ones, which
    /// finish first) and, every third, a plain batch. Returns the samples in the order handed and the counts each close
    /// reported, with the threads it reported them on.
    /// </summary>
    private static async Task<(List<Sample> Expected, List<int> Counted, HashSet<int> ClosedOn)> HandBatches(
        WriteBehindSampleWriter writer, Func<int, WindowCloser.Window[]> windows)
    {
        var expected = new List<Sample>();
        var counted = new List<int>();
        var closedOn = new HashSet<int>();
        for (var b = 0; b < 12; b++)
        {
            if (b % 3 == 2)
            {
                var batch = Batch(b * 10, 2);
                expected.AddRange(batch);
                await writer.WriteAsync(batch, CancellationToken.None);
                continue;
            }
            var closing = windows(b);
            expected.AddRange(WindowCloser.Close(closing, Flagship.Pipeline));
            await writer.CloseAndWriteAsync(closing, Flagship.Pipeline, parallel: true, n =>
            {
                lock (counted) counted.Add(n);
                lock (closedOn) closedOn.Add(Environment.CurrentManagedThreadId);
            }, CancellationToken.None);
        }
        await writer.CompleteAsync();
        return (expected, counted, closedOn);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ClosedWindows_AndSamples_ReachTheSinkInTheOrderHanded_ClosedAsTheFlushWould(bool through)
    {
        var sink = new Sink();
        await using var writer = new WriteBehindSampleWriter(sink, capacity: 2);
        if (through) writer.WriteThrough();

        var (expected, counted, closedOn) = await HandBatches(writer, b => [Window(b * 60_000L, b % 2 == 0 ? 5000 : 3)]);

        Assert.Equal(Keys(expected), Keys(sink.Batches.SelectMany(b => b)));
        Assert.Equal(8, counted.Count);
        Assert.Equal(expected.Count - 8, counted.Sum());
        if (through) Assert.Equal([Environment.CurrentManagedThreadId], closedOn);
    }

    /// <summary>
    /// A samples file as the sink: it formats closed windows from the closed batch (no sample made). The file holds what
    /// an independent JSON writer gives for the samples <see cref="WindowCloser.Close"/> makes, in the order handed, and
    /// each close is counted as the flush would.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ClosedWindows_IntoASamplesFile_TheSamplesBytesInTheOrderHanded_CountedAsTheFlushWould(bool through)
    {
        var stream = new MemoryStream();
        var jsonl = new JsonlSampleWriter(stream);
        await using var writer = new WriteBehindSampleWriter(jsonl, capacity: 2);
        if (through) writer.WriteThrough();

        var (expected, counted, _) = await HandBatches(writer, b =>
            b == 4 ? [] : [Window(b * 60_000L, b % 2 == 0 ? 5000 : 3), Window(b * 60_000L + 10_000, 7)]);

        Assert.Equal(System.Text.Encoding.UTF8.GetString(Flush.JsonlSampleWriterTests.Reference(expected)), System.Text.Encoding.UTF8.GetString(stream.ToArray()));
        Assert.Equal(8, counted.Count);
        Assert.Equal(expected.Count - 8, counted.Sum());
        Assert.Equal(expected.Count, jsonl.SamplesWritten);
    }

    /// <summary>A stream whose writes fail from the <paramref name="failAt"/>-th on (a full disk).</summary>
    private sealed class FullDisk(int failAt) : MemoryStream
    {
        private int _writes;

        public override void Write(ReadOnlySpan<byte> buffer) => Write(buffer.ToArray(), 0, buffer.Length);

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (_writes++ >= failAt) throw new IOException("No space left on device");
            base.Write(buffer, offset, count);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ClosedWindows_SamplesFileFails_LaterClosesAndCompleteThrowIt(bool through)
    {
        var jsonl = new JsonlSampleWriter(new FullDisk(failAt: 1));
        await using var writer = new WriteBehindSampleWriter(jsonl, capacity: 1);
        if (through) writer.WriteThrough();
        await writer.CloseAndWriteAsync([Window(0, 3)], Flagship.Pipeline, true, _ => { }, CancellationToken.None);
        if (through)
        {
            await Assert.ThrowsAsync<IOException>(() => writer.CloseAndWriteAsync([Window(60_000, 3)], Flagship.Pipeline, true, _ => { }, CancellationToken.None));
        }
        else
        {
            await writer.CloseAndWriteAsync([Window(60_000, 3)], Flagship.Pipeline, true, _ => { }, CancellationToken.None);
            await Assert.ThrowsAsync<IOException>(writer.CompleteAsync);
        }

        await Assert.ThrowsAsync<IOException>(() => writer.CloseAndWriteAsync([Window(120_000, 3)], Flagship.Pipeline, true, _ => { }, CancellationToken.None));
        await Assert.ThrowsAsync<IOException>(writer.CompleteAsync);
    }

    [Fact]
    public async Task ClosedWindows_SinkThrows_LaterClosesAndCompleteThrowIt()
    {
        var sink = new Sink(failAt: 1);
        await using var writer = new WriteBehindSampleWriter(sink, capacity: 1);
        await writer.CloseAndWriteAsync([Window(0, 3)], Flagship.Pipeline, true, _ => { }, CancellationToken.None);
        await writer.CloseAndWriteAsync([Window(60_000, 3)], Flagship.Pipeline, true, _ => { }, CancellationToken.None);

        await Assert.ThrowsAsync<IOException>(writer.CompleteAsync);
        await Assert.ThrowsAsync<IOException>(() => writer.CloseAndWriteAsync([Window(120_000, 3)], Flagship.Pipeline, true, _ => { }, CancellationToken.None));
        Assert.Single(sink.Batches);
    }

    [Fact]
    public async Task CallersList_ChangedAfterTheCall_IsWrittenAsItWas()
    {
        var sink = new Sink(held: true); // the batch waits in the queue
        await using var writer = new WriteBehindSampleWriter(sink);
        var list = Batch(0, 3).ToList();
        await writer.WriteAsync(list, CancellationToken.None);
        list.Clear();
        list.AddRange(Batch(100, 1));

        sink.Gate.Release(1000);
        await writer.CompleteAsync();

        Assert.Equal(Keys(Batch(0, 3)), Keys(Assert.Single(sink.Batches)));
    }

    [Fact]
    public async Task SinkThrows_LaterWritesAndCompleteThrowIt_AndNothingAfterIsWritten()
    {
        var sink = new Sink(failAt: 1);
        var writer = new WriteBehindSampleWriter(sink, capacity: 1);
        await writer.WriteAsync(Batch(0, 2), CancellationToken.None);
        await writer.WriteAsync(Batch(2, 2), CancellationToken.None); // fails in the sink

        // Some later write or the completion reports it: it is never lost.
        var thrown = await Record.ExceptionAsync(async () =>
        {
            for (var b = 2; b < 1000; b++) await writer.WriteAsync(Batch(b * 2, 2), CancellationToken.None);
            await writer.CompleteAsync();
        });
        var io = Assert.IsType<IOException>(thrown);
        Assert.Contains("No space left", io.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<IOException>(writer.CompleteAsync);
        Assert.Equal(Keys(Batch(0, 2)), Keys(Assert.Single(sink.Batches)));
        await writer.DisposeAsync();
    }

    [Theory]
    [InlineData(WriteOutcome.Failed)]
    [InlineData(WriteOutcome.Dropped)]
    public async Task SinkAnswersOtherThanWritten_IsAnError(WriteOutcome answer)
    {
        var writer = new WriteBehindSampleWriter(new Sink(answer: answer));
        await writer.WriteAsync(Batch(0, 4), CancellationToken.None);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(writer.CompleteAsync);
        Assert.Contains($"answered {answer} for 4 samples", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WriteThrough_EachBatchIsInTheSinkWhenWriteReturns_OnTheCallersThread()
    {
        var sink = new ThreadSink();
        var writer = new WriteBehindSampleWriter(sink, capacity: 1);
        writer.WriteThrough();
        var expected = new List<Sample>();
        for (var b = 0; b < 5; b++)
        {
            var batch = Batch(b * 10, 1 + b);
            expected.AddRange(batch);
            var result = await writer.WriteAsync(batch, CancellationToken.None);
            Assert.Equal((WriteOutcome.Written, (long)batch.Length), (result.Outcome, result.SamplesWritten));
            Assert.Equal(Keys(expected), Keys(sink.Batches.SelectMany(x => x)));
        }
        await writer.CompleteAsync();

        Assert.All(sink.Threads, t => Assert.Equal(Environment.CurrentManagedThreadId, t));
        await Assert.ThrowsAsync<InvalidOperationException>(() => writer.WriteAsync(Batch(0, 1), CancellationToken.None));
    }

    [Fact]
    public async Task WriteThrough_SinkThrows_ThatWriteLaterWritesAndCompleteThrowIt()
    {
        var sink = new Sink(failAt: 1);
        var writer = new WriteBehindSampleWriter(sink);
        writer.WriteThrough();
        await writer.WriteAsync(Batch(0, 2), CancellationToken.None);

        await Assert.ThrowsAsync<IOException>(() => writer.WriteAsync(Batch(2, 2), CancellationToken.None));
        await Assert.ThrowsAsync<IOException>(() => writer.WriteAsync(Batch(4, 2), CancellationToken.None));
        await Assert.ThrowsAsync<IOException>(writer.CompleteAsync);
        Assert.Equal(Keys(Batch(0, 2)), Keys(Assert.Single(sink.Batches)));
    }

    [Theory]
    [InlineData(WriteOutcome.Failed)]
    [InlineData(WriteOutcome.Dropped)]
    public async Task WriteThrough_SinkAnswersOtherThanWritten_IsAnError(WriteOutcome answer)
    {
        var writer = new WriteBehindSampleWriter(new Sink(answer: answer));
        writer.WriteThrough();

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => writer.WriteAsync(Batch(0, 4), CancellationToken.None));
        Assert.Contains($"answered {answer} for 4 samples", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(writer.CompleteAsync);
    }

    [Fact]
    public async Task WriteThrough_AfterABatchWasQueued_IsRefused()
    {
        var sink = new Sink();
        await using var writer = new WriteBehindSampleWriter(sink);
        await writer.WriteAsync(Batch(0, 2), CancellationToken.None);

        Assert.Throws<InvalidOperationException>(writer.WriteThrough);
        await writer.CompleteAsync();
        Assert.Equal(Keys(Batch(0, 2)), Keys(Assert.Single(sink.Batches)));
    }

    /// <summary>Records batches and the thread each was written on (synchronously).</summary>
    private sealed class ThreadSink : ISampleWriter
    {
        public List<Sample[]> Batches { get; } = [];
        public List<int> Threads { get; } = [];

        public Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
        {
            Batches.Add([.. samples]);
            Threads.Add(Environment.CurrentManagedThreadId);
            return Task.FromResult(WriteResult.Ok(samples.Count));
        }
    }

    [Fact]
    public async Task AfterComplete_WritesAreRefused()
    {
        var writer = new WriteBehindSampleWriter(new Sink());
        await writer.CompleteAsync();

        await Assert.ThrowsAsync<InvalidOperationException>(() => writer.WriteAsync(Batch(0, 1), CancellationToken.None));
    }
}
