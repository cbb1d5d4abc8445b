using System.Buffers;
using System.Buffers.Text;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Flush;

/// <summary>
/// Writes samples as JSON lines: <c>{"name","labels":{…},"timestamp":ms,"value":n}</c>; labels exclude
/// <c>__name__</c>. Values are written in round-trip form, so a reader gets the exact double.
/// </summary>
public sealed class JsonlSampleWriter : ISampleWriter, IDisposable
{
    // Lines are formatted into one buffer and handed to the stream in chunks of about this size, not line by line.
    private const int ChunkBytes = 64 * 1024;

    private readonly Stream _stream;
    private readonly ArrayBufferWriter<byte> _buffer = new(ChunkBytes + 4096);
    // Made for the first sample that needs escaping: most runs have none, and building the encoder's tables
    // (JavaScriptEncoder's static set-up) is about 0.1 ms of a short replay.
    private Utf8JsonWriter? _writer;

    public JsonlSampleWriter(Stream stream)
    {
        _stream = stream;
    }

    public long SamplesWritten { get; private set; }

    /// <summary>Every sample's line is written to the stream, and the stream flushed, when this returns.</summary>
    public Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        SizeLabelSlots(samples.Count);
        try
        {
            foreach (var s in samples)
            {
                if (!TryWritePlain(s))
                {
                    WriteEscaped(s);
                }
                if (_buffer.WrittenCount >= ChunkBytes) Drain();
            }
        }
        finally
        {
            ForgetLabels();
        }
        return Written(samples.Count);
    }

    /// <summary>
    /// The samples of a flush's closed windows, formatted from the batch (<see cref="WindowCloser.Prepare"/>) without
    /// making them: the same lines, in the same order, as <see cref="WriteAsync(IReadOnlyList{Sample}, CancellationToken)"/>
    /// of <see cref="WindowCloser.ClosedBatch.Samples"/>. A series' label text is made once per batch and kept by its place
    /// in its family window (not looked up by its array). Every sample's line is written and the stream flushed when this returns.
    /// </summary>
    internal Task<WriteResult> WriteAsync(WindowCloser.ClosedBatch batch, CancellationToken cancellationToken)
    {
        // Two families with a metric of the same name interleave by labels: put in order only as samples (rare).
        if (batch.Interleaved) return WriteAsync(batch.Samples(), cancellationToken);
        var series = batch.SeriesCount;
        if (_seriesText.Length < series) _seriesText = new long[Math.Max(series, 2 * _seriesText.Length)];
        Array.Fill(_seriesText, Unknown, 0, series);
        var count = 0;
        try
        {
            foreach (var run in batch.Runs)
            {
                var group = run.Group;
                var at = group.SeriesAt;
                var name = NameText(run.Metric.Name);
                for (var i = 0; i < group.Count; i++)
                {
                    if (batch.ValueOf(run, i) is not { } value) continue;
                    count++;
                    var labels = name.IsEmpty || !double.IsFinite(value) ? default : SeriesText(group, i, ref _seriesText[at + i]);
                    if (labels.IsEmpty)
                    {
                        // As the sample would be (its name, a label or its value not written as it is).
                        WriteEscaped(new Sample(run.Metric.Name, ShardRollup.Labels(group.Family, group.Series[i].Labels), group.StartMs, value));
                    }
                    else
                    {
                        WritePlain(name, labels, group.StartMs, value);
                    }
                    if (_buffer.WrittenCount >= ChunkBytes) Drain();
                }
            }
        }
        finally
        {
            ForgetLabels();
        }
        return Written(count);
    }

    /// <summary>The batch's last lines to the stream, the stream flushed, and its <paramref name="count"/> samples counted.</summary>
    private Task<WriteResult> Written(int count)
    {
        Drain();
        _stream.Flush();
        SamplesWritten += count;
        return Task.FromResult(WriteResult.Ok(count));
    }

    // Per series of a batch (by its place, WindowCloser.Group.SeriesAt + its index in its window): Unknown, NotPlain, or where its label text is kept ((chunk << LabelChunkBits | offset) << 32 | length).
    private long[] _seriesText = [];
    private const long Unknown = -1;
    private const long NotPlain = -2;

    /// <summary>The label text of <paramref name="group"/>'s series <paramref name="i"/>, made the first time the batch asks for it.</summary>
    private ReadOnlySpan<byte> SeriesText(WindowCloser.Group group, int i, ref long kept)
    {
        if (kept >= 0)
        {
            var at = (int)(kept >> 32);
            return Kept(at, (int)(kept & 0xFFFF_FFFF));
        }
        if (kept == NotPlain) return [];
        var text = MakeLabelText(new SeriesLabels(group.Family.LabelNames, group.Series[i].Labels), out var where);
        kept = text.IsEmpty ? NotPlain : where >= 0 ? ((long)where << 32) | (uint)text.Length : Unknown;
        return text;
    }

    /// <summary>Any sample, through <see cref="Utf8JsonWriter"/> (escaping as its encoder says).</summary>
    /// <remarks>Not inlined: the encoder's static set-up is checked for where it is used, not on every write.</remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteEscaped(Sample s)
    {
        var writer = _writer ??= new Utf8JsonWriter(_buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        writer.WriteStartObject();
        writer.WriteString("name", s.Name);
        writer.WriteStartObject("labels");
        foreach (var l in s.Labels) writer.WriteString(l.Name, l.Value);
        writer.WriteEndObject();
        writer.WriteNumber("timestamp", s.TimestampMs);
        writer.WriteNumber("value", s.Value);
        writer.WriteEndObject();
        writer.Flush();
        writer.Reset();
        _buffer.GetSpan(1)[0] = (byte)'\n';
        _buffer.Advance(1);
    }

    // Printable ASCII but the quote and the backslash: written as they are by every JSON encoder.
    private static readonly SearchValues<char> Plain =
        SearchValues.Create(" !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    /// <summary>
    /// Letters outside ASCII that the relaxed encoder writes as they are (UTF-8, unescaped; a test checks each one
    /// against it): Latin-1 and Latin Extended-A letters (U+00C0–U+017F but × and ÷) and the CJK unified
    /// ideographs of Unicode 1.1 (U+4E00–U+9FA5), as team and product names hold them. Samples with these go
    /// the plain way too, and a run needs no encoder (its tables cost about 0.1 ms to build) unless a sample
    /// has text that must be escaped or looked up.
    /// </summary>
    internal static bool IsPlainLetter(char c) =>
        (c >= '\u00C0' && c <= '\u017F' && c != '\u00D7' && c != '\u00F7') || (c >= '\u4E00' && c <= '\u9FA5');

    /// <summary>Whether <paramref name="text"/> is written as it is; <paramref name="bytes"/> is then at least its UTF-8 length (room enough to write it).</summary>
    private static bool IsPlain(string text, out int bytes)
    {
        var span = text.AsSpan();
        var at = span.IndexOfAnyExcept(Plain);
        bytes = span.Length;
        if (at < 0) return true;
        for (var i = at; i < span.Length; i++)
        {
            var c = span[i];
            if (c > '\u007F')
            {
                if (!IsPlainLetter(c)) return false;
                bytes += 2;
            }
            else if (!Plain.Contains(c))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// The common sample (names and values printable ASCII without quote or backslash, or letters the encoder
    /// leaves as they are (<see cref="IsPlainLetter"/>), a finite value) formatted directly: the same bytes
    /// <see cref="WriteEscaped"/> writes (tests hold the two equal). False, nothing written, otherwise.
    /// </summary>
    /// <remarks>
    /// A flush's samples come metric by metric, each metric's series in the same order, and the samples of one
    /// series share its label array: the text from the name to the labels' end is kept per name instance (the
    /// last one) and per label array instance (<see cref="LabelText"/>), so a series' labels are checked and
    /// encoded once per batch, not once per metric. The timestamp's text is kept as well (one per window). So a
    /// label array must not change while its batch is written (samples are immutable, as every producer makes them).
    /// </remarks>
    private bool TryWritePlain(Sample s)
    {
        if (!double.IsFinite(s.Value)) return false;
        var name = NameText(s.Name);
        if (name.IsEmpty) return false;
        var labels = LabelText(s.Labels);
        if (labels.IsEmpty) return false;
        WritePlain(name, labels, s.TimestampMs, s.Value);
        return true;
    }

    /// <summary>A line from its name's and labels' texts (<see cref="NameText"/>, <see cref="LabelText"/>), its timestamp and its finite value.</summary>
    private void WritePlain(ReadOnlySpan<byte> name, ReadOnlySpan<byte> labels, long timestampMs, double value)
    {
        var span = _buffer.GetSpan(name.Length + labels.Length + 64);
        name.CopyTo(span);
        var at = name.Length;
        labels.CopyTo(span[at..]);
        at += labels.Length;
        if (timestampMs != _timestamp || _timestampLength == 0)
        {
            // Utf8Formatter, as Utf8JsonWriter formats numbers.
            Utf8Formatter.TryFormat(timestampMs, _timestampText, out _timestampLength);
            _timestamp = timestampMs;
        }
        _timestampText.AsSpan(0, _timestampLength).CopyTo(span[at..]);
        at += _timestampLength;
        Put(span, ref at, ",\"value\":"u8);
        at += FormatValue(value, span[at..]);
        Put(span, ref at, "}\n"u8);
        _buffer.Advance(at);
    }

    /// <summary>
    /// <paramref name="value"/> (finite) as <see cref="Utf8Formatter"/> writes a double (what Utf8JsonWriter writes):
    /// an integer under 10^15 in magnitude, but −0, as the integer (the shortest round-trip text of such a double is
    /// its digits, and a count is most values), anything else by the double formatter.
    /// </summary>
    internal static int FormatValue(double value, Span<byte> span)
    {
        int written;
        if (Math.Abs(value) < 1e15 && value == Math.Truncate(value) && !(value == 0 && double.IsNegative(value)))
        {
            Utf8Formatter.TryFormat((long)value, span, out written);
            return written;
        }
        Utf8Formatter.TryFormat(value, span, out written);
        return written;
    }

    // The text of the last name: '{"name":"' name '","labels":{'.
    private string? _name;
    private byte[] _nameText = new byte[256];
    private int _nameLength;

    // The last timestamp and its text, after '},"timestamp":'.
    private long _timestamp;
    private readonly byte[] _timestampText = new byte[64];
    private int _timestampLength;

    /// <summary>'{"name":"' name '","labels":{' for the sample's name; empty if the name is not plain.</summary>
    private ReadOnlySpan<byte> NameText(string name)
    {
        if (!ReferenceEquals(name, _name))
        {
            if (!IsPlain(name, out var bytes)) return [];
            if (_nameText.Length < bytes + 32) _nameText = new byte[bytes + 32];
            var at = 0;
            Put(_nameText, ref at, "{\"name\":\""u8);
            Put(_nameText, ref at, name);
            Put(_nameText, ref at, "\",\"labels\":{"u8);
            _nameLength = at;
            _name = name;
        }
        return _nameText.AsSpan(0, _nameLength);
    }

    // Label texts of this batch's label arrays: a slot per array, by its address (a moved array is only a miss;
    // the reference held is what is compared), the texts end to end in chunks. Cleared with each batch.
    // Sized to the batches met (a short run touches little fresh memory): about a slot per two samples, 64 to 4,096.
    private int _labelBits;
    private object?[] _labelArrays = [];
    // Per slot: where its text is (chunk << LabelChunkBits | offset) and its length.
    private int[] _labelAt = [];
    private int[] _labelLength = [];
    // The chunks the texts are written in: 4 KiB, then twice as long each, up to 64 KiB, at most about 1 MiB in all. Each is
    // under the large object heap's threshold, so keeping the texts copies nothing and makes no large-object allocation
    // (which counts towards the budget that sets off a full collection).
    private const int LabelChunkBits = 16;
    private const int MaxLabelChunks = 20;
    private readonly List<byte[]> _labelChunks = [];
    private int _labelChunk;
    private int _labelChunkUsed;
    private byte[] _scratch = new byte[1024];

    /// <summary>The labels' text from the first label to '},"timestamp":' (empty if a name or value is not plain).</summary>
    private ReadOnlySpan<byte> LabelText(IReadOnlyList<Label> labels)
    {
        var slot = IdentityHash.Of(labels, _labelBits);
        if (ReferenceEquals(_labelArrays[slot], labels))
        {
            var kept = _labelAt[slot];
            return Kept(kept, _labelLength[slot]);
        }
        var text = MakeLabelText(new SampleLabels(labels), out var at);
        if (at >= 0)
        {
            _labelArrays[slot] = labels;
            _labelAt[slot] = at;
            _labelLength[slot] = text.Length;
        }
        return text;
    }

    /// <summary>A label text kept in the label chunks at <paramref name="at"/> (chunk &lt;&lt; LabelChunkBits | offset, as <see cref="MakeLabelText{T}"/> gives it).</summary>
    private ReadOnlySpan<byte> Kept(int at, int length) =>
        _labelChunks[at >> LabelChunkBits].AsSpan(at & ((1 << LabelChunkBits) - 1), length);

    /// <summary>A sample's labels, for <see cref="MakeLabelText{T}"/>.</summary>
    private readonly struct SampleLabels(IReadOnlyList<Label> labels) : ILabels
    {
        public int Count => labels.Count;
        public string Name(int i) => labels[i].Name;
        public string Value(int i) => labels[i].Value;
    }

    /// <summary>A series' labels (its family's label names, its values), for <see cref="MakeLabelText{T}"/>.</summary>
    private readonly struct SeriesLabels(IReadOnlyList<string> names, string[] values) : ILabels
    {
        public int Count => values.Length;
        public string Name(int i) => names[i];
        public string Value(int i) => values[i];
    }

    private interface ILabels
    {
        int Count { get; }
        string Name(int i);
        string Value(int i);
    }

    /// <summary>
    /// The labels' text from the first label to '},"timestamp":' (empty if a name or value is not plain), kept in the
    /// label chunks when there is room (<paramref name="at"/>: chunk &lt;&lt; LabelChunkBits | offset; -1 if not kept).
    /// </summary>
    private ReadOnlySpan<byte> MakeLabelText<T>(T labels, out int at) where T : ILabels
    {
        at = -1;
        var length = 16;
        for (var i = 0; i < labels.Count; i++)
        {
            if (!IsPlain(labels.Name(i), out var labelBytes) || !IsPlain(labels.Value(i), out var valueBytes)) return [];
            length += labelBytes + valueBytes + 6;
        }
        var keep = RoomForLabels(length);
        if (!keep && _scratch.Length < length) _scratch = new byte[length];
        var span = keep ? _labelChunks[_labelChunk].AsSpan(_labelChunkUsed) : _scratch.AsSpan();
        var written = 0;
        for (var i = 0; i < labels.Count; i++)
        {
            if (i > 0) span[written++] = (byte)',';
            span[written++] = (byte)'"';
            Put(span, ref written, labels.Name(i));
            Put(span, ref written, "\":\""u8);
            Put(span, ref written, labels.Value(i));
            span[written++] = (byte)'"';
        }
        Put(span, ref written, "},\"timestamp\":"u8);
        if (!keep) return span[..written];
        at = (_labelChunk << LabelChunkBits) | _labelChunkUsed;
        _labelChunkUsed += written;
        return span[..written];
    }

    /// <summary>
    /// Whether a label text of <paramref name="length"/> bytes can be kept: in the chunk being filled, else in the next
    /// one long enough (a chunk of an earlier batch, or a new one while there are fewer than <see cref="MaxLabelChunks"/>).
    /// </summary>
    private bool RoomForLabels(int length)
    {
        if (length > 1 << LabelChunkBits) return false;
        if (_labelChunk < _labelChunks.Count && _labelChunkUsed + length <= _labelChunks[_labelChunk].Length) return true;
        var next = _labelChunk < _labelChunks.Count ? _labelChunk + 1 : _labelChunk;
        while (next < _labelChunks.Count && _labelChunks[next].Length < length) next++;
        if (next == _labelChunks.Count)
        {
            if (next >= MaxLabelChunks) return false;
            var size = next == 0 ? 4096 : Math.Min(_labelChunks[next - 1].Length * 2, 1 << LabelChunkBits);
            while (size < length) size *= 2;
            _labelChunks.Add(new byte[size]);
        }
        _labelChunk = next;
        _labelChunkUsed = 0;
        return true;
    }

    /// <summary>Room for the label texts of a batch of <paramref name="samples"/> samples.</summary>
    private void SizeLabelSlots(int samples)
    {
        var bits = Math.Clamp(32 - BitOperations.LeadingZeroCount((uint)Math.Max(samples / 2, 1)), 6, 12);
        if (bits <= _labelBits) return;
        _labelBits = bits;
        _labelArrays = new object?[1 << bits];
        _labelAt = new int[1 << bits];
        _labelLength = new int[1 << bits];
    }

    /// <summary>Forgets the label texts (a batch's arrays are not met again; none is kept alive).</summary>
    private void ForgetLabels()
    {
        // Nothing kept: still at the start of the first chunk (a text kept ends with "},\"timestamp\":", so it moves on).
        if (_labelChunk == 0 && _labelChunkUsed == 0) return;
        Array.Clear(_labelArrays);
        _labelChunk = 0;
        _labelChunkUsed = 0;
    }

    private static void Put(Span<byte> span, ref int at, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(span[at..]);
        at += bytes.Length;
    }

    private static void Put(Span<byte> span, ref int at, string text)
    {
        if (Ascii.FromUtf16(text, span[at..], out var written) == OperationStatus.Done)
        {
            at += written;
            return;
        }
        // Letters outside ASCII (IsPlainLetter): the rest as UTF-8.
        at += written;
        at += Encoding.UTF8.GetBytes(text.AsSpan(written), span[at..]);
    }

    private void Drain()
    {
        if (_buffer.WrittenCount == 0) return;
        _stream.Write(_buffer.WrittenSpan);
        _buffer.ResetWrittenCount();
    }

    public void Dispose()
    {
        _writer?.Dispose();
        _stream.Dispose();
    }
}

/// <summary>Keeps samples in memory (tests, the demo's table).</summary>
public sealed class CollectingSampleWriter : ISampleWriter
{
    private readonly List<Sample> _samples = [];
    private readonly Lock _gate = new();

    public IReadOnlyList<Sample> Samples
    {
        get { lock (_gate) return [.. _samples]; }
    }

    public Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        lock (_gate) _samples.AddRange(samples);
        return Task.FromResult(WriteResult.Ok(samples.Count));
    }
}

/// <summary>
/// Writes to several sinks (a file and a remote endpoint). The result is the worst outcome
/// (Failed &gt; Dropped &gt; Written). When one sink fails, the coordinator offers the same windows
/// again; a sink that already took them does not get them twice, so a samples file never repeats
/// a line because the endpoint was down. When the coordinator gives a failed call up instead
/// (<see cref="WriteResult.SettlePartial"/>, its backlog bound), each failed sink counts what it had
/// delivered and the samples the others took are forgotten.
/// </summary>
public sealed class FanOutSampleWriter(IReadOnlyList<ISampleWriter> writers) : ISampleWriter
{
    // Per sink: samples it accepted while another sink failed, until a write succeeds everywhere
    // (then the coordinator evicts them and they are never offered again).
    private readonly HashSet<(string, long)>?[] _pending = new HashSet<(string, long)>?[writers.Count];

    public async Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        var results = new List<WriteResult>(writers.Count);
        WriteResult? leastDelivered = null;
        List<Action>? settles = null;
        for (var i = 0; i < writers.Count; i++)
        {
            var done = _pending[i];
            var fresh = done is null ? samples : [.. samples.Where(s => !done.Contains((s.SeriesId, s.TimestampMs)))];
            var result = await writers[i].WriteAsync(fresh, cancellationToken).ConfigureAwait(false);
            results.Add(result);
            if (result.Outcome != WriteOutcome.Failed)
            {
                done ??= _pending[i] = [];
                foreach (var s in fresh) done.Add((s.SeriesId, s.TimestampMs));
                continue;
            }
            // Of this call's samples, this sink has those it took before (skipped now) and the part it delivered now.
            var delivered = result with { SamplesWritten = result.SamplesWritten + (samples.Count - fresh.Count) };
            if (leastDelivered is null || delivered.SamplesWritten + delivered.SamplesDropped < leastDelivered.SamplesWritten + leastDelivered.SamplesDropped)
            {
                leastDelivered = delivered;
            }
            if (result.SettlePartial is { } settle) (settles ??= []).Add(settle);
        }
        if (leastDelivered is not null)
        {
            // The sink that delivered least says what the call lost if it is given up.
            return leastDelivered with
            {
                SettlePartial = () =>
                {
                    foreach (var settle in settles ?? []) settle();
                    Array.Clear(_pending);
                },
            };
        }
        Array.Clear(_pending);
        var worst = results.MaxBy(r => (int)r.Outcome) ?? WriteResult.Ok(0);
        var drops = results.SelectMany(r => r.DroppedByReason).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Max(kv => kv.Value));
        return new WriteResult(worst.Outcome, samples.Count - drops.Values.Sum(), drops);
    }
}
