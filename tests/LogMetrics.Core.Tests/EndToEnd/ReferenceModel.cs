using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace LogMetrics.Core.Tests.EndToEnd;

/// <summary>
/// A second, deliberately naive implementation of DESIGN §3–§4 for the flagship pipeline, written
/// from the design text only: JsonDocument per line, dictionaries everywhere, one event at a time,
/// lanes interleaved round-robin one line per turn. It shares no code with the pipeline.
/// </summary>
public static class ReferenceModel
{
    public sealed record Point(string Name, SortedDictionary<string, string> Labels, long Timestamp, double Value)
    {
        public string Key => Name + "{" + string.Join(",", Labels.Select(l => l.Key + "=" + l.Value)) + "}@" + Timestamp;
    }

    public sealed record Result(List<Point> Points, long Events, long Accepted, long Malformed, long Filtered, long Late);

    private sealed class Acc
    {
        public long Count;
        public long C5xx;
        public double RtSum;
        public long Success;
        public long Slow;
        public long C503;
        public long Limiting;
    }

    public static Result Run(IReadOnlyList<string> files, string dimensionsDir)
    {
        var cluster = Csv(Path.Combine(dimensionsDir, "gateway_cluster.csv")).ToDictionary(r => r["local_ip"]);
        var users = Csv(Path.Combine(dimensionsDir, "user_level.csv")).ToDictionary(r => r["uid"]);
        var apis = Csv(Path.Combine(dimensionsDir, "api_meta.csv")).ToDictionary(r => r["product"] + "\u0000" + r["api"]);

        var lanes = files.Select(ReadLines).ToList();
        var laneMax = new long?[lanes.Count];
        var finished = new bool[lanes.Count];
        long globalClosed = long.MinValue;
        long events = 0, accepted = 0, malformed = 0, filtered = 0, late = 0;
        // (family, labels, window start) → accumulator
        var windows = new Dictionary<(string Family, string LabelKey, long Start), (SortedDictionary<string, string> Labels, Acc Acc)>();

        for (var i = 0; finished.Any(f => !f); i++)
        {
            for (var lane = 0; lane < lanes.Count; lane++)
            {
                if (finished[lane]) continue;
                if (i >= lanes[lane].Count)
                {
                    finished[lane] = true;
                    continue;
                }
                var line = lanes[lane][i];
                if (line.All(b => b is (byte)' ' or (byte)'\t' or (byte)'\r')) continue;
                events++;
                var rec = Validate(line);
                if (rec is null) { malformed++; continue; }
                if (rec.TryGetValue("Domain", out var domain) && domain == "popwarmup.aliyuncs.com") { filtered++; continue; }
                accepted++;
                var t = long.Parse(rec["__time__"], CultureInfo.InvariantCulture);
                laneMax[lane] = Math.Max(laneMax[lane] ?? long.MinValue, t);
                var live = Enumerable.Range(0, lanes.Count).Where(l => !finished[l] && i < lanes[l].Count).ToList();
                var global = live.Select(l => laneMax[l] is { } m ? m - 5 : long.MinValue).DefaultIfEmpty(long.MinValue).Min();
                globalClosed = Math.Max(globalClosed, global);
                var baseStart = t - Mod(t, 10);
                if (baseStart + 10 <= globalClosed) { late++; continue; }

                // Enrich
                var ip = rec.GetValueOrDefault("LocalIp", "");
                string appGroup, regionId;
                if (cluster.TryGetValue(ip, out var row)) { appGroup = row["app_group"]; regionId = row["region_id"]; }
                else { appGroup = rec.GetValueOrDefault("ext5_appGroup", ""); regionId = rec.GetValueOrDefault("RegionId", ""); }
                var gc = users.TryGetValue(rec.GetValueOrDefault("CallerUid", ""), out var u) ? u["gc_level"] : "";
                var priority = apis.TryGetValue(rec["Product"] + "\u0000" + rec["Api"], out var a) ? a["priority"] : "";

                var code = long.Parse(rec["HttpCode"], CultureInfo.InvariantCulture);
                var rt = long.Parse(rec["TotalUsedTime"], CultureInfo.InvariantCulture);
                var error = rec.GetValueOrDefault("ErrorCode", "");

                void Add(string family, long resolution, params (string, string)[] labels)
                {
                    var sorted = new SortedDictionary<string, string>(StringComparer.Ordinal);
                    foreach (var (k, v) in labels) sorted[k] = string.IsNullOrEmpty(v) ? "unknown" : v;
                    var start = (t - Mod(t, resolution)) * 1000;
                    var key = (family, string.Join("\u0001", sorted.Select(x => x.Key + "=" + x.Value)), start);
                    if (!windows.TryGetValue(key, out var w)) windows[key] = w = (sorted, new Acc());
                    var acc = w.Acc;
                    acc.Count++;
                    if (code >= 500) acc.C5xx++;
                    acc.RtSum += rt;
                    if (code >= 200 && code < 300) acc.Success++;
                    if (rt > 1000) acc.Slow++;
                    if (code == 503) acc.C503++;
                    if (code == 429 || error.StartsWith("Throttling", StringComparison.Ordinal)) acc.Limiting++;
                }

                Add("product", 10, ("product", rec["Product"]), ("region_id", regionId), ("biz_region_id", rec.GetValueOrDefault("request_region_id", "")));
                Add("api", 60, ("product", rec["Product"]), ("api", rec["Api"]), ("version", rec.GetValueOrDefault("Version", "")), ("priority", priority));
                Add("http_code", 60, ("product", rec["Product"]), ("api", rec["Api"]), ("http_code", code.ToString(CultureInfo.InvariantCulture)));
                if (error.Length > 0) Add("error_code", 60, ("product", rec["Product"]), ("api", rec["Api"]), ("error_code", error));
                Add("tenant", 60, ("uid", rec.GetValueOrDefault("CallerUid", "")), ("gc_level", gc));
            }
        }

        var points = new List<Point>();
        foreach (var ((family, _, start), (labels, acc)) in windows)
        {
            void P(string name, double value) => points.Add(new Point(name, labels, start, value));
            switch (family)
            {
                case "product":
                    P("namespace_product_gw_http_req", acc.Count);
                    P("namespace_product_gw_http_5xx", acc.C5xx);
                    P("namespace_product_gw_rt_mean", acc.RtSum / acc.Count);
                    P("namespace_product_gw_success_rate", (double)acc.Success / acc.Count);
                    break;
                case "api":
                    P("namespace_api_gw_http_req", acc.Count);
                    P("namespace_api_gw_http_5xx", acc.C5xx);
                    P("namespace_api_gw_slow_http_req", acc.Slow);
                    P("namespace_api_gw_http503_rate", (double)acc.C503 / acc.Count);
                    break;
                case "http_code":
                    P("namespace_error_code_gw_http_code", acc.Count);
                    break;
                case "error_code":
                    P("namespace_error_code_gw_error_code", acc.Count);
                    break;
                case "tenant":
                    P("namespace_tenant_gw_http_req", acc.Count);
                    P("namespace_tenant_gw_api_req_limiting_rate", (double)acc.Limiting / acc.Count);
                    break;
            }
        }
        return new Result(points, events, accepted, malformed, filtered, late);
    }

    private static long Mod(long t, long m) => ((t % m) + m) % m;

    /// <summary>The accepted-record rules of DESIGN §4; returns the fields as text, or null when malformed.</summary>
    private static Dictionary<string, string>? Validate(byte[] line)
    {
        string text;
        try { text = new UTF8Encoding(false, true).GetString(line); }
        catch (DecoderFallbackException) { return null; }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text); }
        catch (JsonException) { return null; }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return null;
            var fields = new Dictionary<string, string>();
            foreach (var p in root.EnumerateObject())
            {
                switch (p.Value.ValueKind)
                {
                    case JsonValueKind.String: fields[p.Name] = p.Value.GetString()!; break;
                    case JsonValueKind.Number: fields[p.Name] = p.Value.GetRawText(); break;
                    default: fields.Remove(p.Name); break;
                }
            }
            string? Int(string name, bool nonNegative)
            {
                if (!root.TryGetProperty(name, out var v)) return null;
                string digits;
                if (v.ValueKind == JsonValueKind.Number)
                {
                    var raw = v.GetRawText();
                    if (raw.Contains('.') || raw.Contains('e') || raw.Contains('E')) return null;
                    digits = raw;
                }
                else if (v.ValueKind == JsonValueKind.String)
                {
                    digits = v.GetString()!;
                    if (digits.Length == 0 || !digits.All(char.IsAsciiDigit)) return null;
                }
                else return null;
                if (!long.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)) return null;
                if (nonNegative && n < 0) return null;
                return n.ToString(CultureInfo.InvariantCulture);
            }
            var time = Int("__time__", true);
            var code = Int("HttpCode", false);
            var rt = Int("TotalUsedTime", true);
            if (time is null || code is null || rt is null) return null;
            if (!root.TryGetProperty("Product", out var product) || product.ValueKind != JsonValueKind.String) return null;
            if (!root.TryGetProperty("Api", out var api) || api.ValueKind != JsonValueKind.String) return null;
            fields["__time__"] = time;
            fields["HttpCode"] = code;
            fields["TotalUsedTime"] = rt;

            if (fields.TryGetValue("Ext5", out var ext5) && root.GetProperty("Ext5").ValueKind == JsonValueKind.String)
            {
                try
                {
                    using var inner = JsonDocument.Parse(ext5);
                    if (inner.RootElement.ValueKind == JsonValueKind.Object
                        && inner.RootElement.TryGetProperty("appGroup", out var g) && g.ValueKind == JsonValueKind.String)
                    {
                        fields["ext5_appGroup"] = g.GetString()!;
                    }
                }
                catch (JsonException)
                {
                    // invalid Ext5: no ext5_* fields
                }
            }
            if (fields.TryGetValue("RequestContent", out var content))
            {
                foreach (var pair in content.Split(';'))
                {
                    var eq = pair.IndexOf('=');
                    if (eq > 0 && pair[..eq] == "RegionId") fields["request_region_id"] = pair[(eq + 1)..];
                }
            }
            return fields;
        }
    }

    private static List<byte[]> ReadLines(string path)
    {
        using Stream file = File.OpenRead(path);
        using var stream = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        var bytes = ms.ToArray();
        var lines = new List<byte[]>();
        var start = 0;
        for (var i = 0; i <= bytes.Length; i++)
        {
            if (i == bytes.Length || bytes[i] == (byte)'\n')
            {
                if (i == bytes.Length && start == i) break;
                var end = i > start && bytes[i - 1] == (byte)'\r' ? i - 1 : i;
                lines.Add(bytes[start..end]);
                start = i + 1;
            }
        }
        return lines;
    }

    private static List<Dictionary<string, string>> Csv(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToList();
        var header = lines[0].Split(',');
        return [.. lines.Skip(1).Select(l => header.Zip(l.Split(',')).ToDictionary(x => x.First, x => x.Second))];
    }
}
