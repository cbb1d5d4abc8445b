using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace LogMetrics.IntegrationTests;

/// <summary>
/// Just enough of the Azure Table service REST API (JSON, SharedKeyLite) to put dimension rows into
/// Azurite and read them back, for tests. Azure.Data.Tables is not on this machine's package mirror;
/// the Functions app uses the SDK, and both go through the same core mapping (DimensionEntity).
/// The account and key are Azurite's published development credentials, not secrets.
/// </summary>
public sealed class TableRestClient(HttpClient http, Uri accountUri)
{
    private const string Account = "devstoreaccount1";
    private static readonly byte[] Key = Convert.FromBase64String("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==");

    public async Task CreateTableAsync(string table)
    {
        using var response = await SendAsync(HttpMethod.Post, "Tables", "", JsonSerializer.Serialize(new { TableName = table }));
        if (response.StatusCode != HttpStatusCode.Conflict) await EnsureAsync(response);
    }

    public async Task InsertAsync(string table, string partitionKey, string rowKey, IReadOnlyDictionary<string, string> properties)
    {
        var body = new Dictionary<string, string> { ["PartitionKey"] = partitionKey, ["RowKey"] = rowKey };
        foreach (var (name, value) in properties)
        {
            body[name] = value;
            body[name + "@odata.type"] = "Edm.String";
        }
        using var response = await SendAsync(HttpMethod.Post, table, "", JsonSerializer.Serialize(body));
        await EnsureAsync(response);
    }

    /// <summary>Every entity of a partition, following continuation tokens; each as (RowKey, properties).</summary>
    public async Task<List<(string RowKey, Dictionary<string, string> Properties)>> QueryPartitionAsync(string table, string partitionKey)
    {
        var entities = new List<(string, Dictionary<string, string>)>();
        var filter = "$filter=" + Uri.EscapeDataString($"PartitionKey eq '{partitionKey.Replace("'", "''", StringComparison.Ordinal)}'");
        string? next = null;
        do
        {
            using var response = await SendAsync(HttpMethod.Get, table + "()", filter + next, null);
            await EnsureAsync(response);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            entities.AddRange(json.RootElement.GetProperty("value").EnumerateArray().Select(Entity));
            next = response.Headers.TryGetValues("x-ms-continuation-NextPartitionKey", out var pk)
                ? $"&NextPartitionKey={Uri.EscapeDataString(pk.First())}&NextRowKey={Uri.EscapeDataString(response.Headers.GetValues("x-ms-continuation-NextRowKey").First())}"
                : null;
        }
        while (next is not null);
        return entities;
    }

    /// <summary>One entity by its keys (the lru policy's point read), or null.</summary>
    public async Task<(string RowKey, Dictionary<string, string> Properties)?> GetAsync(string table, string partitionKey, string rowKey)
    {
        static string Quote(string k) => Uri.EscapeDataString(k.Replace("'", "''", StringComparison.Ordinal));
        using var response = await SendAsync(HttpMethod.Get, $"{table}(PartitionKey='{Quote(partitionKey)}',RowKey='{Quote(rowKey)}')", "", null);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        await EnsureAsync(response);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return Entity(json.RootElement);
    }

    private static (string, Dictionary<string, string>) Entity(JsonElement e) =>
        (e.GetProperty("RowKey").GetString()!, e.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText(), StringComparer.Ordinal));

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string resource, string query, string? body)
    {
        var uri = new Uri(accountUri, resource + (query.Length > 0 ? "?" + query : ""));
        var request = new HttpRequestMessage(method, uri);
        var date = DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture);
        request.Headers.Add("x-ms-date", date);
        request.Headers.Add("x-ms-version", "2019-02-02");
        request.Headers.Add("DataServiceVersion", "3.0;NetFx");
        request.Headers.Add("MaxDataServiceVersion", "3.0;NetFx");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json") { Parameters = { new NameValueHeaderValue("odata", "nometadata") } });
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            request.Headers.Add("Prefer", "return-no-content");
        }
        // SharedKeyLite for the Table service: date + "\n" + canonicalized resource; with path-style
        // (emulator) addresses the account name appears twice.
        var canonical = $"/{Account}{uri.AbsolutePath}";
        var signature = Convert.ToBase64String(HMACSHA256.HashData(Key, Encoding.UTF8.GetBytes(date + "\n" + canonical)));
        request.Headers.Authorization = new AuthenticationHeaderValue("SharedKeyLite", $"{Account}:{signature}");
        return await http.SendAsync(request);
    }

    private static async Task EnsureAsync(HttpResponseMessage response)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }
}
