using System.Text;

namespace LogMetrics.Core.Enrich;

/// <summary>
/// Splits CSV text into records per RFC 4180 (https://www.rfc-editor.org/rfc/rfc4180): comma-separated
/// fields, double-quoted fields may hold commas, line breaks and doubled quotes; records end with CRLF or LF.
/// Blank lines are skipped. Errors name the file and the line.
/// </summary>
internal static class CsvTableReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Decodes UTF-8 bytes, dropping a leading byte order mark.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes, string file)
    {
        if (bytes.StartsWith("\uFEFF"u8))
        {
            bytes = bytes[3..];
        }

        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException ex)
        {
            throw new InvalidDataException($"Dimension file '{file}' is not valid UTF-8.", ex);
        }
    }

    /// <summary>The records of <paramref name="text"/>, each with the 1-based line it starts on.</summary>
    public static List<(int Line, string[] Fields)> Parse(string text, string file)
    {
        var records = new List<(int, string[])>();
        var fields = new List<string>();
        var field = new StringBuilder();
        var line = 1;
        var i = 0;
        while (i < text.Length)
        {
            var recordLine = line;
            fields.Clear();
            var blank = true;
            while (true)
            {
                field.Clear();
                if (i < text.Length && text[i] == '"')
                {
                    blank = false;
                    i++;
                    while (true)
                    {
                        if (i >= text.Length)
                        {
                            throw new InvalidDataException(
                                $"Dimension file '{file}', line {recordLine}: a quoted field is not closed.");
                        }

                        var c = text[i];
                        if (c == '"')
                        {
                            if (i + 1 < text.Length && text[i + 1] == '"')
                            {
                                field.Append('"');
                                i += 2;
                                continue;
                            }

                            i++;
                            break;
                        }

                        if (c == '\n')
                        {
                            line++;
                        }

                        field.Append(c);
                        i++;
                    }

                    if (i < text.Length && text[i] is not (',' or '\r' or '\n'))
                    {
                        throw new InvalidDataException(
                            $"Dimension file '{file}', line {line}: unexpected character after a closing quote (a quote inside a field must be doubled).");
                    }
                }
                else
                {
                    var start = i;
                    while (i < text.Length && text[i] is not (',' or '\r' or '\n'))
                    {
                        i++;
                    }

                    field.Append(text, start, i - start);
                }

                fields.Add(field.ToString());
                if (i < text.Length && text[i] == ',')
                {
                    blank = false;
                    i++;
                    continue;
                }

                break;
            }

            // End of record: CRLF, LF, a lone CR, or end of text.
            if (i < text.Length && text[i] == '\r')
            {
                i++;
            }

            if (i < text.Length && text[i] == '\n')
            {
                i++;
            }

            line++;
            if (!(blank && fields.Count == 1 && fields[0].Length == 0))
            {
                records.Add((recordLine, fields.ToArray()));
            }
        }

        return records;
    }
}
