using System.CommandLine;
using LogMetrics.Local;

var root = new RootCommand("logmetrics — the LogMetrics pipeline without Azure: replay log files, check a pipeline definition, run a demo.");
root.Subcommands.Add(Commands.Replay());
root.Subcommands.Add(Commands.Check());
root.Subcommands.Add(Commands.Demo());
root.Subcommands.Add(Commands.Generate());
return await root.Parse(args).InvokeAsync();
