using System.Globalization;
using System.Runtime;

namespace LogMetrics.Core.Replay;

/// <summary>
/// The managed heap of a replay in transparent huge pages (Linux): fewer page faults for the young objects a
/// run makes, which it never collects (docs/PERFORMANCE-LOG.md, session 21: a one-core replay of the bench corpus
/// took 3.6 % less time and made 4,719 page faults instead of 8,615, one lane 9 to 11 % less, two lanes on two cores
/// 0 to 7 % less; session 22, on a machine where a fault costs about 10 µs: a 400-line replay 7 % less, 1,973 faults
/// instead of 2,464, though the region's start is a full collection).
/// <para>Two steps, both needed. The collector commits its heap 64 KiB at a time, and the kernel gives a huge page
/// only to a fault in a 2 MiB range that is one mapping already, so advice alone changes nothing (tried in two earlier
/// rounds, docs/PERFORMANCE-LOG.md).
/// A no-collection region (<see cref="GC.TryStartNoGCRegion(long)"/>) of <see cref="NoCollectionBytes"/> has the
/// collector commit the region's memory at its start, 4 MiB regions whole; and <c>madvise(MADV_HUGEPAGE)</c> over the
/// heap's reservation, where the system gives huge pages only to ranges so advised (<c>madvise</c>, the default
/// of most distributions), lets the kernel back them with 2 MiB pages as they are first written.</para>
/// <para>Results do not depend on it: only where objects live and when the collector runs. A run that allocates
/// more than the region's bytes ends the region with a collection, and the collector goes on as usual. Advice only:
/// where huge pages are off (<c>never</c>), elsewhere than Linux, or where a step fails, the heap is as it would be
/// without (<see cref="Apply"/> says which).</para>
/// </summary>
public static unsafe class HugePageHeap
{
    /// <summary>
    /// Bytes the run may allocate before its first collection: about four times what a two-core replay of 90,000
    /// records allocates (53 MB), so the replays the bench measures never collect. Committed at the region's start,
    /// written only as it is used: memory the run does not use costs no page.
    /// </summary>
    public const long NoCollectionBytes = 128L << 20;

    /// <summary>
    /// Least memory the collector may use (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>: the machine's, or the
    /// process's limit, a container's say) for the region to be started: its memory is committed at its start and
    /// counts against that limit, so under a small one the run's large objects would find no room (a replay of the
    /// golden corpus under a 128 MiB limit ran out of memory). Eight times the region's bytes leaves it an eighth.
    /// </summary>
    public const long MinimumAvailableBytes = 8 * NoCollectionBytes;

    private const string ModeFile = "/sys/kernel/mm/transparent_hugepage/enabled";

    /// <summary>What <see cref="Apply"/> did.</summary>
    public enum Outcome
    {
        /// <summary>Not Linux, or not a 64-bit process.</summary>
        NotSupported,
        /// <summary>The system gives no transparent huge pages (<c>never</c>, or no such setting).</summary>
        HugePagesOff,
        /// <summary>The collector may use less than <see cref="MinimumAvailableBytes"/>: the run goes without.</summary>
        LittleMemory,
        /// <summary>The heap's reservation could not be found or advised: the region was not started.</summary>
        AdviceFailed,
        /// <summary>Advised (or the system backs every range, <c>always</c>), but the collector refused the region.</summary>
        RegionRefused,
        /// <summary>Both steps done.</summary>
        Applied,
    }

    /// <summary>
    /// Both steps, for the run about to start on this process. Call it before the run's set-up allocates (the region's
    /// start is a full collection, cheapest while the heap is small: the console calls it first thing), and
    /// <see cref="End"/> when the run is over in a process that goes on (the console's exits).
    /// </summary>
    public static Outcome Apply()
    {
        if (!InputBlock.Supported) return Outcome.NotSupported;
        string? mode;
        try
        {
            mode = Mode(File.ReadAllText(ModeFile));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            mode = null;
        }
        if (mode is null or "never") return Outcome.HugePagesOff;
        if (GC.GetGCMemoryInfo().TotalAvailableMemoryBytes < MinimumAvailableBytes) return Outcome.LittleMemory;
        if (mode != "always" && !AdviseHeap()) return Outcome.AdviceFailed;
        try
        {
            return GC.TryStartNoGCRegion(NoCollectionBytes) ? Outcome.Applied : Outcome.RegionRefused;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentOutOfRangeException or OutOfMemoryException)
        {
            // A region already started (another run in this process), or more than the collector can promise.
            return Outcome.RegionRefused;
        }
    }

    /// <summary>Ends the run's no-collection region, if it is still on (a run that allocated more has ended it).</summary>
    public static void End()
    {
        if (GCSettings.LatencyMode != GCLatencyMode.NoGCRegion) return;
        try
        {
            GC.EndNoGCRegion();
        }
        catch (InvalidOperationException)
        {
            // Ended by a collection meanwhile.
        }
    }

    /// <summary>
    /// <c>madvise(MADV_HUGEPAGE)</c> over the managed heap's reservation: the anonymous mappings, one after another
    /// with no gap, around a new object (the collector reserves its whole heap as one range at start and commits
    /// parts of it, which splits it into several mappings).
    /// </summary>
    internal static bool AdviseHeap()
    {
        var madvise = LibC.Madvise;
        if (madvise == null) return false;
        var probe = new byte[16];
        ulong at;
        fixed (byte* p = probe) at = (ulong)p;
        string[] maps;
        try
        {
            maps = File.ReadAllLines("/proc/self/maps");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        return AnonymousRangeAround(maps, at) is { } range && madvise((void*)range.Start, (nuint)(range.End - range.Start), LibC.MadvHugepage) == 0;
    }

    /// <summary>The mode in <c>/sys/kernel/mm/transparent_hugepage/enabled</c> (the word in brackets), or null.</summary>
    internal static string? Mode(string setting)
    {
        var open = setting.IndexOf('[');
        var close = open < 0 ? -1 : setting.IndexOf(']', open);
        return close > open + 1 ? setting[(open + 1)..close] : null;
    }

    /// <summary>
    /// Of a <c>/proc/PID/maps</c> listing, the range of the anonymous mapping that holds <paramref name="address"/>
    /// and of those next to it with no gap between (anonymous: inode 0, no path; <c>[heap]</c>, <c>[stack]</c> and files are
    /// not); null when the address is in none.
    /// </summary>
    internal static (ulong Start, ulong End)? AnonymousRangeAround(IReadOnlyList<string> maps, ulong address)
    {
        var mappings = new List<(ulong Start, ulong End, bool Anonymous)>(maps.Count);
        foreach (var line in maps)
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 5) continue;
            var dash = fields[0].IndexOf('-');
            if (dash < 0
                || !ulong.TryParse(fields[0].AsSpan(0, dash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var start)
                || !ulong.TryParse(fields[0].AsSpan(dash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var end))
            {
                continue;
            }
            mappings.Add((start, end, fields.Length == 5 && fields[4] == "0"));
        }
        var i = mappings.FindIndex(m => m.Start <= address && address < m.End);
        if (i < 0 || !mappings[i].Anonymous) return null;
        var (first, last) = (i, i);
        while (first > 0 && mappings[first - 1].Anonymous && mappings[first - 1].End == mappings[first].Start) first--;
        while (last < mappings.Count - 1 && mappings[last + 1].Anonymous && mappings[last + 1].Start == mappings[last].End) last++;
        return (mappings[first].Start, mappings[last].End);
    }
}
