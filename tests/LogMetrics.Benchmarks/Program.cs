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

// `--ab <other build's bin dir> <Method> [ops]`: the same method of this build and of another (e.g. main's, built
// elsewhere), each loaded with its own LogMetrics.Core in its own AssemblyLoadContext, run in turn in 10-op
// chunks in one process, so that a shared machine's load falls on both alike; prints each one's fastest,
// first-quartile and median chunk.
if (args.Length >= 3 && args[0] == "--ab")
{
    var ops = args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 1000;
    var builds = new[] { ("this", AppContext.BaseDirectory), ("other", args[1]) };
    var runners = new List<(string Name, Func<object?> Call, List<double> Chunks, long[] Allocated)>();
    foreach (var (name, dir) in builds)
    {
        var context = new DirectoryLoadContext(dir);
        var assembly = context.LoadFromAssemblyPath(Path.Combine(Path.GetFullPath(dir), "LogMetrics.Benchmarks.dll"));
        var type = assembly.GetType("LogMetrics.Benchmarks.Pipeline.IngestBenchmarks", throwOnError: true)!;
        var instance = Activator.CreateInstance(type)!;
        type.GetMethod("Setup")!.Invoke(instance, null);
        var call = type.GetMethod(args[2]) ?? throw new ArgumentException($"no benchmark {args[2]}");
        runners.Add((name, () => call.Invoke(instance, null), [], [0]));
    }
    void RunChunk(Func<object?> call, int n)
    {
        for (var i = 0; i < n; i++)
        {
            if (call() is Task task) task.GetAwaiter().GetResult();
        }
    }
    foreach (var r in runners) RunChunk(r.Call, Math.Max(ops / 4, 100));
    for (var done = 0; done < ops; done += 10)
    {
        foreach (var r in runners)
        {
            var allocated = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            RunChunk(r.Call, 10);
            r.Chunks.Add(clock.Elapsed.TotalMilliseconds / 10);
            r.Allocated[0] += GC.GetAllocatedBytesForCurrentThread() - allocated;
        }
    }
    foreach (var (name, _, chunks, allocated) in runners)
    {
        var n = chunks.Count * 10;
        chunks.Sort();
        Console.WriteLine($"{args[2]} {name}: min {chunks[0]:F3} / p25 {chunks[chunks.Count / 4]:F3} / median {chunks[chunks.Count / 2]:F3} ms/op, {allocated[0] / n} B/op allocated (invocation included)");
    }
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

/// <summary>Loads a build's assemblies from its own directory (framework assemblies stay shared).</summary>
internal sealed class DirectoryLoadContext(string directory) : System.Runtime.Loader.AssemblyLoadContext(isCollectible: false)
{
    protected override System.Reflection.Assembly? Load(System.Reflection.AssemblyName name)
    {
        var path = Path.Combine(Path.GetFullPath(directory), name.Name + ".dll");
        return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
    }
}
