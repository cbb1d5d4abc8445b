using LogMetrics.Core.Parse;
using LogMetrics.Core.Replay;
using Xunit;

namespace LogMetrics.Core.Tests.Parse;

public sealed unsafe class FreshPagesTests
{
    private readonly record struct Wide(string? Text, long A, long B, object? Ref);

    /// <summary>Every length around the page size, for elements of 1, 8 and 32 bytes (with references): the array is as long as asked, all default, and usable.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(127)]
    [InlineData(128)]
    [InlineData(129)]
    [InlineData(511)]
    [InlineData(512)]
    [InlineData(513)]
    [InlineData(4095)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(100_003)]
    public void Array_AsLongAsAsked_AllDefault(int length)
    {
        var bytes = FreshPages.Array<byte>(length);
        var refs = FreshPages.Array<object?>(length);
        var wide = FreshPages.Array<Wide>(length);

        Assert.Equal(length, bytes.Length);
        Assert.Equal(length, refs.Length);
        Assert.Equal(length, wide.Length);
        Assert.All(bytes, b => Assert.Equal(0, b));
        Assert.All(refs, Assert.Null);
        Assert.All(wide, w => Assert.Equal(default, w));
        if (length == 0) return;
        refs[^1] = "last";
        wide[^1] = new Wide("x", 1, 2, refs);
        Assert.Equal("last", refs[^1]);
        Assert.Same(refs, wide[^1].Ref);
    }

    /// <summary>
    /// <see cref="FreshPages.Populate"/> on memory the process has never touched (a fresh anonymous mapping): writing
    /// every page afterwards takes no page fault, where writing a second such mapping, not populated, takes one a page
    /// (the kernel's count for this thread, <c>getrusage(RUSAGE_THREAD)</c>).
    /// </summary>
    [Fact]
    public void Populate_FaultsInEveryPage_SoWritingThemTakesNoFault()
    {
        const int pages = 256;
        var page = Environment.SystemPageSize;
        var length = (nuint)(pages * page);
        var populated = Map(length);
        var control = Map(length);
        var warm = Map((nuint)(2 * page));
        try
        {
            // Each function once first, on memory of its own, so that no first run of code faults below.
            Assert.True(FreshPages.Populate(ref *warm, (nuint)page), "the kernel refused MADV_POPULATE_WRITE (it needs Linux 5.14)");
            WriteEveryPage(warm, (nuint)(2 * page));
            MinorFaults();
            // One byte short of the whole range: the last page is faulted in all the same.
            Assert.True(FreshPages.Populate(ref *populated, length - 1));
            var afterPopulate = MinorFaults();
            WriteEveryPage(populated, length);
            var afterWrites = MinorFaults();
            WriteEveryPage(control, length);
            var afterControl = MinorFaults();

            Assert.InRange(afterWrites - afterPopulate, 0, pages / 16);
            Assert.InRange(afterControl - afterWrites, pages, 2 * pages);
        }
        finally
        {
            Unmap(populated, length);
            Unmap(control, length);
            Unmap(warm, (nuint)(2 * page));
        }
    }

    /// <summary>A large array's pages are faulted in at its making: writing each of them afterwards takes (almost) no fault.</summary>
    [Fact]
    public void Bytes_LargeArray_WritingEveryPageTakesNoFault()
    {
        const int length = 8 << 20;
        var warm = FreshPages.Bytes(FreshPages.PopulateBytes);
        fixed (byte* at = warm) WriteEveryPage(at, (nuint)warm.Length);
        var array = FreshPages.Bytes(length);
        var before = MinorFaults();
        fixed (byte* at = array) WriteEveryPage(at, length);
        Assert.InRange(MinorFaults() - before, 0, length / Environment.SystemPageSize / 16);
    }

    private static void WriteEveryPage(byte* start, nuint length)
    {
        for (nuint at = 0; at < length; at += (nuint)Environment.SystemPageSize) start[at] = 1;
    }

    private static byte* Map(nuint length)
    {
        var mmap = (delegate* unmanaged<void*, nuint, int, int, int, nint, void*>)LibC.Find("mmap");
        Assert.True(mmap != null, "no mmap in this process");
        const int read = 1, write = 2, @private = 0x02, anonymous = 0x20;
        var start = (byte*)mmap(null, length, read | write, @private | anonymous, -1, 0);
        Assert.True(start != (byte*)-1, "mmap failed");
        return start;
    }

    private static void Unmap(byte* start, nuint length)
    {
        var munmap = (delegate* unmanaged<void*, nuint, int>)LibC.Find("munmap");
        munmap(start, length);
    }

    /// <summary>Minor page faults of the calling thread so far (<c>getrusage(RUSAGE_THREAD)</c>'s <c>ru_minflt</c>).</summary>
    private static long MinorFaults()
    {
        var getrusage = (delegate* unmanaged<int, long*, int>)LibC.Find("getrusage");
        Assert.True(getrusage != null, "no getrusage in this process");
        // struct rusage: two timevals (four longs), then maxrss, ixrss, idrss, isrss, minflt, ... (18 longs in all).
        var usage = stackalloc long[18];
        const int thread = 1;
        Assert.Equal(0, getrusage(thread, usage));
        return usage[8];
    }
}
