namespace LogMetrics.Local;

/// <summary>
/// The console's exit codes. They are a contract (scripts test them): documented in README
/// "Exit codes", never renumbered.
/// </summary>
public static class ExitCodes
{
    /// <summary>The run finished and nothing was lost: every lane read to its end, every sample written.</summary>
    public const int Ok = 0;
    /// <summary>The run stopped on an error (e.g. the endpoint refused the credentials); outputs and summary are finalized.</summary>
    public const int Failure = 1;
    /// <summary>Nothing was run: bad argument, bad definition, unreadable input or dimension table, output locked.</summary>
    public const int BadInput = 2;
    /// <summary>The run finished but lost data: a sample was dropped (counted by reason) or a lane was not read to its end.</summary>
    public const int LostData = 3;
    /// <summary>SIGINT (Ctrl-C) stopped the run: 128 + 2.</summary>
    public const int Interrupted = 130;
    /// <summary>SIGTERM stopped the run: 128 + 15.</summary>
    public const int Terminated = 143;

    public static int For(string status, string? signal) => status switch
    {
        RunStatus.Complete => Ok,
        RunStatus.LostData => LostData,
        RunStatus.Interrupted => signal == "SIGTERM" ? Terminated : Interrupted,
        _ => Failure,
    };
}
