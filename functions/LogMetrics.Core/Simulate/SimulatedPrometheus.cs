using LogMetrics.Core.Flush;

namespace LogMetrics.Core.Simulate;

/// <summary>
/// A remote-write receiver with Prometheus's rules, in memory: a request (at most
/// <c>maxSamplesPerRequest</c> samples, in the order given) is stored whole or not at all; a sample
/// older than its series' newest, or at the same time with another value, rejects the request with
/// 400; an identical re-send of the newest sample is accepted. Faults: a request fails before the
/// server stores it, or times out after the server stored it. A failed request ends the write call
/// (the rest are not sent), as the real client does.
/// </summary>
public sealed class SimulatedPrometheus(int maxSamplesPerRequest, Random random, double failRate, double timeoutAfterAcceptRate) : ISampleWriter
{
    private readonly Dictionary<string, SortedDictionary<long, Sample>> _series = new(StringComparer.Ordinal);

    public long Requests { get; private set; }

    public long FailedBeforeAccept { get; private set; }

    public long TimeoutsAfterAccept { get; private set; }

    /// <summary>Requests rejected as out of order (or conflicting), by whether every sample was already stored identically.</summary>
    public long RejectedResends { get; private set; }

    public long RejectedFresh { get; private set; }

    public IEnumerable<Sample> Stored => _series.Values.SelectMany(s => s.Values);

    public Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        long written = 0;
        var drops = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var offset = 0; offset < samples.Count; offset += maxSamplesPerRequest)
        {
            var request = samples.Skip(offset).Take(maxSamplesPerRequest).ToList();
            Requests++;
            var roll = random.NextDouble();
            if (roll < failRate)
            {
                FailedBeforeAccept++;
                return Task.FromResult(new WriteResult(WriteOutcome.Failed, written, drops));
            }
            if (!Accepts(request, out var resend))
            {
                if (resend) RejectedResends++;
                else RejectedFresh++;
                var reason = resend ? "http_400_resend" : "http_400";
                drops[reason] = drops.GetValueOrDefault(reason) + request.Count;
                continue;
            }
            foreach (var s in request)
            {
                if (!_series.TryGetValue(s.SeriesId, out var points)) _series[s.SeriesId] = points = [];
                points[s.TimestampMs] = s;
            }
            if (roll < failRate + timeoutAfterAcceptRate)
            {
                TimeoutsAfterAccept++;
                return Task.FromResult(new WriteResult(WriteOutcome.Failed, written, drops));
            }
            written += request.Count;
        }
        return Task.FromResult(drops.Count == 0 ? WriteResult.Ok(written) : new WriteResult(WriteOutcome.Dropped, written, drops));
    }

    /// <summary>Prometheus's append rules for one request; <paramref name="resend"/> says whether a rejected request held only samples already stored identically.</summary>
    private bool Accepts(List<Sample> request, out bool resend)
    {
        var ok = true;
        resend = true;
        var newest = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var s in request)
        {
            var id = s.SeriesId;
            var stored = _series.TryGetValue(id, out var points) ? points : null;
            var head = newest.TryGetValue(id, out var n) ? n : stored is { Count: > 0 } ? stored.Keys.Max() : long.MinValue;
            var same = stored is not null && stored.TryGetValue(s.TimestampMs, out var old) && BitConverter.DoubleToInt64Bits(old.Value) == BitConverter.DoubleToInt64Bits(s.Value);
            if (!same) resend = false;
            if (s.TimestampMs < head || (s.TimestampMs == head && !same && stored is not null && stored.ContainsKey(s.TimestampMs)))
            {
                ok = false;
            }
            newest[id] = Math.Max(head, s.TimestampMs);
        }
        if (ok) resend = false;
        return ok;
    }
}
