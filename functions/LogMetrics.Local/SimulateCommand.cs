using System.CommandLine;
using System.Globalization;
using LogMetrics.Core.Simulate;

namespace LogMetrics.Local;

/// <summary><c>logmetrics simulate</c>: the Azure path in one process under injected faults (docs/FUNCTIONS.md).</summary>
public static class SimulateCommand
{
    public static Command Create()
    {
        var pipeline = new Option<FileInfo>("--pipeline") { Description = "Pipeline definition (pipeline.json)", Required = true };
        var dimensions = new Option<DirectoryInfo>("--dimensions") { Description = "Directory with one <lookup name>.csv per lookup", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "Samples as JSON lines (what the remote-write receiver holds at the end)", Required = true };
        var summary = new Option<FileInfo?>("--summary") { Description = "Counts, fault counts and costs as JSON" };
        var seed = new Option<int>("--seed") { Description = "Seed of the fault scheduler: same seed, same run", Required = true };
        var instances = new Option<int>("--instances") { Description = "Functions instances", DefaultValueFactory = _ => 3 };
        var shards = new Option<int>("--shards") { Description = "Window shards", DefaultValueFactory = _ => 16 };
        var faults = new Option<string>("--faults") { Description = "none | default | heavy", DefaultValueFactory = _ => "default" };
        faults.AcceptOnlyFromAmong("none", "default", "heavy");
        var remote = RemoteWriteOptions.Create();
        var files = new Argument<FileInfo[]>("FILE") { Description = "Input partitions: .jsonl or .jsonl.gz, one Event Hubs partition per file (sequence number = line number)", Arity = ArgumentArity.OneOrMore };
        var command = new Command("simulate", "Run the Azure path (ingest, window-shard entities, flush) in one process under a deterministic fault scheduler.")
        {
            pipeline, dimensions, output, summary, seed, instances, shards, faults, files,
        };
        remote.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var compiled = Commands.CheckDefinition(result.GetValue(pipeline)!.FullName);
            if (compiled is null) return Commands.BadInput;
            if (result.GetValue(shards) <= 0) return Commands.Fail(Commands.BadInput, "--shards must be > 0");
            if (result.GetValue(instances) <= 0) return Commands.Fail(Commands.BadInput, "--instances must be > 0");
            var dims = result.GetValue(dimensions)!.FullName;
            if (!Directory.Exists(dims)) return Commands.Fail(Commands.BadInput, $"dimensions directory not found: {dims}");
            foreach (var f in result.GetValue(files)!)
            {
                if (!f.Exists) return Commands.Fail(Commands.BadInput, $"input file not found: {f.FullName}");
            }
            await using var remoteWriter = remote.Build(result, compiled.Definition.RemoteWrite, out var remoteError);
            if (remoteError is not null) return Commands.Fail(Commands.BadInput, remoteError);
            var options = new SimulationOptions
            {
                Seed = result.GetValue(seed),
                Instances = result.GetValue(instances),
                Shards = result.GetValue(shards),
                Faults = Enum.Parse<FaultLevel>(result.GetValue(faults)!, ignoreCase: true),
            };
            var outcome = await SimulationRunner.RunAsync(compiled, dims, [.. result.GetValue(files)!.Select(f => f.FullName)], options,
                remoteWriter?.Writer, result.GetValue(output)!.FullName, result.GetValue(summary)?.FullName, ct);
            var f2 = outcome.Faults;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"simulate: seed {options.Seed}, faults {options.Faults}: {outcome.Samples.Count:N0} samples, accepted {outcome.Accepted:N0}, late {outcome.Late:N0}, dropped {outcome.SamplesDropped:N0}; " +
                $"{f2.Batches:N0} batches, {f2.Restarts} restarts, {f2.OwnershipMoves} ownership moves, {f2.RedeliveredBatches} redelivered, " +
                $"{f2.SignalsDeliveredTwice} signals twice, {f2.SignalsReordered} reordered, {f2.Ticks} ticks ({f2.TicksMoved} moved, {f2.OverlappingTicks} overlapping)"));
            return Commands.Ok;
        });
        return command;
    }
}
