namespace LogMetrics.Core.Enrich;

/// <summary>A dimension table could not be made available; the message names the table.</summary>
public sealed class LookupLoadException : Exception
{
    public LookupLoadException() { }

    public LookupLoadException(string message) : base(message) { }

    public LookupLoadException(string message, Exception innerException) : base(message, innerException) { }

    public LookupLoadException(string table, string message, Exception? innerException)
        : base(message, innerException) => Table = table;

    /// <summary>The table's name.</summary>
    public string Table { get; } = "";
}
