using System.Runtime.InteropServices;
using LogMetrics.Core.Write;
using Xunit;

namespace LogMetrics.Core.Tests.Write;

/// <summary>
/// Snappier's block format (what <see cref="RemoteWriteEncoder.EncodeCompressed"/> sends) against the reference C++ implementation (Debian's libsnappy1v5),
/// the same format Prometheus' Go receiver decodes. A missing libsnappy fails the test: a skipped
/// interop test would silently stop checking the wire format.
/// </summary>
public class SnappyInteropTests
{
    private const string Library = "libsnappy.so.1";

    public static TheoryData<string> Payloads => ["remote-write", "random-1", "random-100", "random-70000", "repetitive-200000"];

    [Theory]
    [MemberData(nameof(Payloads))]
    public void SnappierCompress_Payload_DecompressesWithLibsnappy(string payload)
    {
        RequireLibsnappy();
        var input = Payload(payload);

        var compressed = Snappier.Snappy.CompressToArray(input);

        Assert.Equal(input, LibSnappy.Uncompress(compressed));
    }

    [Fact]
    public void EncodeCompressed_RemoteWriteBody_DecompressesWithLibsnappy()
    {
        RequireLibsnappy();
        var chunks = RemoteWriteBatcher.GroupBySeries(WriteTestData.Flagship(500, 4)).Select(SeriesChunk.All).ToList();
        var expected = new System.Buffers.ArrayBufferWriter<byte>();
        RemoteWriteEncoder.Encode(chunks, expected);

        var body = RemoteWriteEncoder.EncodeCompressed(chunks, out var uncompressed);

        Assert.Equal(expected.WrittenCount, uncompressed);
        Assert.Equal(expected.WrittenSpan.ToArray(), LibSnappy.Uncompress(body));
    }

    [Theory]
    [MemberData(nameof(Payloads))]
    public void LibsnappyCompress_Payload_DecompressesWithSnappier(string payload)
    {
        RequireLibsnappy();
        var input = Payload(payload);

        var compressed = LibSnappy.Compress(input);

        Assert.Equal(input, Snappier.Snappy.DecompressToArray(compressed));
    }

    private static byte[] Payload(string name)
    {
        if (name == "remote-write")
        {
            var chunks = RemoteWriteBatcher.GroupBySeries(WriteTestData.Flagship(500, 4)).Select(SeriesChunk.All).ToList();
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            RemoteWriteEncoder.Encode(chunks, buffer);
            return buffer.WrittenSpan.ToArray();
        }
        var parts = name.Split('-');
        var bytes = new byte[int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)];
        if (parts[0] == "random") new Random(42).NextBytes(bytes);
        else for (var i = 0; i < bytes.Length; i++) bytes[i] = (byte)"namespace_api_gw_http_req"[i % 25];
        return bytes;
    }

    private static void RequireLibsnappy()
    {
        if (NativeLibrary.TryLoad(Library, out var handle))
        {
            NativeLibrary.Free(handle);
            return;
        }
        var ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        Assert.Fail($"{Library} was not found, so the snappy wire format cannot be checked against the reference implementation. " +
            "Install it with `apt-get install -y libsnappy1v5`" + (ci ? " in the CI image (CI=true: this check is required)." : "."));
    }

    private static class LibSnappy
    {
        public static byte[] Compress(byte[] input)
        {
            var output = new byte[(int)snappy_max_compressed_length((nuint)input.Length)];
            var length = (nuint)output.Length;
            Assert.Equal(0, snappy_compress(input, (nuint)input.Length, output, ref length));
            return output.AsSpan(0, (int)length).ToArray();
        }

        public static byte[] Uncompress(byte[] compressed)
        {
            Assert.Equal(0, snappy_uncompressed_length(compressed, (nuint)compressed.Length, out var expected));
            var output = new byte[(int)expected];
            var length = expected;
            Assert.Equal(0, snappy_uncompress(compressed, (nuint)compressed.Length, output, ref length));
            Assert.Equal(expected, length);
            return output;
        }

        // snappy-c.h: snappy_status is an int enum, SNAPPY_OK = 0.
        [DllImport(Library)]
        private static extern int snappy_compress(byte[] input, nuint inputLength, byte[] compressed, ref nuint compressedLength);

        [DllImport(Library)]
        private static extern int snappy_uncompress(byte[] compressed, nuint compressedLength, byte[] uncompressed, ref nuint uncompressedLength);

        [DllImport(Library)]
        private static extern int snappy_uncompressed_length(byte[] compressed, nuint compressedLength, out nuint result);

        [DllImport(Library)]
        private static extern nuint snappy_max_compressed_length(nuint sourceLength);
    }
}
