using System.Diagnostics;
using System.Text;
using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Write;

/// <summary>
/// One series ready to encode: its full label set (with <c>__name__</c>, empty values dropped,
/// sorted by name, ordinal) and its samples in time order.
/// </summary>
public sealed class WriteSeries
{
    /// <summary>The Prometheus metric-name label.</summary>
    public const string MetricNameLabel = "__name__";

    private WriteSeries(string id, Label[] labels, Sample[] samples, int labelsSize)
    {
        Id = id;
        Labels = labels;
        Samples = samples;
        LabelsSize = labelsSize;
    }

    /// <summary><see cref="Sample.SeriesId"/> of every sample in the series.</summary>
    public string Id { get; }

    /// <summary>Sorted by name (ordinal, i.e. byte order of UTF-8 for these names), <c>__name__</c> included.</summary>
    public IReadOnlyList<Label> Labels { get; }

    /// <summary>Samples in time order (stable for equal timestamps).</summary>
    public IReadOnlyList<Sample> Samples { get; }

    /// <summary>Encoded bytes of the <c>labels</c> fields of a TimeSeries (tags and lengths included).</summary>
    internal int LabelsSize { get; }

    /// <summary>Builds a series from samples that share one <see cref="Sample.SeriesId"/>.</summary>
    public static WriteSeries Create(string id, IEnumerable<Sample> samples)
    {
        var ordered = samples.OrderBy(s => s.TimestampMs).ToArray();
        if (ordered.Length == 0) throw new ArgumentException("A series needs at least one sample.", nameof(samples));
        var first = ordered[0];
        var labels = new List<Label>(first.Labels.Count + 1) { new(MetricNameLabel, first.Name) };
        foreach (var label in first.Labels)
        {
            // Remote write 1.0: "Label names and values MUST NOT be empty" — an empty value means "no label".
            if (label.Name.Length > 0 && label.Value.Length > 0 && label.Name != MetricNameLabel) labels.Add(label);
        }

        // https://prometheus.io/docs/specs/remote_write_spec/ : "label names MUST be sorted
        // lexicographically in ascending order" (byte-wise). '_' sorts after 'A'..'Z' and before
        // 'a'..'z', so __name__ is not always first: sort the whole set, never prepend.
        labels.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        var array = labels.ToArray();
        return new WriteSeries(id, array, ordered, ProtoSize.Labels(array));
    }

    /// <summary>Encoded bytes of samples [start, start+count) as <c>samples</c> fields.</summary>
    internal int SamplesSize(int start, int count)
    {
        var size = 0;
        for (var i = start; i < start + count; i++) size += ProtoSize.Field(ProtoSize.Sample(Samples[i]));
        return size;
    }
}

/// <summary>A contiguous, time-ordered run of one series' samples; one TimeSeries message on the wire.</summary>
public readonly record struct SeriesChunk(WriteSeries Series, int Start, int Count)
{
    /// <summary>The whole series.</summary>
    public static SeriesChunk All(WriteSeries series) => new(series, 0, series.Samples.Count);
}

/// <summary>Protobuf size arithmetic for the remote-write 1.0 messages (proto3: default values are not written).</summary>
internal static class ProtoSize
{
    public static int Varint(ulong value)
    {
        var n = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            n++;
        }
        return n;
    }

    /// <summary>A length-delimited field with a one-byte tag: tag + length + body.</summary>
    public static int Field(int bodySize) => 1 + Varint((uint)bodySize) + bodySize;

    public static int String(string value)
    {
        if (value.Length == 0) return 0;
        return Field(Encoding.UTF8.GetByteCount(value));
    }

    public static int Label(Label label) => String(label.Name) + String(label.Value);

    public static int Labels(IReadOnlyList<Label> labels)
    {
        var size = 0;
        for (var i = 0; i < labels.Count; i++) size += Field(Label(labels[i]));
        return size;
    }

    public static int Sample(Sample sample)
    {
        // Same presence rule as generated proto3 code (and Prometheus' gogo code): `value != 0`.
        var size = sample.Value != 0d ? 9 : 0;
        if (sample.TimestampMs != 0) size += 1 + Varint((ulong)sample.TimestampMs);
        return size;
    }

    public static int TimeSeries(SeriesChunk chunk)
    {
        Debug.Assert(chunk.Count > 0);
        return chunk.Series.LabelsSize + chunk.Series.SamplesSize(chunk.Start, chunk.Count);
    }
}
