using System.Numerics;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Parse;

namespace LogMetrics.Core.Accumulate;

/// <summary>
/// The cardinality budget, in one place: per metric family and metric window (the family's
/// resolution), at most <see cref="MetricFamily.MaxSeries"/> distinct label sets are admitted. A
/// record whose label set would be one more is folded into the family's overflow series, whose every
/// label value is <see cref="Overflow"/>: its counts, sums and ratios still add up (sum of counts =
/// accepted), and state per window stays bounded by the budget + 1 series.
/// <para>Shared by the pipelines of one host (thread-safe). Windows are forgotten once sealed, or an
/// hour (the longest out-of-orderness) behind the lane that last reported, so memory stays bounded by
/// the budget times the open windows. In the Functions app each partition's pipeline keeps its own
/// budget, so a window's series can reach the budget once per partition.</para>
/// </summary>
public sealed class SeriesBudget
{
    /// <summary>Every label value of a family's overflow series.</summary>
    public const string Overflow = "__overflow__";

    private readonly CompiledPipeline _pipeline;
    private readonly Lock _gate = new();
    private readonly Dictionary<(int Family, long Window), WindowAdmissions> _admitted = [];
    private readonly long[] _folded;
    private readonly bool[] _warned;
    // Per family: the metric window it last asked about (records mostly fall in one), and how many label sets its
    // window before that held when the window was made (a new window's table is sized for as many).
    private readonly WindowAdmissions?[] _last;
    private readonly int[] _lastHeld;

    public SeriesBudget(CompiledPipeline pipeline)
    {
        _pipeline = pipeline;
        _folded = new long[pipeline.Families.Count];
        _warned = new bool[pipeline.Families.Count];
        _last = new WindowAdmissions?[pipeline.Families.Count];
        _lastHeld = new int[pipeline.Families.Count];
    }

    /// <summary>Called once per family, the first time it goes over its budget (the console prints a warning).</summary>
    public Action<MetricFamily, long>? OnFirstOverflow { get; init; }

    /// <summary>Records folded into each family's overflow series, by family prefix (only families that overflowed).</summary>
    public IReadOnlyDictionary<string, long> Folded
    {
        get
        {
            lock (_gate)
            {
                return _pipeline.Families.Where(f => _folded[f.Index] > 0).ToDictionary(f => f.Prefix, f => _folded[f.Index], StringComparer.Ordinal);
            }
        }
    }

    /// <summary>Label sets held (for tests: bounded by budget × open windows).</summary>
    public int Held
    {
        get { lock (_gate) return _admitted.Values.Sum(s => s.Sets.Count); }
    }

    /// <summary>
    /// Whether <paramref name="labels"/> may have its own series in the window of <paramref name="eventTimeMs"/>;
    /// when not, the caller labels the record's contribution with <see cref="Overflow"/>.
    /// </summary>
    public bool Admit(MetricFamily family, long eventTimeMs, string[] labels) =>
        Admit(family, eventTimeMs, labels, SeriesHash.Of(family.Index, labels), copy: true, out _);

    /// <summary>
    /// As <see cref="Admit(MetricFamily, long, string[])"/> for a series already hashed by <see cref="SeriesHash"/>.
    /// With <paramref name="copy"/>, <paramref name="labels"/> may be a scratch array: a copy is kept, and returned
    /// in <paramref name="kept"/> when the label set was added; when it was admitted already, <paramref name="kept"/>
    /// is the array held for it (immutable, shared: pipelines of one host then use one array per series). Without
    /// <paramref name="copy"/>, the array itself may be kept, so it must not change afterwards.
    /// </summary>
    public bool Admit(MetricFamily family, long eventTimeMs, string[] labels, ulong hash, bool copy, out string[]? kept) =>
        Admit(family, eventTimeMs, labels, hash, copy, null, out kept, out _);

    /// <summary>
    /// As <see cref="Admit(MetricFamily, long, string[], ulong, bool, out string[])"/>; when admitted, <paramref name="admitted"/>
    /// is the label set as the budget holds it, whose <see cref="Admission.Window"/> is the family's metric window it was
    /// last admitted in (by any caller): it stays admitted there as long as that window is not
    /// <see cref="WindowAdmissions.Forgotten"/>, so a caller that meets <paramref name="admitted"/> in that window may skip
    /// asking again. <paramref name="known"/>, the admission the caller got for these labels in an earlier window (or null),
    /// is held again for them in a new window, so that callers holding it see the new window too.
    /// </summary>
    internal bool Admit(MetricFamily family, long eventTimeMs, string[] labels, ulong hash, bool copy, Admission? known, out string[]? kept, out Admission? admitted)
    {
        kept = null;
        admitted = null;
        var start = CompiledPipeline.FloorTo(eventTimeMs, family.ResolutionMs);
        bool warn;
        lock (_gate)
        {
            // A forgotten window has left _admitted (under this lock), so the last one asked about is current if not forgotten.
            var admissions = _last[family.Index];
            if (admissions is null || admissions.Start != start || admissions.Forgotten)
            {
                if (!_admitted.TryGetValue((family.Index, start), out admissions))
                {
                    if (_last[family.Index] is { } before) _lastHeld[family.Index] = before.Sets.Count;
                    _admitted[(family.Index, start)] = admissions = new WindowAdmissions(start, Math.Min(_lastHeld[family.Index], family.MaxSeries));
                }
                _last[family.Index] = admissions;
            }
            var set = admissions.Sets;
            if (set.Find(labels, hash) is { } held)
            {
                // Admitted already (by this or another pipeline): a caller with a scratch array gets the array
                // held, so every pipeline hands the shards one array per series (a shard finds it by reference).
                if (copy) kept = held.Labels;
                held.Window = admissions;
                admitted = held;
                return true;
            }
            if (set.Count < family.MaxSeries)
            {
                if (copy) kept = labels.AsSpan().ToArray();
                admitted = known is not null && ReferenceEquals(known.Budget, this) && known.Hash == hash && SeriesHash.SameLabels(known.Labels, labels)
                    ? known
                    : new Admission(this, kept ?? labels, hash);
                admitted.Window = admissions;
                set.Add(admitted);
                return true;
            }
            _folded[family.Index]++;
            warn = !_warned[family.Index];
            _warned[family.Index] = true;
        }
        if (warn) OnFirstOverflow?.Invoke(family, start);
        return false;
    }

    /// <summary>Forgets metric windows that end at or before <paramref name="throughMs"/>.</summary>
    public void Forget(long throughMs)
    {
        if (throughMs == long.MinValue) return;
        lock (_gate)
        {
            List<(int, long)>? old = null;
            foreach (var key in _admitted.Keys)
            {
                if (key.Window + _pipeline.Families[key.Family].ResolutionMs <= throughMs) (old ??= []).Add(key);
            }
            if (old is not null)
            {
                foreach (var key in old)
                {
                    _admitted.Remove(key, out var forgotten);
                    forgotten!.Forgotten = true;
                }
            }
        }
    }

    /// <summary>The label sets admitted in one family's metric window.</summary>
    internal sealed class WindowAdmissions(long start, int expected)
    {
        private volatile bool _forgotten;

        /// <summary>The metric window's start.</summary>
        public long Start { get; } = start;

        /// <summary>Guarded by the budget's lock.</summary>
        internal LabelSets Sets { get; } = new(expected);

        /// <summary>The window was forgotten: its label sets are admitted no longer.</summary>
        public bool Forgotten
        {
            get => _forgotten;
            internal set => _forgotten = value;
        }
    }

    /// <summary>
    /// A label set the budget admitted, shared by the series of every pipeline that has it: its labels (the array held
    /// for them) and the metric window it was last admitted in. A window that holds it keeps holding it until the
    /// window is forgotten, so a series whose admission's window is the one of its record, not forgotten, is admitted
    /// there without asking (<see cref="BatchAccumulator"/>); any other window asks.
    /// </summary>
    internal sealed class Admission(SeriesBudget budget, string[] labels, ulong hash)
    {
        private WindowAdmissions? _window;

        public SeriesBudget Budget { get; } = budget;

        public string[] Labels { get; } = labels;

        public ulong Hash { get; } = hash;

        /// <summary>The metric window it was last admitted in (written under the budget's lock).</summary>
        public WindowAdmissions? Window
        {
            get => Volatile.Read(ref _window);
            internal set => Volatile.Write(ref _window, value);
        }
    }

    /// <summary>
    /// Label sets by their series hash (<see cref="SeriesHash"/>) and values: open addressing on the hash, at most half
    /// full, a slot holding hash and admission side by side, so a probe compares hashes in one array and reads the
    /// labels only on an equal hash (mostly the very array asked with: the same instance compares at once).
    /// </summary>
    internal sealed class LabelSets
    {
        private Slot[] _slots;
        private int _count;

        /// <param name="expected">Label sets expected: the table holds as many without growing.</param>
        public LabelSets(int expected) => _slots = FreshPages.Array<Slot>(Math.Max(16, (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, expected) * 2)));

        public int Count => _count;

        /// <summary>The admission held for these label values, or null.</summary>
        public Admission? Find(string[] labels, ulong hash)
        {
            var slots = _slots;
            var mask = slots.Length - 1;
            for (var i = (int)hash & mask; ; i = (i + 1) & mask)
            {
                ref var slot = ref slots[i];
                if (slot.Admission is null) return null;
                if (slot.Hash == hash && SeriesHash.SameLabels(slot.Admission.Labels, labels)) return slot.Admission;
            }
        }

        /// <summary>Adds a label set not held yet (see <see cref="Find"/>).</summary>
        public void Add(Admission admission)
        {
            if ((_count + 1) * 2 > _slots.Length)
            {
                var bigger = FreshPages.Array<Slot>(_slots.Length * 2);
                foreach (var slot in _slots)
                {
                    if (slot.Admission is not null) Place(bigger, slot.Admission);
                }
                _slots = bigger;
            }
            Place(_slots, admission);
            _count++;
        }

        private static void Place(Slot[] slots, Admission admission)
        {
            var mask = slots.Length - 1;
            var i = (int)admission.Hash & mask;
            while (slots[i].Admission is not null) i = (i + 1) & mask;
            slots[i] = new Slot(admission.Hash, admission);
        }

        private readonly record struct Slot(ulong Hash, Admission? Admission);
    }
}
