using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Telemetry;
using LogMetrics.Local.Html;
using Spectre.Console;

namespace LogMetrics.Local;

/// <summary>The console's commands. Exit codes: see <see cref="ExitCodes"/>.</summary>
public static class Commands
{
    public const int Ok = ExitCodes.Ok;
    public const int Failure = ExitCodes.Failure;
    public const int BadInput = ExitCodes.BadInput;

    public static Command Replay()
    {
        var pipeline = new Option<FileInfo>("--pipeline") { Description = "Pipeline definition (pipeline.json)", Required = true };
        var dimensions = new Option<DirectoryInfo>("--dimensions") { Description = "Directory with one <lookup name>.csv per lookup", Required = true };
        var output = new Option<FileInfo?>("--out") { Description = "Samples as JSON lines" };
        var summary = new Option<FileInfo?>("--summary") { Description = "Counts as JSON: events, accepted, malformed, filtered, late, samples" };
        var deadLetter = new Option<FileInfo?>("--dead-letter") { Description = "Malformed lines as JSON lines (lane, line, reason, raw)" };
        var shards = new Option<int>("--shards") { Description = "Window shards (as in the Functions app)", DefaultValueFactory = _ => 8 };
        var quiet = new Option<bool>("--quiet") { Description = "No live progress display" };
        var selfMetrics = SelfMetricsOption();
        var report = new Option<FileInfo?>("--report") { Description = "Write a self-contained HTML report (charts over event time + the final report)" };
        var state = new Option<DirectoryInfo?>("--state")
        {
            Description = "Make the replay resumable: after a crash or kill, rerun the same command with the same --state DIR (README \"Resuming a replay\")",
        };
        var remote = RemoteWriteOptions.Create();
        var files = new Argument<FileInfo[]>("FILE") { Description = "Input lanes: .jsonl or .jsonl.gz, one lane per file", Arity = ArgumentArity.OneOrMore };
        var command = new Command("replay", "Replay log files through the pipeline; each file is one lane.")
        {
            pipeline, dimensions, output, summary, deadLetter, shards, quiet, selfMetrics, report, state, files,
        };
        remote.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var compiled = CheckDefinition(result.GetValue(pipeline)!.FullName);
            if (compiled is null) return BadInput;
            var shardCount = result.GetValue(shards);
            if (shardCount <= 0) return Fail(BadInput, "--shards must be > 0");
            if (result.GetValue(output) is null && result.GetValue(remote.Url) is null)
            {
                return Fail(BadInput, "nothing to write to: give --out FILE and/or --remote-write URL");
            }
            await using var remoteWriter = remote.Build(result, compiled.Definition.RemoteWrite, out var remoteError);
            if (remoteError is not null) return Fail(BadInput, remoteError);
            if (result.GetValue(selfMetrics) && remoteWriter is null) return Fail(BadInput, "--self-metrics needs --remote-write URL");
            var settings = new ReplaySettings
            {
                PipelinePath = result.GetValue(pipeline)!.FullName,
                DimensionsDirectory = result.GetValue(dimensions)!.FullName,
                Files = [.. result.GetValue(files)!.Select(f => f.FullName)],
                OutPath = result.GetValue(output)?.FullName,
                SummaryPath = result.GetValue(summary)?.FullName,
                DeadLetterPath = result.GetValue(deadLetter)?.FullName,
                ShardCount = shardCount,
                Remote = remoteWriter,
            };
            if (result.GetValue(state) is { } stateDir)
            {
                if (result.GetValue(selfMetrics)) return Fail(BadInput, "--state cannot be combined with --self-metrics (its samples are stamped at run time and are not resumable)");
                if (Directory.Exists(stateDir.FullName) is false && File.Exists(stateDir.FullName)) return Fail(BadInput, $"--state {stateDir.FullName} is a file, not a directory");
                var (hash, text) = ReplayState.CommandHash(settings, result.GetValue(remote.Url)?.ToString(), result.GetValue(selfMetrics));
                settings = settings with { StateDirectory = stateDir.FullName, StateCommand = hash, StateCommandText = text };
            }
            var extras = new Extras(compiled, remoteWriter, result.GetValue(selfMetrics), result.GetValue(report)?.FullName);
            return await RunReplayAsync(settings, compiled, result.GetValue(quiet), extras, ct);
        });
        return command;
    }

    public static Command Check()
    {
        var file = new Argument<FileInfo>("PIPELINE") { Description = "Pipeline definition to validate" };
        var command = new Command("check", "Validate a pipeline definition and print its metric catalog.") { file };
        command.SetAction(result =>
        {
            var compiled = CheckDefinition(result.GetValue(file)!.FullName);
            if (compiled is null) return BadInput;
            Report.Catalog(compiled);
            return Ok;
        });
        return command;
    }

    public static Command Demo()
    {
        var records = new Option<int>("--records") { Description = "Synthetic records to generate", DefaultValueFactory = _ => 20_000 };
        var selfMetrics = SelfMetricsOption();
        var report = new Option<FileInfo?>("--report") { Description = "Where to write the HTML report (default: report.html in the demo directory)" };
        var remote = RemoteWriteOptions.Create();
        var command = new Command("demo", "Generate flagship gateway traffic and run the flagship pipeline over it; no set-up needed.") { records, selfMetrics, report };
        remote.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var pipelinePath = Path.Combine(AppContext.BaseDirectory, "pipeline.json");
            var compiled = CheckDefinition(pipelinePath);
            if (compiled is null) return BadInput;
            var dir = Path.Combine(Path.GetTempPath(), "logmetrics-demo");
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
            var count = result.GetValue(records);
            await using var remoteWriter = remote.Build(result, compiled.Definition.RemoteWrite, out var remoteError);
            if (remoteError is not null) return Fail(BadInput, remoteError);
            if (result.GetValue(selfMetrics) && remoteWriter is null) return Fail(BadInput, "--self-metrics needs --remote-write URL");
            AnsiConsole.MarkupLine($"[grey]Generating {count:N0} gateway records (4 lanes, ≤4 s disorder, 0.5 % malformed) in {Markup.Escape(dir)}[/]");
            var files = TrafficGenerator.Write(dir, new TrafficOptions { Records = count, Lanes = 4, Seed = 42, Gzip = false });
            var collector = new CollectingSampleWriter();
            var settings = new ReplaySettings
            {
                PipelinePath = pipelinePath,
                DimensionsDirectory = Path.Combine(dir, "dimensions"),
                Files = files,
                OutPath = Path.Combine(dir, "samples.jsonl"),
                SummaryPath = Path.Combine(dir, "summary.json"),
                DeadLetterPath = Path.Combine(dir, "dead.jsonl"),
                ExtraWriters = [collector],
                // Smaller rounds than a replay's default: the demo is small, and its report plots one point per flush.
                ChunkLines = 256,
                Remote = remoteWriter,
            };
            var reportPath = result.GetValue(report)?.FullName ?? Path.Combine(dir, "report.html");
            var code = await RunReplayAsync(settings, compiled, quiet: false, new Extras(compiled, remoteWriter, result.GetValue(selfMetrics), reportPath), ct);
            if (code == Ok)
            {
                Report.DemoMetrics(collector.Samples);
                AnsiConsole.MarkupLine($"[grey]Samples: {Markup.Escape(settings.OutPath)}  summary: {Markup.Escape(settings.SummaryPath)}  dead letters: {Markup.Escape(settings.DeadLetterPath)}  report: {Markup.Escape(reportPath)}[/]");
            }
            return code;
        });
        return command;
    }

    public static Command Generate()
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "Output directory (lanes + dimensions/)", Required = true };
        var lanes = new Option<int>("--lanes") { DefaultValueFactory = _ => 4 };
        var records = new Option<int>("--records") { DefaultValueFactory = _ => 90_000 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var start = new Option<string>("--start") { Description = "First event time: epoch seconds, or 'now-30m' style", DefaultValueFactory = _ => "1768484000" };
        var duration = new Option<int>("--duration-seconds") { DefaultValueFactory = _ => 600 };
        var gzip = new Option<bool>("--gzip") { Description = "Write .jsonl.gz lanes" };
        var command = new Command("generate", "Write a synthetic flagship corpus and matching dimension CSVs.") { output, lanes, records, seed, start, duration, gzip };
        command.SetAction(result =>
        {
            if (!TryParseStart(result.GetValue(start)!, out var startSeconds)) return Fail(BadInput, $"--start: '{result.GetValue(start)}' is not epoch seconds or now-<N>m");
            if (result.GetValue(lanes) <= 0 || result.GetValue(records) <= 0) return Fail(BadInput, "--lanes and --records must be > 0");
            var files = TrafficGenerator.Write(result.GetValue(output)!.FullName, new TrafficOptions
            {
                Lanes = result.GetValue(lanes),
                Records = result.GetValue(records),
                Seed = result.GetValue(seed),
                StartEpochSeconds = startSeconds,
                DurationSeconds = result.GetValue(duration),
                Gzip = result.GetValue(gzip),
            });
            foreach (var f in files) Console.WriteLine(f);
            return Ok;
        });
        return command;
    }

    internal static bool TryParseStart(string text, out long epochSeconds)
    {
        if (text.StartsWith("now", StringComparison.Ordinal))
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (text == "now") { epochSeconds = now; return true; }
            if (text.Length > 5 && text[3] == '-' && text[^1] == 'm' && int.TryParse(text[4..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var minutes))
            {
                epochSeconds = now - minutes * 60L;
                return true;
            }
            epochSeconds = 0;
            return false;
        }
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out epochSeconds);
    }

    private static Option<bool> SelfMetricsOption() => new("--self-metrics")
    {
        Description = "Also remote-write the pipeline's own counters (logmetrics_*, by stage and lane) at each flush, stamped in event time",
    };

    /// <summary>
    /// What a run writes besides samples: remote write (optionally with the pipeline's own counters)
    /// and the HTML report. Both self-metrics and the report read the pipeline's meter through one
    /// <see cref="SelfMetricsCollector"/>.
    /// </summary>
    private sealed class Extras(CompiledPipeline compiled, RemoteWriterHandle? remote, bool selfMetrics, string? reportPath) : IDisposable
    {
        private readonly SelfMetricsCollector? _collector = selfMetrics || reportPath is not null
            ? new SelfMetricsCollector([new Label("instance", Environment.MachineName is { Length: > 0 } m ? m : "local"), new Label("job", "logmetrics")])
            : null;

        public RemoteWriterHandle? Remote => remote;

        public HtmlReport? Html { get; private set; }

        public string? ReportPath => reportPath;

        /// <summary>The writers besides --out and remote write (the HTML report's).</summary>
        public IReadOnlyList<ISampleWriter> Writers()
        {
            var writers = new List<ISampleWriter>();
            if (reportPath is not null) writers.Add(Html = new HtmlReport(compiled, _collector!));
            return writers;
        }

        /// <summary>The sink remote write goes through: the client, or the client behind the self-metrics writer.</summary>
        public ISampleWriter? RemoteSink() => remote is null ? null : selfMetrics ? SelfWriterFor(remote) : remote.Writer;

        /// <summary>Self-metric samples offered to the remote endpoint besides the pipeline's.</summary>
        public long SelfMetricsOffered => _self?.SamplesOffered ?? 0;

        private SelfMetricsWriter? _self;

        private SelfMetricsWriter SelfWriterFor(RemoteWriterHandle handle) => _self = new SelfMetricsWriter(handle.Writer, _collector!);

        public async Task FinishAsync(CancellationToken ct)
        {
            if (_self is not null) await _self.WriteFinalAsync(ct).ConfigureAwait(false);
        }

        public void Dispose() => _collector?.Dispose();
    }

    private static async Task<int> RunReplayAsync(ReplaySettings settings, CompiledPipeline compiled, bool quiet, Extras extras, CancellationToken ct)
    {
        using var _ = extras;
        // SIGINT and SIGTERM stop the run cleanly: reading stops, the outputs are finalized and the
        // summary is marked interrupted; exit 130 / 143.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        string? signal = null;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Interlocked.CompareExchange(ref signal, context.Signal == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT", null) is null)
            {
                Console.Error.WriteLine($"{signal}: stopping; finalizing outputs and summary");
                stop.Cancel();
            }
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        settings = settings with
        {
            InterruptedBy = () => Volatile.Read(ref signal),
            ExtraWriters = [.. settings.ExtraWriters, .. extras.Writers()],
            RemoteSink = extras.RemoteSink(),
            AfterLastFlush = extras.FinishAsync,
            RemoteSelfMetrics = () => extras.SelfMetricsOffered,
        };
        try
        {
            var outcome = await ProgressView.RunAsync(quiet, progress => ReplayRunner.RunAsync(settings, compiled, progress, stop.Token));
            var rows = Report.Final(outcome, extras.Remote);
            if (extras.Html is not null)
            {
                extras.Html.Write(extras.ReportPath!, $"LogMetrics {compiled.Definition.Name}: replay of {settings.Files.Count} lane(s)", rows);
                AnsiConsole.MarkupLine($"[grey]report: {Markup.Escape(extras.ReportPath!)}[/]");
            }
            var summary = outcome.Summary;
            switch (summary.Status)
            {
                case RunStatus.Complete:
                    break;
                case RunStatus.LostData:
                    Console.Error.WriteLine("lost data: " + Report.Losses(summary));
                    break;
                default:
                    Console.Error.WriteLine($"{(summary.Status == RunStatus.Interrupted ? "interrupted" : "error")}: {summary.Error}");
                    if (summary.Outputs.Any(o => o.DroppedTotal > 0)) Console.Error.WriteLine("lost data: " + Report.Losses(summary));
                    break;
            }
            return summary.ExitCode;
        }
        catch (ReplayStateException e)
        {
            return Fail(BadInput, e.Message);
        }
        catch (ReplayAlreadyCompleteException e)
        {
            Console.Error.WriteLine(e.Message);
            return e.ExitCode;
        }
        catch (OutputWriteException e)
        {
            // An output (the summary, say) could not be written: the run did run, and stopped on it.
            return Fail(ExitCodes.Failure, e.Message);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or InvalidDataException or IOException)
        {
            return Fail(BadInput, e.Message);
        }
        catch (Exception e) when (e.GetType().Name == "LookupLoadException")
        {
            return Fail(BadInput, e.Message);
        }
    }

    /// <summary>Loads and compiles a definition; prints every error with its JSON path and returns null when invalid.</summary>
    internal static CompiledPipeline? CheckDefinition(string path)
    {
        try
        {
            return PipelineCompiler.CompileFile(path);
        }
        catch (DefinitionException e)
        {
            Console.Error.WriteLine($"error: {path}: invalid pipeline definition");
            foreach (var error in e.Errors) Console.Error.WriteLine($"  {error.Path}: {error.Message}");
            return null;
        }
    }

    internal static int Fail(int code, string message)
    {
        Console.Error.WriteLine("error: " + message);
        return code;
    }
}
