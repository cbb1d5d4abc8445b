namespace LogMetrics.IntegrationTests;

/// <summary>
/// The real Azurite (npm package <c>azurite</c>, installed by scripts/test.sh into the repository's
/// node_modules and started directly, never through npx) with its Table service on a free port.
/// </summary>
public sealed class AzuriteFixture : ServerProcess
{
    public AzuriteFixture()
        : base(Binary, "npm install --no-save azurite (from the repository root)", Arguments, "devstoreaccount1/Tables", anyResponseIsReady: true)
    {
        Tables = new TableRestClient(Http, new Uri(BaseUri, "devstoreaccount1/"));
    }

    public static string Binary => Path.Combine(RepositoryRoot(), "node_modules", ".bin", "azurite");

    public TableRestClient Tables { get; }

    private static IEnumerable<string> Arguments(int port, string dataDirectory) =>
    [
        "--silent", "--disableTelemetry", "--location", dataDirectory,
        "--blobHost", "127.0.0.1", "--blobPort", FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--queueHost", "127.0.0.1", "--queuePort", FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--tableHost", "127.0.0.1", "--tablePort", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
    ];

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Functions.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("repository root (Functions.sln) not found above " + AppContext.BaseDirectory);
    }
}
