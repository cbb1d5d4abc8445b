using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using LogMetrics.Core.Parse;
using LogMetrics.Functions.Hosting;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogMetrics.Functions.Tests;

/// <summary>
/// Dead letters against a real Azurite blob service: a batch that fails on its last attempt is stored
/// whole in the container with its reason, and <c>logmetrics replay</c> of the stored files gives the
/// samples of the committed independent oracle (tools/oracle) for the same records; malformed events
/// are stored per batch; nothing is stored before the last attempt; the counters are read back.
/// </summary>
public sealed class DeadLetterContainerTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    private static string Golden(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "TestData", "golden", .. parts]);

    private sealed class Retry(int count, int max) : RetryContext
    {
        public override int RetryCount => count;

        public override int MaxRetryCount => max;
    }

    private BlobContainerClient NewContainer() =>
        new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("dl" + Guid.NewGuid().ToString("N")[..12]);

    private static List<byte[]> Lines(string path)
    {
        using Stream file = File.OpenRead(path);
        using var input = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var all = new MemoryStream();
        input.CopyTo(all);
        var text = all.ToArray();
        var lines = new List<byte[]>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != (byte)'\n') continue;
            lines.Add(text[start..i]);
            start = i + 1;
        }
        if (start < text.Length) lines.Add(text[start..]);
        return lines;
    }

    private static byte[] Gunzip(BinaryData data)
    {
        using var gzip = new GZipStream(data.ToStream(), CompressionMode.Decompress);
        using var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }

    private static async Task<(int ExitCode, string Output)> ReplayAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "logmetrics.dll"));
        start.ArgumentList.Add("replay");
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    private static Dictionary<string, double> Samples(string path)
    {
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(path))
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            var labels = root.GetProperty("labels").EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Name + "=" + p.Value.GetString());
            samples.Add(root.GetProperty("name").GetString() + "{" + string.Join(",", labels) + "}@" + root.GetProperty("timestamp").GetInt64(), root.GetProperty("value").GetDouble());
        }
        return samples;
    }

    [Fact]
    public async Task BatchFailingOnLastAttempt_IsStoredWhole_AndReplayGivesTheOracleSamples()
    {
        var container = NewContainer();
        var deadLetters = new IngestDeadLetters(new BlobDeadLetterStore(container), NullLogger<IngestDeadLetters>.Instance);
        // The golden corpus's two lanes as two Event Hubs batches (partitions 0 and 1, sequence numbers from 1000 and 7000).
        var batches = new[] { ("0", Lines(Golden("lane-0.jsonl")), 1000L), ("1", Lines(Golden("lane-1.jsonl.gz")), 7000L) };
        var error = new InvalidOperationException("shard entity signal failed: 503 from the task hub");

        foreach (var (lane, bodies, first) in batches)
        {
            var sequence = Enumerable.Range(0, bodies.Count).Select(i => first + i).ToArray();
            Assert.False(await deadLetters.BatchFailedAsync(lane, bodies, sequence, error, new Retry(4, 5), 5, CancellationToken.None));
            Assert.True(await deadLetters.BatchFailedAsync(lane, bodies, sequence, error, new Retry(5, 5), 5, CancellationToken.None));
        }

        var names = new List<string>();
        await foreach (var item in container.GetBlobsAsync()) names.Add(item.Name);
        // lane-1.jsonl.gz has 601 lines: 600 events and a blank line (an empty event body).
        Assert.Equal((600, 601), (batches[0].Item2.Count, batches[1].Item2.Count));
        Assert.Equal(["deadletter/0/1000-1599.json", "deadletter/0/1000-1599.jsonl.gz", "deadletter/1/7000-7600.json", "deadletter/1/7000-7600.jsonl.gz"], names.Order(StringComparer.Ordinal));

        var dir = Directory.CreateTempSubdirectory("lm-dead-").FullName;
        var files = new List<string>();
        foreach (var (lane, bodies, first) in batches)
        {
            var last = first + bodies.Count - 1;
            var blob = container.GetBlobClient(DeadLetterFiles.FailedBatchPath(lane, first, last));
            var properties = (await blob.GetPropertiesAsync()).Value;
            Assert.Equal(lane, properties.Metadata["lane"]);
            Assert.Equal(first.ToString(CultureInfo.InvariantCulture), properties.Metadata["first"]);
            Assert.Equal(last.ToString(CultureInfo.InvariantCulture), properties.Metadata["last"]);
            Assert.Equal(bodies.Count.ToString(CultureInfo.InvariantCulture), properties.Metadata["events"]);
            Assert.Equal("6", properties.Metadata["attempts"]);
            Assert.Equal("System.InvalidOperationException: shard entity signal failed: 503 from the task hub", properties.Metadata["reason"]);

            using var sidecar = JsonDocument.Parse((await container.GetBlobClient(DeadLetterFiles.SidecarPath(lane, first, last)).DownloadContentAsync()).Value.Content);
            Assert.Equal(Enumerable.Range(0, bodies.Count).Select(i => first + i), sidecar.RootElement.GetProperty("sequenceNumbers").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Equal(properties.Metadata["reason"], sidecar.RootElement.GetProperty("reason").GetString());

            // The blob is the batch, byte for byte, one event per line.
            var content = (await blob.DownloadContentAsync()).Value.Content;
            Assert.Equal(bodies.SelectMany(b => b.Append((byte)'\n')).ToArray(), Gunzip(content));
            var path = Path.Combine(dir, $"partition-{lane}-{first}-{last}.jsonl.gz");
            await File.WriteAllBytesAsync(path, content.ToArray());
            files.Add(path);
        }

        var (samples, summary) = (Path.Combine(dir, "samples.jsonl"), Path.Combine(dir, "summary.json"));
        var (exitCode, output) = await ReplayAsync(["--pipeline", Path.Combine(AppContext.BaseDirectory, "pipeline.json"), "--dimensions", Golden("dimensions"),
            "--out", samples, "--summary", summary, "--quiet", .. files]);
        Assert.True(exitCode == 0, output);

        // The oracle's samples for these records (tools/oracle/reference.py over the golden lanes).
        var expected = Samples(Golden("expected.jsonl"));
        var got = Samples(samples);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), got.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, value) in expected)
        {
            Assert.True(Math.Abs(value - got[key]) <= 1e-9 * Math.Max(1, Math.Abs(value)), $"{key}: expected {value}, got {got[key]}");
        }
        using var want = JsonDocument.Parse(await File.ReadAllTextAsync(Golden("expected-summary.json")));
        using var have = JsonDocument.Parse(await File.ReadAllTextAsync(summary));
        foreach (var key in new[] { "events", "accepted", "malformed", "filtered", "late", "samples" })
        {
            Assert.Equal(want.RootElement.GetProperty(key).GetInt64(), have.RootElement.GetProperty(key).GetInt64());
        }
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task MalformedEvents_AreStoredPerBatch_AsDeadJsonl()
    {
        var container = NewContainer();
        var deadLetters = new IngestDeadLetters(new BlobDeadLetterStore(container), NullLogger<IngestDeadLetters>.Instance);
        byte[] notUtf8 = [0x7B, 0xFF, 0xFE, 0x7D];
        var sink = (IDeadLetterSink)deadLetters;
        sink.Write(new DeadLetter("2", 11, "not valid JSON", Encoding.UTF8.GetBytes("{\"__time__\": ")));
        sink.Write(new DeadLetter("2", 17, "not valid UTF-8", notUtf8));
        sink.Write(new DeadLetter("5", 3, "other lane", Encoding.UTF8.GetBytes("x")));

        await deadLetters.StoreMalformedAsync("2", 10, 20, CancellationToken.None);
        await deadLetters.StoreMalformedAsync("2", 21, 30, CancellationToken.None);   // nothing pending: nothing written

        var names = new List<string>();
        await foreach (var item in container.GetBlobsAsync()) names.Add(item.Name);
        Assert.Equal(["deadletter/2/malformed/10-20.jsonl.gz"], names);
        var blob = container.GetBlobClient(DeadLetterFiles.MalformedPath("2", 10, 20));
        Assert.Equal("2", (await blob.GetPropertiesAsync()).Value.Metadata["malformed"]);
        var lines = Encoding.UTF8.GetString(Gunzip((await blob.DownloadContentAsync()).Value.Content)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        using var second = JsonDocument.Parse(lines[1]);
        Assert.Equal(("2", 11L, "not valid JSON", "{\"__time__\": ", "utf-8"), (first.RootElement.GetProperty("lane").GetString(), first.RootElement.GetProperty("line").GetInt64(),
            first.RootElement.GetProperty("reason").GetString(), first.RootElement.GetProperty("raw").GetString(), first.RootElement.GetProperty("encoding").GetString()));
        Assert.Equal(17L, second.RootElement.GetProperty("line").GetInt64());
        Assert.Equal("base64", second.RootElement.GetProperty("encoding").GetString());
        Assert.Equal(notUtf8, Convert.FromBase64String(second.RootElement.GetProperty("raw").GetString()!));
    }

    [Fact]
    public async Task FailedBatch_ItsMalformedLettersAreNotStoredSeparately()
    {
        var container = NewContainer();
        var deadLetters = new IngestDeadLetters(new BlobDeadLetterStore(container), NullLogger<IngestDeadLetters>.Instance);
        ((IDeadLetterSink)deadLetters).Write(new DeadLetter("4", 1, "not valid JSON", Encoding.UTF8.GetBytes("{")));

        // An attempt fails before the end: its letters are dropped (the retry parses the batch again).
        Assert.False(await deadLetters.BatchFailedAsync("4", [Encoding.UTF8.GetBytes("{")], [1], new TimeoutException("slow"), null, 5, CancellationToken.None));
        await deadLetters.StoreMalformedAsync("4", 1, 1, CancellationToken.None);

        await container.CreateIfNotExistsAsync();
        await foreach (var item in container.GetBlobsAsync()) Assert.Fail($"nothing should be stored, found {item.Name}");
    }

    [Theory]
    [InlineData(null, null, 5, false)]   // first attempt: the host sends no retry context
    [InlineData(null, null, 0, true)]    // no retries configured: the first attempt is the last
    [InlineData(1, 5, 5, false)]
    [InlineData(4, 5, 5, false)]
    [InlineData(5, 5, 5, true)]
    [InlineData(3, 3, 5, true)]          // the host's count wins over the attribute's
    [InlineData(100, -1, 5, false)]      // -1: retried forever, never dead-lettered
    public void IsLastAttempt_FollowsTheHostsRetryLoop(int? count, int? max, int configured, bool last)
    {
        var retry = count is null ? null : new Retry(count.Value, max!.Value);

        Assert.Equal(last, IngestDeadLetters.IsLastAttempt(retry, configured));
    }
}
