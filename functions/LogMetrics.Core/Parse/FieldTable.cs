namespace LogMetrics.Core.Parse;

/// <summary>
/// Assigns every field name the pipeline refers to a slot, once, at compile time, so records are
/// flat arrays and the hot path never hashes a name twice.
/// </summary>
public sealed class FieldTable
{
    private readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal);
    private readonly List<string> _names = [];

    public int Count => _names.Count;

    public IReadOnlyList<string> Names => _names;

    public int GetOrAdd(string name)
    {
        if (!_slots.TryGetValue(name, out var slot))
        {
            slot = _names.Count;
            _slots.Add(name, slot);
            _names.Add(name);
        }
        return slot;
    }

    public bool TryGet(string name, out int slot) => _slots.TryGetValue(name, out slot);

    /// <summary>A lookup keyed by the characters of a name, for the parser.</summary>
    internal Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> SpanLookup => _slots.GetAlternateLookup<ReadOnlySpan<char>>();
}
