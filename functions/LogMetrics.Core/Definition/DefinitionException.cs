namespace LogMetrics.Core.Definition;

/// <summary>One problem in a pipeline definition: where (a JSON path such as <c>$.metrics[2].labels.api</c>) and what.</summary>
public sealed record DefinitionError(string Path, string Message)
{
    public override string ToString() => $"{Path}: {Message}";
}

/// <summary>A pipeline definition was rejected before anything ran. The message lists every error with its JSON path.</summary>
public sealed class DefinitionException(IReadOnlyList<DefinitionError> errors)
    : Exception("invalid pipeline definition:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  " + e)))
{
    public IReadOnlyList<DefinitionError> Errors { get; } = errors;
}
