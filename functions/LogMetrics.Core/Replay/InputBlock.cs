using System.Buffers;
using System.Runtime.InteropServices;

namespace LogMetrics.Core.Replay;

/// <summary>
/// Memory for the inputs a <see cref="LaneReader"/> reads whole (files of at most 1 MiB): on Linux, one
/// 2 MiB block, aligned to 2 MiB and marked for a transparent huge page (<c>madvise(MADV_HUGEPAGE)</c>),
/// that the readers of a replay share (two 800 KB lanes fit in one). Fresh memory is what a short replay
/// pays most for: the kernel faults it in 4 KiB at a time as the input is read into it (about 400 faults
/// for 1.6 MB, over a millisecond here), where a huge page is one fault that zeroes 2 MiB (about 0.1 ms).
/// Where huge pages are off (<c>never</c>) or missing, the block is ordinary memory and costs what an
/// array would. Elsewhere than Linux, or for an input too small to be worth a block of its own, a reader
/// uses an array (<see cref="Pool.Rent"/> returns null).
/// <para>A block is freed when the last reader holding part of it is disposed: the events of such a reader
/// are valid until then (<see cref="LaneReader.ReadsInPlace"/>).</para>
/// </summary>
internal sealed unsafe class InputBlock : MemoryManager<byte>
{
    /// <summary>Size and alignment of a block: one huge page (x64, and arm64 with 4 KiB pages).</summary>
    internal const int Size = 2 << 20;

    /// <summary>
    /// Smallest input that starts a block of its own: zeroing a huge page costs about what faulting in 256 KiB
    /// in 4 KiB pages does. A smaller input takes the rest of the current block, if it fits, or an array.
    /// </summary>
    internal const int MinimumToStart = 256 << 10;

    private readonly Pool _pool;
    private readonly byte* _start;
    private int _holders;
    private bool _freed;

    private InputBlock(Pool pool, byte* start)
    {
        _pool = pool;
        _start = start;
    }

    /// <summary>Whether this platform reads whole inputs into shared blocks.</summary>
    internal static bool Supported => OperatingSystem.IsLinux() && Environment.Is64BitProcess;

    /// <summary>The blocks of the process's readers.</summary>
    internal static Pool Shared { get; } = new();

    /// <summary>Hands out parts of one block at a time, until it is full; then starts another.</summary>
    internal sealed class Pool
    {
        private readonly Lock _gate = new();
        // The block new inputs are carved from, and how much of it is taken.
        private InputBlock? _current;
        private int _used;

        internal Lock Gate => _gate;

        /// <summary>
        /// <paramref name="length"/> bytes of a shared block for one reader, which calls <see cref="Release"/> when
        /// it is disposed; or null when an array serves better (not Linux, too small or too large an input).
        /// </summary>
        internal Memory<byte>? Rent(int length, out InputBlock? block)
        {
            block = null;
            if (!Supported || length > Size) return null;
            lock (_gate)
            {
                if (_current is null || _used + length > Size)
                {
                    if (length < MinimumToStart) return null;
                    _current = Allocate(this);
                    _used = 0;
                }
                block = _current;
                block._holders++;
                var memory = block.Memory.Slice(_used, length);
                // The next input starts on a cache line of its own.
                _used += (length + 63) & ~63;
                return memory;
            }
        }

        /// <summary>The last holder of <paramref name="block"/> is done with it: new inputs go to a new block.</summary>
        internal void Retire(InputBlock block)
        {
            if (ReferenceEquals(_current, block)) _current = null;
        }
    }

    private static InputBlock Allocate(Pool pool)
    {
        var start = (byte*)NativeMemory.AlignedAlloc(Size, Size);
        // Advice only: where huge pages are off or not available, the block is ordinary memory.
        var madvise = LibC.Madvise;
        if (madvise != null) _ = madvise(start, Size, LibC.MadvHugepage);
        return new InputBlock(pool, start);
    }

    /// <summary>A reader is done with its part: the last one frees the block.</summary>
    internal void Release()
    {
        lock (_pool.Gate)
        {
            if (--_holders > 0 || _freed) return;
            _pool.Retire(this);
            _freed = true;
            NativeMemory.AlignedFree(_start);
        }
    }

    public override Span<byte> GetSpan() => _freed ? throw Freed() : new(_start, Size);

    public override MemoryHandle Pin(int elementIndex = 0) => _freed ? throw Freed() : new(_start + elementIndex);

    private static ObjectDisposedException Freed() =>
        new(nameof(LaneReader), "the events of a lane read in place are valid until its reader is disposed");

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
    }
}
