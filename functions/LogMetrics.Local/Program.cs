using System.CommandLine;
using LogMetrics.Core.Replay;
using LogMetrics.Local;
using Spectre.Console;

// A replay's heap in huge pages (HugePageHeap: fewer page faults, the same samples), started before anything else
// allocates: the command tree, the console's profile and the pipeline's compile then go into it too, and the region's
// start, a full collection, has almost nothing to collect (a 400-line replay 6 % faster than started in ReplayRunner,
// docs/PERFORMANCE-LOG.md, session 22). It lasts until the process exits, or until the run has allocated more than
// the region holds; the other commands go without.
if (args is ["replay" or "demo", ..])
{
    HugePageHeap.Apply();
}

// Redirected output (logs, CI, tests) gets wide tables rather than 80-column wrapping.
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = 240;
}

var root = new RootCommand("logmetrics — the LogMetrics pipeline without Azure: replay log files, check a pipeline definition, run a demo.");
root.Subcommands.Add(Commands.Replay());
root.Subcommands.Add(Commands.Check());
root.Subcommands.Add(Commands.Demo());
root.Subcommands.Add(Commands.Generate());
root.Subcommands.Add(SimulateCommand.Create());
var parsed = root.Parse(args);
var code = await parsed.InvokeAsync();
// A command line that does not parse is a bad argument: exit 2, like a bad definition or file.
return parsed.Errors.Count > 0 ? Commands.BadInput : code;
