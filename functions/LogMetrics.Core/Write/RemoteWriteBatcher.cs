using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Write;

/// <summary>One remote-write request: whole series (or one chunk of an oversized series).</summary>
public sealed record WriteBatch(IReadOnlyList<SeriesChunk> Chunks, int SampleCount, int EncodedSize);

/// <summary>
/// Splits a flush's samples into requests of at most <c>maxSamples</c> samples and
/// <c>maxBytes</c> uncompressed protobuf bytes.
/// </summary>
/// <remarks>
/// The result is a list of <em>chains</em>: requests of one chain must be sent one after another,
/// different chains may be in flight at once. A series normally sits whole in one request, so
/// concurrency cannot reorder its samples. Only a series that alone exceeds a limit is split; its
/// chunks form one chain in time order, because a receiver like Prometheus rejects a sample older
/// than one it already holds for the series ("out of order").
/// </remarks>
public sealed class RemoteWriteBatcher
{
    private readonly int _maxSamples;
    private readonly int _maxBytes;

    public RemoteWriteBatcher(int maxSamples, int maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxSamples);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        _maxSamples = maxSamples;
        _maxBytes = maxBytes;
    }

    /// <summary>Groups samples by <see cref="Sample.SeriesId"/>, in order of first appearance.</summary>
    public static IReadOnlyList<WriteSeries> GroupBySeries(IReadOnlyList<Sample> samples)
    {
        var groups = new Dictionary<string, List<Sample>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var sample in samples)
        {
            var id = sample.SeriesId;
            if (!groups.TryGetValue(id, out var list))
            {
                groups[id] = list = [];
                order.Add(id);
            }
            list.Add(sample);
        }
        return order.Select(id => WriteSeries.Create(id, groups[id])).ToArray();
    }

    /// <summary>Plans the requests for <paramref name="samples"/> as chains (see remarks).</summary>
    public IReadOnlyList<IReadOnlyList<WriteBatch>> Plan(IReadOnlyList<Sample> samples)
    {
        var chains = new List<IReadOnlyList<WriteBatch>>();
        var current = new List<SeriesChunk>();
        int currentSamples = 0, currentBytes = 0;

        void FlushCurrent()
        {
            if (current.Count == 0) return;
            chains.Add([new WriteBatch(current, currentSamples, currentBytes)]);
            current = [];
            currentSamples = currentBytes = 0;
        }

        foreach (var series in GroupBySeries(samples))
        {
            var whole = SeriesChunk.All(series);
            var bytes = ProtoSize.Field(ProtoSize.TimeSeries(whole));
            if (whole.Count <= _maxSamples && bytes <= _maxBytes)
            {
                if (currentSamples + whole.Count > _maxSamples || currentBytes + bytes > _maxBytes) FlushCurrent();
                current.Add(whole);
                currentSamples += whole.Count;
                currentBytes += bytes;
            }
            else
            {
                chains.Add(SplitOversized(series));
            }
        }
        FlushCurrent();
        return chains;
    }

    /// <summary>Cuts one oversized series into time-ordered chunks, each its own request.</summary>
    private List<WriteBatch> SplitOversized(WriteSeries series)
    {
        var chain = new List<WriteBatch>();
        var start = 0;
        while (start < series.Samples.Count)
        {
            // Always take at least one sample, even if labels + one sample exceed maxBytes:
            // the receiver then decides (e.g. 413 → permanent, counted), nothing loops forever.
            var count = 0;
            var body = series.LabelsSize;
            while (start + count < series.Samples.Count && count < _maxSamples)
            {
                var next = body + ProtoSize.Field(ProtoSize.Sample(series.Samples[start + count]));
                if (count > 0 && ProtoSize.Field(next) > _maxBytes) break;
                body = next;
                count++;
            }
            chain.Add(new WriteBatch([new SeriesChunk(series, start, count)], count, ProtoSize.Field(body)));
            start += count;
        }
        return chain;
    }
}
