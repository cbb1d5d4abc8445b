using LogMetrics.Core.Flush;
using LogMetrics.Local;

namespace LogMetrics.IntegrationTests.Console;

/// <summary>The --state file and the writer in front of remote write, in process (no server).</summary>
public sealed class ReplayStateTests : TempDirTests
{
    private sealed class Recording : ISampleWriter
    {
        public List<IReadOnlyList<Sample>> Calls { get; } = [];
        public int FailOnCall { get; set; } = -1;

        public Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
        {
            Calls.Add(samples);
            return Task.FromResult(Calls.Count - 1 == FailOnCall ? WriteResult.Fail() : WriteResult.Ok(samples.Count));
        }
    }

    private static Sample S(string series, long ts, double value = 1) => new(series, [new Label("k", "v")], ts, value);

    private static ReplayState Open(string dir) => ReplayState.Open(dir, "hash-1", "command one\n");

    [Fact]
    public async Task Writes_OneWindowAtATime_InTimeOrder_EachSeriesOnceAWrite()
    {
        var inner = new Recording();
        var writer = new ResumingSampleWriter(inner, Open(TempDir()));
        var r = await writer.WriteAsync([S("a", 20), S("b", 10), S("a", 10), S("b", 20)], CancellationToken.None);
        Assert.Equal(WriteOutcome.Written, r.Outcome);
        Assert.Equal(4, r.SamplesWritten);
        Assert.Equal([[10, 10], [20, 20]], inner.Calls.Select(c => c.Select(s => s.TimestampMs).ToArray()).ToArray());
        Assert.All(inner.Calls, c => Assert.Equal(c.Count, c.Select(s => s.Name).Distinct().Count()));
    }

    [Fact]
    public async Task ResumedAttempt_SkipsAcknowledged_SendsTheRest_WhateverTheFlushBoundaries()
    {
        var dir = TempDir();
        var first = new Recording();
        await new ResumingSampleWriter(first, Open(dir)).WriteAsync([S("a", 10), S("b", 10)], CancellationToken.None);
        await new ResumingSampleWriter(first, Open(dir)).WriteAsync([S("a", 20)], CancellationToken.None);

        // The next attempt (a new process) offers everything again, in other flush boundaries.
        var state = Open(dir);
        Assert.True(state.Resumed);
        Assert.Equal(3, state.Current.RemoteWritten);
        var second = new Recording();
        var writer = new ResumingSampleWriter(second, state);
        var r1 = await writer.WriteAsync([S("a", 10), S("b", 10), S("a", 20), S("b", 20)], CancellationToken.None);
        var r2 = await writer.WriteAsync([S("a", 30)], CancellationToken.None);
        Assert.Equal(4, r1.SamplesWritten); // the skipped ones count as written: the endpoint has them
        Assert.Equal(1, r2.SamplesWritten);
        Assert.Equal(["b@20", "a@30"], second.Calls.SelectMany(c => c).Select(s => $"{s.Name}@{s.TimestampMs}"));
        Assert.Equal(5, state.Current.RemoteWritten);
        Assert.Equal(5, state.Current.RemoteAccepted);
    }

    [Fact]
    public async Task FailedWindow_NotRecorded_ReofferSkipsOnlyTheAcknowledgedWindows()
    {
        var state = Open(TempDir());
        var inner = new Recording { FailOnCall = 1 };
        var writer = new ResumingSampleWriter(inner, state);
        var failed = await writer.WriteAsync([S("a", 10), S("a", 20), S("a", 30)], CancellationToken.None);
        Assert.Equal(WriteOutcome.Failed, failed.Outcome);
        Assert.Equal(1, state.Current.RemoteWritten); // window 10 only
        var again = await writer.WriteAsync([S("a", 10), S("a", 20), S("a", 30)], CancellationToken.None);
        Assert.Equal(WriteOutcome.Written, again.Outcome);
        Assert.Equal(["a@10", "a@20", "a@20", "a@30"], inner.Calls.SelectMany(c => c).Select(s => $"{s.Name}@{s.TimestampMs}"));
        Assert.Equal(3, state.Current.RemoteWritten);
    }

    [Fact]
    public void OtherCommand_Refused_NamingBothCommands_StateUntouched()
    {
        var dir = TempDir();
        Open(dir);
        var before = File.ReadAllText(Path.Combine(dir, "state.json"));
        var e = Assert.Throws<ReplayStateException>(() => ReplayState.Open(dir, "hash-2", "command two\n"));
        Assert.Contains("belongs to a different command", e.Message);
        Assert.Contains("command one", e.Message);
        Assert.Contains("command two", e.Message);
        Assert.Equal(before, File.ReadAllText(Path.Combine(dir, "state.json")));
    }

    [Fact]
    public void Completed_ReopenedAsComplete_WithItsExitCode_NotResaved()
    {
        var dir = TempDir();
        Open(dir).MarkComplete(3);
        var state = Open(dir);
        Assert.True(state.IsComplete);
        Assert.Equal(3, state.Current.ExitCode);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void Garbage_StateFile_Refused()
    {
        var dir = TempDir();
        File.WriteAllText(Path.Combine(dir, "state.json"), "{ not json");
        var e = Assert.Throws<ReplayStateException>(() => Open(dir));
        Assert.Contains("is not a replay state", e.Message);
    }
}
