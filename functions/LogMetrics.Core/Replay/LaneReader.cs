using System.IO.Compression;

namespace LogMetrics.Core.Replay;

/// <summary>
/// Reads one lane (a <c>.jsonl</c> or <c>.jsonl.gz</c> file) in chunks of lines. The sequence number
/// of an event is its 1-based line number; blank lines still count, so numbers match the file.
/// Lines of a chunk share one buffer that is reused by the next chunk.
/// </summary>
public sealed class LaneReader : IDisposable
{
    private readonly Stream _stream;
    private byte[] _buffer = new byte[1 << 20];
    private int _start;
    private int _end;
    private bool _eof;
    private long _line;
    private byte[] _arena = new byte[1 << 20];

    public LaneReader(string path)
    {
        Path = path;
        Stream file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        _stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
    }

    public LaneReader(Stream stream, string name)
    {
        Path = name;
        _stream = stream;
    }

    public string Path { get; }

    /// <summary>Bytes read from the (decompressed) input so far.</summary>
    public long BytesRead { get; private set; }

    public bool Finished => _eof && _start == _end;

    /// <summary>Why the lane could not be read to its end (e.g. a truncated gzip), or null.</summary>
    public string? Error { get; private set; }

    /// <summary>Reads up to <paramref name="maxLines"/> lines. The memory of the returned events is valid until the next call.</summary>
    public List<LaneEvent> ReadChunk(int maxLines)
    {
        var events = new List<LaneEvent>(maxLines);
        var used = 0;
        var spans = new List<(long Line, int Offset, int Length)>(maxLines);
        while (spans.Count < maxLines)
        {
            var newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline < 0)
            {
                if (_eof)
                {
                    if (_start < _end)
                    {
                        Take(_start, _end - _start, ref used, spans);
                        _start = _end;
                    }
                    break;
                }
                Fill();
                continue;
            }
            Take(_start, newline, ref used, spans);
            _start += newline + 1;
        }
        foreach (var (line, offset, length) in spans)
        {
            events.Add(new LaneEvent(line, _arena.AsMemory(offset, length)));
        }
        return events;
    }

    private void Take(int offset, int length, ref int used, List<(long, int, int)> spans)
    {
        _line++;
        if (length > 0 && _buffer[offset + length - 1] == (byte)'\r') length--;
        if (used + length > _arena.Length)
        {
            // Grow by copying: earlier spans only hold offsets, so they stay valid.
            Array.Resize(ref _arena, Math.Max(_arena.Length * 2, used + length));
        }
        _buffer.AsSpan(offset, length).CopyTo(_arena.AsSpan(used));
        spans.Add((_line, used, length));
        used += length;
    }

    private void Fill()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }
        var n = _stream.Read(_buffer, _end, _buffer.Length - _end);
        if (n == 0)
        {
            _eof = true;
        }
        _end += n;
        BytesRead += n;
    }

    public void Dispose() => _stream.Dispose();
}
