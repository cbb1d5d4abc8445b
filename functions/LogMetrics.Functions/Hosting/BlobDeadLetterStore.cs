using System.Globalization;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using LogMetrics.Core.Parse;

namespace LogMetrics.Functions.Hosting;

/// <summary>
/// Dead letters in a Blob container (<c>DEADLETTER_CONTAINER</c>), laid out by <see cref="DeadLetterFiles"/>.
/// A failed batch is a gzip lane file with its reason in the blob metadata (<c>lane</c>, <c>first</c>,
/// <c>last</c>, <c>events</c>, <c>attempts</c>, <c>reason</c>: ASCII, at most 1,024 characters) and in
/// full in a JSON sidecar. Uploads overwrite, so a redelivered batch replaces its own file. The container
/// is created on first use when missing (infra/ creates it in Azure, with Storage Blob Data Contributor
/// for the app's identity on the container).
/// </summary>
public sealed class BlobDeadLetterStore(BlobContainerClient container) : IDeadLetterStore
{
    /// <summary>Longest reason kept in the metadata; the sidecar holds all of it.</summary>
    public const int MaxMetadataReason = 1024;

    private volatile bool _created;

    public BlobContainerClient Container => container;

    public async Task StoreFailedBatchAsync(FailedBatch batch, CancellationToken cancellationToken)
    {
        await EnsureContainerAsync(cancellationToken).ConfigureAwait(false);
        using var content = new MemoryStream();
        DeadLetterFiles.WriteLaneFile(content, batch.Bodies);
        content.Position = 0;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["lane"] = Ascii(batch.Lane, 256),
            ["first"] = batch.First.ToString(CultureInfo.InvariantCulture),
            ["last"] = batch.Last.ToString(CultureInfo.InvariantCulture),
            ["events"] = batch.Bodies.Count.ToString(CultureInfo.InvariantCulture),
            ["attempts"] = batch.Attempts.ToString(CultureInfo.InvariantCulture),
            ["reason"] = Ascii(batch.Reason, MaxMetadataReason),
        };
        // AZURE-API: BlobClient.UploadAsync(Stream, BlobUploadOptions, CancellationToken) overwrites unless Conditions are set.
        await container.GetBlobClient(DeadLetterFiles.SidecarPath(batch.Lane, batch.First, batch.Last)).UploadAsync(
            new BinaryData(DeadLetterFiles.Sidecar(batch)),
            new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" }, Metadata = metadata },
            cancellationToken).ConfigureAwait(false);
        await container.GetBlobClient(DeadLetterFiles.FailedBatchPath(batch.Lane, batch.First, batch.Last)).UploadAsync(
            content,
            new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/gzip" }, Metadata = metadata },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task StoreMalformedAsync(string lane, long first, long last, IReadOnlyList<DeadLetter> letters, CancellationToken cancellationToken)
    {
        await EnsureContainerAsync(cancellationToken).ConfigureAwait(false);
        using var content = new MemoryStream();
        DeadLetterFiles.WriteMalformedFile(content, letters);
        content.Position = 0;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["lane"] = Ascii(lane, 256),
            ["first"] = first.ToString(CultureInfo.InvariantCulture),
            ["last"] = last.ToString(CultureInfo.InvariantCulture),
            ["malformed"] = letters.Count.ToString(CultureInfo.InvariantCulture),
        };
        await container.GetBlobClient(DeadLetterFiles.MalformedPath(lane, first, last)).UploadAsync(
            content,
            new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/gzip" }, Metadata = metadata },
            cancellationToken).ConfigureAwait(false);
    }

    private async Task EnsureContainerAsync(CancellationToken cancellationToken)
    {
        // Two concurrent first calls may both ask; CreateIfNotExists makes that harmless.
        if (_created) return;
        try
        {
            await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status == 403)
        {
            // An identity with rights on the blobs but not to create containers: infra/ created it; the upload says if not.
        }
        _created = true;
    }

    /// <summary>A metadata value: printable ASCII only (others become '?'), cut to <paramref name="max"/> characters.</summary>
    internal static string Ascii(string value, int max)
    {
        var text = new StringBuilder(Math.Min(value.Length, max));
        foreach (var c in value)
        {
            if (text.Length == max) break;
            text.Append(c is >= ' ' and <= '~' ? c : '?');
        }
        return text.ToString();
    }
}
