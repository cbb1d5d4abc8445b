namespace LogMetrics.IntegrationTests;

/// <summary>
/// The real <c>prometheus</c> binary with <c>--web.enable-remote-write-receiver</c>, no scrape targets.
/// Remote-write endpoint <see cref="RemoteWriteUri"/>; query with <see cref="Query"/>.
/// Prometheus rejects samples more than about 1 h older than the newest it holds ("out of bounds").
/// </summary>
public sealed class PrometheusFixture : ServerProcess
{
    public const string Binary = "/usr/bin/prometheus";

    public PrometheusFixture()
        : base(Binary, "apt-get update && apt-get install -y --no-install-recommends prometheus", Arguments, "-/ready")
    {
        Query = new PromQuery(Http, BaseUri);
    }

    public Uri RemoteWriteUri => new(BaseUri, "api/v1/write");

    public PromQuery Query { get; }

    private static IEnumerable<string> Arguments(int port, string dataDirectory)
    {
        var config = Path.Combine(dataDirectory, "prometheus.yml");
        File.WriteAllText(config, "global:\n  scrape_interval: 1m\nscrape_configs: []\n");
        return
        [
            "--config.file=" + config,
            "--storage.tsdb.path=" + Path.Combine(dataDirectory, "tsdb"),
            $"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
        ];
    }
}
