namespace LogMetrics.IntegrationTests;

/// <summary>
/// The real single-node VictoriaMetrics binary (Debian package <c>victoria-metrics</c>). It accepts
/// backfill of any age (retention 100 y). Remote-write endpoint <see cref="RemoteWriteUri"/>; call
/// <see cref="FlushAsync"/> before querying so just-written samples are searchable.
/// </summary>
public sealed class VictoriaMetricsFixture : ServerProcess
{
    public const string Binary = "/usr/bin/victoria-metrics";

    public VictoriaMetricsFixture()
        : base(Binary, "apt-get update && apt-get install -y victoria-metrics (binary: see `dpkg -L victoria-metrics`)", Arguments, "health")
    {
        Query = new PromQuery(Http, BaseUri);
    }

    public Uri RemoteWriteUri => new(BaseUri, "api/v1/write");

    public PromQuery Query { get; }

    /// <summary>Makes recently ingested samples visible to queries.</summary>
    public async Task FlushAsync()
    {
        using var response = await Http.GetAsync(new Uri(BaseUri, "internal/force_flush"));
        response.EnsureSuccessStatusCode();
    }

    private static IEnumerable<string> Arguments(int port, string dataDirectory) =>
    [
        $"-httpListenAddr=127.0.0.1:{port}",
        "-storageDataPath=" + Path.Combine(dataDirectory, "vm"),
        "-retentionPeriod=100y",
        // Instant queries at a past time need no "latency offset" for recent points.
        "-search.latencyOffset=0s",
    ];
}
