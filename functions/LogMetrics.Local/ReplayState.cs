using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LogMetrics.Core.Flush;

namespace LogMetrics.Local;

/// <summary>
/// What <c>--state DIR</c> keeps (DIR/state.json): the command it belongs to, whether the run completed,
/// and the remote-write progress (samples the endpoint acknowledged, cumulative over attempts).
/// </summary>
/// <remarks>
/// A resumed replay re-reads its input from the start: the replay is deterministic, so it produces the
/// same samples in the same order, and <c>--out</c>, <c>--dead-letter</c> and the summary are rewritten
/// byte for byte through the usual temporary file and rename. What must not be repeated is the remote
/// write: the first <see cref="RemoteWritten"/> samples offered to the endpoint are skipped.
/// The file is replaced atomically (temporary file, fsync, rename) after every acknowledged write.
/// </remarks>
public sealed record ReplayStateFile
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    /// <summary>SHA-256 of the command (pipeline bytes, inputs, outputs, options); see <see cref="ReplayState.CommandHash"/>.</summary>
    public required string Command { get; init; }
    /// <summary>The command in words, for the refusal message.</summary>
    public required string CommandText { get; init; }
    /// <summary><c>running</c> or <c>complete</c>.</summary>
    public required string Status { get; init; }
    /// <summary>Attempts started so far (1 = no resume yet).</summary>
    public int Attempts { get; init; }
    /// <summary>Process id of the latest attempt (its temporary output files are removed on resume).</summary>
    public int Pid { get; init; }
    /// <summary>Samples offered to the remote endpoint and acknowledged (written or dropped with a reason), over all attempts.</summary>
    public long RemoteWritten { get; init; }
    /// <summary>Per series (<c>Sample.SeriesId</c>): the newest timestamp whose write the endpoint acknowledged. Older and equal samples of the series are not sent again.</summary>
    public Dictionary<string, long> RemoteThrough { get; init; } = [];
    /// <summary>Of <see cref="RemoteWritten"/>, the samples the endpoint accepted.</summary>
    public long RemoteAccepted { get; init; }
    /// <summary>Of <see cref="RemoteWritten"/>, the samples dropped, by reason.</summary>
    public Dictionary<string, long> RemoteDropped { get; init; } = [];
    /// <summary>Exit code of the completed run.</summary>
    public int? ExitCode { get; init; }
}

/// <summary>The state directory of a resumable replay (<c>--state DIR</c>).</summary>
public sealed class ReplayState
{
    public const string Running = "running";
    public const string Complete = "complete";

    private readonly Lock _gate = new();
    private ReplayStateFile _current;

    private ReplayState(string directory, ReplayStateFile current, bool resumed)
    {
        Directory = directory;
        _current = current;
        Resumed = resumed;
    }

    public string Directory { get; }

    public string FilePath => Path.Combine(Directory, "state.json");

    /// <summary>An earlier attempt of this command was found (and is being resumed).</summary>
    public bool Resumed { get; }

    public ReplayStateFile Current
    {
        get { lock (_gate) return _current; }
    }

    /// <summary>Hash of everything that decides a replay's outputs: pipeline bytes, inputs (path, length), outputs and options.</summary>
    public static (string Hash, string Text) CommandHash(ReplaySettings settings, string? remoteUrl, bool selfMetrics)
    {
        var text = new StringBuilder();
        text.Append("pipeline=").Append(settings.PipelinePath).Append(" sha256=")
            .Append(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(settings.PipelinePath)))).Append('\n');
        text.Append("dimensions=").Append(settings.DimensionsDirectory).Append('\n');
        foreach (var f in settings.Files)
        {
            text.Append("file=").Append(f).Append(" bytes=").Append(File.Exists(f) ? new FileInfo(f).Length : -1).Append('\n');
        }
        text.Append("out=").Append(settings.OutPath).Append('\n')
            .Append("dead-letter=").Append(settings.DeadLetterPath).Append('\n')
            .Append("summary=").Append(settings.SummaryPath).Append('\n')
            .Append("shards=").Append(settings.ShardCount).Append('\n')
            .Append("remote-write=").Append(remoteUrl).Append('\n')
            .Append("self-metrics=").Append(selfMetrics).Append('\n');
        var s = text.ToString();
        return (Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s))), s);
    }

    /// <summary>
    /// Opens (or creates) the state in <paramref name="directory"/> for the command <paramref name="hash"/>.
    /// Throws <see cref="ReplayStateException"/> when the state belongs to another command or is unreadable.
    /// </summary>
    public static ReplayState Open(string directory, string hash, string text)
    {
        System.IO.Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "state.json");
        ReplayStateFile? found = null;
        if (File.Exists(path))
        {
            try
            {
                found = JsonSerializer.Deserialize(File.ReadAllText(path), ReplayStateJsonContext.Default.ReplayStateFile);
            }
            catch (JsonException e)
            {
                throw new ReplayStateException($"--state {directory}: {path} is not a replay state ({e.Message}); remove the directory to start over");
            }
            if (found is null || found.Version != ReplayStateFile.CurrentVersion)
            {
                throw new ReplayStateException($"--state {directory}: {path} is not a version {ReplayStateFile.CurrentVersion} replay state; remove the directory to start over");
            }
            if (found.Command != hash)
            {
                throw new ReplayStateException(
                    $"--state {directory} belongs to a different command (pipeline, input files, outputs or options differ); " +
                    $"use another --state directory or remove this one.\nrecorded:\n{found.CommandText}this run:\n{text}");
            }
        }
        var state = found is null
            ? new ReplayStateFile { Command = hash, CommandText = text, Status = Running, Attempts = 1, Pid = Environment.ProcessId }
            : found with { Attempts = found.Attempts + 1 };
        var result = new ReplayState(directory, state, found is not null);
        if (found is not null && found.Status == Complete) return result;
        result.PreviousPid = found?.Pid;
        result.Save(state with { Pid = Environment.ProcessId });
        return result;
    }

    /// <summary>The process id of the attempt before this one, if any.</summary>
    public int? PreviousPid { get; private set; }

    public bool IsComplete => Current.Status == Complete;

    /// <summary>Records an acknowledged remote write (durably, before the next write is sent).</summary>
    public void RecordRemote(IReadOnlyList<Sample> batch, long accepted, IReadOnlyDictionary<string, long> dropped)
    {
        lock (_gate)
        {
            var drops = new Dictionary<string, long>(_current.RemoteDropped, StringComparer.Ordinal);
            foreach (var (reason, n) in dropped) drops[reason] = drops.GetValueOrDefault(reason) + n;
            var through = _current.RemoteThrough;
            foreach (var sample in batch)
            {
                if (!through.TryGetValue(sample.SeriesId, out var t) || sample.TimestampMs > t) through[sample.SeriesId] = sample.TimestampMs;
            }
            Save(_current with
            {
                RemoteWritten = _current.RemoteWritten + batch.Count,
                RemoteAccepted = _current.RemoteAccepted + accepted,
                RemoteDropped = drops,
            });
        }
    }

    /// <summary>The endpoint acknowledged this sample's write in this or an earlier attempt.</summary>
    public bool Acknowledged(Sample sample)
    {
        lock (_gate) return _current.RemoteThrough.TryGetValue(sample.SeriesId, out var t) && sample.TimestampMs <= t;
    }

    public void MarkComplete(int exitCode)
    {
        lock (_gate) Save(_current with { Status = Complete, ExitCode = exitCode });
    }

    /// <summary>Replaces state.json atomically: temporary file, fsync, rename.</summary>
    private void Save(ReplayStateFile state)
    {
        var temp = FilePath + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, state, ReplayStateJsonContext.Default.ReplayStateFile);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, FilePath, overwrite: true);
        _current = state;
    }
}

/// <summary>A --state that cannot be used for this run (exit 2).</summary>
public sealed class ReplayStateException(string message) : Exception(message);

/// <summary>
/// Sits in front of the remote-write sink of a resumable replay: skips the samples whose write the endpoint
/// already acknowledged (per series, through the newest acknowledged timestamp; in this or an earlier
/// attempt), and sends the rest one window start (timestamp) at a time in time order, recording each
/// acknowledged write in the state before the next is sent. A write in flight at a kill is resent on
/// resume; within it every series has one sample, its newest, so Prometheus takes the identical resend
/// as a duplicate (204), never "out of order".
/// </summary>
public sealed class ResumingSampleWriter(ISampleWriter inner, ReplayState state) : ISampleWriter
{
    public async Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        long accepted = 0;
        var dropped = new Dictionary<string, long>(StringComparer.Ordinal);
        var fresh = new List<Sample>(samples.Count);
        foreach (var sample in samples)
        {
            if (state.Acknowledged(sample)) accepted++;
            else fresh.Add(sample);
        }
        foreach (var group in fresh.GroupBy(s => s.TimestampMs).OrderBy(g => g.Key))
        {
            var batch = group.ToList();
            var result = await inner.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
            // Failed: nothing of this window is recorded; the coordinator offers the flush again, and the
            // windows acknowledged so far are skipped then.
            if (result.Outcome == WriteOutcome.Failed) return WriteResult.Fail();
            state.RecordRemote(batch, result.SamplesWritten, result.DroppedByReason);
            accepted += result.SamplesWritten;
            foreach (var (reason, n) in result.DroppedByReason) dropped[reason] = dropped.GetValueOrDefault(reason) + n;
        }
        return new WriteResult(dropped.Count == 0 ? WriteOutcome.Written : WriteOutcome.Dropped, accepted, dropped);
    }
}

/// <summary>The --state records that this command already completed: nothing is run again.</summary>
public sealed class ReplayAlreadyCompleteException(string message, int exitCode) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ReplayStateFile))]
internal sealed partial class ReplayStateJsonContext : JsonSerializerContext;
