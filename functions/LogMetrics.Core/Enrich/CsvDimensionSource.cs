using System.Collections.Concurrent;

namespace LogMetrics.Core.Enrich;

/// <summary>
/// The embedded dimension source: a directory holding one <c>&lt;table name&gt;.csv</c> per lookup, UTF-8
/// (byte order mark optional), a header row of column names, then one row per line (CRLF or LF), with
/// RFC 4180 quoting. Rows are keyed by the values of <see cref="TableSpec.KeyColumns"/>, in order.
/// When several rows share a key the last one wins, so a file can be patched by appending rows.
/// </summary>
/// <remarks>
/// <see cref="LoadAllAsync"/> reads the file every time (policy <c>all</c> reloads see edits).
/// <see cref="GetAsync"/> (policy <c>lru</c>) keeps only a row index (<see cref="CsvRowIndex"/>: a key
/// hash and a byte offset per row) and the file open, and reads rows from it on demand with positioned
/// reads (a file of at most 64 KiB is read whole once and its rows read from those bytes); it indexes the file again (and closes the old one) when its size or last write time changes.
/// <see cref="ValidateAsync"/> checks a file at start. <see cref="Dispose"/> closes the files.
/// </remarks>
public sealed class CsvDimensionSource : IDimensionSource, IDisposable
{
    private readonly ConcurrentDictionary<string, IndexedTable> _indexes = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _parseGate = new(1, 1);

    /// <param name="directory">The directory holding <c>&lt;table&gt;.csv</c> files.</param>
    /// <param name="recheckInterval">How long a parsed file is trusted before <see cref="GetAsync"/> compares
    /// its size and write time again (default 1 s: an lru warm-up asks for many keys at once).</param>
    public CsvDimensionSource(string directory, TimeSpan? recheckInterval = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = directory;
        _recheckMs = (long)(recheckInterval ?? TimeSpan.FromSeconds(1)).TotalMilliseconds;
    }

    private readonly long _recheckMs;

    /// <summary>The directory holding the CSV files.</summary>
    public string Directory { get; }

    /// <summary>The file of <paramref name="table"/>: <c>&lt;directory&gt;/&lt;name&gt;.csv</c>.</summary>
    public string PathOf(TableSpec table)
    {
        if (table.Name.Length == 0 || table.Name.IndexOfAny(['/', '\\']) >= 0 || table.Name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0
            || table.Name is "." or "..")
        {
            throw new ArgumentException($"Dimension table name '{table.Name}' cannot name a CSV file.", nameof(table));
        }

        return Path.Combine(Directory, table.Name + ".csv");
    }

    /// <inheritdoc/>
    /// <exception cref="FileNotFoundException">The table's file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is malformed or lacks a key column; the message names file and column or line.</exception>
    /// <remarks>Completes synchronously (see <see cref="Read"/>); an error is the returned task's.</remarks>
    public Task<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>> LoadAllAsync(
        TableSpec table, CancellationToken cancellationToken)
    {
        try
        {
            var path = PathOf(table);
            StampOf(table, path);
            return Task.FromResult<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>>(Read(table, path, cancellationToken));
        }
        catch (Exception e)
        {
            return Task.FromException<IReadOnlyDictionary<DimensionKey, IReadOnlyDictionary<string, string>>>(e);
        }
    }

    /// <inheritdoc/>
    /// <remarks>Reads the row from the file through a <see cref="CsvRowIndex"/> (16 bytes per row); the file is held whole only when it is at most <see cref="CsvRowIndex.WholeFileBytes"/> long.</remarks>
    public async Task<IReadOnlyDictionary<string, string>?> GetAsync(TableSpec table, DimensionKey key, CancellationToken cancellationToken)
    {
        while (true)
        {
            var index = await IndexAsync(table, cancellationToken).ConfigureAwait(false);
            try
            {
                return index.Get(key);
            }
            catch (ObjectDisposedException) when (index.IsDisposed)
            {
                // The file changed and was indexed again meanwhile (the old index closed): ask the new one.
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
    }

    /// <summary>
    /// Validates <paramref name="table"/>'s file (UTF-8, header with the key columns, RFC 4180 quoting,
    /// every row as wide as the header) in one streaming pass, and keeps its row index for <see cref="GetAsync"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is malformed; the message names file and line.</exception>
    public Task ValidateAsync(TableSpec table, CancellationToken cancellationToken) => IndexAsync(table, cancellationToken);

    private async Task<CsvRowIndex> IndexAsync(TableSpec table, CancellationToken cancellationToken)
    {
        var (path, cacheKey) = NamesOf(table);
        if (_indexes.TryGetValue(cacheKey, out var recent) && Environment.TickCount64 - recent.CheckedAt < _recheckMs)
        {
            return recent.Index;
        }
        var stamp = StampOf(table, path);
        if (!_indexes.TryGetValue(cacheKey, out var indexed) || indexed.Stamp != stamp)
        {
            await _parseGate.WaitAsync(cancellationToken);
            try
            {
                if (!_indexes.TryGetValue(cacheKey, out indexed) || indexed.Stamp != stamp)
                {
                    ObjectDisposedException.ThrowIf(_disposed, this);
                    var replaced = indexed;
                    indexed = new IndexedTable(stamp, CsvRowIndex.Build(table, path));
                    _indexes[cacheKey] = indexed;
                    // Its file is closed; a lookup still reading it finishes, a later one asks again (GetAsync).
                    replaced?.Index.Dispose();
                }
            }
            finally
            {
                _parseGate.Release();
            }
        }
        indexed.CheckedAt = Environment.TickCount64;
        return indexed.Index;
    }

    /// <summary>Closes the files of the row indexes (a later <see cref="GetAsync"/> or <see cref="ValidateAsync"/> throws).</summary>
    public void Dispose()
    {
        _parseGate.Wait();
        try
        {
            _disposed = true;
            foreach (var indexed in _indexes.Values) indexed.Index.Dispose();
            _indexes.Clear();
        }
        finally
        {
            _parseGate.Release();
        }
    }

    private bool _disposed;

    private sealed record IndexedTable((DateTime, long) Stamp, CsvRowIndex Index)
    {
        /// <summary>When the file's stamp was last compared with this index (Environment.TickCount64).</summary>
        public long CheckedAt { get; set; } = Environment.TickCount64;
    }

    // Per table asked for, by reference (a cache asks with its own TableSpec every time): its file and its
    // index's key, made once rather than on every lookup. A few tables at most.
    private readonly ConcurrentDictionary<TableSpec, (string Path, string CacheKey)> _names = new(ReferenceEqualityComparer.Instance);

    private (string Path, string CacheKey) NamesOf(TableSpec table)
    {
        if (_names.TryGetValue(table, out var names)) return names;
        names = (PathOf(table), CacheKey(table));
        if (_names.Count < 64) _names.TryAdd(table, names);
        return names;
    }

    private static string CacheKey(TableSpec table) => table.Name + "\u001f" + string.Join('\u001f', table.KeyColumns);

    private static (DateTime, long) StampOf(TableSpec table, string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"Dimension table '{table.Name}': file '{path}' not found.", path);
        }

        return (info.LastWriteTimeUtc, info.Length);
    }

    private static Dictionary<DimensionKey, IReadOnlyDictionary<string, string>> Read(
        TableSpec table, string path, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            // Read synchronously: a dimension table is small, and on Unix the asynchronous read is a blocking
            // read on a thread-pool thread anyway, after which the caller's whole run would continue there.
            cancellationToken.ThrowIfCancellationRequested();
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException ex)
        {
            throw new FileNotFoundException($"Dimension table '{table.Name}': file '{path}' not found.", path, ex);
        }

        var records = CsvTableReader.Parse(CsvTableReader.Decode(bytes, path), path);
        if (records.Count == 0)
        {
            throw new InvalidDataException($"Dimension table '{table.Name}': file '{path}' is empty (a header row is required).");
        }

        var header = records[0].Fields;
        var keyIndexes = CsvRowIndex.KeyIndexes(table, path, header);

        var rows = new Dictionary<DimensionKey, IReadOnlyDictionary<string, string>>(records.Count - 1);
        for (var r = 1; r < records.Count; r++)
        {
            var (line, fields) = records[r];
            if (fields.Length != header.Length)
            {
                throw new InvalidDataException(
                    $"Dimension table '{table.Name}': file '{path}', line {line} has {fields.Length} fields; the header has {header.Length}.");
            }

            var row = new Dictionary<string, string>(header.Length, StringComparer.Ordinal);
            for (var c = 0; c < header.Length; c++)
            {
                row[header[c]] = fields[c];
            }

            var parts = new string[keyIndexes.Length];
            for (var k = 0; k < parts.Length; k++)
            {
                parts[k] = fields[keyIndexes[k]];
            }

            rows[new DimensionKey(parts)] = row; // duplicate key: the last row wins
        }

        return rows;
    }
}
