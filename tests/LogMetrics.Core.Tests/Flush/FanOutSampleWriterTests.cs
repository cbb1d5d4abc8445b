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
}
