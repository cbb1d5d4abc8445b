using System.Diagnostics;
using BenchmarkDotNet.Running;
using LogMetrics.Benchmarks.Pipeline;

// `--loop <Method> [ops]`: runs one IngestBenchmarks method in a plain loop (JIT, tiered PGO, as the benchmark
// runs it) for a profiler or a counter, e.g. perf stat -e cycles:u dotnet LogMetrics.Benchmarks.dll --loop Ingest 3000
if (args.Length >= 2 && args[0] == "--loop")
{
    var bench = new IngestBenchmarks();
    bench.Setup();
    var method = InTurn.Method(args[1]);
    var count = InTurn.Ops(args, 2, 2000);
    void Run(int n) => InTurn.Repeat(() => method.Invoke(bench, null), n);
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
    var runners = new List<(string Name, Func<object?> Call)>();
    foreach (var (name, dir) in new[] { ("this", AppContext.BaseDirectory), ("other", args[1]) })
    {
        var context = new DirectoryLoadContext(dir);
        var assembly = context.LoadFromAssemblyPath(Path.Combine(Path.GetFullPath(dir), "LogMetrics.Benchmarks.dll"));
        var type = assembly.GetType("LogMetrics.Benchmarks.Pipeline.IngestBenchmarks", throwOnError: true)!;
        var instance = Activator.CreateInstance(type)!;
        type.GetMethod("Setup")!.Invoke(instance, null);
        var call = type.GetMethod(args[2]) ?? throw new ArgumentException($"no benchmark {args[2]}");
        runners.Add(($"{args[2]} {name}", () => call.Invoke(instance, null)));
    }
    InTurn.Run(runners, InTurn.Ops(args, 3, 1000));
    return;
}

// `--vs <Method> <Baseline> [ops]`: two IngestBenchmarks methods of this build, on one instance, run in turn in 10-op
// chunks in one process, e.g. --vs Ingest Utf8JsonReaderTokenize 1000. BenchmarkDotNet runs each method in a process
// of its own, one after the other, so a stretch in which the machine runs slow (these VMs have them: the same
// method at 4.3 or 6.2 ms/op minutes apart) can fall on one method and not the other; here it falls on both alike.
// Prints what --ab prints, and the ratio of the two medians.
if (args.Length >= 3 && args[0] == "--vs")
{
    var bench = new IngestBenchmarks();
    bench.Setup();
    var runners = new[] { args[1], args[2] }
        .Select(InTurn.Method)
        .Select(method => (method.Name, (Func<object?>)(() => method.Invoke(bench, null))))
        .ToList();
    var medians = InTurn.Run(runners, InTurn.Ops(args, 3, 1000));
    Console.WriteLine($"{args[1]} / {args[2]}: {medians[0] / medians[1]:F3} (medians)");
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

/// <summary>Benchmark calls run in turn, 10 at a time, in one process (the <c>--ab</c> and <c>--vs</c> modes), and what the modes share.</summary>
internal static class InTurn
{
    /// <summary>The <see cref="IngestBenchmarks"/> method named <paramref name="name"/>.</summary>
    public static System.Reflection.MethodInfo Method(string name) =>
        typeof(IngestBenchmarks).GetMethod(name) ?? throw new ArgumentException($"no benchmark {name}");

    /// <summary>The op count given as <c>args[index]</c>, or <paramref name="fallback"/> when there is none.</summary>
    public static int Ops(string[] args, int index, int fallback) =>
        args.Length > index ? int.Parse(args[index], System.Globalization.CultureInfo.InvariantCulture) : fallback;

    /// <summary>
    /// Warms each call up (a quarter of <paramref name="ops"/>, at least 100), then runs them in turn in 10-op chunks
    /// until each has run <paramref name="ops"/>; prints each one's fastest, first-quartile and median chunk and the
    /// bytes it allocated per op, and returns the medians (ms/op) in the order given.
    /// </summary>
    public static double[] Run(IReadOnlyList<(string Name, Func<object?> Call)> calls, int ops)
    {
        var chunks = calls.Select(_ => new List<double>()).ToArray();
        var allocated = new long[calls.Count];
        foreach (var (_, call) in calls) Repeat(call, Math.Max(ops / 4, 100));
        for (var done = 0; done < ops; done += 10)
        {
            for (var c = 0; c < calls.Count; c++)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                var clock = Stopwatch.StartNew();
                Repeat(calls[c].Call, 10);
                chunks[c].Add(clock.Elapsed.TotalMilliseconds / 10);
                allocated[c] += GC.GetAllocatedBytesForCurrentThread() - before;
            }
        }
        var medians = new double[calls.Count];
        for (var c = 0; c < calls.Count; c++)
        {
            var sorted = chunks[c];
            sorted.Sort();
            medians[c] = sorted[sorted.Count / 2];
            Console.WriteLine($"{calls[c].Name}: min {sorted[0]:F3} / p25 {sorted[sorted.Count / 4]:F3} / median {medians[c]:F3} ms/op, {allocated[c] / (sorted.Count * 10)} B/op allocated (invocation included)");
        }
        return medians;
    }

    /// <summary>Calls <paramref name="call"/> <paramref name="n"/> times, waiting for each task it returns.</summary>
    public static void Repeat(Func<object?> call, int n)
    {
        for (var i = 0; i < n; i++)
        {
            if (call() is Task task) task.GetAwaiter().GetResult();
        }
    }
}
