using System.Globalization;
using System.Runtime;
using LogMetrics.Core.Replay;
using LogMetrics.Core.Tests.EndToEnd;

namespace LogMetrics.Core.Tests.Replay;

/// <summary>
/// The collector's no-collection region and the heap's huge-page advice are process-wide: these tests run alone (not
/// in parallel with any other test class), so no other test's allocations end the region under them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ManagedHeapCollection
{
    public const string Name = "managed heap";
}

/// <summary>
/// <see cref="HugePageHeap"/>: reading the system's setting and the process's mappings (by hand-written listings), the
/// advice's effect on this process (the kernel's own account, <c>/proc/self/smaps</c>), and a replay under it that
/// gives the oracle's samples.
/// </summary>
[Collection(ManagedHeapCollection.Name)]
public class HugePageHeapTests
{
    [Theory]
    [InlineData("always [madvise] never\n", "madvise")]
    [InlineData("[always] madvise never\n", "always")]
    [InlineData("always madvise [never]\n", "never")]
    [InlineData("always madvise never\n", null)]
    [InlineData("[]", null)]
    [InlineData("", null)]
    public void Mode_IsTheWordInBrackets(string setting, string? mode) => Assert.Equal(mode, HugePageHeap.Mode(setting));

    // A listing as /proc/PID/maps gives it: the program's file, a heap reservation committed in part (three anonymous
    // mappings with no gap), a gap, an anonymous page, a named one ([stack]) right after it, and a file again.
    private static readonly string[] Maps =
    [
        "55d0c0a00000-55d0c0a20000 r--p 00000000 08:01 1234                       /usr/bin/logmetrics",
        "55d0c0a20000-55d0c0b00000 r-xp 00020000 08:01 1234                       /usr/bin/logmetrics",
        "7f0000000000-7f0000400000 rw-p 00000000 00:00 0 ",
        "7f0000400000-7f0100000000 ---p 00000000 00:00 0 ",
        "7f0100000000-7f0100010000 rw-p 00000000 00:00 0",
        "7f0100020000-7f0100021000 rw-p 00000000 00:00 0 ",
        "7f0100021000-7f0100042000 rw-p 00000000 00:00 0                          [stack]",
        "7f0100042000-7f0100043000 rw-p 00000000 00:00 0 ",
        "7f0200000000-7f0200001000 r--p 00000000 08:01 99                         /usr/lib/libc.so.6",
    ];

    [Theory]
    [InlineData(0x7f0000000000UL, 0x7f0000000000UL, 0x7f0100010000UL)] // the reservation's first byte
    [InlineData(0x7f0000400010UL, 0x7f0000000000UL, 0x7f0100010000UL)] // its uncommitted middle
    [InlineData(0x7f010000ffffUL, 0x7f0000000000UL, 0x7f0100010000UL)] // its last byte
    [InlineData(0x7f0100020010UL, 0x7f0100020000UL, 0x7f0100021000UL)] // a lone page: the gap before, [stack] after
    [InlineData(0x7f0100042000UL, 0x7f0100042000UL, 0x7f0100043000UL)] // after [stack], before a file
    public void AnonymousRangeAround_TheMappingsWithNoGapAndNoName(ulong address, ulong start, ulong end) =>
        Assert.Equal((start, end), HugePageHeap.AnonymousRangeAround(Maps, address));

    [Theory]
    [InlineData(0x55d0c0a20010UL)] // the program's code
    [InlineData(0x7f0100010000UL)] // the gap (one past the reservation's end)
    [InlineData(0x7f0100030000UL)] // [stack]
    [InlineData(0x7f0200000000UL)] // a library
    [InlineData(0x1000UL)] // nothing mapped
    public void AnonymousRangeAround_NotAnAnonymousMapping_None(ulong address) =>
        Assert.Null(HugePageHeap.AnonymousRangeAround(Maps, address));

    [Fact]
    public void AnonymousRangeAround_LinesNotOfTheFormat_AreLeftOut() =>
        Assert.Equal((0x7f0000000000UL, 0x7f0000400000UL), HugePageHeap.AnonymousRangeAround(
            ["", "garbage", "zz-7f0000000000 rw-p 00000000 00:00 0", "7f0000000000-7f0000400000 rw-p 00000000 00:00 0"], 0x7f0000000010UL));

    [Fact]
    public void AdviseHeap_TheKernelCountsTheHeapEligible()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.False(HugePageHeap.AdviseHeap());
            return;
        }
        Assert.True(HugePageHeap.AdviseHeap());
        // The kernel's account of the mapping that holds a new object: eligible for huge pages unless the system
        // gives none.
        Assert.Equal(HugePagesNever() ? 0 : 1, EligibleAt(new byte[64]));
    }

    [Fact]
    public async Task Apply_ThenAReplay_TheOraclesSamples()
    {
        var expected = !OperatingSystem.IsLinux() ? HugePageHeap.Outcome.NotSupported
            : HugePagesNever()
                ? HugePageHeap.Outcome.HugePagesOff
                : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes < 1L << 30
                    ? HugePageHeap.Outcome.LittleMemory
                    : HugePageHeap.Outcome.Applied;
        Assert.Equal(expected, HugePageHeap.Apply());
        try
        {
            if (expected == HugePageHeap.Outcome.Applied) Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
            // Chunks of 64 lines on the pipelined path: many rounds, flushes and chunk buffers, all in the region.
            var (samples, _) = await GoldenCorpusTests.ReplayFilesAsync(
                [.. GoldenCorpusTests.GoldenLanes.Select(l => Path.Combine(GoldenCorpusTests.GoldenDir, l))], 64, parallel: true);
            GoldenCorpusTests.AssertSame(GoldenCorpusTests.OracleExpected(), samples);
        }
        finally
        {
            HugePageHeap.End();
        }
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
        // A second run in the same process after the first ended: the region starts again.
        Assert.Equal(expected, HugePageHeap.Apply());
        HugePageHeap.End();
    }

    /// <summary>Whether the system gives no transparent huge pages, read here rather than through the class under test.</summary>
    private static bool HugePagesNever() =>
        File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]", StringComparison.Ordinal);

    /// <summary>The <c>THPeligible</c> value /proc/self/smaps gives the mapping that holds <paramref name="probe"/>'s data.</summary>
    private static unsafe int EligibleAt(byte[] probe)
    {
        ulong at;
        fixed (byte* p = probe) at = (ulong)p;
        var inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-');
            var space = line.IndexOf(' ');
            if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var start)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var end))
            {
                inside = start <= at && at < end;
            }
            else if (inside && line.StartsWith("THPeligible:", StringComparison.Ordinal))
            {
                GC.KeepAlive(probe);
                return int.Parse(line["THPeligible:".Length..].Trim(), CultureInfo.InvariantCulture);
            }
        }
        throw new InvalidOperationException($"no mapping in /proc/self/smaps holds address {at:x}");
    }
}
