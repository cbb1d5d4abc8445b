namespace LogMetrics.Core.Parse;

/// <summary>
/// The size, in bits, of a memo that grows (the enricher's direct-mapped ones, the accumulator's series memos): it
/// starts at <c>firstBits</c> and grows four times over (two bits; the last step may be one), up to <c>maxBits</c>, whenever it has taken in half
/// as many entries as 2^<see cref="Bits"/>. A memo remakes its table empty when <see cref="Insert"/> says so.
/// </summary>
internal struct MemoGrowth(int firstBits, int maxBits)
{
    private int _inserts;

    public int Bits { get; private set; } = firstBits;

    /// <summary>Counts one entry taken in; true when the memo is to be remade, empty, at the new <see cref="Bits"/>.</summary>
    public bool Insert()
    {
        if (++_inserts <= (1 << Bits) / 2 || Bits >= maxBits) return false;
        Bits = Math.Min(Bits + 2, maxBits);
        _inserts = 1;
        return true;
    }
}
