using System.CommandLine;
using LogMetrics.Local;
using Spectre.Console;

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
