using System.Text;
using LogMetrics.Local.Html;
using Spectre.Console;

namespace LogMetrics.Local;

/// <summary>
/// The final report's table (<see cref="Report.FinalTable"/>) as Spectre.Console renders it, written directly
/// in the common case: a few string concatenations instead of Spectre's markup parsing, emoji table, layout
/// and segment passes (about 0.7 ms of a 400-line replay). The bytes are Spectre's: rounded border, the
/// centred bold title, the value column right-aligned, alert rows' first two cells red, with Spectre's ANSI
/// codes for the console's colour system (a differential test renders both ways).
/// <para>Anything else is left to Spectre (<see cref="TryRender"/> answers false): a console without ANSI (Spectre
/// then colours through <see cref="System.Console"/>), without Unicode or with the legacy colour system, a table wider than the console (Spectre wraps it), text that is not
/// printable ASCII (cell widths), that has leading, trailing or repeated spaces, or that could hold an
/// emoji code (<c>:name:</c>, which Spectre's markup replaces).</para>
/// </summary>
internal static class ReportTable
{
    private static readonly string[] Headers = ["stage", "counter", "value"];
    private const string Title = "replay report";

    /// <summary>The table's text as Spectre writes it to a console with <paramref name="capabilities"/> and <paramref name="width"/>; false when Spectre must render it.</summary>
    public static bool TryRender(IReadOnlyList<ReportRow> rows, IReadOnlyCapabilities capabilities, int width, out string text)
    {
        text = "";
        // Without ANSI, Spectre colours through System.Console (its legacy backend), not through the text.
        if (!capabilities.Ansi || !capabilities.Unicode || capabilities.Legacy) return false;
        string titleOn, redOn, off;
        switch (capabilities.ColorSystem)
        {
            case ColorSystem.NoColors:
                (titleOn, redOn, off) = ("\e[1m", "", "\e[0m");
                break;
            case ColorSystem.Standard:
                (titleOn, redOn, off) = ("\e[1;37m", "\e[91m", "\e[0m");
                break;
            case ColorSystem.EightBit or ColorSystem.TrueColor:
                (titleOn, redOn, off) = ("\e[1;38;5;7m", "\e[38;5;9m", "\e[0m");
                break;
            default:
                return false;
        }
        // A red cell with no colour codes is plain.
        var redOff = redOn.Length == 0 ? "" : off;
        Span<int> widths = [Headers[0].Length, Headers[1].Length, Headers[2].Length];
        foreach (var row in rows)
        {
            if (!Plain(row.Stage) || !Plain(row.Counter) || !Plain(row.Value)) return false;
            widths[0] = Math.Max(widths[0], row.Stage.Length);
            widths[1] = Math.Max(widths[1], row.Counter.Length);
            widths[2] = Math.Max(widths[2], row.Value.Length);
        }
        // Each column: a space either side and a border on its left; one more border on the right.
        var tableWidth = widths[0] + widths[1] + widths[2] + 3 * 3 + 1;
        if (tableWidth > width) return false;

        var nl = Environment.NewLine;
        var sb = new StringBuilder((tableWidth + 16) * (rows.Count + 6));
        var diff = tableWidth - Title.Length;
        sb.Append(' ', diff / 2).Append(titleOn).Append(Title).Append(off).Append(' ', diff / 2 + diff % 2).Append(nl);
        Border(sb, '╭', '┬', '╮', widths).Append(nl);
        Row(sb, Headers[0], Headers[1], Headers[2], "", "", widths).Append(nl);
        Border(sb, '├', '┼', '┤', widths).Append(nl);
        foreach (var row in rows)
        {
            Row(sb, row.Stage, row.Counter, row.Value, row.Alert ? redOn : "", row.Alert ? redOff : "", widths).Append(nl);
        }
        Border(sb, '╰', '┴', '╯', widths).Append(nl);
        text = sb.ToString();
        return true;
    }

    private static StringBuilder Border(StringBuilder sb, char left, char middle, char right, ReadOnlySpan<int> widths)
    {
        sb.Append(left);
        for (var c = 0; c < widths.Length; c++)
        {
            if (c > 0) sb.Append(middle);
            sb.Append('─', widths[c] + 2);
        }
        return sb.Append(right);
    }

    /// <summary>A row: the first two cells left-aligned (in <paramref name="on"/> … <paramref name="off"/>), the value right-aligned.</summary>
    private static StringBuilder Row(StringBuilder sb, string stage, string counter, string value, string on, string off, ReadOnlySpan<int> widths)
    {
        sb.Append("│ ");
        Cell(sb, stage, on, off).Append(' ', widths[0] - stage.Length).Append(" │ ");
        Cell(sb, counter, on, off).Append(' ', widths[1] - counter.Length).Append(" │ ");
        return sb.Append(' ', widths[2] - value.Length).Append(value).Append(" │");
    }

    private static StringBuilder Cell(StringBuilder sb, string text, string on, string off) =>
        text.Length == 0 ? sb : sb.Append(on).Append(text).Append(off);

    /// <summary>Printable ASCII, single spaces between words, and no two colons with no space between them (an emoji code).</summary>
    internal static bool Plain(string text)
    {
        if (text.Length > 0 && (text[0] == ' ' || text[^1] == ' ')) return false;
        var colon = -1;
        var spaceSinceColon = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is < ' ' or > '~') return false;
            if (c == ' ')
            {
                if (text[i - 1] == ' ') return false;
                spaceSinceColon = true;
            }
            else if (c == ':')
            {
                if (colon >= 0 && !spaceSinceColon) return false;
                colon = i;
                spaceSinceColon = false;
            }
        }
        return true;
    }
}
