using System.Globalization;
using System.Text.Json;

namespace LogMetrics.IntegrationTests;

/// <summary>One element of an instant-query vector: labels, timestamp (ms) and value.</summary>
public sealed record PromPoint(IReadOnlyDictionary<string, string> Labels, long TimestampMs, double Value);

/// <summary>
/// Minimal Prometheus HTTP API client (<c>/api/v1/query</c>), shared by Prometheus and
/// VictoriaMetrics, for tests that read back what was written.
/// </summary>
public sealed class PromQuery(HttpClient http, Uri baseUri)
{
    /// <summary>Instant query <paramref name="promql"/> evaluated at <paramref name="time"/>.</summary>
    public async Task<IReadOnlyList<PromPoint>> InstantAsync(string promql, DateTimeOffset time, CancellationToken cancellationToken = default) =>
        await QueryAsync(promql, time, "vector", cancellationToken);

    /// <summary>
    /// Raw samples of every series matching a range selector such as <c>name[1d]</c>, evaluated at
    /// <paramref name="time"/> (a "matrix" result): what the server stored, not an evaluated value.
    /// </summary>
    public async Task<IReadOnlyList<PromPoint>> RawAsync(string rangeSelector, DateTimeOffset time, CancellationToken cancellationToken = default) =>
        await QueryAsync(rangeSelector, time, "matrix", cancellationToken);

    private async Task<IReadOnlyList<PromPoint>> QueryAsync(string promql, DateTimeOffset time, string resultType, CancellationToken cancellationToken)
    {
        var seconds = (time.ToUnixTimeMilliseconds() / 1000m).ToString(CultureInfo.InvariantCulture);
        var uri = new Uri(baseUri, $"api/v1/query?query={Uri.EscapeDataString(promql)}&time={seconds}");
        using var response = await http.GetAsync(uri, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"GET {uri} → {(int)response.StatusCode}: {body}");
        using var json = JsonDocument.Parse(body);
        var data = json.RootElement.GetProperty("data");
        if (data.GetProperty("resultType").GetString() != resultType) throw new InvalidOperationException($"expected a {resultType} from {promql}: {body}");
        var points = new List<PromPoint>();
        foreach (var item in data.GetProperty("result").EnumerateArray())
        {
            var labels = item.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.Ordinal);
            var values = resultType == "vector" ? [item.GetProperty("value")] : item.GetProperty("values").EnumerateArray().ToArray();
            foreach (var value in values)
            {
                points.Add(new PromPoint(labels, (long)Math.Round(value[0].GetDouble() * 1000), ParseValue(value[1].GetString()!)));
            }
        }
        return points;
    }

    /// <summary>Polls <see cref="InstantAsync"/> until it returns something or <paramref name="limit"/> passes.</summary>
    public async Task<IReadOnlyList<PromPoint>> InstantEventuallyAsync(string promql, DateTimeOffset time, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var points = await InstantAsync(promql, time);
            if (points.Count > 0 || DateTime.UtcNow > deadline) return points;
            await Task.Delay(200);
        }
    }

    /// <summary>A series selector: <c>name{a="x",b="y"}</c> with values escaped.</summary>
    public static string Selector(string name, IEnumerable<KeyValuePair<string, string>> labels) =>
        name + "{" + string.Join(",", labels.Select(l => $"{l.Key}=\"{l.Value.Replace("\\", "\\\\").Replace("\"", "\\\"")}\"")) + "}";

    private static double ParseValue(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };
}
