using System.IO.Compression;
using System.Text;
using LogMetrics.Core.Tests.Support;

namespace LogMetrics.Core.Tests.Prune;

/// <summary>
/// A compiled pipeline's steps are shared by every lane's pipeline in a process (the Functions app
/// runs partitions concurrently; replay runs lanes in parallel rounds). Each thread has its own
/// parser and record; the steps must hold no per-call state.
/// </summary>
public class SharedStepsConcurrencyTests
{
    private static List<byte[]> GoldenLines()
    {
        using var gz = new GZipStream(File.OpenRead(Path.Combine(AppContext.BaseDirectory, "TestData", "golden", "lane-1.jsonl.gz")), CompressionMode.Decompress);
        using var reader = new StreamReader(gz, new UTF8Encoding(false, false));
        var lines = new List<byte[]>();
        while (reader.ReadLine() is { } line) lines.Add(Encoding.UTF8.GetBytes(line));
        return lines;
    }

    private static List<string> Run(IReadOnlyList<byte[]> lines)
    {
        var p = Flagship.Pipeline;
        var parser = p.CreateParser();
        var record = p.CreateRecord();
        p.Fields.TryGet("ext5_appGroup", out var appGroup);
        p.Fields.TryGet("request_region_id", out var region);
        var results = new List<string>(lines.Count);
        foreach (var line in lines)
        {
            if (parser.Parse(line, record) is { } reason) { results.Add("malformed:" + reason); continue; }
            var kept = p.Steps.All(step => step.Apply(record));
            results.Add(kept ? $"{record.Values[appGroup].AsText}|{record.Values[region].AsText}" : "filtered");
        }
        return results;
    }

    [Fact]
    public void Steps_SharedAcrossThreads_SameResultsAsOneThread()
    {
        var lines = GoldenLines();
        var expected = Run(lines);
        Assert.Contains(expected, r => r.Contains("pop-region", StringComparison.Ordinal) || r.StartsWith("cn-", StringComparison.Ordinal) || r.Contains('|'));

        // Threads released together, many rounds: a step with per-call state in a field shows up as
        // an exception ("collection was modified") or a wrong field in some round.
        const int threads = 4, rounds = 60;
        var failures = new List<string>[threads];
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(i => new Thread(() =>
        {
            failures[i] = [];
            start.SignalAndWait();
            for (var round = 0; round < rounds; round++)
            {
                try
                {
                    if (!Run(lines).SequenceEqual(expected)) failures[i].Add($"round {round}: results differ");
                }
                catch (InvalidOperationException e)
                {
                    failures[i].Add($"round {round}: {e.Message}");
                }
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());

        Assert.Empty(failures.SelectMany(f => f));
    }
}
