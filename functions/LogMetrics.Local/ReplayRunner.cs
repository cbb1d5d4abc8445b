using System.Globalization;
using LogMetrics.Core;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Write;

namespace LogMetrics.Local;

/// <summary>Everything a replay needs, resolved from the command line.</summary>
public sealed record ReplaySettings
{
    public required string PipelinePath { get; init; }
    public required string DimensionsDirectory { get; init; }
    public required IReadOnlyList<string> Files { get; init; }
    public string? OutPath { get; init; }
    public string? SummaryPath { get; init; }
    public string? DeadLetterPath { get; init; }
    public IReadOnlyList<ISampleWriter> ExtraWriters { get; init; } = [];
    /// <summary>The remote-write output, accounted for in the summary.</summary>
    public RemoteWriterHandle? Remote { get; init; }
    /// <summary>What remote-write samples go through (e.g. the self-metrics writer around the client); default the client.</summary>
    public ISampleWriter? RemoteSink { get; init; }
    /// <summary>Self-metric samples offered to the remote endpoint besides the pipeline's (their account is added to it).</summary>
    public Func<long>? RemoteSelfMetrics { get; init; }
    /// <summary>Runs after the last flush, before the summary is made (e.g. the final self-metrics write).</summary>
    public Func<CancellationToken, Task>? AfterLastFlush { get; init; }
    /// <summary>Names the signal that cancelled the run (SIGINT / SIGTERM), when one did.</summary>
    public Func<string?>? InterruptedBy { get; init; }
    public int ShardCount { get; init; } = 8;
    /// <summary>
    /// Lines per chunk of a lane. 256 lines of 4 KB records keep a chunk's buffer (about 1 MB) in a core's
    /// L2 cache from read to complete: against 2,048 lines, the 90,000-record bench replay used about a fifth
    /// less CPU on one core and on two. The samples do not depend on it (their order in the file may).
    /// </summary>
    public int ChunkLines { get; init; } = 256;
    /// <summary>
    /// Run the pipelined replay (read, ingest and flush overlap on every core; deterministic, see ReplayEngine).
    /// On by default whatever the core count, so one core and two give the same samples.
    /// </summary>
    public bool Parallel { get; init; } = true;
    /// <summary>--state DIR: the replay is resumable (see <see cref="ReplayState"/>); null without.</summary>
    public string? StateDirectory { get; init; }
    /// <summary>Hash and text of the command the state must belong to (<see cref="ReplayState.CommandHash"/>).</summary>
    public string StateCommand { get; init; } = "";
    public string StateCommandText { get; init; } = "";
}

/// <summary>The outcome of a replay: the counters the summary file and the final report show.</summary>
public sealed record ReplayOutcome(PipelineCounters Counters, Enricher Enricher, TimeSpan Elapsed, long Bytes, int Lanes, ReplayProgress Last)
{
    /// <summary>Where the samples went and which lanes were read; <see cref="RunSummary.ExitCode"/> is the process's exit code.</summary>
    public required RunSummary Summary { get; init; }
}

/// <summary>Runs a replay: the console host's composition of the core (no Azure anywhere).</summary>
public static class ReplayRunner
{
    /// <summary>The drop reason of the samples of a samples file that could not be written (and so was not put in place).</summary>
    public const string OutputNotWritten = "output not written";

    public static async Task<ReplayOutcome> RunAsync(ReplaySettings settings, CompiledPipeline compiled, Action<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        CheckInputs(settings, compiled);
        return await RunCheckedAsync(settings, compiled, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Inputs, dimension tables and their directory exist and can be read, or the error names the one missing.</summary>
    private static void CheckInputs(ReplaySettings settings, CompiledPipeline compiled)
    {
        foreach (var file in settings.Files)
        {
            if (Directory.Exists(file)) throw new FileNotFoundException($"input {file} is a directory, not a file: give its files (e.g. {Path.Combine(file, "*.jsonl")})", file);
            if (!File.Exists(file)) throw new FileNotFoundException($"input file not found: {file}", file);
            LaneReader.CheckReadable(file);
        }
        if (!Directory.Exists(settings.DimensionsDirectory))
        {
            throw new DirectoryNotFoundException($"dimensions directory not found: {settings.DimensionsDirectory}");
        }
        foreach (var lookup in compiled.Lookups)
        {
            var csv = Path.Combine(settings.DimensionsDirectory, lookup.Definition.Name + ".csv");
            if (!File.Exists(csv)) throw new FileNotFoundException($"dimension table for lookup '{lookup.Definition.Name}' not found: {csv}", csv);
        }
    }

    private static async Task<ReplayOutcome> RunCheckedAsync(ReplaySettings settings, CompiledPipeline compiled, Action<ReplayProgress>? progress, CancellationToken cancellationToken)
    {
        string?[] outputs = [settings.OutPath, settings.DeadLetterPath, settings.SummaryPath];
        if (settings.StateDirectory is not null) Directory.CreateDirectory(settings.StateDirectory);
        using var locks = OutputLocks.Acquire([.. outputs.OfType<string>(), .. settings.StateDirectory is { } sd ? [Path.Combine(sd, "state.json")] : Array.Empty<string>()]);
        ReplayState? state = null;
        if (settings.StateDirectory is not null)
        {
            state = ReplayState.Open(settings.StateDirectory, settings.StateCommand, settings.StateCommandText);
            if (state.IsComplete)
            {
                throw new ReplayAlreadyCompleteException(
                    $"--state {settings.StateDirectory}: this command already completed (exit code {state.Current.ExitCode}); its outputs are in place, nothing was run. Remove the directory to run it again.",
                    state.Current.ExitCode ?? ExitCodes.Ok);
            }
            if (state.Resumed)
            {
                Console.Error.WriteLine($"resuming (attempt {state.Current.Attempts}) from --state {settings.StateDirectory}: the input is replayed from the start, outputs are rewritten, and {state.Current.RemoteWritten:N0} samples already acknowledged by the remote endpoint are not sent again");
                if (state.PreviousPid is { } pid && pid != Environment.ProcessId)
                {
                    // The killed attempt's temporary outputs (.NAME.PID.tmp) are not needed.
                    foreach (var output in outputs.OfType<string>())
                    {
                        var final = AtomicOutput.Resolve(output);
                        var stale = Path.Combine(Path.GetDirectoryName(final)!, $".{Path.GetFileName(final)}.{pid}.tmp");
                        if (File.Exists(stale)) File.Delete(stale);
                    }
                }
            }
        }
        var earlierAccepted = state?.Current.RemoteAccepted ?? 0;
        var earlierDropped = state?.Current.RemoteDropped ?? [];
        // A summary from an earlier run must never pass for this one's, even if this run dies.
        if (settings.SummaryPath is not null && AtomicOutput.Resolve(settings.SummaryPath) is var summaryFile
            && !AtomicOutput.IsSpecial(summaryFile) && File.Exists(summaryFile))
        {
            File.Delete(summaryFile);
        }

        var counters = new PipelineCounters();
        var clock = TimeProvider.System;
        // Every table is validated before any input is read, whatever its cache policy: a broken table is
        // exit 2 naming file and line, never a run of silent 'unknown' labels.
        using var dimensions = new CsvDimensionSource(settings.DimensionsDirectory);
        foreach (var lookup in compiled.Lookups) await dimensions.ValidateAsync(lookup.Table, cancellationToken).ConfigureAwait(false);
        var enricher = new Enricher(compiled, dimensions, clock);
        using var deadLetterFile = settings.DeadLetterPath is null ? null : new AtomicOutput(settings.DeadLetterPath);
        using var samplesFile = settings.OutPath is null ? null : new AtomicOutput(settings.OutPath);
        // An ordinary file is written when its buffer fills and at the end, not once per line (FlushOnDisposeStream).
        var deadLetters = deadLetterFile is null ? null : new JsonlDeadLetterSink(deadLetterFile.Direct ? deadLetterFile.Stream : new FlushOnDisposeStream(deadLetterFile.Stream, deadLetterFile.FinalPath));
        var samplesOut = samplesFile is null ? null : new JsonlSampleWriter(samplesFile.Direct ? samplesFile.Stream : new FlushOnDisposeStream(samplesFile.Stream, samplesFile.FinalPath));
        // The samples file is written in a stage of its own: the replay's flush does not wait for it.
        await using var samplesStage = samplesOut is null ? null : new WriteBehindSampleWriter(samplesOut);
        var writers = new List<ISampleWriter>();
        if (samplesStage is not null) writers.Add(samplesStage);
        if (settings.Remote is not null)
        {
            var sink = settings.RemoteSink ?? settings.Remote.Writer;
            writers.Add(state is null ? sink : new ResumingSampleWriter(sink, state));
        }
        writers.AddRange(settings.ExtraWriters);
        if (writers.Count == 0) writers.Add(new CollectingSampleWriter());
        ISampleWriter writer = writers.Count == 1 ? writers[0] : new FanOutSampleWriter(writers);

        var deadLetterSink = (IDeadLetterSink?)deadLetters ?? NullDeadLetterSink.Instance;
        // One cardinality budget for all lanes; the first overflow of a family is said once.
        var budget = new SeriesBudget(compiled)
        {
            OnFirstOverflow = (family, windowMs) => Console.Error.WriteLine(
                $"warning: metric family '{family.Prefix}' has more than {family.MaxSeries:N0} series (maxSeries) in the window at {DateTimeOffset.FromUnixTimeMilliseconds(windowMs):u}; " +
                $"further series are folded into one series labelled {SeriesBudget.Overflow} (counted in the summary as overflow)"),
        };
        var pipeline = new Pipeline(compiled, enricher, counters, deadLetterSink, settings.ShardCount, budget);
        var store = new InMemoryShardStore(compiled, settings.ShardCount);
        var coordinator = new FlushCoordinator(compiled, store, writer, counters, clock,
            new FlushOptions { MaxPendingSamples = compiled.Definition.RemoteWrite.MaxPendingSamples, ExpectedLanes = settings.Files.Count });
        // Pipelines for the replay's stages (each handles one batch at a time); they share the caches,
        // counters and dead-letter file.
        var engine = new ReplayEngine(pipeline, store, coordinator, clock, settings.ChunkLines,
            settings.Parallel ? () => new Pipeline(compiled, enricher, counters, deadLetterSink, settings.ShardCount, budget) : null)
        {
            // A short input, or any input on one core, runs on this thread alone; its samples are written on it too (no
            // thread-pool thread started).
            RunningInline = samplesStage is null ? null : samplesStage.WriteThrough,
        };

        var readers = OpenReaders(settings.Files, compiled.Definition.Source.MaxRecordBytes);
        var started = clock.GetTimestamp();
        ReplayProgress? last = null;
        string status = RunStatus.Complete;
        string? error = null;
        // Outputs that could not be written (a full disk): the run stops as failed, and they are not put in place.
        var failedOutputs = new HashSet<string>(StringComparer.Ordinal);
        void OutputFailed(OutputWriteException e)
        {
            failedOutputs.Add(e.Path);
            if (status == RunStatus.Failed) return;
            status = RunStatus.Failed;
            error = e.Message;
        }
        try
        {
            last = await engine.RunAsync(readers, progress, cancellationToken).ConfigureAwait(false);
            if (settings.AfterLastFlush is { } after) await after(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            status = RunStatus.Interrupted;
            error = settings.InterruptedBy is { } by ? $"interrupted by {by()}" : "interrupted";
        }
        catch (RemoteWriteFatalException e)
        {
            status = RunStatus.Failed;
            error = e.Message;
        }
        catch (OutputWriteException e)
        {
            OutputFailed(e);
        }
        finally
        {
            foreach (var r in readers) r.Dispose();
        }
        // Everything flushed is in the file (a write failure is thrown here, or was above).
        try
        {
            if (samplesStage is not null) await samplesStage.CompleteAsync().ConfigureAwait(false);
        }
        catch (OutputWriteException e)
        {
            OutputFailed(e);
        }
        var elapsed = clock.GetElapsedTime(started);
        if (last is not null && coordinator.SamplesClosedBehind != last.SamplesClosedBehind)
        {
            // The samples stage closed the last flushes' windows after the run's last progress: show the final count.
            last = last with
            {
                SamplesWritten = last.SamplesWritten - last.SamplesClosedBehind + coordinator.SamplesClosedBehind,
                SamplesClosedBehind = coordinator.SamplesClosedBehind,
                Elapsed = elapsed,
            };
            progress?.Invoke(last);
        }

        // Finalize the outputs: whatever the run got to is renamed into place, and the summary says how it ended. An
        // output that could not be written is given up instead: its temporary file removed, its previous version kept.
        void FinishOutput(IDisposable? writer, AtomicOutput? file)
        {
            if (file is null) return;
            if (!failedOutputs.Contains(file.FinalPath))
            {
                try
                {
                    writer?.Dispose();
                    file.Commit();
                    return;
                }
                catch (OutputWriteException e)
                {
                    OutputFailed(e);
                }
            }
            file.Dispose();
        }
        FinishOutput(deadLetters, deadLetterFile);
        FinishOutput(samplesOut, samplesFile);

        var accounts = new List<OutputAccount>();
        if (samplesOut is not null)
        {
            // The samples file takes every sample the flush hands it (it never fails a call; an error stops the run),
            // and it comes first among the sinks: a backlog drop (another sink down) never misses it.
            // A samples file given up holds none of them: each is counted as dropped, with the reason.
            accounts.Add(samplesFile is not null && failedOutputs.Contains(samplesFile.FinalPath)
                ? RunSummary.Account("out", settings.OutPath!, counters.Samples, 0, new Dictionary<string, long> { [OutputNotWritten] = counters.Samples })
                : RunSummary.Account("out", settings.OutPath!, counters.Samples, samplesOut.SamplesWritten, WriteResult.NoDrops));
        }
        if (settings.Remote is { } remote)
        {
            var s = remote.Snapshot();
            var dropped = new Dictionary<string, long>(s.SamplesDroppedByReason, StringComparer.Ordinal);
            foreach (var (reason, n) in Backlog(counters)) dropped[reason] = dropped.GetValueOrDefault(reason) + n;
            // A resumed run: what earlier attempts had acknowledged (and this one skipped) counts too.
            foreach (var (reason, n) in earlierDropped) dropped[reason] = dropped.GetValueOrDefault(reason) + n;
            var self = settings.RemoteSelfMetrics?.Invoke() ?? 0;
            accounts.Add(RunSummary.Account("remoteWrite", remote.Endpoint, counters.Samples + self, s.SamplesWritten + earlierAccepted, dropped) with { SelfMetrics = self });
        }
        var lanes = readers.Select(r => new LaneAccount(r.Path, r.Finished && r.Error is null, r.Error)).ToList();
        var summary = new RunSummary
        {
            Events = counters.Events,
            Accepted = counters.Accepted,
            Malformed = counters.Malformed,
            Filtered = counters.Filtered,
            Late = counters.Late,
            Samples = counters.Samples,
            Status = status,
            Error = error,
            Outputs = accounts,
            Lanes = lanes,
            Overflow = budget.Folded is { Count: > 0 } folded ? folded : null,
        };
        if (status == RunStatus.Complete && summary.LostData) summary = summary with { Status = RunStatus.LostData };
        summary = summary with { ExitCode = ExitCodes.For(summary.Status, settings.InterruptedBy?.Invoke()) };
        if (settings.SummaryPath is not null) AtomicOutput.WriteAllText(settings.SummaryPath, summary.ToJson());
        // A run that got to its end (with or without losses) is done; an interrupted or failed one stays resumable.
        if (state is not null && summary.Status is RunStatus.Complete or RunStatus.LostData) state.MarkComplete(summary.ExitCode);
        return new ReplayOutcome(counters, enricher, elapsed, last?.BytesRead ?? readers.Sum(r => r.BytesRead), settings.Files.Count,
            last ?? new ReplayProgress(counters.Events, readers.Sum(r => r.BytesRead), readers.Count(r => !r.Finished), readers.Count, 0, 0, counters.WindowsClosed, counters.Samples, long.MinValue, elapsed))
        {
            Summary = summary,
        };
    }

    /// <summary>A reader per lane file; if one cannot be opened, those already open are disposed before the error goes on.</summary>
    private static List<LaneReader> OpenReaders(IReadOnlyList<string> files, int maxRecordBytes)
    {
        var readers = new List<LaneReader>(files.Count);
        try
        {
            foreach (var f in files) readers.Add(new LaneReader(f, maxRecordBytes));
            return readers;
        }
        catch
        {
            foreach (var r in readers) r.Dispose();
            throw;
        }
    }

    /// <summary>Closed samples the flush dropped before any output saw them (pending bound hit while a sink was down).</summary>
    private static Dictionary<string, long> Backlog(PipelineCounters counters) =>
        counters.SamplesDroppedBacklog == 0 ? [] : new() { ["backlog"] = counters.SamplesDroppedBacklog };

    public static string Rate(double count, TimeSpan elapsed) =>
        (count / Math.Max(elapsed.TotalSeconds, 1e-9)).ToString("N0", CultureInfo.InvariantCulture);
}
