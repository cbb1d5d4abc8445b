using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Write;

/// <summary>
/// Writes a remote-write 1.0 <c>WriteRequest</c> by hand (no generated types on the hot path) and
/// compresses it with snappy <b>block</b> format, as the spec requires
/// (https://prometheus.io/docs/specs/remote_write_spec/#protocol).
/// </summary>
/// <remarks>
/// <code>
/// message WriteRequest { repeated TimeSeries timeseries = 1; }
/// message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
/// message Label        { string name = 1; string value = 2; }
/// message Sample       { double value = 1; int64 timestamp = 2; }
/// </code>
/// Sizes are computed first (length-delimited fields need them up front), so the message is
/// written in one pass into a buffer of exactly the right size.
/// </remarks>
public static class RemoteWriteEncoder
{
    // Tags: (field << 3) | wire type. 2 = length-delimited, 1 = 64-bit, 0 = varint.
    private const byte TimeSeriesTag = (1 << 3) | 2;
    private const byte LabelTag = (1 << 3) | 2;
    private const byte SampleTag = (2 << 3) | 2;
    private const byte NameTag = (1 << 3) | 2;
    private const byte ValueTag = (2 << 3) | 2;
    private const byte DoubleTag = (1 << 3) | 1;
    private const byte TimestampTag = (2 << 3) | 0;

    /// <summary>Bytes of the uncompressed WriteRequest for these chunks.</summary>
    public static int GetEncodedSize(IReadOnlyList<SeriesChunk> chunks)
    {
        var size = 0;
        for (var i = 0; i < chunks.Count; i++) size += ProtoSize.Field(ProtoSize.TimeSeries(chunks[i]));
        return size;
    }

    /// <summary>Writes the uncompressed WriteRequest into <paramref name="output"/>; returns its length.</summary>
    public static int Encode(IReadOnlyList<SeriesChunk> chunks, IBufferWriter<byte> output)
    {
        var size = GetEncodedSize(chunks);
        var span = output.GetSpan(size)[..size];
        var written = Write(chunks, span);
        Debug.Assert(written == size);
        output.Advance(size);
        return size;
    }

    /// <summary>
    /// Encodes into a pooled buffer and snappy-compresses it (block format).
    /// Returns the request body; <paramref name="uncompressedSize"/> is the protobuf length.
    /// </summary>
    public static byte[] EncodeCompressed(IReadOnlyList<SeriesChunk> chunks, out int uncompressedSize)
    {
        uncompressedSize = GetEncodedSize(chunks);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(uncompressedSize, 1));
        try
        {
            var written = Write(chunks, buffer.AsSpan(0, uncompressedSize));
            Debug.Assert(written == uncompressedSize);
            // Snappier's Snappy.CompressToArray is the raw block format (a port of the reference C++
            // snappy); SnappyStream would be the framing format, which remote write must not use.
            return Snappier.Snappy.CompressToArray(buffer.AsSpan(0, uncompressedSize));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int Write(IReadOnlyList<SeriesChunk> chunks, Span<byte> destination)
    {
        // Indexed loops, not foreach: enumerating an IReadOnlyList boxes an enumerator per series.
        var pos = 0;
        for (var c = 0; c < chunks.Count; c++)
        {
            var chunk = chunks[c];
            destination[pos++] = TimeSeriesTag;
            pos += WriteVarint(destination[pos..], (uint)ProtoSize.TimeSeries(chunk));
            var labels = chunk.Series.Labels;
            for (var l = 0; l < labels.Count; l++)
            {
                var label = labels[l];
                destination[pos++] = LabelTag;
                pos += WriteVarint(destination[pos..], (uint)ProtoSize.Label(label));
                pos += WriteString(destination[pos..], NameTag, label.Name);
                pos += WriteString(destination[pos..], ValueTag, label.Value);
            }
            for (var i = chunk.Start; i < chunk.Start + chunk.Count; i++)
            {
                var sample = chunk.Series.Samples[i];
                destination[pos++] = SampleTag;
                pos += WriteVarint(destination[pos..], (uint)ProtoSize.Sample(sample));
                pos += WriteSample(destination[pos..], sample);
            }
        }
        return pos;
    }

    private static int WriteSample(Span<byte> destination, Sample sample)
    {
        var pos = 0;
        if (sample.Value != 0d)
        {
            destination[pos++] = DoubleTag;
            BinaryPrimitives.WriteDoubleLittleEndian(destination[pos..], sample.Value);
            pos += 8;
        }
        if (sample.TimestampMs != 0)
        {
            destination[pos++] = TimestampTag;
            // int64 (not sint64): negative values are sign-extended to 10 varint bytes.
            pos += WriteVarint(destination[pos..], (ulong)sample.TimestampMs);
        }
        return pos;
    }

    private static int WriteString(Span<byte> destination, byte tag, string value)
    {
        if (value.Length == 0) return 0;
        var length = Encoding.UTF8.GetByteCount(value);
        destination[0] = tag;
        var pos = 1 + WriteVarint(destination[1..], (uint)length);
        pos += Encoding.UTF8.GetBytes(value, destination[pos..]);
        return pos;
    }

    private static int WriteVarint(Span<byte> destination, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }
}
