using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Replay;

/// <summary>
/// Reads one lane (a <c>.jsonl</c> or <c>.jsonl.gz</c> file) in chunks of lines. The sequence number
/// of an event is its 1-based line number; blank lines still count, so numbers match the file.
/// Lines of a chunk share one buffer that is reused by the next chunk.
/// <list type="bullet">
/// <item>A UTF-8 byte order mark at the start of the file is skipped.</item>
/// <item>A line longer than <c>maxRecordBytes</c> is not held in memory: its first
/// <see cref="OversizePrefixBytes"/> bytes become the event's body, the rest is skipped up to the next
/// newline, and the event carries <see cref="LaneEvent.OversizeBytes"/> (the pipeline dead-letters it as
/// <c>record too large</c>). The buffer never grows past twice <c>maxRecordBytes</c>.</item>
/// <item>A gzip lane is checked against its trailer (CRC-32 and length of the data) at its end. A corrupt
/// or truncated gzip stops the lane: <see cref="Error"/> names the file and the problem, a cut last
/// line is not delivered, and the lane counts as not read to its end. (A gzip of several concatenated
/// members is checked against its last member's trailer only, so it reads as corrupt.)</item>
/// <item>A plain file that ends shorter than it was when opened was cut while it was read (a log rotated with
/// <c>copytruncate</c>, say): the lines after the cut are gone, so the lane stops with an <see cref="Error"/> that says
/// so, rather than end as if it had been read whole. A file that grows while it is read is read to its new end.</item>
/// </list>
/// </summary>
public sealed class LaneReader : IDisposable
{
    /// <summary>Bytes of an oversize line kept as its event body (for the dead letter).</summary>
    public const int OversizePrefixBytes = 1024;

    private readonly Stream _stream;
    private readonly FileStream? _gzipFile;
    // A plain file opened by path, and its length then: a read that ends before that length means the file was cut.
    private readonly FileStream? _plainFile;
    private readonly long _lengthAtOpen;
    private readonly int _maxRecordBytes;
    private Crc32? _crc;
    // The read buffer: an array, or part of a shared block (InputBlock) for an input read whole.
    private Memory<byte> _buffer;
    private InputBlock? _block;
    private int _start;
    private int _end;
    private bool _eof;
    private bool _atStart = true;
    private long _line;
    private byte[] _arena;
    // The whole input fits in the read buffer: lines are delivered where they were read (no arena, no copy),
    // and bytes of the buffer before _end are never written again (a larger buffer is a new array).
    private readonly bool _inPlace;
    // A plain input larger than that: read straight into the arena (the buffer is the arena), so a chunk's lines are
    // delivered where they were read; only the bytes after a chunk's last line move, to the next arena (SwapArena).
    private readonly bool _direct;
    // Direct: bytes of the arena before this are lines of the chunk being read (never moved until the chunk is done).
    private int _kept;
    // An oversize line being skipped: its line number, body prefix and length so far.
    private long _oversizeLine;
    private byte[]? _oversizePrefix;
    private long _oversizeBytes;

    /// <param name="maxRecordBytes">Longest line delivered whole (<c>source.maxRecordBytes</c>).</param>
    public LaneReader(string path, int maxRecordBytes = 1 << 20)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecordBytes, 1);
        Path = path;
        _maxRecordBytes = maxRecordBytes;
        // No FileStream buffer: the reader reads into its own buffer.
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.SequentialScan);
        if (IsGzip(path))
        {
            _gzipFile = file;
            _crc = new Crc32();
            _stream = new GZipStream(file, CompressionMode.Decompress);
            (_buffer, _arena, _) = Buffers(null, out _, direct: false);
        }
        else
        {
            _stream = file;
            // A FIFO or a device has no length.
            long? length = file.CanSeek ? file.Length : null;
            if (length is { } known)
            {
                _plainFile = file;
                _lengthAtOpen = known;
            }
            (_buffer, _arena, _inPlace) = Buffers(length, out _block, direct: true);
            _direct = !_inPlace;
        }
    }

    public LaneReader(Stream stream, string name, int maxRecordBytes = 1 << 20)
    {
        Path = name;
        _stream = stream;
        _maxRecordBytes = maxRecordBytes;
        (_buffer, _arena, _inPlace) = Buffers(stream.CanSeek ? stream.Length - stream.Position : null, out _block, direct: true);
        _direct = !_inPlace;
    }

    /// <summary>Largest read buffer and line arena a reader starts with.</summary>
    internal const int MaxInitialBufferBytes = 1 << 20;

    /// <summary>
    /// The line arena of a plain input not read whole, and of each chunk the engine reads ahead: 256 lines of 4 KB, plus
    /// up to two reads of <see cref="DirectReadBytes"/> after its last line (a 1 MiB one grew once by a copy).
    /// </summary>
    internal const int ArenaBytes = 2 << 20;

    /// <summary>Read buffer of a small or compressed input: under the large object heap's threshold.</summary>
    private const int SmallBufferBytes = 1 << 16;

    /// <summary>
    /// Most bytes a read into the arena asks for: the bytes after a chunk's last line are moved to the next arena, so
    /// a read of 256 KiB moves about 128 KiB a chunk (a 1 MiB read moved half a chunk); and what was read is still in
    /// the core's cache when its lines are split.
    /// </summary>
    private const int DirectReadBytes = 1 << 18;

    /// <summary>
    /// The read buffer and the line arena, sized to the input. Fresh memory costs page faults and zeroing,
    /// and large arrays count against the large object heap's budget, whose first collection a short replay
    /// would otherwise pay for: a file of at most 1 MiB is read whole into one buffer its size, and its lines
    /// are delivered in place (no arena: a 400-line replay touched each line's pages twice, once read and once
    /// copied); a larger plain input is read into an arena of <see cref="ArenaBytes"/> (see the remarks); a
    /// compressed input is read 64 KiB at a time into a buffer and its lines copied into an arena. Both grow when a
    /// line or a chunk needs more. Not
    /// zeroed: bytes are written before they are read; a large one's pages are faulted in at once (<see cref="FreshPages.Bytes"/>). An input read whole goes into a block shared with the
    /// replay's other small inputs where the platform has one (<see cref="InputBlock"/>: one huge page instead
    /// of hundreds of 4 KiB page faults).
    /// </summary>
    /// <remarks>
    /// A plain input that is not read whole (<paramref name="direct"/>) has no read buffer of its own: it is read
    /// into the arena, whose lines are delivered where they are.
    /// </remarks>
    private static (Memory<byte> Buffer, byte[] Arena, bool InPlace) Buffers(long? length, out InputBlock? block, bool direct)
    {
        block = null;
        if (length is { } whole && FitsWhole(whole))
        {
            // One byte more than the input, so the read that finds its end has room.
            var room = (int)whole + 1;
            return (InputBlock.Shared.Rent(room, out block) ?? FreshPages.Bytes(room), [], true);
        }
        var buffer = length is { } known && known >= 4 * MaxInitialBufferBytes ? MaxInitialBufferBytes
            : length is { } small ? (int)Math.Clamp(small + 1, 4096, SmallBufferBytes)
            : SmallBufferBytes;
        var arena = length is { } size ? (int)Math.Clamp(size, 4096, MaxInitialBufferBytes) : SmallBufferBytes;
        if (direct)
        {
            // Not read whole, so longer than the largest arena a reader starts with: the engine's size at once, not
            // that one grown by a copy at the first chunk.
            var both = FreshPages.Bytes(length is null ? arena : ArenaBytes);
            return (both, both, false);
        }
        return (FreshPages.Bytes(buffer), FreshPages.Bytes(arena), false);
    }

    public string Path { get; }

    /// <summary>Bytes read from the (decompressed) input so far.</summary>
    public long BytesRead { get; private set; }

    public bool Finished => _eof && _start == _end && _oversizePrefix is null;

    /// <summary>Why the lane could not be read to its end (e.g. a truncated gzip), or null.</summary>
    public string? Error { get; private set; }

    /// <summary>Current size of the read buffer (tests: it stays bounded by about twice maxRecordBytes).</summary>
    internal int BufferCapacity => _buffer.Length;

    /// <summary>
    /// The input fits in the read buffer, so lines are delivered in place: the events of every chunk stay
    /// valid until the reader is disposed (not only until the next <see cref="ReadChunk"/>), and the reader needs no arena
    /// (<see cref="SwapArena"/> need not be called).
    /// </summary>
    public bool ReadsInPlace => _inPlace;

    /// <summary>A lane compressed with gzip: named <c>.gz</c>.</summary>
    private static bool IsGzip(string path) => path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);

    /// <summary>A plain input of <paramref name="length"/> bytes is read whole into one buffer (<see cref="Buffers"/>).</summary>
    private static bool FitsWhole(long length) => length <= MaxInitialBufferBytes;

    /// <summary>
    /// Checks that a gzip file starts like one and its first block decompresses; throws
    /// <see cref="InvalidDataException"/> naming the file otherwise (a plain file passes).
    /// </summary>
    public static void CheckReadable(string path)
    {
        if (!IsGzip(path)) return;
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
        Span<byte> magic = stackalloc byte[2];
        if (file.ReadAtLeast(magic, 2, throwOnEndOfStream: false) < 2 || magic[0] != 0x1f || magic[1] != 0x8b)
        {
            throw new InvalidDataException($"{path}: not a gzip file (it ends in .gz but does not start with the gzip signature 1f 8b)");
        }
        file.Position = 0;
        try
        {
            using var gz = new GZipStream(file, CompressionMode.Decompress);
            gz.ReadAtLeast(new byte[4096], 1, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: corrupt gzip data: {e.Message}", e);
        }
    }

    /// <summary>Reads up to <paramref name="maxLines"/> lines. The memory of the returned events is valid until the next call.</summary>
    public List<LaneEvent> ReadChunk(int maxLines) => ReadChunk(maxLines, null);

    /// <summary>
    /// As <see cref="ReadChunk(int)"/>, into <paramref name="reuse"/> (cleared first) when given: a list of an earlier
    /// chunk its caller is done with, so that a long replay does not make a list of a few KB per chunk.
    /// </summary>
    public List<LaneEvent> ReadChunk(int maxLines, List<LaneEvent>? reuse)
    {
        var events = reuse ?? new List<LaneEvent>(maxLines);
        events.Clear();
        var used = 0;
        // Reused: a chunk's list of 256 spans is 6 KB of fresh memory each time otherwise.
        var spans = _spans ??= new List<(long Line, int Offset, int Length, long Oversize)>(maxLines);
        spans.Clear();
        if (_direct)
        {
            // The last chunk's lines are done with (or went with its arena): what follows them moves to the front.
            Compact(0);
        }
        // Read in place, lines go to events at once (and to spans otherwise): either way, at most maxLines.
        while (spans.Count + events.Count < maxLines)
        {
            if (_oversizePrefix is not null)
            {
                // Skipping the rest of an oversize line, one buffer at a time.
                var nl = _buffer.Span.Slice(_start, _end - _start).IndexOf((byte)'\n');
                if (nl < 0)
                {
                    _oversizeBytes += _end - _start;
                    _start = _end;
                    if (_eof)
                    {
                        EndOversize(ref used, spans, events);
                        break;
                    }
                    Fill();
                    continue;
                }
                _oversizeBytes += nl;
                _start += nl + 1;
                EndOversize(ref used, spans, events);
                continue;
            }

            var newline = _buffer.Span.Slice(_start, _end - _start).IndexOf((byte)'\n');
            if (newline < 0)
            {
                if (_end - _start > _maxRecordBytes)
                {
                    StartOversize(_end - _start);
                    continue;
                }
                if (_eof)
                {
                    if (_start < _end)
                    {
                        Take(_start, _end - _start, ref used, spans, events);
                        _start = _end;
                    }
                    break;
                }
                Fill();
                continue;
            }
            if (newline > _maxRecordBytes)
            {
                StartOversize(newline);
                _start += 1; // the newline that ends it
                _oversizeBytes = newline;
                EndOversize(ref used, spans, events);
                continue;
            }
            Take(_start, newline, ref used, spans, events);
            _start += newline + 1;
        }
        if (spans.Count + events.Count == maxLines && _start == _end && !_eof && _oversizePrefix is null)
        {
            // A full chunk that ends where the bytes read so far end: whether the input ends there too is read now (a
            // read of nothing), so that Finished after this chunk, and with it the replay's rounds, do not depend on
            // where the input's reads were cut (a lane read whole knows it already).
            Fill();
        }
        foreach (var (line, offset, length, oversize) in spans)
        {
            // Direct: an oversize line's prefix is an array of its own (length -1 - index in _prefixes).
            var body = offset < 0 ? _prefixes![-1 - offset] : _arena.AsMemory(offset, length);
            events.Add(new LaneEvent(line, body) { OversizeBytes = oversize });
        }
        _prefixes?.Clear();
        return events;
    }

    private List<(long Line, int Offset, int Length, long Oversize)>? _spans;

    // Direct: the prefixes of this chunk's oversize lines, in order.
    private List<byte[]>? _prefixes;

    /// <summary>A copy of <paramref name="array"/> in fresh memory of <paramref name="size"/> bytes (<see cref="FreshPages.Bytes"/>).</summary>
    private static byte[] Grown(byte[] array, int size)
    {
        var larger = FreshPages.Bytes(size);
        array.CopyTo(larger, 0);
        return larger;
    }

    /// <summary>Direct: moves the unread bytes down to <paramref name="to"/> (the end of the lines kept).</summary>
    private void Compact(int to)
    {
        if (_start > to)
        {
            _arena.AsSpan(_start, _end - _start).CopyTo(_arena.AsSpan(to));
            _end -= _start - to;
            _start = to;
        }
        _kept = to;
    }

    /// <summary>
    /// Gives the reader <paramref name="next"/> to hold the lines of the next chunks, and returns the buffer
    /// the events of the last <see cref="ReadChunk"/> point into, which the caller now owns. A replay
    /// that reads ahead swaps buffers from a small pool, so chunks in flight keep their lines.
    /// </summary>
    public byte[] SwapArena(byte[] next)
    {
        var used = _arena;
        if (_direct)
        {
            // The bytes read after the chunk's last line go on in the next arena.
            var unread = _end - _start;
            if (next.Length < unread + 4096) next = FreshPages.Bytes(Math.Max(next.Length, unread + DirectReadBytes));
            used.AsSpan(_start, unread).CopyTo(next);
            _start = 0;
            _end = unread;
            _kept = 0;
            _buffer = next;
        }
        _arena = next;
        return used;
    }

    /// <summary>Keeps the first bytes of an oversize line and drops the <paramref name="available"/> bytes buffered so far.</summary>
    private void StartOversize(int available)
    {
        _line++;
        _oversizeLine = _line;
        _oversizePrefix = _buffer.Span.Slice(_start, Math.Min(available, OversizePrefixBytes)).ToArray();
        _oversizeBytes = available;
        _start += available;
    }

    private void EndOversize(ref int used, List<(long, int, int, long)> spans, List<LaneEvent> events)
    {
        var prefix = _oversizePrefix!;
        if (_direct)
        {
            (_prefixes ??= []).Add(prefix);
            spans.Add((_oversizeLine, -_prefixes.Count, prefix.Length, Math.Max(_oversizeBytes, _maxRecordBytes + 1L)));
            _oversizePrefix = null;
            _oversizeBytes = 0;
            return;
        }
        if (_inPlace)
        {
            // The prefix is an array of its own already.
            events.Add(new LaneEvent(_oversizeLine, prefix) { OversizeBytes = Math.Max(_oversizeBytes, _maxRecordBytes + 1L) });
            _oversizePrefix = null;
            _oversizeBytes = 0;
            return;
        }
        EnsureArena(used + prefix.Length);
        prefix.CopyTo(_arena.AsSpan(used));
        spans.Add((_oversizeLine, used, prefix.Length, Math.Max(_oversizeBytes, _maxRecordBytes + 1L)));
        used += prefix.Length;
        _oversizePrefix = null;
        _oversizeBytes = 0;
    }

    private void Take(int offset, int length, ref int used, List<(long, int, int, long)> spans, List<LaneEvent> events)
    {
        _line++;
        if (length > 0 && _buffer.Span[offset + length - 1] == (byte)'\r') length--;
        if (_inPlace)
        {
            events.Add(new LaneEvent(_line, _buffer.Slice(offset, length)));
            return;
        }
        if (_direct)
        {
            // Where it was read: the arena is the read buffer.
            spans.Add((_line, offset, length, 0));
            _kept = offset + length;
            return;
        }
        EnsureArena(used + length);
        _buffer.Span.Slice(offset, length).CopyTo(_arena.AsSpan(used));
        spans.Add((_line, used, length, 0));
        used += length;
    }

    private void EnsureArena(int size)
    {
        // Grow by copying: earlier spans only hold offsets, so they stay valid.
        if (size > _arena.Length) _arena = Grown(_arena, Math.Max(_arena.Length * 2, size));
    }

    private void Fill()
    {
        if (_direct)
        {
            FillDirect();
            return;
        }
        if (_inPlace)
        {
            // Lines delivered stay where they are: only an input longer than it was when opened needs more
            // room, in a new buffer that takes the line being read.
            if (_end == _buffer.Length)
            {
                var larger = FreshPages.Bytes(Math.Max(_buffer.Length * 2, 4096));
                _buffer.Span[_start.._end].CopyTo(larger);
                _end -= _start;
                _start = 0;
                _buffer = larger;
            }
        }
        else if (_start > 0)
        {
            _buffer.Span[_start.._end].CopyTo(_buffer.Span);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            var larger = FreshPages.Bytes(_buffer.Length * 2);
            _buffer.Span[.._end].CopyTo(larger);
            _buffer = larger;
        }
        int n;
        try
        {
            n = _stream.Read(_buffer.Span[_end..]);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            Stop($"{Path}: {(e is InvalidDataException ? "corrupt gzip data" : "read error")} after {BytesRead:N0} bytes: {e.Message}");
            return;
        }
        var buffer = _buffer.Span;
        if (n > 0 && _atStart)
        {
            _atStart = false;
            // A UTF-8 byte order mark is not part of the first record.
            if (n >= 3 && buffer[_end] == 0xEF && buffer[_end + 1] == 0xBB && buffer[_end + 2] == 0xBF)
            {
                _crc?.Append(buffer.Slice(_end, 3));
                BytesRead += 3;
                buffer.Slice(_end + 3, n - 3).CopyTo(buffer[_end..]);
                n -= 3;
            }
        }
        _crc?.Append(buffer.Slice(_end, n));
        _end += n;
        BytesRead += n;
        if (n == 0 && !_eof)
        {
            _eof = true;
            if ((_crc is not null ? CheckGzipTrailer() : CheckNotCut()) is { } problem) Stop(problem);
        }
    }

    /// <summary>
    /// Direct: reads on after <see cref="_end"/> into the arena, at most <see cref="DirectReadBytes"/>. The chunk's lines stay
    /// where they are; when the arena is full, bytes read and not kept (the skipped part of an oversize line) are dropped,
    /// or it grows (a copy that keeps every offset).
    /// </summary>
    private void FillDirect()
    {
        if (_end == _arena.Length)
        {
            if (_start - _kept >= _arena.Length / 4) Compact(_kept);
            else _arena = Grown(_arena, _arena.Length * 2);
            _buffer = _arena;
        }
        int n;
        try
        {
            n = _stream.Read(_arena.AsSpan(_end, Math.Min(_arena.Length - _end, DirectReadBytes)));
        }
        catch (IOException e)
        {
            Stop($"{Path}: read error after {BytesRead:N0} bytes: {e.Message}");
            return;
        }
        if (n > 0 && _atStart)
        {
            _atStart = false;
            // A UTF-8 byte order mark is not part of the first record.
            if (n >= 3 && _arena[_end] == 0xEF && _arena[_end + 1] == 0xBB && _arena[_end + 2] == 0xBF)
            {
                BytesRead += 3;
                _arena.AsSpan(_end + 3, n - 3).CopyTo(_arena.AsSpan(_end));
                n -= 3;
            }
        }
        _end += n;
        BytesRead += n;
        if (n == 0)
        {
            _eof = true;
            if (CheckNotCut() is { } problem) Stop(problem);
        }
    }

    /// <summary>At the end of a plain file opened by path: whether it ended before the length it had when opened.</summary>
    private string? CheckNotCut()
    {
        if (_plainFile is null) return null;
        var read = _plainFile.Position;
        if (read >= _lengthAtOpen) return null;
        long? now = null;
        try
        {
            now = _plainFile.Length;
        }
        catch (IOException)
        {
        }
        return $"{Path}: the file was cut while it was read: it ended after {read:N0} of the {_lengthAtOpen:N0} bytes it had when opened{(now is { } length ? $" (it has {length:N0} now)" : "")}, so the lines after that are lost";
    }

    /// <summary>At the end of a gzip lane: does the decompressed data match the trailer's CRC-32 and length?</summary>
    private string? CheckGzipTrailer()
    {
        var file = _gzipFile!;
        if (file.Length < 18) return $"{Path}: truncated gzip file ({file.Length} bytes)";
        Span<byte> trailer = stackalloc byte[8];
        using (var raw = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
        {
            raw.Position = file.Length - 8;
            raw.ReadExactly(trailer);
        }
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(trailer);
        var size = BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]);
        if (crc == _crc!.GetCurrentHashAsUInt32() && size == (uint)BytesRead) return null;
        return $"{Path}: truncated or corrupt gzip: the {BytesRead:N0} bytes it decompressed to do not match its trailer (CRC-32/length)";
    }

    /// <summary>Stops the lane on a read problem: what was read stays delivered, a cut last line does not.</summary>
    private void Stop(string problem)
    {
        Error ??= problem;
        _eof = true;
        var lastNewline = _buffer.Span.Slice(_start, _end - _start).LastIndexOf((byte)'\n');
        _end = lastNewline < 0 ? _start : _start + lastNewline + 1;
        _oversizePrefix = null;
    }

    /// <summary>Closes the input; the events of a reader that read in place are not valid any more.</summary>
    public void Dispose()
    {
        _stream.Dispose();
        _block?.Release();
        _block = null;
    }
}
