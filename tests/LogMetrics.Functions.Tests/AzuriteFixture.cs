using System.Globalization;
using LogMetrics.IntegrationTests;

namespace LogMetrics.Functions.Tests;

/// <summary>
/// The real Azurite (npm package <c>azurite</c>, installed by scripts/test.sh into the repository's
/// node_modules and started directly, never through npx) with its Blob and Table services on free
/// ports. A missing binary fails the test (never skips) with the command that installs it.
/// </summary>
public sealed class AzuriteFixture : ServerProcess
{
    /// <summary>Azurite's published development account and key (not secrets).</summary>
    private const string Account = "devstoreaccount1";
    private const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    public AzuriteFixture()
        : this(FreePort())
    {
    }

    private AzuriteFixture(int tablePort)
        : base(Binary, "npm install --no-save azurite@3.37.0 (from the repository root)", (blobPort, dir) => Arguments(blobPort, tablePort, dir), Account + "?comp=list", anyResponseIsReady: true)
    {
        TableUri = new Uri($"http://127.0.0.1:{tablePort.ToString(CultureInfo.InvariantCulture)}/{Account}");
        BlobUri = new Uri(BaseUri, Account);
        WaitForTables();
    }

    public static string Binary => Path.Combine(RepositoryRoot(), "node_modules", ".bin", "azurite");

    public Uri BlobUri { get; }

    public Uri TableUri { get; }

    /// <summary>A connection string for the SDK clients (the form DIMENSIONS_/DEADLETTER_CONNECTION_STRING take).</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};BlobEndpoint={BlobUri};TableEndpoint={TableUri};";

    private static IEnumerable<string> Arguments(int blobPort, int tablePort, string dataDirectory) =>
    [
        "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--location", dataDirectory,
        "--blobHost", "127.0.0.1", "--blobPort", blobPort.ToString(CultureInfo.InvariantCulture),
        "--queueHost", "127.0.0.1", "--queuePort", FreePort().ToString(CultureInfo.InvariantCulture),
        "--tableHost", "127.0.0.1", "--tablePort", tablePort.ToString(CultureInfo.InvariantCulture),
    ];

    /// <summary>The blob port answered; the table service starts in the same process, wait for it too.</summary>
    private void WaitForTables()
    {
        for (var attempt = 0; attempt < 600; attempt++)
        {
            try
            {
                using var response = Http.GetAsync(new Uri(TableUri + "/Tables")).GetAwaiter().GetResult();
                return;
            }
            catch (HttpRequestException)
            {
                Thread.Sleep(100);
            }
        }
        throw new InvalidOperationException($"Azurite's table service did not answer at {TableUri}:\n{Log}");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Functions.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("repository root (Functions.sln) not found above " + AppContext.BaseDirectory);
    }
}
