using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Tests.Flush;

public class FanOutSampleWriterTests
{
    private sealed class FlakyWriter(int failures) : ISampleWriter
    {
        private int _failures = failures;

        public List<Sample> Accepted { get; } = [];

        public Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
        {
            if (_failures-- > 0) return Task.FromResult(WriteResult.Fail());
            Accepted.AddRange(samples);
            return Task.FromResult(WriteResult.Ok(samples.Count));
        }
    }

    /// <summary>
    /// Per call in turn: null takes every sample; a number takes that many of the call's first samples and fails the
    /// call (a remote write whose later requests failed). Past the script every call is taken.
    /// </summary>
    private sealed class ScriptedWriter(params int?[] script) : ISampleWriter
    {
        public List<Sample> Accepted { get; } = [];

        public List<IReadOnlyList<Sample>> Offered { get; } = [];

        public int Settled { get; private set; }

        public Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
        {
            var call = Offered.Count;
            Offered.Add([.. samples]);
            if (call >= script.Length || script[call] is not { } delivered)
            {
                Accepted.AddRange(samples);
                return Task.FromResult(WriteResult.Ok(samples.Count));
            }
            var took = samples.Take(delivered).ToList();
            Accepted.AddRange(took);
            return Task.FromResult(new WriteResult(WriteOutcome.Failed, took.Count, WriteResult.NoDrops) { SettlePartial = () => Settled++ });
        }
    }

    private static Sample S(string product, long ts, double value) => new("m", [new Label("product", product)], ts, value);

    [Fact]
    public async Task WriteAsync_OneSinkDownThenUp_OtherSinkGetsEachSampleOnce()
    {
        var file = new CollectingSampleWriter();
        var remote = new FlakyWriter(failures: 2);
        var fanOut = new FanOutSampleWriter([file, remote]);
        Sample[] first = [S("a", 0, 1), S("b", 0, 2)];
        Sample[] second = [.. first, S("a", 10_000, 3)]; // the coordinator re-offers, plus a newly closed window

        Assert.Equal(WriteOutcome.Failed, (await fanOut.WriteAsync(first, CancellationToken.None)).Outcome);
        Assert.Equal(WriteOutcome.Failed, (await fanOut.WriteAsync(second, CancellationToken.None)).Outcome);
        var ok = await fanOut.WriteAsync(second, CancellationToken.None);

        Assert.Equal(WriteOutcome.Written, ok.Outcome);
        Assert.Equal(3, ok.SamplesWritten);
        Assert.Equal(second, file.Samples);          // each sample once, in order, despite three offers
        Assert.Equal(second, remote.Accepted);

        // After a full success nothing is remembered: a later identical offer (a re-send after a crash) goes through.
        await fanOut.WriteAsync(first, CancellationToken.None);
        Assert.Equal(5, file.Samples.Count);
    }

    [Fact]
    public async Task WriteAsync_SinkFailsAfterDeliveringPart_ReportsWhatTheLeastDeliveringSinkTookAndSettlesIt()
    {
        var file = new CollectingSampleWriter();
        var first = new ScriptedWriter(2, 2);
        var second = new ScriptedWriter(1, 1);
        var fanOut = new FanOutSampleWriter([file, first, second]);
        Sample[] samples = [S("a", 0, 1), S("b", 0, 2), S("c", 0, 3)];

        var failed = await fanOut.WriteAsync(samples, CancellationToken.None);

        Assert.Equal(WriteOutcome.Failed, failed.Outcome);
        Assert.Equal(1, failed.SamplesWritten);                 // giving the call up loses 2 samples at the second sink
        Assert.Equal(0, first.Settled + second.Settled);        // offered again, nothing is counted yet
        failed.SettlePartial!();
        Assert.Equal(1, first.Settled);
        Assert.Equal(1, second.Settled);

        // Given up, the call's samples are forgotten: newly closed windows reach the file as they come.
        await fanOut.WriteAsync(samples, CancellationToken.None);
        Assert.Equal(6, file.Samples.Count);
    }

    [Fact]
    public async Task WriteAsync_SinkFailsOnAReOffer_CountsWhatItHadTakenBeforeAsDelivered()
    {
        var file = new CollectingSampleWriter();
        var remote = new ScriptedWriter(null, 0);   // takes the first offer whole, then fails taking nothing
        var other = new ScriptedWriter(0, null);    // fails the first offer, takes the second
        var fanOut = new FanOutSampleWriter([file, remote, other]);
        Sample[] first = [S("a", 0, 1), S("b", 0, 2)];
        Sample[] second = [.. first, S("a", 10_000, 3)]; // re-offered, plus a newly closed window

        Assert.Equal(0, (await fanOut.WriteAsync(first, CancellationToken.None)).SamplesWritten);
        var failed = await fanOut.WriteAsync(second, CancellationToken.None);

        Assert.Equal(WriteOutcome.Failed, failed.Outcome);
        Assert.Equal(2, failed.SamplesWritten);      // the remote has a and b from the first offer; only the new one is lost if given up
        Assert.Equal([second[2]], remote.Offered[1]);
    }
}
