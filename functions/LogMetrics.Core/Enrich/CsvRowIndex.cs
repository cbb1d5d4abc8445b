using System.Buffers;
using System.IO.Hashing;
using System.Text;
using System.Text.Unicode;
using Microsoft.Win32.SafeHandles;

namespace LogMetrics.Core.Enrich;

/// <summary>
/// A CSV dimension table read on demand: one streaming pass validates the file (UTF-8, header,
/// RFC 4180 quoting, every row as wide as the header; errors name file and line) and keeps, per row,
/// only a 64-bit hash of its key and its byte offset — 16 bytes a row (and under 64 KB to spare), in two arrays sorted by hash. A lookup
/// binary-searches the hash and reads the row at its offset from the file (a hash collision is told
/// apart by comparing the key columns). So an <c>lru</c> lookup over a CSV table holds at most its
/// <c>maxRows</c> cached rows plus this index, never the whole table, unless the table is at most
/// <see cref="WholeFileBytes"/> long: such a file is read whole once, indexed from those bytes, and its rows are
/// read from them (no read call per lookup; the bytes are fewer than the pass's buffer would be).
/// <para>The file stays open from the indexing pass until <see cref="Dispose"/>: a lookup is one
/// positioned read (<see cref="RandomAccess"/>, safe from any thread) into a small reader that is reused,
/// not an open, a 16 KB buffer and a close per miss. The index and its rows therefore come from the same
/// file even when the path is given a new file (a rename over it) until the owner indexes the path again;
/// a larger file rewritten in place is read as it is now, a file held whole as it was indexed.</para>
/// </summary>
internal sealed class CsvRowIndex : IDisposable
{
    /// <summary>Bytes a lookup reads at a time (a row longer than this takes more reads).</summary>
    internal const int LookupBufferBytes = 512;

    /// <summary>Longest file held whole (the size of the buffer the indexing pass reads a larger one with).</summary>
    internal const int WholeFileBytes = 1 << 16;

    private readonly SafeFileHandle _file;
    private readonly string _path;
    private readonly string _table;
    private readonly string[] _header;
    private readonly int[] _keyIndexes;
    // Row i: the hash of its key and its offset, sorted by hash, then offset (rows of one key in file order).
    private readonly ulong[] _hashes;
    private readonly long[] _offsets;
    private readonly int _count;
    // The file's bytes when it is held whole (at most WholeFileBytes), else null.
    private readonly byte[]? _whole;
    private readonly int _wholeLength;
    // A reader kept for the next lookup (a concurrent lookup makes its own).
    private CsvRecordReader? _spare;

    private CsvRowIndex(SafeFileHandle file, string path, string table, string[] header, int[] keyIndexes, ulong[] hashes, long[] offsets, int count,
        byte[]? whole, int wholeLength)
    {
        _whole = whole;
        _wholeLength = wholeLength;
        _file = file;
        _path = path;
        _table = table;
        _header = header;
        _keyIndexes = keyIndexes;
        _hashes = hashes;
        _offsets = offsets;
        _count = count;
    }

    /// <summary>Rows indexed (duplicates included; the last one of a key wins).</summary>
    public int Count => _count;

    /// <summary>True once <see cref="Dispose"/> closed the file: lookups throw <see cref="ObjectDisposedException"/>.</summary>
    public bool IsDisposed => _file.IsClosed;

    /// <summary>Bytes the index itself holds: 16 per row.</summary>
    public static int BytesPerRow => sizeof(ulong) + sizeof(long);

    /// <summary>Reads and validates the whole file once, keeping only the index and the open file (and a small file's bytes).</summary>
    /// <exception cref="InvalidDataException">The file is malformed; the message names file and line.</exception>
    public static CsvRowIndex Build(TableSpec table, string path)
    {
        // Shared for reading, writing and deleting: holding the file open never stops anyone editing or replacing it.
        var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        try
        {
            var length = RandomAccess.GetLength(file);
            // Rows are validated as bytes (UTF-8 checked, not decoded): no string per field of a table whose
            // rows are read, one at a time, only when a lookup asks for them. A small file is read whole and kept;
            // a larger one through a buffer of 64 KB.
            var wholeLength = 0;
            var whole = length <= WholeFileBytes ? ReadWhole(file, (int)length, out wholeLength) : null;
            var reader = whole is null
                ? new CsvRecordReader(file, path, WholeFileBytes, decode: false)
                : new CsvRecordReader(whole, wholeLength, path, decode: false);
            if (!reader.TryRead(out _, out _))
            {
                throw new InvalidDataException($"Dimension table '{table.Name}': file '{path}' is empty (a header row is required).");
            }
            var header = new string[reader.FieldCount];
            for (var c = 0; c < header.Length; c++) header[c] = Encoding.UTF8.GetString(reader.FieldBytes(c));
            var keyIndexes = KeyIndexes(table, path, header);
            // Sized for rows of 16 bytes or more (a table of short rows grows them once or twice).
            var capacity = (int)Math.Clamp(length / 16, 64, 1 << 16);
            var hashes = GC.AllocateUninitializedArray<ulong>(capacity);
            var offsets = GC.AllocateUninitializedArray<long>(capacity);
            var count = 0;
            var hash = new XxHash64();
            while (reader.TryRead(out var line, out var offset))
            {
                if (reader.FieldCount != header.Length)
                {
                    throw new InvalidDataException(
                        $"Dimension table '{table.Name}': file '{path}', line {line} has {reader.FieldCount} fields; the header has {header.Length}.");
                }
                if (count == hashes.Length)
                {
                    Array.Resize(ref hashes, count * 2);
                    Array.Resize(ref offsets, count * 2);
                }
                hash.Reset();
                foreach (var k in keyIndexes) Append(hash, reader.FieldBytes(k));
                hashes[count] = hash.GetCurrentHashAsUInt64();
                offsets[count++] = offset;
            }
            // Trimmed when the spare rows are worth a copy (64 KB or more): a small table keeps its arrays, which
            // spares a short replay two more fresh arrays.
            if (hashes.Length - count > count / 8 && (hashes.Length - count) * (long)BytesPerRow >= 64 << 10)
            {
                Array.Resize(ref hashes, count);
                Array.Resize(ref offsets, count);
            }
            SortByHashThenOffset(hashes.AsSpan(0, count), offsets.AsSpan(0, count));
            // The lookups read a row at a time: a small buffer of their own, not the pass's.
            return new CsvRowIndex(file, path, table.Name, header, keyIndexes, hashes, offsets, count, whole, wholeLength);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The file's bytes, read to its end into an array of its length at open plus one; null when it has grown past that
    /// meanwhile (it is then read through a buffer, as a large file is).
    /// </summary>
    private static byte[]? ReadWhole(SafeFileHandle file, int length, out int read)
    {
        var bytes = GC.AllocateUninitializedArray<byte>(length + 1);
        read = 0;
        int n;
        while (read < bytes.Length && (n = RandomAccess.Read(file, bytes.AsSpan(read), read)) > 0) read += n;
        return read < bytes.Length ? bytes : null;
    }

    /// <summary>
    /// Sorts the rows by hash, then offset: rows of one key stay in file order, so the last row of a key is
    /// last. The offsets come in file order; the introsort of a small table (on primitive keys, no comparer) may
    /// reorder rows of equal hash, whose offsets (a key repeated, or a true 64-bit collision: rare) are put back in
    /// order (the radix sort of a larger one is stable: nothing to put back).
    /// </summary>
    internal static void SortByHashThenOffset(Span<ulong> hashes, Span<long> offsets)
    {
        if (hashes.Length >= RadixSortRows) RadixSort(hashes, offsets);
        else hashes.Sort(offsets);
        for (var i = 1; i < hashes.Length; i++)
        {
            if (hashes[i] != hashes[i - 1]) continue;
            var start = i - 1;
            while (i + 1 < hashes.Length && hashes[i + 1] == hashes[start]) i++;
            offsets[start..(i + 1)].Sort();
        }
    }

    /// <summary>From this many rows the index is sorted by <see cref="RadixSort"/> (below it, the introsort is as fast).</summary>
    internal const int RadixSortRows = 512;

    /// <summary>
    /// Sorts the rows by hash, least significant byte first (8 counting passes, a pass skipped when every hash has
    /// the same byte there). Stable, so rows of equal hash keep their order. About four times faster than the
    /// introsort on a few thousand rows (the 2,700-row table of the bench corpus: about 0.1 ms of a short replay).
    /// </summary>
    private static void RadixSort(Span<ulong> hashes, Span<long> offsets)
    {
        var n = hashes.Length;
        Span<int> counts = stackalloc int[8 * 256];
        counts.Clear();
        foreach (var hash in hashes)
        {
            for (var b = 0; b < 8; b++) counts[(b << 8) | (int)((hash >> (b << 3)) & 0xFF)]++;
        }
        var spareHashes = GC.AllocateUninitializedArray<ulong>(n);
        var spareOffsets = GC.AllocateUninitializedArray<long>(n);
        Span<ulong> fromHashes = hashes, toHashes = spareHashes;
        Span<long> fromOffsets = offsets, toOffsets = spareOffsets;
        var inSpare = false;
        for (var b = 0; b < 8; b++)
        {
            var count = counts.Slice(b << 8, 256);
            var shift = b << 3;
            if (count[(int)((fromHashes[0] >> shift) & 0xFF)] == n) continue;
            // Counts to starting positions.
            var at = 0;
            for (var d = 0; d < 256; d++)
            {
                var c = count[d];
                count[d] = at;
                at += c;
            }
            for (var i = 0; i < n; i++)
            {
                var hash = fromHashes[i];
                var to = count[(int)((hash >> shift) & 0xFF)]++;
                toHashes[to] = hash;
                toOffsets[to] = fromOffsets[i];
            }
            var h = fromHashes;
            fromHashes = toHashes;
            toHashes = h;
            var o = fromOffsets;
            fromOffsets = toOffsets;
            toOffsets = o;
            inSpare = !inSpare;
        }
        if (inSpare)
        {
            fromHashes.CopyTo(hashes);
            fromOffsets.CopyTo(offsets);
        }
    }

    /// <summary>Where each key column sits in the header; a missing key column names the file and the columns it has.</summary>
    public static int[] KeyIndexes(TableSpec table, string path, string[] header)
    {
        var columnIndex = new Dictionary<string, int>(header.Length, StringComparer.Ordinal);
        for (var c = 0; c < header.Length; c++)
        {
            if (!columnIndex.TryAdd(header[c], c))
            {
                throw new InvalidDataException($"Dimension table '{table.Name}': file '{path}' has column '{header[c]}' twice.");
            }
        }
        if (table.KeyColumns.Count == 0)
        {
            throw new ArgumentException($"Dimension table '{table.Name}' has no key column.", nameof(table));
        }
        var keyIndexes = new int[table.KeyColumns.Count];
        for (var k = 0; k < keyIndexes.Length; k++)
        {
            if (!columnIndex.TryGetValue(table.KeyColumns[k], out keyIndexes[k]))
            {
                throw new InvalidDataException(
                    $"Dimension table '{table.Name}': file '{path}' has no key column '{table.KeyColumns[k]}' (columns: {string.Join(", ", header)}).");
            }
        }
        return keyIndexes;
    }

    /// <summary>The row of <paramref name="key"/> (the last one in the file when repeated), or null.</summary>
    /// <exception cref="ObjectDisposedException">The index was disposed (its owner indexed a changed file again).</exception>
    public IReadOnlyDictionary<string, string>? Get(DimensionKey key)
    {
        var wanted = HashOf(key);
        // The first row with this hash.
        int lo = 0, hi = _count;
        while (lo < hi)
        {
            var mid = (int)(((uint)lo + (uint)hi) >> 1);
            if (_hashes[mid] < wanted) lo = mid + 1;
            else hi = mid;
        }
        if (lo == _count || _hashes[lo] != wanted) return null;
        var first = lo;
        var last = lo;
        while (last + 1 < _count && _hashes[last + 1] == wanted) last++;
        // A file held whole has nothing to read (Dispose still ends its lookups).
        if (_whole is not null) ObjectDisposedException.ThrowIf(_file.IsClosed, this);
        var reader = Interlocked.Exchange(ref _spare, null)
            ?? (_whole is null ? new CsvRecordReader(_file, _path, LookupBufferBytes) : new CsvRecordReader(_whole, _wholeLength, _path));
        try
        {
            var fields = reader.Fields;
            for (var i = last; i >= first; i--)
            {
                var offset = _offsets[i];
                reader.Seek(offset);
                if (!reader.TryRead(out _, out _) || fields.Count != _header.Length)
                {
                    throw new InvalidDataException($"Dimension table '{_table}': file '{_path}' changed while in use (row at byte {offset} is gone).");
                }
                var match = true;
                for (var k = 0; k < _keyIndexes.Length && match; k++) match = fields[_keyIndexes[k]] == key.Parts[k];
                if (!match) continue;
                var row = new Dictionary<string, string>(_header.Length, StringComparer.Ordinal);
                for (var c = 0; c < _header.Length; c++) row[_header[c]] = fields[c];
                return row;
            }
            return null;
        }
        finally
        {
            Volatile.Write(ref _spare, reader);
        }
    }

    /// <summary>Closes the file; a lookup in flight finishes its read, later ones throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose() => _file.Dispose();

    /// <summary>A key column's UTF-8 bytes and a separator (the file's bytes as they are: the index pass decodes nothing).</summary>
    private static void Append(XxHash64 hash, ReadOnlySpan<byte> part)
    {
        ReadOnlySpan<byte> separator = [0x1F];
        hash.Append(part);
        hash.Append(separator);
    }

    /// <summary>
    /// The hash of a lookup's key as the index pass hashes a row's: each part as the file holds it, UTF-8, then the
    /// separator (a key from a record may be any string; one that is not valid UTF-16 matches no row). One call over
    /// the parts' bytes, the same value as appending them one by one.
    /// </summary>
    internal static ulong HashOf(DimensionKey key)
    {
        var parts = key.Parts;
        var max = parts.Count;
        foreach (var part in parts) max += Encoding.UTF8.GetMaxByteCount(part.Length);
        byte[]? rented = null;
        var buffer = max <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var at = 0;
            foreach (var part in parts)
            {
                at += Encoding.UTF8.GetBytes(part, buffer[at..]);
                buffer[at++] = 0x1F;
            }
            return XxHash64.HashToUInt64(buffer[..at]);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }
}

/// <summary>
/// RFC 4180 records straight from UTF-8 bytes, with the byte offset and line each record starts at.
/// A byte order mark at offset 0 is skipped; blank lines are skipped; invalid UTF-8 names the line.
/// </summary>
internal sealed class CsvRecordReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly SafeFileHandle? _file;
    private readonly string _path;
    private readonly byte[] _buffer;
    // Reading bytes held in memory (the whole file): _buffer holds them, _wholeLength of them.
    private readonly int _wholeLength = -1;
    private readonly ArrayBufferWriter<byte> _field = new(64);
    // Without decoding (null when decoding): the record's fields, one after another, and where each ends.
    private readonly ArrayBufferWriter<byte>? _record;
    private readonly List<int> _ends = [];
    private int _pos;
    private int _len;
    private long _bufferOffset;
    private int _line = 1;
    private bool _checkedBom;

    /// <param name="file">Read with positioned reads (<see cref="RandomAccess.Read(SafeFileHandle, Span{byte}, long)"/>): the handle's own position is never used, so readers on one handle do not disturb each other.</param>
    /// <param name="path">The file's name, for errors.</param>
    /// <param name="bufferBytes">Bytes read at a time.</param>
    /// <param name="decode">True: each field is decoded into <see cref="Fields"/>; false: fields stay UTF-8 bytes
    /// (<see cref="FieldBytes"/>), checked but not decoded (<see cref="Fields"/> stays empty).</param>
    public CsvRecordReader(SafeFileHandle file, string path, int bufferBytes, bool decode = true)
    {
        _file = file;
        _path = path;
        _buffer = GC.AllocateUninitializedArray<byte>(bufferBytes);
        if (!decode) _record = new ArrayBufferWriter<byte>(256);
    }

    /// <summary>Reads the first <paramref name="length"/> bytes of <paramref name="bytes"/>, a whole file's, instead of a file.</summary>
    /// <param name="bytes">The file's bytes (not copied).</param>
    /// <param name="length">How many of them the file has.</param>
    /// <param name="path">The file's name, for errors.</param>
    /// <param name="decode">As for a file.</param>
    public CsvRecordReader(byte[] bytes, int length, string path, bool decode = true)
    {
        _path = path;
        _buffer = bytes;
        _wholeLength = _len = length;
        if (!decode) _record = new ArrayBufferWriter<byte>(256);
    }

    /// <summary>The fields of the record the last <see cref="TryRead"/> read (when decoding).</summary>
    public List<string> Fields { get; } = [];

    /// <summary>How many fields the record the last <see cref="TryRead"/> read has.</summary>
    public int FieldCount => _record is null ? Fields.Count : _ends.Count;

    /// <summary>Field <paramref name="i"/> of the last record, as UTF-8 (unquoted), when not decoding.</summary>
    public ReadOnlySpan<byte> FieldBytes(int i)
    {
        var start = i == 0 ? 0 : _ends[i - 1];
        return _record!.WrittenSpan[start.._ends[i]];
    }

    /// <summary>Reads from byte <paramref name="offset"/> next (the start of a record); a byte order mark is skipped only at 0.</summary>
    public void Seek(long offset)
    {
        if (_wholeLength >= 0)
        {
            _bufferOffset = 0;
            _pos = (int)Math.Min(offset, _wholeLength);
            _len = _wholeLength;
            _line = 1;
            _checkedBom = offset != 0;
            return;
        }
        _bufferOffset = offset;
        _pos = 0;
        _len = 0;
        _line = 1;
        _checkedBom = offset != 0;
    }

    private int Peek()
    {
        if (_pos == _len)
        {
            if (_wholeLength >= 0) return -1;
            _bufferOffset += _len;
            _len = RandomAccess.Read(_file!, _buffer, _bufferOffset);
            _pos = 0;
            if (_len == 0) return -1;
        }
        return _buffer[_pos];
    }

    private long Offset => _bufferOffset + _pos;

    /// <summary>Reads the next non-blank record into <see cref="Fields"/>; false at the end.</summary>
    public bool TryRead(out int line, out long offset)
    {
        var fields = Fields;
        var ends = _ends;
        if (!_checkedBom)
        {
            _checkedBom = true;
            if (Peek() == 0xEF && _len - _pos >= 3 && _buffer[_pos + 1] == 0xBB && _buffer[_pos + 2] == 0xBF) _pos += 3;
        }
        while (true)
        {
            fields.Clear();
            ends.Clear();
            _record?.ResetWrittenCount();
            line = _line;
            offset = Offset;
            if (Peek() < 0) return false;
            var blank = true;
            while (true)
            {
                _field.Clear();
                var c = Peek();
                if (c == '"')
                {
                    blank = false;
                    _pos++;
                    while (true)
                    {
                        c = Peek();
                        if (c < 0) throw new InvalidDataException($"Dimension file '{_path}', line {line}: a quoted field is not closed.");
                        _pos++;
                        if (c == '"')
                        {
                            if (Peek() == '"')
                            {
                                _pos++;
                                _field.Write("\""u8);
                                continue;
                            }
                            break;
                        }
                        if (c == '\n') _line++;
                        _field.GetSpan(1)[0] = (byte)c;
                        _field.Advance(1);
                    }
                    c = Peek();
                    if (c >= 0 && c is not (',' or '\r' or '\n'))
                    {
                        throw new InvalidDataException(
                            $"Dimension file '{_path}', line {_line}: unexpected character after a closing quote (a quote inside a field must be doubled).");
                    }
                }
                else
                {
                    // Up to the next delimiter, a buffer at a time.
                    while (Peek() >= 0)
                    {
                        var rest = _buffer.AsSpan(_pos, _len - _pos);
                        var stop = rest.IndexOfAny((byte)',', (byte)'\r', (byte)'\n');
                        _field.Write(stop < 0 ? rest : rest[..stop]);
                        _pos += stop < 0 ? rest.Length : stop;
                        if (stop >= 0) break;
                    }
                }
                if (_record is not null)
                {
                    if (!Utf8.IsValid(_field.WrittenSpan)) throw new InvalidDataException($"Dimension file '{_path}', line {line}: not valid UTF-8.");
                    _record.Write(_field.WrittenSpan);
                    ends.Add(_record.WrittenCount);
                }
                else
                {
                    try
                    {
                        fields.Add(StrictUtf8.GetString(_field.WrittenSpan));
                    }
                    catch (DecoderFallbackException e)
                    {
                        throw new InvalidDataException($"Dimension file '{_path}', line {line}: not valid UTF-8.", e);
                    }
                }
                if (Peek() == ',')
                {
                    blank = false;
                    _pos++;
                    continue;
                }
                break;
            }
            if (Peek() == '\r') _pos++;
            if (Peek() == '\n') _pos++;
            _line++;
            if (!(blank && FieldCount == 1 && (_record is null ? fields[0].Length : ends[0]) == 0)) return true;
        }
    }
}
