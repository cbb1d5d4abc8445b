using System.IO.Compression;
using System.Text;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Tests.EndToEnd;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Replay;

/// <summary>Input files as a careless or hostile user hands them over: BOMs, huge lines, cut or broken gzip.</summary>
public sealed class LaneReaderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "logmetrics-lane-" + Guid.NewGuid().ToString("N")[..8]);

    public LaneReaderTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<(long Line, string Text, long Oversize)> ReadAll(LaneReader reader, int chunk = 3)
    {
        var all = new List<(long, string, long)>();
        while (!reader.Finished)
        {
            foreach (var e in reader.ReadChunk(chunk)) all.Add((e.Sequence, Encoding.UTF8.GetString(e.Body.Span), e.OversizeBytes));
        }
        return all;
    }

    /// <summary>A plain file of at most <see cref="LaneReader.MaxInitialBufferBytes"/> is read whole, its lines in place; a larger one, and a gzip one, are not.</summary>
    [Theory]
    [InlineData("empty.jsonl", 0, false, true)]
    [InlineData("small.jsonl", 4_000, false, true)]
    [InlineData("limit.jsonl", LaneReader.MaxInitialBufferBytes, false, true)]
    [InlineData("over.jsonl", LaneReader.MaxInitialBufferBytes + 1, false, false)]
    [InlineData("small.jsonl.gz", 4_000, true, false)]
    public void ReadsInPlace_PlainFilesUpToTheLimit(string name, int length, bool gzip, bool whole)
    {
        // Lines of 99 bytes and a newline, cut to the length.
        var bytes = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('x', 99) + "\n", length / 100 + 1)))[..length];
        var path = Write(name, gzip ? Gzip(bytes) : bytes);
        using var reader = new LaneReader(path);
        Assert.Equal(whole, reader.ReadsInPlace);
    }

    [Fact]
    public void ReadChunk_IntoAReusedList_SameEventsAsANewList()
    {
        // Lines of 1 to 60 bytes, one empty, more than a chunk's worth several times over, plain and gzip.
        var text = string.Concat(Enumerable.Range(0, 50).Select(i => i == 7 ? "\n" : new string((char)('a' + (i % 26)), 1 + (i * 7 % 60)) + "\n"));
        foreach (var path in new[] { Write("reuse.jsonl", Encoding.UTF8.GetBytes(text)), Write("reuse.jsonl.gz", Gzip(Encoding.UTF8.GetBytes(text))) })
        {
            List<(long, string, long)> expected;
            using (var fresh = new LaneReader(path)) expected = ReadAll(fresh, chunk: 4);
            Assert.Equal(50, expected.Count);
            using var reader = new LaneReader(path);
            var list = new List<LaneEvent> { new(-1, new byte[] { 1 }) };
            var actual = new List<(long, string, long)>();
            while (!reader.Finished)
            {
                var events = reader.ReadChunk(4, list);
                Assert.Same(list, events);
                Assert.True(events.Count <= 4);
                foreach (var e in events) actual.Add((e.Sequence, Encoding.UTF8.GetString(e.Body.Span), e.OversizeBytes));
            }
            Assert.Equal(expected, actual);
        }
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest)) gz.Write(data);
        return ms.ToArray();
    }

    private static byte[] GoldenLane0() => File.ReadAllBytes(Path.Combine(GoldenCorpusTests.GoldenDir, "lane-0.jsonl"));

    [Fact]
    public async Task Fifo_HasNoLength_ReadToItsEndInSmallReads()
    {
        // A named pipe (how a script streams a lane in): no length to size the buffers by.
        var path = Path.Combine(_dir, "lane.jsonl");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", path))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        var lines = Enumerable.Range(1, 3000).Select(i => $"{{\"n\":{i},\"pad\":\"{new string('x', i % 200)}\"}}").ToArray();
        var writer = Task.Run(async () =>
        {
            // Opening for writing waits for the reader to open the pipe.
            await using var pipe = new FileStream(path, FileMode.Open, FileAccess.Write);
            await pipe.WriteAsync(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
        });
        using var reader = new LaneReader(path);
        var all = ReadAll(reader, 256);
        await writer;

        Assert.Equal(lines, all.Select(e => e.Text));
        Assert.Equal(Enumerable.Range(1, 3000).Select(i => (long)i), all.Select(e => e.Line));
        Assert.Null(reader.Error);
    }

    [Fact]
    public void Utf8BomAtStart_Skipped()
    {
        var path = Write("bom.jsonl", [0xEF, 0xBB, 0xBF, .. "{\"a\":1}\n{\"a\":2}\n"u8]);
        using var reader = new LaneReader(path);

        var lines = ReadAll(reader);

        Assert.Equal([(1L, "{\"a\":1}", 0L), (2L, "{\"a\":2}", 0L)], lines);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LineLongerThanMaxRecordBytes_DeliveredAsOversizePrefix_NeighboursIntact_BufferBounded(bool endsWithNewline)
    {
        const int max = 64 * 1024;
        var huge = "{\"x\":\"" + new string('y', 5 * max) + "\"}";
        var text = "{\"a\":1}\n" + huge + "\n{\"a\":3}" + (endsWithNewline ? "\n" : "") ;
        var path = Write("huge.jsonl", Encoding.UTF8.GetBytes(text));
        using var reader = new LaneReader(path, max);

        var lines = ReadAll(reader);

        Assert.Equal(3, lines.Count);
        Assert.Equal((1L, "{\"a\":1}", 0L), lines[0]);
        Assert.Equal(2L, lines[1].Line);
        Assert.Equal(huge.Length, lines[1].Oversize);
        Assert.Equal(huge[..LaneReader.OversizePrefixBytes], lines[1].Text);
        Assert.Equal((3L, "{\"a\":3}", 0L), lines[2]);
        Assert.True(reader.BufferCapacity <= 2 * Math.Max(max, 1 << 20), $"buffer {reader.BufferCapacity}");
        Assert.Null(reader.Error);
    }

    [Fact]
    public async Task OversizeLine_DeadLetteredAsRecordTooLarge_ThroughThePipeline()
    {
        var huge = "{\"__time__\":1768484000,\"Product\":\"" + new string('p', 2 << 20) + "\"}";
        var (_, counters, dead) = await Flagship.RunAsync(Flagship.Pipeline, Flagship.EmptyDimensions(), [[huge]]);

        var letter = Assert.Single(dead);
        Assert.StartsWith(Pipeline.RecordTooLarge, letter.Reason);
        Assert.Equal((1, 1, 0), (counters.Events, counters.Malformed, counters.Accepted));
    }

    [Fact]
    public void WholeGzip_ReadToItsEnd_NoError()
    {
        var data = GoldenLane0();
        var path = Write("ok.jsonl.gz", Gzip(data));
        using var reader = new LaneReader(path);

        var lines = ReadAll(reader, 64);

        Assert.Null(reader.Error);
        Assert.Equal(Encoding.UTF8.GetString(data).TrimEnd('\n').Split('\n').Length, lines.Count);
    }

    [Fact]
    public void TruncatedGzip_ErrorNamesTheFile_OnlyWholeLinesDelivered()
    {
        var data = GoldenLane0();
        var gz = Gzip(data);
        var path = Write("cut.jsonl.gz", gz[..(gz.Length / 2)]);
        LaneReader.CheckReadable(path); // the start is fine: found only at the end
        using var reader = new LaneReader(path);

        var lines = ReadAll(reader, 64);

        Assert.NotNull(reader.Error);
        Assert.Contains(path, reader.Error);
        Assert.Contains("truncated", reader.Error);
        var original = Encoding.UTF8.GetString(data).Split('\n');
        Assert.InRange(lines.Count, 1, original.Length - 2);
        Assert.All(lines, l => Assert.Equal(original[l.Line - 1], l.Text)); // every delivered line is whole
    }

    [Fact]
    public void CorruptGzipMidStream_ErrorNamesTheFile()
    {
        var gz = Gzip(GoldenLane0());
        for (var i = gz.Length / 2; i < gz.Length / 2 + 64; i++) gz[i] ^= 0x5A;
        var path = Write("corrupt.jsonl.gz", gz);
        using var reader = new LaneReader(path);

        ReadAll(reader, 64);

        Assert.NotNull(reader.Error);
        Assert.Contains(path, reader.Error);
    }

    [Fact]
    public void NotGzipAtAll_CheckReadableNamesTheFile()
    {
        var path = Write("plain.jsonl.gz", GoldenLane0());

        var e = Assert.Throws<InvalidDataException>(() => LaneReader.CheckReadable(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("not a gzip file", e.Message);
    }

    /// <summary>
    /// A chunk holds at most the lines asked for, and the reader is finished after the chunk that holds the last line,
    /// whether the lane is read whole in place, through the gzip reader, or in reads that each end at a line's end (so
    /// a full chunk ends where the bytes read end): the reference is the lines cut in chunks of that size, the last one
    /// finishing. Lines that fill their last chunk or not, with or without a final newline.
    /// </summary>
    [Theory]
    [InlineData(14, 7, "\n")]
    [InlineData(10, 7, "\n")]
    [InlineData(6, 7, "\n")]
    [InlineData(14, 7, "")]
    [InlineData(600, 256, "\n")]
    [InlineData(512, 256, "\n")]
    public void ReadChunk_AtMostTheLinesAsked_FinishedWithTheLastLine_WhateverTheReads(int lines, int chunk, string end)
    {
        var bytes = Encoding.UTF8.GetBytes(string.Join("\n", Enumerable.Range(1, lines).Select(i => $"{{\"i\":{i}}}")) + end);
        var expected = new List<string>();
        for (var first = 1; first <= lines; first += chunk)
        {
            var last = Math.Min(lines, first + chunk - 1);
            expected.Add($"{string.Join(",", Enumerable.Range(first, last - first + 1))}{(last == lines ? " finished" : "")}");
        }

        using var inPlace = new LaneReader(new MemoryStream(bytes), "in-place");
        Assert.True(inPlace.ReadsInPlace);
        using var lineReads = new LaneReader(new LineReadsStream(bytes), "line reads");
        using var gzip = Copied(bytes, 1 << 20);

        Assert.Equal(expected, Chunks(inPlace));
        Assert.Equal(expected, Chunks(lineReads));
        Assert.Equal(expected, Chunks(gzip));

        List<string> Chunks(LaneReader reader)
        {
            var chunks = new List<string>();
            while (!reader.Finished && chunks.Count <= lines)
            {
                var events = reader.ReadChunk(chunk);
                chunks.Add($"{string.Join(",", events.Select(e => e.Sequence))}{(reader.Finished ? " finished" : "")}");
            }
            return chunks;
        }
    }

    /// <summary>A stream with no length whose every read ends at the end of a line (or of the input).</summary>
    private sealed class LineReadsStream(byte[] bytes) : ForwardOnlyStream
    {
        private int _at;
        public override int Read(byte[] buffer, int offset, int count)
        {
            var line = Array.IndexOf(bytes, (byte)'\n', _at);
            var n = Math.Min(count, (line < 0 ? bytes.Length : line + 1) - _at);
            bytes.AsSpan(_at, n).CopyTo(buffer.AsSpan(offset));
            _at += n;
            return n;
        }
    }

    /// <summary>A stream with no length: the reader reads it into its arena, as a large file (in short reads here).</summary>
    private sealed class NoLengthStream(Stream inner) : ForwardOnlyStream
    {
        // Short reads, so lines cross reads.
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 777));
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// The reader of the gzip of <paramref name="bytes"/>: lines copied from its read buffer into its arena, the reference for
    /// the readers that deliver lines where they were read (in place, or read into the arena).
    /// </summary>
    private LaneReader Copied(byte[] bytes, int max) => new(Write($"copied-{Guid.NewGuid():N}.jsonl.gz", Gzip(bytes)), max);

    /// <summary>Every chunk read, kept as the reader's memory (not copied), then turned to text once the reader is done.</summary>
    private static List<(long Line, string Text, long Oversize)> ReadAllKeepingChunks(LaneReader reader, int chunk)
    {
        var kept = new List<LaneEvent>();
        while (!reader.Finished) kept.AddRange(reader.ReadChunk(chunk));
        return [.. kept.Select(e => (e.Sequence, Encoding.UTF8.GetString(e.Body.Span), e.OversizeBytes))];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void SmallFile_ReadInPlace_SameLinesAsCopied_EarlierChunksStayIntact(int seed)
    {
        // Random lines: blank, CRLF, long (some over maxRecordBytes), a BOM or not, a last line without newline or not.
        var random = new Random(seed);
        const int max = 2048;
        var text = new StringBuilder();
        var count = random.Next(1, 400);
        for (var i = 0; i < count; i++)
        {
            var kind = random.Next(8);
            var line = kind switch
            {
                0 => "",
                1 => new string('o', random.Next(max - 10, 3 * max)),
                _ => $"{{\"n\":{i},\"pad\":\"{new string((char)('a' + random.Next(26)), random.Next(0, 300))}\"}}",
            };
            text.Append(line).Append(random.Next(5) == 0 ? "\r\n" : "\n");
        }
        var bytes = Finish(text, random);
        var path = Write($"small-{seed}.jsonl", bytes);
        var chunk = random.Next(1, 50);

        using var inPlace = new LaneReader(path, max);
        using var noLength = new LaneReader(new NoLengthStream(new MemoryStream(bytes)), "no length", max);
        using var copied = Copied(bytes, max);
        Assert.True(inPlace.ReadsInPlace);
        Assert.False(noLength.ReadsInPlace);

        var expected = ReadAll(copied, chunk);
        var actual = ReadAllKeepingChunks(inPlace, chunk);

        Assert.Equal(expected, actual);
        Assert.Equal(expected, ReadAll(noLength, chunk));
        Assert.Equal(expected.Count, expected[^1].Line);
        Assert.Equal(bytes.Length, inPlace.BytesRead);
        Assert.Null(inPlace.Error);
    }

    /// <summary>
    /// A file too large to read whole is read into the arena, its lines delivered where they were read. As the replay
    /// reads it: each chunk's arena handed over (<see cref="LaneReader.SwapArena"/>) for a fresh one of any size or the
    /// arena of a chunk done with, its events read only later; and as the sequential replay does, without swapping.
    /// Lines of every length (longer than a read, longer than the arena, over maxRecordBytes), blank, CRLF, a BOM or
    /// not, the last line without newline or not: the lines of the gzip reader (which copies them), and earlier
    /// chunks stay intact.
    /// </summary>
    [Theory]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(34)]
    [InlineData(35)]
    public void LargeFile_ReadIntoTheArena_SameLinesAsCopied_ArenasSwappedOrNot(int seed)
    {
        var random = new Random(seed);
        const int max = 400 * 1024;
        var text = new StringBuilder();
        var size = random.Next(3, 7) << 20;
        for (var i = 0; text.Length < size; i++)
        {
            var line = random.Next(150) switch
            {
                0 => i + new string('o', random.Next(200 * 1024, 1300 * 1024)),
                < 10 => "",
                _ => $"{{\"n\":{i},\"pad\":\"{new string((char)('a' + random.Next(26)), random.Next(0, 9000))}\"}}",
            };
            text.Append(line).Append(random.Next(5) == 0 ? "\r\n" : "\n");
        }
        var bytes = Finish(text, random);
        var path = Write($"large-{seed}.jsonl", bytes);
        var chunk = random.Next(1, 400);
        using var copied = Copied(bytes, max);
        var expected = ReadAll(copied, chunk);
        Assert.Contains(expected, e => e.Oversize > 0);

        using (var swapped = new LaneReader(path, max))
        {
            Assert.False(swapped.ReadsInPlace);
            var texts = new List<(long, string, long)>();
            var pending = new Queue<(List<LaneEvent> Events, byte[] Arena)>();
            var spare = new Stack<byte[]>();
            while (!swapped.Finished)
            {
                var events = swapped.ReadChunk(chunk);
                var next = spare.Count > 0 && random.Next(2) == 0 ? spare.Pop() : new byte[random.Next(1, 3 << 20)];
                pending.Enqueue((events, swapped.SwapArena(next)));
                // Chunks in flight keep their arenas; one done with gives its arena back (overwritten when reused).
                while (pending.Count > random.Next(1, 5))
                {
                    var (done, arena) = pending.Dequeue();
                    texts.AddRange(done.Select(e => (e.Sequence, Encoding.UTF8.GetString(e.Body.Span), e.OversizeBytes)));
                    spare.Push(arena);
                }
            }
            foreach (var (done, _) in pending) texts.AddRange(done.Select(e => (e.Sequence, Encoding.UTF8.GetString(e.Body.Span), e.OversizeBytes)));
            Assert.Equal(expected, texts);
            Assert.Equal(bytes.Length, swapped.BytesRead);
            Assert.Null(swapped.Error);
        }

        using var unswapped = new LaneReader(path, max);
        Assert.Equal(expected, ReadAll(unswapped, chunk));
    }

    [Fact]
    public void FileLargerThanOneMiB_NotReadInPlace()
    {
        var line = "{\"pad\":\"" + new string('z', 1000) + "\"}\n";
        var path = Write("large.jsonl", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(line, 1100))));
        using var reader = new LaneReader(path);

        Assert.False(reader.ReadsInPlace);
        Assert.Equal(1100, ReadAll(reader, 256).Count);
    }

    /// <summary>A seekable stream that says it is shorter than it is (an input that grew after it was sized).</summary>
    private sealed class UnderstatedLengthStream(Stream inner, long length) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public void InputLongerThanItsLength_ReadInPlace_ToItsEnd_EarlierChunksStayIntact()
    {
        // Sized by the length it gave; the rest still arrives, and the lines of earlier chunks keep their
        // bytes when the reader needs a larger buffer.
        var text = string.Concat(Enumerable.Range(1, 5050).Select(i => $"{{\"n\":{i}}}\n"));
        using var reader = new LaneReader(new UnderstatedLengthStream(new MemoryStream(Encoding.UTF8.GetBytes(text)), 500), "grown");
        Assert.True(reader.ReadsInPlace);

        var kept = new List<LaneEvent>();
        while (!reader.Finished) kept.AddRange(reader.ReadChunk(64));

        Assert.Equal(Enumerable.Range(1, 5050).Select(i => ((long)i, $"{{\"n\":{i}}}")),
            kept.Select(e => (e.Sequence, Encoding.UTF8.GetString(e.Body.Span))));
        Assert.True(reader.BufferCapacity > 501);
    }

    /// <summary>Random lines of about <paramref name="bytes"/> bytes: blank, CRLF, long (some over <paramref name="max"/>), a BOM or not, a last line without newline or not.</summary>
    private static byte[] RandomLines(Random random, int bytes, int max)
    {
        var text = new StringBuilder();
        for (var i = 0; text.Length < bytes; i++)
        {
            var line = random.Next(10) switch
            {
                0 => "",
                1 => new string('o', random.Next(max - 10, 3 * max)),
                _ => $"{{\"n\":{i},\"pad\":\"{new string((char)('a' + random.Next(26)), random.Next(0, 5000))}\"}}",
            };
            text.Append(line).Append(random.Next(5) == 0 ? "\r\n" : "\n");
        }
        return Finish(text, random);
    }

    /// <summary>The lines' bytes: a last line without newline or not, behind a BOM or not.</summary>
    private static byte[] Finish(StringBuilder text, Random random)
    {
        if (random.Next(2) == 0) text.Append("{\"last\":true}");
        return [.. random.Next(2) == 0 ? new byte[] { 0xEF, 0xBB, 0xBF } : [], .. Encoding.UTF8.GetBytes(text.ToString())];
    }

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    [InlineData(23)]
    [InlineData(24)]
    public void InputsReadWhole_IntoSharedBlocks_SameLinesAsCopied_EarlierChunksStayIntact(int seed)
    {
        // Three inputs of 256 KiB to 1 MiB, read whole: on Linux into 2 MiB blocks the readers share (the
        // second or third fits beside the first, or starts a block of its own). Lines cross no read, but
        // chunks end anywhere.
        var random = new Random(seed);
        const int max = 8192;
        var inputs = Enumerable.Range(0, 3).Select(_ => RandomLines(random, random.Next(InputBlock.MinimumToStart, LaneReader.MaxInitialBufferBytes - 4 * max), max)).ToArray();
        var paths = inputs.Select((bytes, i) => Write($"block-{seed}-{i}.jsonl", bytes)).ToArray();
        var readers = paths.Select(p => new LaneReader(p, max)).ToList();
        try
        {
            Assert.All(readers, r => Assert.True(r.ReadsInPlace));
            var chunk = random.Next(1, 300);
            // Interleaved, as a replay reads its lanes.
            var kept = readers.Select(_ => new List<LaneEvent>()).ToArray();
            while (readers.Any(r => !r.Finished))
            {
                for (var i = 0; i < readers.Count; i++)
                {
                    if (!readers[i].Finished) kept[i].AddRange(readers[i].ReadChunk(chunk));
                }
            }
            for (var i = 0; i < readers.Count; i++)
            {
                using var copied = Copied(inputs[i], max);
                var expected = ReadAll(copied, chunk);
                Assert.Equal(expected, [.. kept[i].Select(e => (e.Sequence, Encoding.UTF8.GetString(e.Body.Span), e.OversizeBytes))]);
                Assert.Equal(inputs[i].Length, readers[i].BytesRead);
            }
        }
        finally
        {
            foreach (var r in readers) r.Dispose();
        }
    }

    [Fact]
    public void InputBlock_PartsOfOneBlock_FreedWithItsLastHolder_ThenUnreadable()
    {
        var pool = new InputBlock.Pool();
        var first = pool.Rent(InputBlock.MinimumToStart, out var a);
        // Too small to start a block of its own, but it fits beside the first.
        var second = pool.Rent(1000, out var b);
        if (!InputBlock.Supported)
        {
            Assert.Null(first);
            Assert.Null(second);
            return;
        }
        Assert.NotNull(a);
        Assert.Same(a, b);
        first!.Value.Span.Fill(1);
        second!.Value.Span.Fill(2);
        Assert.All(first.Value.Span.ToArray(), x => Assert.Equal(1, x));
        Assert.All(second.Value.Span.ToArray(), x => Assert.Equal(2, x));
        // The rest of the block is not enough for this one: a block of its own.
        var third = pool.Rent(InputBlock.Size - InputBlock.MinimumToStart / 2, out var c);
        Assert.NotNull(c);
        Assert.NotSame(a, c);
        // An input too small to start a block, that does not fit beside the current one, takes an array.
        Assert.Null(pool.Rent(InputBlock.MinimumToStart - 1, out var none));
        Assert.Null(none);
        // Nor does one larger than a block.
        Assert.Null(pool.Rent(InputBlock.Size + 1, out _));

        a!.Release();
        Assert.Equal(2, second.Value.Span[0]);
        b!.Release();
        Assert.Throws<ObjectDisposedException>(() => second.Value.Span.Length);
        Assert.Equal(third!.Value.Length, third.Value.Span.Length);
        c!.Release();
        Assert.Throws<ObjectDisposedException>(() => third.Value.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => third.Value.Pin());
        // A block every holder released is not handed out again.
        Assert.NotNull(pool.Rent(InputBlock.MinimumToStart, out var d));
        Assert.NotSame(c, d);
        d!.Release();
    }

    // Lines of 1,001 bytes (newline included), each naming its number: "line 000042 xxx...".
    private static byte[] NumberedLines(int from, int count) =>
        Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(from, count).Select(i => $"line {i:D6} ".PadRight(1000, 'x') + "\n")));

    private static void Cut(string path, long length)
    {
        // Another handle, as a log rotator's copytruncate would (the reader's own is only read).
        using var writer = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        writer.SetLength(length);
    }

    [Theory]
    [InlineData(3000, 100)] // 3 MB: read 256 KiB at a time into the arena, cut after the first chunk
    [InlineData(600, 0)] // 600 KB: read whole in one go, cut before the first read
    public void FileCutWhileRead_DeliversTheWholeLinesBeforeTheCut_AndStopsTheLaneWithAnError(int lines, int readFirst)
    {
        var path = Write("cut.jsonl", NumberedLines(1, lines));
        using var reader = new LaneReader(path);
        var delivered = new List<(long, string, long)>();
        if (readFirst > 0)
        {
            foreach (var e in reader.ReadChunk(readFirst)) delivered.Add((e.Sequence, Encoding.ASCII.GetString(e.Body.Span), 0));
        }
        // Cut in the middle of line 401 (bytes 400,000 to 401,000): lines 1 to 400 remain whole.
        Cut(path, 400 * 1001 + 500);
        delivered.AddRange(ReadAll(reader, chunk: 50));

        Assert.Equal(Enumerable.Range(1, 400).Select(i => (long)i), delivered.Select(d => d.Item1));
        Assert.All(delivered, d => Assert.StartsWith($"line {d.Item1:D6} ", d.Item2));
        Assert.All(delivered, d => Assert.Equal(1000, d.Item2.Length));
        Assert.NotNull(reader.Error);
        Assert.Contains("cut while it was read", reader.Error);
        Assert.Contains($"{lines * 1001:N0} bytes it had when opened (it has {400 * 1001 + 500:N0} now)", reader.Error);
    }

    [Fact]
    public void FileGrowingWhileRead_IsReadToItsNewEnd_WithoutAnError()
    {
        var path = Write("grow.jsonl", NumberedLines(1, 2000));
        using var reader = new LaneReader(path);
        var delivered = reader.ReadChunk(100).Select(e => e.Sequence).ToList();
        using (var append = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) append.Write(NumberedLines(2001, 500));
        delivered.AddRange(ReadAll(reader, chunk: 100).Select(d => d.Line));

        Assert.Equal(Enumerable.Range(1, 2500).Select(i => (long)i), delivered);
        Assert.Null(reader.Error);
    }

    [Fact]
    public void FileReadWhole_NoError()
    {
        foreach (var lines in new[] { 600, 3000 })
        {
            var path = Write($"whole-{lines}.jsonl", NumberedLines(1, lines));
            using var reader = new LaneReader(path);
            Assert.Equal(lines, ReadAll(reader, chunk: 64).Count);
            Assert.Null(reader.Error);
        }
    }
}
