namespace LogMetrics.Core.Tests.Write;

/// <summary>
/// Test classes that run HTTP servers on free loopback ports run alone, one after another: a port
/// found free and then bound later must not be taken by a parallel test in between, and fault
/// tests with timeouts must not compete with the rest of the suite for two cores.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LocalServers
{
    public const string Name = "local HTTP servers";
}
