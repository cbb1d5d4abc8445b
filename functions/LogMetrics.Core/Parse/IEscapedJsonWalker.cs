namespace LogMetrics.Core.Parse;

/// <summary>
/// A <c>parse-json</c> step that can walk its source where it stands in the line, still escaped as a JSON string
/// (<see cref="RecordParser.FuseParseJson"/>): the parser then neither unescapes the source into a copy nor has the
/// step walk that copy again.
/// </summary>
internal interface IEscapedJsonWalker
{
    /// <summary>
    /// At <paramref name="pos"/>, the opening quote of a JSON string in <paramref name="line"/>: the index after it when
    /// its unescaped body is a JSON object the walker could read, its fields added to <paramref name="staged"/>; else -1
    /// (the parser copies the string as usual, and the step walks the copy).
    /// </summary>
    int WalkEscaped(ReadOnlySpan<byte> line, int pos, Utf8Strings strings, List<(int Slot, FieldValue Value)> staged, out bool nonAscii);
}
