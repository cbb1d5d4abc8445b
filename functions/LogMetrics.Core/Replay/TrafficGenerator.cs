using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LogMetrics.Core.Replay;

/// <summary>Settings of a synthetic gateway-traffic corpus.</summary>
public sealed record TrafficOptions
{
    public int Lanes { get; init; } = 4;
    public int Records { get; init; } = 20_000;
    public int Seed { get; init; } = 1;
    /// <summary>Event time of the first record, epoch seconds.</summary>
    public long StartEpochSeconds { get; init; } = 1_768_484_000;
    /// <summary>Span of event time the corpus covers.</summary>
    public int DurationSeconds { get; init; } = 600;
    /// <summary>Records at most this many seconds older than their lane's newest so far.</summary>
    public int MaxDisorderSeconds { get; init; } = 4;
    public double MalformedRate { get; init; } = 0.005;
    public double WarmupRate { get; init; } = 0.02;
    /// <summary>Write lanes as .jsonl.gz.</summary>
    public bool Gzip { get; init; }
}

/// <summary>
/// Generates flagship-shaped gateway access logs (4–5 KB records, <c>Ext5</c> JSON in a string,
/// numbers as numbers or strings, bounded disorder, a share of malformed lines) and the matching
/// dimension CSVs, some keys deliberately missing. Deterministic for a seed. Used by
/// <c>logmetrics demo</c>/<c>generate</c> and the benchmarks; it is not a test oracle.
/// </summary>
public static class TrafficGenerator
{
    private static readonly string[] Products = ["ecs", "rds", "oss", "acc", "vpc", "slb"];
    private static readonly string[] Regions = ["cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-huhehaote", "ap-southeast-1"];
    private static readonly string[] Verbs = ["Describe", "Create", "Delete", "Modify", "List"];
    private static readonly string[] Nouns = ["Instances", "CustomResourceDetail", "Vpcs", "Buckets", "DBInstances", "Tags"];
    private static readonly int[] Codes = [200, 200, 200, 200, 200, 200, 200, 200, 204, 400, 404, 429, 500, 503];

    public static IReadOnlyList<string> Write(string directory, TrafficOptions options)
    {
        Directory.CreateDirectory(directory);
        var rng = new Random(options.Seed);
        var ips = Enumerable.Range(0, 40).Select(i => $"11.197.{i / 10}.{i % 10 + 10}").ToArray();
        var uids = Enumerable.Range(0, 600).Select(i => (1098370000000L + i * 7919).ToString(CultureInfo.InvariantCulture)).ToArray();
        var apis = Products.SelectMany(p => Verbs.SelectMany(v => Nouns.Take(3 + p.Length % 3).Select(n => (Product: p, Api: v + n)))).ToArray();
        WriteDimensions(Path.Combine(directory, "dimensions"), ips, uids, apis, rng);

        var files = new List<string>();
        var perLane = options.Records / options.Lanes;
        for (var lane = 0; lane < options.Lanes; lane++)
        {
            var path = Path.Combine(directory, $"lane-{lane}.jsonl" + (options.Gzip ? ".gz" : ""));
            files.Add(path);
            using var file = File.Create(path);
            using Stream stream = options.Gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
            var count = lane == options.Lanes - 1 ? options.Records - perLane * (options.Lanes - 1) : perLane;
            var laneRng = new Random(options.Seed * 1000 + lane);
            long newest = options.StartEpochSeconds;
            for (var i = 0; i < count; i++)
            {
                var progress = options.StartEpochSeconds + (long)i * options.DurationSeconds / Math.Max(1, count);
                newest = Math.Max(newest, progress);
                var time = newest - laneRng.Next(0, options.MaxDisorderSeconds + 1);
                var line = laneRng.NextDouble() < options.MalformedRate
                    ? Malformed(laneRng, time)
                    : Encoding.UTF8.GetBytes(Record(laneRng, time, ips, uids, apis, options.WarmupRate));
                stream.Write(line);
                stream.WriteByte((byte)'\n');
                if (laneRng.NextDouble() < 0.002) stream.WriteByte((byte)'\n');
            }
        }
        return files;
    }

    private static void WriteDimensions(string dir, string[] ips, string[] uids, (string Product, string Api)[] apis, Random rng)
    {
        Directory.CreateDirectory(dir);
        var cluster = new StringBuilder("local_ip,app_group,region_id\n");
        foreach (var ip in ips.Take(ips.Length - 6))
        {
            cluster.Append(CultureInfo.InvariantCulture, $"{ip},pop-region-{Regions[rng.Next(Regions.Length)]},{Regions[rng.Next(Regions.Length)]}\n");
        }
        File.WriteAllText(Path.Combine(dir, "gateway_cluster.csv"), cluster.ToString());
        var users = new StringBuilder("uid,gc_level\n");
        foreach (var uid in uids.Take(uids.Length * 9 / 10))
        {
            users.Append(CultureInfo.InvariantCulture, $"{uid},GC{5 + rng.Next(3)}\n");
        }
        File.WriteAllText(Path.Combine(dir, "user_level.csv"), users.ToString());
        var meta = new StringBuilder("product,api,priority\n");
        foreach (var (product, api) in apis.Where((_, i) => i % 7 != 3))
        {
            meta.Append(CultureInfo.InvariantCulture, $"{product},{api},P{rng.Next(4)}\n");
        }
        File.WriteAllText(Path.Combine(dir, "api_meta.csv"), meta.ToString());
    }

    private static string Record(Random rng, long time, string[] ips, string[] uids, (string Product, string Api)[] apis, double warmupRate)
    {
        var (product, api) = apis[rng.Next(apis.Length)];
        var region = Regions[rng.Next(Regions.Length)];
        var code = Codes[rng.Next(Codes.Length)];
        var rt = rng.NextDouble() < 0.05 ? rng.Next(1001, 5000) : rng.Next(1, 400);
        var uid = uids[rng.Next(uids.Length)];
        var ip = ips[rng.Next(ips.Length)];
        var error = code switch
        {
            429 => rng.Next(2) == 0 ? "Throttling.User" : "Throttling",
            >= 400 => code == 404 ? "ResourceNotFound" : "InternalError",
            _ => "",
        };
        var headers = new Dictionary<string, string>();
        for (var i = 0; i < 40; i++) headers[$"x-acs-header-{i}"] = RandomText(rng, 60);
        var ext5 = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["logRegionId"] = region,
            ["appGroup"] = $"pop-region-{region}",
            ["callerInfo"] = new Dictionary<string, object> { ["uid"] = uid, ["type"] = "customer", ["stsToken"] = RandomText(rng, 200) },
            ["headers"] = headers,
        }, TrafficJsonContext.Default.DictionaryStringObject);
        var content = rng.Next(3) switch
        {
            0 => $"RegionId={region};Action={api};Version=2024-04-02;SubRegionId=x",
            1 => $"Action={api};RegionId={region};Version=2024-04-02",
            _ => $"Action={api};Version=2024-04-02",
        };
        var writer = new ArrayBufferWriterStream();
        using (var w = new Utf8JsonWriter(writer, new JsonWriterOptions { Encoder = JavaScriptEncoder.Default }))
        {
            w.WriteStartObject();
            w.WriteString("AK", "STS.NZD***" + RandomText(rng, 4));
            w.WriteString("Api", api);
            w.WriteString("CallerUid", uid);
            w.WriteString("ClientIp", "192.168.xx.xx");
            w.WriteString("Domain", rng.NextDouble() < warmupRate ? "popwarmup.aliyuncs.com" : $"{product}-vpc.{region}.aliyuncs.com");
            if (error.Length > 0 || rng.Next(4) == 0) w.WriteString("ErrorCode", error);
            w.WriteString("Ext5", ext5);
            if (rng.Next(2) == 0) w.WriteNumber("HttpCode", code); else w.WriteString("HttpCode", code.ToString(CultureInfo.InvariantCulture));
            w.WriteString("LocalIp", ip);
            w.WriteString("Product", product);
            w.WriteString("RegionId", region);
            w.WriteString("RequestContent", content);
            if (rng.Next(2) == 0) w.WriteNumber("TotalUsedTime", rt); else w.WriteString("TotalUsedTime", rt.ToString(CultureInfo.InvariantCulture));
            w.WriteString("UserAgent", "AlibabaCloud (Linux; amd64) Java/1.8.0 Core/4.5.10 " + RandomText(rng, 80));
            w.WriteString("Version", "2024-04-02");
            if (rng.Next(2) == 0) w.WriteNumber("__time__", time); else w.WriteString("__time__", time.ToString(CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(writer.WrittenSpan);
    }

    private static byte[] Malformed(Random rng, long time) => rng.Next(8) switch
    {
        0 => "this is not json"u8.ToArray(),
        1 => Encoding.UTF8.GetBytes($"{{\"__time__\":{time},\"Product\":\"ecs\",\"Api\":\"Desc"),
        2 => Encoding.UTF8.GetBytes($"{{\"Product\":\"ecs\",\"Api\":\"X\",\"HttpCode\":200,\"TotalUsedTime\":3}}"),
        3 => Encoding.UTF8.GetBytes($"{{\"__time__\":\"{time}.5\",\"Product\":\"ecs\",\"Api\":\"X\",\"HttpCode\":200,\"TotalUsedTime\":3}}"),
        4 => Encoding.UTF8.GetBytes($"{{\"__time__\":{time},\"Product\":\"ecs\",\"Api\":\"X\",\"HttpCode\":\"abc\",\"TotalUsedTime\":3}}"),
        5 => Encoding.UTF8.GetBytes($"{{\"__time__\":{time},\"Product\":\"ecs\",\"Api\":\"X\",\"HttpCode\":200,\"TotalUsedTime\":-4}}"),
        6 => Encoding.UTF8.GetBytes($"[{time}]"),
        _ => [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D],
    };

    private static string RandomText(Random rng, int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        return string.Create(length, rng, (span, r) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = alphabet[r.Next(alphabet.Length)];
        });
    }

    private sealed class ArrayBufferWriterStream : Stream
    {
        private readonly MemoryStream _inner = new();

        public ReadOnlySpan<byte> WrittenSpan => _inner.GetBuffer().AsSpan(0, (int)_inner.Length);

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _inner.Length;
        public override long Position { get => _inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => _inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => _inner.Write(buffer);
    }
}

/// <summary>
/// Source-generated serializer of the generator's <c>Ext5</c> objects: the same JSON as the reflection
/// serializer with default options, without reflection (one step towards a Native AOT publish).
/// The <c>object</c> values are serialized by their runtime types, all registered here.
/// </summary>
[JsonSerializable(typeof(Dictionary<string, object>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(string))]
internal sealed partial class TrafficJsonContext : JsonSerializerContext;
