namespace LogMetrics.Core.Flush;

/// <summary>One label of a sample. Names follow Prometheus rules; values are never empty.</summary>
public readonly record struct Label(string Name, string Value);

/// <summary>
/// One metric value of one series at one timestamp, as the flusher emits it.
/// <see cref="Labels"/> excludes <c>__name__</c> and is sorted by name (ordinal).
/// </summary>
public sealed record Sample(string Name, IReadOnlyList<Label> Labels, long TimestampMs, double Value)
{
    /// <summary>
    /// The event time (ms) of the newest record that contributed to this sample; the
    /// writer measures end-to-end freshness (event time → 2xx) from it.
    /// </summary>
    public long NewestEventTimeMs { get; init; }

    /// <summary>A stable identity of the series: name plus sorted labels.</summary>
    public string SeriesId => SeriesIdOf(Name, Labels);

    public static string SeriesIdOf(string name, IReadOnlyList<Label> labels)
    {
        var sb = new System.Text.StringBuilder(name.Length + 16 * labels.Count);
        sb.Append(name).Append('{');
        for (var i = 0; i < labels.Count; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append(labels[i].Name).Append("=\"").Append(labels[i].Value.Replace("\\", "\\\\").Replace("\"", "\\\"")).Append('"');
        }
        return sb.Append('}').ToString();
    }
}
