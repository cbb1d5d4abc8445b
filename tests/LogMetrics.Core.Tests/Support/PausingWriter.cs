using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Tests.Support;

/// <summary>
/// A sink that pauses up to 2 ms before one write in two (as <paramref name="random"/> draws), so a flush waits
/// for its writer, or batches written behind finish in other orders.
/// </summary>
public sealed class PausingWriter(ISampleWriter inner, Random random) : ISampleWriter
{
    public async Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        int pause;
        lock (random) pause = random.Next(2) == 0 ? random.Next(3) : -1;
        if (pause >= 0) await Task.Delay(pause, cancellationToken);
        return await inner.WriteAsync(samples, cancellationToken);
    }
}
