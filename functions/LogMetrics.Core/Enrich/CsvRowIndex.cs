using System.Buffers;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;

namespace LogMetrics.Core.Enrich;

/// <summary>
/// A CSV dimension table read on demand: one streaming pass validates the file (UTF-8, header,
/// RFC 4180 quoting, every row as wide as the header; errors name file and line) and keeps, per row,
/// only a 64-bit hash of its key and its byte offset — 16 bytes a row, in two sorted arrays. A lookup
/// binary-searches the hash and reads the row at its offset from the file (a hash collision is told
/// apart by comparing the key columns). So an <c>lru</c> lookup over a CSV table holds at most its
/// <c>maxRows</c> cached rows plus this index, never the whole table.
/// </summary>
internal sealed class CsvRowIndex
{
    private readonly string _path;
    private readonly string _table;
    private readonly string[] _header;
    private readonly int[] _keyIndexes;
    private readonly Entry[] _entries;

    /// <summary>One row: its key's hash and where it starts in the file (16 bytes).</summary>
    private readonly record struct Entry(ulong Hash, long Offset) : IComparable<Entry>
    {
        public int CompareTo(Entry other) => Hash != other.Hash ? Hash.CompareTo(other.Hash) : Offset.CompareTo(other.Offset);
    }

    private CsvRowIndex(string path, string table, string[] header, int[] keyIndexes, Entry[] entries)
    {
        _path = path;
        _table = table;
        _header = header;
        _keyIndexes = keyIndexes;
        _entries = entries;
    }

    /// <summary>Rows indexed (duplicates included; the last one of a key wins).</summary>
    public int Count => _entries.Length;

    /// <summary>Bytes the index itself holds: 16 per row.</summary>
    public static int BytesPerRow => System.Runtime.CompilerServices.Unsafe.SizeOf<Entry>();

    /// <summary>Reads and validates the whole file once, keeping only the index.</summary>
    /// <exception cref="InvalidDataException">The file is malformed; the message names file and line.</exception>
    public static CsvRowIndex Build(TableSpec table, string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var reader = new CsvRecordReader(file, path, 0);
        var fields = new List<string>();
        if (!reader.TryRead(fields, out _, out _))
        {
            throw new InvalidDataException($"Dimension table '{table.Name}': file '{path}' is empty (a header row is required).");
        }
        var header = fields.ToArray();
        var keyIndexes = KeyIndexes(table, path, header);
        var entries = new List<Entry>();
        while (reader.TryRead(fields, out var line, out var offset))
        {
            if (fields.Count != header.Length)
            {
                throw new InvalidDataException(
                    $"Dimension table '{table.Name}': file '{path}', line {line} has {fields.Count} fields; the header has {header.Length}.");
            }
            entries.Add(new Entry(Hash(keyIndexes.Select(k => fields[k])), offset));
        }
        // By hash, then offset: rows of one key stay in file order, so the last row of a key is last.
        var sorted = entries.ToArray();
        entries = null;
        Array.Sort(sorted);
        return new CsvRowIndex(path, table.Name, header, keyIndexes, sorted);
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
    public IReadOnlyDictionary<string, string>? Get(DimensionKey key)
    {
        var hash = Hash(key.Parts);
        // The first entry with this hash.
        int lo = 0, hi = _entries.Length;
        while (lo < hi)
        {
            var mid = (int)(((uint)lo + (uint)hi) >> 1);
            if (_entries[mid].Hash < hash) lo = mid + 1;
            else hi = mid;
        }
        if (lo == _entries.Length || _entries[lo].Hash != hash) return null;
        var first = lo;
        var last = lo;
        while (last + 1 < _entries.Length && _entries[last + 1].Hash == hash) last++;
        using var file = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.RandomAccess);
        var fields = new List<string>();
        for (var i = last; i >= first; i--)
        {
            var offset = _entries[i].Offset;
            file.Position = offset;
            var reader = new CsvRecordReader(file, _path, offset);
            if (!reader.TryRead(fields, out _, out _) || fields.Count != _header.Length)
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

    private static ulong Hash(IEnumerable<string> parts)
    {
        var hash = new XxHash64();
        Span<byte> separator = [0x1F];
        foreach (var part in parts)
        {
            hash.Append(MemoryMarshal.AsBytes(part.AsSpan()));
            hash.Append(separator);
        }
        return hash.GetCurrentHashAsUInt64();
    }
}

/// <summary>
/// RFC 4180 records straight from UTF-8 bytes, with the byte offset and line each record starts at.
/// A byte order mark at offset 0 is skipped; blank lines are skipped; invalid UTF-8 names the line.
/// </summary>
internal sealed class CsvRecordReader(Stream stream, string file, long startOffset)
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly byte[] _buffer = new byte[1 << 14];
    private readonly ArrayBufferWriter<byte> _field = new();
    private int _pos;
    private int _len;
    private long _bufferOffset = startOffset;
    private int _line = 1;
    private bool _checkedBom = startOffset != 0;

    private int Peek()
    {
        if (_pos == _len)
        {
            _bufferOffset += _len;
            _len = stream.Read(_buffer, 0, _buffer.Length);
            _pos = 0;
            if (_len == 0) return -1;
        }
        return _buffer[_pos];
    }

    private long Offset => _bufferOffset + _pos;

    /// <summary>Reads the next non-blank record into <paramref name="fields"/>; false at the end.</summary>
    public bool TryRead(List<string> fields, out int line, out long offset)
    {
        if (!_checkedBom)
        {
            _checkedBom = true;
            if (Peek() == 0xEF && _len - _pos >= 3 && _buffer[_pos + 1] == 0xBB && _buffer[_pos + 2] == 0xBF) _pos += 3;
        }
        while (true)
        {
            fields.Clear();
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
                        if (c < 0) throw new InvalidDataException($"Dimension file '{file}', line {line}: a quoted field is not closed.");
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
                            $"Dimension file '{file}', line {_line}: unexpected character after a closing quote (a quote inside a field must be doubled).");
                    }
                }
                else
                {
                    while ((c = Peek()) >= 0 && c is not (',' or '\r' or '\n'))
                    {
                        _field.GetSpan(1)[0] = (byte)c;
                        _field.Advance(1);
                        _pos++;
                    }
                }
                try
                {
                    fields.Add(StrictUtf8.GetString(_field.WrittenSpan));
                }
                catch (DecoderFallbackException e)
                {
                    throw new InvalidDataException($"Dimension file '{file}', line {line}: not valid UTF-8.", e);
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
            if (!(blank && fields.Count == 1 && fields[0].Length == 0)) return true;
        }
    }
}
