using System.Diagnostics;
using BenchmarkDotNet.Running;
using LogMetrics.Benchmarks.Pipeline;

// `--loop <Method> [ops]`: runs one IngestBenchmarks method in a plain loop (JIT, tiered PGO, as the benchmark
// runs it) for a profiler or a counter, e.g. perf stat -e cycles:u dotnet LogMetrics.Benchmarks.dll --loop Ingest 3000
if (args.Length >= 2 && args[0] == "--loop")
{
    var bench = new IngestBenchmarks();
    bench.Setup();
    var method = typeof(IngestBenchmarks).GetMethod(args[1]) ?? throw new ArgumentException($"no benchmark {args[1]}");
    var count = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 2000;
    void Run(int n)
    {
        for (var i = 0; i < n; i++)
        {
            var result = method.Invoke(bench, null);
            if (result is Task task) task.GetAwaiter().GetResult();
        }
    }
    // Warm-up (tiered compilation settles), then the measured ops in chunks of 20: CPU time per op overall, and
    // the fastest and the median chunk's wall time per op (the fastest is the least disturbed on a shared machine).
    Run(Math.Max(count / 4, 100));
    var process = Process.GetCurrentProcess();
    var cpu = process.TotalProcessorTime;
    var chunks = new List<double>();
    for (var done = 0; done < count; done += 20)
    {
        var clock = Stopwatch.StartNew();
        Run(20);
        chunks.Add(clock.Elapsed.TotalMilliseconds / 20);
    }
    process.Refresh();
    chunks.Sort();
    Console.WriteLine($"{args[1]}: {chunks.Count * 20} ops, min {chunks[0]:F3} / median {chunks[chunks.Count / 2]:F3} ms/op wall, {(process.TotalProcessorTime - cpu).TotalMilliseconds / (chunks.Count * 20):F3} ms/op CPU");
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
