namespace LogMetrics.Core.Parse;

/// <summary>
/// Decides, without throwing, whether bytes are one complete JSON document exactly as a final-block
/// <see cref="System.Text.Json.Utf8JsonReader"/> with comments and trailing commas disallowed would read it
/// to its end without an exception: RFC 8259 grammar, at most <c>maxDepth</c> nested objects and arrays,
/// nothing but whitespace after the root value. A differential property test holds it to the reader's
/// verdict on random, mutated and adversarial inputs. The stand-alone form of the check the hot path
/// runs (<see cref="JsonScan"/>, which <c>parse-json</c> and the record parser call directly).
/// </summary>
public static class JsonValidator
{
    /// <summary>True when <paramref name="json"/> is one valid JSON document.</summary>
    public static bool IsValid(ReadOnlySpan<byte> json, int maxDepth = 64) => Classify(json, maxDepth) != JsonVerdict.Invalid;

    /// <summary>The verdict on <paramref name="json"/>, and whether its root is an object (the hot path's <see cref="JsonScan"/>, over the whole input).</summary>
    public static JsonVerdict Classify(ReadOnlySpan<byte> json, int maxDepth = 64)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxDepth, JsonScan.MaxDepth);
        var pos = JsonScan.SkipWhitespace(json, 0);
        // Starting maxDepth below the scanner's limit leaves exactly maxDepth containers to open.
        var end = JsonScan.ValueEnd(json, pos, JsonScan.MaxDepth - maxDepth, out var root);
        if (end < 0 || JsonScan.SkipWhitespace(json, end) != json.Length) return JsonVerdict.Invalid;
        return root == JsonToken.Object ? JsonVerdict.Object : JsonVerdict.OtherValue;
    }
}

/// <summary>What <see cref="JsonValidator.Classify"/> found.</summary>
public enum JsonVerdict : byte
{
    /// <summary>Not one valid JSON document.</summary>
    Invalid,
    /// <summary>Valid, and the root is an object.</summary>
    Object,
    /// <summary>Valid, and the root is an array, string, number or literal.</summary>
    OtherValue,
}
