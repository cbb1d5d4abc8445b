using System.Buffers;
using System.Threading.Channels;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Replay;

/// <summary>
/// Writes samples in a stage of their own, behind a bounded channel: <see cref="WriteAsync"/> queues a copy
/// of the batch and returns, one task hands the batches to the inner writer in the order they came. The
/// replay's flush then overlaps the writing of earlier windows instead of waiting for it.
/// <para>For sinks that take every sample (a samples file, a collecting writer): the result returned is
/// <see cref="WriteOutcome.Written"/> for the whole batch. Nothing is lost silently: if the inner writer
/// throws (disk full) or answers anything but Written, the next <see cref="WriteAsync"/> and
/// <see cref="CompleteAsync"/> throw it, and no later batch is written. Not for sinks whose outcome the
/// flush must act on (remote write, which may answer Failed).</para>
/// <para>The batches hold the caller's <see cref="Sample"/> instances, which must not change after the call. The
/// copies are pooled arrays, handed to the inner writer as a list it may read until its WriteAsync returns, not keep.</para>
/// <para>As an <see cref="IClosingSampleWriter"/> it also takes a flush's closed windows: each batch is rolled up on the
/// thread pool as soon as it is handed over (batches side by side) and written in the order handed, so the flush goes on
/// while its windows are closed. Into a samples file (<see cref="JsonlSampleWriter"/>) the rolled-up batch is formatted
/// as it is, with no <see cref="Sample"/> made (<see cref="WindowCloser.Prepare"/>); any other sink gets the samples.</para>
/// <para>The consuming task starts with the first batch. <see cref="WriteThrough"/>, before any batch, writes
/// every batch on the caller's thread instead (a run too short to gain from a stage of its own then starts
/// no thread-pool thread at all).</para>
/// </summary>
public sealed class WriteBehindSampleWriter : IClosingSampleWriter, IAsyncDisposable
{
    private readonly ISampleWriter _inner;
    private readonly Channel<Batch> _queue;
    private Task? _consumer;
    private bool _through;
    private bool _completed;
    private Exception? _failure;

    /// <param name="inner">The sink the batches go to, one call at a time.</param>
    /// <param name="capacity">Batches queued at most; a write waits beyond that (memory stays bounded).</param>
    public WriteBehindSampleWriter(ISampleWriter inner, int capacity = 4)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _inner = inner;
        _queue = Channel.CreateBounded<Batch>(new BoundedChannelOptions(capacity) { SingleReader = true });
    }

    /// <summary>
    /// From now on each batch is written to the inner writer by <see cref="WriteAsync"/> itself, on the
    /// caller's thread, before it returns (the writer is then an ordinary one: no queue, no task). Only before
    /// the first batch. A failure of the inner writer is thrown by that <see cref="WriteAsync"/> and again by
    /// the next one and by <see cref="CompleteAsync"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">A batch was already queued.</exception>
    public void WriteThrough()
    {
        if (_consumer is not null) throw new InvalidOperationException("the write-behind writer has already queued batches; it cannot write through now");
        _through = true;
    }

    public async Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        if (_through) return await WriteThroughAsync(samples).ConfigureAwait(false);
        if (samples.Count == 0) return WriteResult.Ok(0);
        // A pooled copy (a flush's batch is tens of thousands of samples: a fresh array would be a large object each time).
        var array = ArrayPool<Sample>.Shared.Rent(samples.Count);
        if (samples is List<Sample> list) list.CopyTo(array);
        else for (var i = 0; i < samples.Count; i++) array[i] = samples[i];
        await EnqueueAsync(new Batch(array, samples.Count), cancellationToken).ConfigureAwait(false);
        return WriteResult.Ok(samples.Count);
    }

    /// <summary>
    /// Rolls <paramref name="windows"/> up on the thread pool, at once, and queues their samples to be written after
    /// the batches queued before (written through: closed and written on the caller's thread before this returns).
    /// <paramref name="closed"/> is called by the writing task when it takes the samples, just before it writes them.
    /// </summary>
    public async Task CloseAndWriteAsync(IReadOnlyList<WindowCloser.Window> windows, CompiledPipeline pipeline, bool parallel, Action<int> closed,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(windows);
        ArgumentNullException.ThrowIfNull(closed);
        ThrowIfFailed();
        // A samples file formats the closed windows itself: no sample is made (WindowCloser.Prepare).
        var jsonl = _inner as JsonlSampleWriter;
        if (_through)
        {
            if (jsonl is null)
            {
                var samples = WindowCloser.Close(windows, pipeline, parallel);
                closed(samples.Count);
                await WriteThroughAsync(samples).ConfigureAwait(false);
                return;
            }
            using var batch = WindowCloser.Prepare(windows, pipeline, parallel);
            var count = batch.Count;
            closed(count);
            await WriteThroughAsync(count, () => WriteWholeAsync(jsonl, batch)).ConfigureAwait(false);
            return;
        }
        // Counted when the writing task takes the samples (a batch never queued, or dropped after a failure, is not).
        var queued = jsonl is null
            ? new Batch(null, 0, Task.Run(() => WindowCloser.Close(windows, pipeline, parallel), CancellationToken.None), closed)
            : new Batch(null, 0, null, closed, Task.Run(() => WindowCloser.Prepare(windows, pipeline, parallel), CancellationToken.None));
        await EnqueueAsync(queued, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Queues <paramref name="batch"/> to be written after those queued before; a batch that cannot be queued is discarded.</summary>
    private async Task EnqueueAsync(Batch batch, CancellationToken cancellationToken)
    {
        // The consumer starts with the first batch (one writer at a time calls WriteAsync, as for any sink).
        _consumer ??= _completed ? Task.CompletedTask : Task.Run(ConsumeAsync, CancellationToken.None);
        try
        {
            await _queue.Writer.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ChannelClosedException or OperationCanceledException)
        {
            batch.Discard();
            if (e is OperationCanceledException) throw;
            ThrowIfFailed();
            throw new InvalidOperationException("the write-behind writer is complete; no more samples can be written");
        }
    }

    /// <summary>A close whose samples will not be written: its failure, if any, is observed here.</summary>
    private static void Forget(Task closing) =>
        closing.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>
    /// A queued batch: the first <see cref="Count"/> items of a pooled array (a copy of what <see cref="WriteAsync"/>
    /// was given), or the close under way of a flush's windows (<see cref="CloseAndWriteAsync"/>).
    /// </summary>
    private readonly record struct Batch(Sample[]? Array, int Count, Task<List<Sample>>? Closing = null, Action<int>? Closed = null,
        Task<WindowCloser.ClosedBatch>? Prepared = null)
    {
        public ArraySegment<Sample> Samples => new(Array!, 0, Count);

        /// <summary>Cleared (no sample kept alive by the pool) and given back.</summary>
        public void Return()
        {
            if (Array is null) return;
            System.Array.Clear(Array, 0, Count);
            ArrayPool<Sample>.Shared.Return(Array);
        }

        /// <summary>A batch that will not be written: its array given back, its close's failure (if any) observed.</summary>
        public void Discard()
        {
            Return();
            if (Closing is { } closing) Forget(closing);
            if (Prepared is { } prepared) Forget(prepared);
        }
    }

    /// <summary>Writes what is queued and waits for it; throws the inner writer's failure, if any.</summary>
    public async Task CompleteAsync()
    {
        _completed = true;
        _queue.Writer.TryComplete();
        if (_consumer is not null) await _consumer.ConfigureAwait(false);
        ThrowIfFailed();
    }

    /// <summary>Writes what is queued and waits for it, throwing nothing (the failure, if any, was thrown to a writer already or is lost with the run).</summary>
    public async ValueTask DisposeAsync()
    {
        _completed = true;
        _queue.Writer.TryComplete();
        if (_consumer is not null) await _consumer.ConfigureAwait(false);
    }

    private Task<WriteResult> WriteThroughAsync(IReadOnlyList<Sample> samples) =>
        WriteThroughAsync(samples.Count, () => WriteWholeAsync(samples));

    /// <summary>
    /// A batch of <paramref name="count"/> samples written on the caller's thread by <paramref name="write"/>; its
    /// failure is the writer's from then on, as a failure behind is.
    /// </summary>
    private async Task<WriteResult> WriteThroughAsync(int count, Func<Task> write)
    {
        if (_completed) throw new InvalidOperationException("the write-behind writer is complete; no more samples can be written");
        if (count == 0) return WriteResult.Ok(0);
        try
        {
            // As behind: a batch the flush handed over is written whole.
            await write().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Volatile.Write(ref _failure, e);
            throw;
        }
        return WriteResult.Ok(count);
    }

    /// <summary>A batch written to the inner sink, not cancellable; a sink that does not take it all is a failure.</summary>
    private async Task WriteWholeAsync(IReadOnlyList<Sample> batch) =>
        Whole(await _inner.WriteAsync(batch, CancellationToken.None).ConfigureAwait(false), batch.Count);

    /// <summary>As <see cref="WriteWholeAsync(IReadOnlyList{Sample})"/>, for closed windows a samples file formats itself.</summary>
    private static async Task WriteWholeAsync(JsonlSampleWriter jsonl, WindowCloser.ClosedBatch batch) =>
        Whole(await jsonl.WriteAsync(batch, CancellationToken.None).ConfigureAwait(false), batch.Count);

    private static void Whole(WriteResult result, int samples)
    {
        if (result.Outcome != WriteOutcome.Written)
        {
            throw new InvalidOperationException(
                $"the write-behind sink answered {result.Outcome} for {samples} samples; only a sink that takes every sample can be written behind");
        }
    }

    private void ThrowIfFailed()
    {
        if (Volatile.Read(ref _failure) is { } failure) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    private async Task ConsumeAsync()
    {
        try
        {
            await foreach (var batch in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                // What was queued is written (an interrupted run keeps what it flushed).
                try
                {
                    if (batch.Closing is { } closing)
                    {
                        var samples = await closing.ConfigureAwait(false);
                        batch.Closed!(samples.Count);
                        if (samples.Count > 0) await WriteWholeAsync(samples).ConfigureAwait(false);
                    }
                    else if (batch.Prepared is { } prepared)
                    {
                        using var closed = await prepared.ConfigureAwait(false);
                        var count = closed.Count;
                        batch.Closed!(count);
                        if (count > 0) await WriteWholeAsync((JsonlSampleWriter)_inner, closed).ConfigureAwait(false);
                    }
                    else
                    {
                        await WriteWholeAsync(batch.Samples).ConfigureAwait(false);
                    }
                }
                finally
                {
                    batch.Return();
                }
            }
        }
        catch (Exception e)
        {
            Volatile.Write(ref _failure, e);
            // Later writes fail fast; batches still queued are not written after a failure.
            _queue.Writer.TryComplete();
            while (_queue.Reader.TryRead(out var dropped))
            {
                dropped.Discard();
            }
        }
    }
}
