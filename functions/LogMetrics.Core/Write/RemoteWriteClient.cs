using System.Collections.Concurrent;
using LogMetrics.Core.Telemetry;
using System.Net.Http.Headers;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace LogMetrics.Core.Write;

/// <summary>Optional collaborators of a <see cref="RemoteWriteClient"/>; the defaults are the real ones.</summary>
public sealed class RemoteWriteServices
{
    /// <summary>HTTP handler (not disposed by the client when given).</summary>
    public HttpMessageHandler? Handler { get; init; }
    public TimeProvider Time { get; init; } = TimeProvider.System;
    /// <summary>Jitter source for backoff.</summary>
    public Random? Random { get; init; }
    /// <summary>Waits between retries; tests record the delay instead of sleeping.</summary>
    public Func<TimeSpan, CancellationToken, Task>? Delay { get; init; }
    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;
    /// <summary>Host-supplied Entra token source for a managed-identity client id (null = default chain).</summary>
    public Func<string?, IAccessTokenSource>? EntraTokenSource { get; init; }
    public RemoteWriteMetrics? Metrics { get; init; }
    public ILogger? Logger { get; init; }
}

/// <summary>
/// Writes samples to a Prometheus remote-write 1.0 endpoint: batches them
/// (<see cref="RemoteWriteBatcher"/>), encodes (<see cref="RemoteWriteEncoder"/>), POSTs with
/// bounded concurrency, and retries through a Polly pipeline (backoff per <see cref="RemoteWriteRetryPolicy"/>,
/// limited by a run-wide <see cref="RemoteWriteRetryBudget"/> or per request by <c>maxElapsed</c>).
/// </summary>
/// <remarks>
/// Retrying is safe because remote write is idempotent per (series, timestamp): a receiver answers
/// 2xx to an identical re-send. A 401/403 the auth cannot fix counts the call's unsent samples as
/// dropped (<c>unauthorized</c>) and then throws <see cref="RemoteWriteFatalException"/> (after
/// in-flight requests settle) so the host stops. Drop reasons: <see cref="DropReasons"/>.
/// </remarks>
public sealed class RemoteWriteClient : ISampleWriter, IDisposable
{
    /// <summary>Sent as <c>User-Agent</c>.</summary>
    public const string UserAgent = "LogMetrics/1.0";

    private static readonly MediaTypeHeaderValue ProtobufContentType = new("application/x-protobuf");

    private readonly RemoteWriteOptions _options;
    private readonly IRemoteWriteAuth _auth;
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _concurrency;
    private readonly RemoteWriteBatcher _batcher;
    private readonly RemoteWriteRetryPolicy _policy;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline<Attempt> _retry;
    private readonly ResiliencePipeline _attemptTimeout;
    private readonly RemoteWriteRetryBudget? _budget;
    private readonly ILogger _logger;
    private readonly bool _ownsMetrics;

    public RemoteWriteClient(RemoteWriteOptions options, IRemoteWriteAuth auth, RemoteWriteServices? services = null)
    {
        services ??= new RemoteWriteServices();
        _options = options;
        _auth = auth;
        _time = services.Time;
        _http = services.Handler is { } handler
            ? new HttpClient(handler, disposeHandler: false)
            : new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), ConnectTimeout = options.Timeout });
        _http.Timeout = Timeout.InfiniteTimeSpan; // per-request timeout below, so a timeout is told apart from cancellation
        _concurrency = new SemaphoreSlim(options.Concurrency, options.Concurrency);
        _batcher = new RemoteWriteBatcher(options.MaxSamplesPerRequest, options.MaxBytesPerRequest);
        _policy = new RemoteWriteRetryPolicy(options.InitialBackoff, options.MaxBackoff, options.MaxElapsed, services.Random);
        _budget = options.RunRetryBudget is { } budget ? new RemoteWriteRetryBudget(budget) : null;
        _retry = BuildRetryPipeline(services.Delay is { } delay ? new DelayTimeProvider(_time, delay) : _time);
        // Wall-clock per-attempt timeout, told apart from the caller's cancellation by TimeoutRejectedException.
        _attemptTimeout = new ResiliencePipelineBuilder().AddTimeout(options.Timeout).Build();
        _logger = services.Logger ?? NullLogger.Instance;
        _ownsMetrics = services.Metrics is null;
        Metrics = services.Metrics ?? new RemoteWriteMetrics();
    }

    /// <summary>Write-stage self-metrics.</summary>
    public RemoteWriteMetrics Metrics { get; }

    public RemoteWriteOptions Options => _options;

    /// <summary>
    /// Validates <paramref name="definition"/> (overridden by <paramref name="endpointOverride"/> /
    /// <paramref name="authOverride"/> when set) and builds a client. Throws
    /// <see cref="RemoteWriteConfigurationException"/> naming the setting on any problem.
    /// </summary>
    /// <param name="runRetryBudget">A retry budget for the client's whole life (a replay run); null = <c>maxElapsedSeconds</c> per request.</param>
    public static RemoteWriteClient Create(RemoteWriteDefinition definition, string? endpointOverride, string? authOverride, RemoteWriteServices? services = null, TimeSpan? runRetryBudget = null)
    {
        services ??= new RemoteWriteServices();
        var options = RemoteWriteOptions.From(definition, endpointOverride) with { RunRetryBudget = runRetryBudget };
        var auth = RemoteWriteAuthFactory.Create(definition, authOverride, services.GetEnvironmentVariable, services.EntraTokenSource, services.Time);
        return new RemoteWriteClient(options, auth, services);
    }

    public async Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        if (samples.Count == 0) return WriteResult.Ok(0);
        var chains = _batcher.Plan(samples);
        var call = new CallState();
        var results = await Task.WhenAll(chains.Select(chain => SendChainAsync(chain, call, cancellationToken))).ConfigureAwait(false);

        long written = 0;
        var failed = false;
        var drops = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var result in results.SelectMany(r => r))
        {
            switch (result.Kind)
            {
                case BatchKind.Written: written += result.Samples; break;
                case BatchKind.Dropped: drops[result.Reason!] = drops.GetValueOrDefault(result.Reason!) + result.Samples; break;
                case BatchKind.Failed: failed = true; break;
            }
        }
        // Every sample of this call is counted (written, or dropped as unauthorized) before the run is told to stop.
        if (call.Fatal is { } fatal)
        {
            call.Commit();
            throw new RemoteWriteFatalException(fatal);
        }
        // Offered again whole and counted then; or given up (the flush's backlog bound), and then what did go through counts now.
        if (failed) return new WriteResult(WriteOutcome.Failed, written, drops) { SettlePartial = call.Commit };
        call.Commit();
        return drops.Count == 0 ? WriteResult.Ok(written) : new WriteResult(WriteOutcome.Dropped, written, drops);
    }

    /// <summary>The run's retry budget, when the client has one (<see cref="RemoteWriteOptions.RunRetryBudget"/>).</summary>
    public RemoteWriteRetryBudget? Budget => _budget;

    private enum BatchKind { Written, Dropped, Failed }

    private readonly record struct BatchResult(BatchKind Kind, int Samples, string? Reason = null);

    /// <summary>
    /// What the requests of one <see cref="WriteAsync"/> call share: the first fatal error, and the
    /// samples written or dropped, counted only when the call ends. A call that ends Failed is offered
    /// again whole by the next flush, so the part it had written (or dropped) counts then, once; unless
    /// the flush gives the call up (<see cref="WriteResult.SettlePartial"/>), which counts that part at once.
    /// </summary>
    private sealed class CallState
    {
        private readonly ConcurrentQueue<Action> _counts = new();
        private string? _fatal;

        public string? Fatal => Volatile.Read(ref _fatal);

        public void SetFatal(string message) => Interlocked.CompareExchange(ref _fatal, message, null);

        public void Count(Action count) => _counts.Enqueue(count);

        public void Commit()
        {
            while (_counts.TryDequeue(out var count)) count();
        }
    }

    /// <summary>
    /// Sends a chain's requests in order. Once one fails (transiently, beyond the retry limit) the rest
    /// are not sent: a later chunk of a split series accepted before an earlier one would make the
    /// earlier one "out of order" when the flush is offered again.
    /// </summary>
    private async Task<List<BatchResult>> SendChainAsync(IReadOnlyList<WriteBatch> chain, CallState call, CancellationToken cancellationToken)
    {
        var results = new List<BatchResult>(chain.Count);
        foreach (var batch in chain)
        {
            if (results.Count > 0 && results[^1].Kind == BatchKind.Failed)
            {
                results.Add(new BatchResult(BatchKind.Failed, batch.SampleCount));
                continue;
            }
            results.AddRange(await SendBatchAsync(batch, call, cancellationToken).ConfigureAwait(false));
        }
        return results;
    }

    private BatchResult Drop(WriteBatch batch, string reason, CallState call)
    {
        call.Count(() => Metrics.SamplesDropped(reason, batch.SampleCount));
        return new BatchResult(BatchKind.Dropped, batch.SampleCount, reason);
    }

    /// <summary>
    /// Sends one request through the retry pipeline (Polly): retryable failures are retried with
    /// backoff while the retry limit allows, a 401/403 once after refreshing the credential, and a
    /// 413 is split in two halves that are sent in turn. Every sample ends written or dropped with a
    /// reason, except in per-request mode (no run budget) where "gave up" leaves it Failed, to be
    /// offered again by the next flush.
    /// </summary>
    private async Task<List<BatchResult>> SendBatchAsync(WriteBatch batch, CallState call, CancellationToken cancellationToken)
    {
        if (call.Fatal is not null) return [Drop(batch, DropReasons.Unauthorized, call)];
        if (_budget is { Exhausted: true }) return [Drop(batch, DropReasons.OverBudget, call)];

        var body = RemoteWriteEncoder.EncodeCompressed(batch.Chunks, out _);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        Attempt last;
        try
        {
            context.Properties.Set(BatchKey, batch);
            context.Properties.Set(StartedKey, _time.GetTimestamp());
            last = await _retry.ExecuteAsync(static (ctx, state) => state.Client.AttemptAsync(state.Body, ctx), context, (Client: this, Body: body)).ConfigureAwait(false);
        }
        catch (RemoteWriteFatalException e)
        {
            // No credential could be obtained at all: a configuration problem.
            call.SetFatal(e.Message);
            return [Drop(batch, DropReasons.Unauthorized, call)];
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }

        switch (last.Outcome)
        {
            case RemoteWriteOutcome.Success:
                var freshness = Freshness(batch);
                call.Count(() => Metrics.SamplesWritten(batch.SampleCount, freshness));
                return [new BatchResult(BatchKind.Written, batch.SampleCount)];
            case RemoteWriteOutcome.Permanent when last.Status == 413 && batch.SampleCount > 1:
            {
                // Too large for the receiver: halve and send the halves in turn (in order, so a split series stays in time order).
                var (first, second) = Halve(batch);
                Log.Halving(_logger, batch.SampleCount, _options.Endpoint, first.SampleCount, second.SampleCount);
                var results = await SendBatchAsync(first, call, cancellationToken).ConfigureAwait(false);
                results.AddRange(await SendBatchAsync(second, call, cancellationToken).ConfigureAwait(false));
                return results;
            }
            case RemoteWriteOutcome.Permanent:
                Log.Rejected(_logger, batch.SampleCount, _options.Endpoint, last.Status!.Value, last.Body);
                return [Drop(batch, $"http_{last.Status}", call)];
            case RemoteWriteOutcome.Fatal:
            {
                var message = last.Status is { } s
                    ? $"remote write to {_options.Endpoint} was refused with HTTP {s} (remoteWrite.auth '{_auth.Kind}'{(_auth.CanRefresh ? ", after refreshing the credential once" : "")}): {last.Body}"
                    : $"remote write to {_options.Endpoint} failed: {last.Error!.Message}";
                if (last.Status is { } st) Log.AuthRejected(_logger, _options.Endpoint, st, _auth.Kind, last.Body);
                call.SetFatal(message);
                return [Drop(batch, DropReasons.Unauthorized, call)];
            }
            default:
            {
                var reasonText = Describe(last);
                if (_budget is not null)
                {
                    var reason = last.Status is null ? DropReasons.Unreachable : DropReasons.GaveUp;
                    Log.BudgetSpent(_logger, batch.SampleCount, _options.Endpoint, reasonText, _budget.Total, reason);
                    return [Drop(batch, reason, call)];
                }
                Log.GaveUp(_logger, batch.SampleCount, _options.Endpoint, context.Properties.GetValue(AttemptsKey, 1), reasonText);
                Metrics.BatchFailed();
                return [new BatchResult(BatchKind.Failed, batch.SampleCount)];
            }
        }
    }

    private static string Describe(Attempt a) => a.Status is { } c ? $"HTTP {c}" : a.Error!.GetType().Name + ": " + a.Error.Message;

    /// <summary>Splits a request into two of (about) half the samples each, keeping the order of series and samples.</summary>
    internal static (WriteBatch First, WriteBatch Second) Halve(WriteBatch batch)
    {
        var target = batch.SampleCount / 2;
        var first = new List<SeriesChunk>();
        var second = new List<SeriesChunk>();
        var taken = 0;
        foreach (var chunk in batch.Chunks)
        {
            if (taken >= target)
            {
                second.Add(chunk);
            }
            else if (taken + chunk.Count <= target)
            {
                first.Add(chunk);
                taken += chunk.Count;
            }
            else
            {
                var k = target - taken;
                first.Add(chunk with { Count = k });
                second.Add(new SeriesChunk(chunk.Series, chunk.Start + k, chunk.Count - k));
                taken = target;
            }
        }
        var firstBytes = (int)((long)batch.EncodedSize * taken / Math.Max(batch.SampleCount, 1));
        return (new WriteBatch(first, taken, firstBytes), new WriteBatch(second, batch.SampleCount - taken, batch.EncodedSize - firstBytes));
    }

    private static readonly ResiliencePropertyKey<WriteBatch> BatchKey = new("logmetrics.batch");
    private static readonly ResiliencePropertyKey<long> StartedKey = new("logmetrics.started");
    private static readonly ResiliencePropertyKey<bool> RefreshedKey = new("logmetrics.refreshed");
    private static readonly ResiliencePropertyKey<bool> RefreshNowKey = new("logmetrics.refreshNow");
    private static readonly ResiliencePropertyKey<TimeSpan> NextDelayKey = new("logmetrics.nextDelay");
    private static readonly ResiliencePropertyKey<int> AttemptsKey = new("logmetrics.attempts");

    /// <summary>The retry pipeline: which outcomes are retried, after which delay, and what happens before a retry.</summary>
    private ResiliencePipeline<Attempt> BuildRetryPipeline(TimeProvider delays) =>
        new ResiliencePipelineBuilder<Attempt> { TimeProvider = delays }
            .AddRetry(new RetryStrategyOptions<Attempt>
            {
                MaxRetryAttempts = int.MaxValue, // bounded by the retry limit in ShouldRetry
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome, args.AttemptNumber, args.Context)),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(args.Context.Properties.GetValue(NextDelayKey, TimeSpan.Zero)),
                OnRetry = OnRetryAsync,
            })
            .Build();

    /// <summary>
    /// Whether to try again: only a retryable outcome, and only within the limit — the run's budget
    /// when there is one (each retry takes its failed attempt's time plus its wait from the budget),
    /// else <c>maxElapsed</c> since the request's first attempt. A 401/403 the auth can refresh is
    /// retried at once, once.
    /// </summary>
    private bool ShouldRetry(Outcome<Attempt> outcome, int attemptNumber, ResilienceContext context)
    {
        context.Properties.Set(AttemptsKey, attemptNumber + 1);
        if (outcome.Exception is not null || outcome.Result.Outcome != RemoteWriteOutcome.Retryable) return false;
        var attempt = outcome.Result;
        var refreshed = context.Properties.GetValue(RefreshedKey, false);
        if (attempt.Status is { } code && RemoteWriteRetryPolicy.ShouldRefreshAuth(code, _auth, refreshed))
        {
            context.Properties.Set(RefreshNowKey, true);
            context.Properties.Set(NextDelayKey, TimeSpan.Zero);
            return true;
        }
        var delay = _policy.Backoff(attemptNumber, attempt.RetryAfter);
        if (_budget is not null)
        {
            if (!_budget.TryTake(attempt.Duration + delay)) return false;
        }
        else if (_time.GetElapsedTime(context.Properties.GetValue(StartedKey, 0L)) + delay > _options.MaxElapsed)
        {
            return false;
        }
        context.Properties.Set(NextDelayKey, delay);
        return true;
    }

    private async ValueTask OnRetryAsync(OnRetryArguments<Attempt> args)
    {
        var batch = args.Context.Properties.GetValue(BatchKey, null!);
        Metrics.SamplesRetried(batch.SampleCount);
        var attempt = args.Outcome.Result;
        if (args.Context.Properties.GetValue(RefreshNowKey, false))
        {
            args.Context.Properties.Set(RefreshNowKey, false);
            args.Context.Properties.Set(RefreshedKey, true);
            Log.RefreshingAuth(_logger, _options.Endpoint, attempt.Status!.Value, _auth.Kind);
            await _auth.RefreshAsync(args.Context.CancellationToken).ConfigureAwait(false);
            return;
        }
        Log.Retrying(_logger, args.AttemptNumber + 1, _options.Endpoint, Describe(attempt), batch.SampleCount, args.RetryDelay);
    }

    /// <summary>
    /// What one attempt returned (never throws for an HTTP or transport failure), classified and measured.
    /// Timeouts come from the per-attempt Polly timeout (<c>remoteWrite.timeoutSeconds</c>).
    /// </summary>
    private readonly record struct Attempt(int? Status, string Body, TimeSpan? RetryAfter, Exception? Error)
    {
        public RemoteWriteOutcome Outcome { get; init; }
        public TimeSpan Duration { get; init; }
    }

    private async ValueTask<Attempt> AttemptAsync(byte[] body, ResilienceContext context)
    {
        var started = _time.GetTimestamp();
        Attempt result;
        await _concurrency.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        try
        {
            result = await SendOnceAsync(body, context.CancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _concurrency.Release();
        }
        var refreshed = context.Properties.GetValue(RefreshedKey, false);
        var outcome = result.Status is { } status
            ? RemoteWriteResponseClassifier.Classify(status, _auth.CanRefresh && !refreshed)
            : RemoteWriteResponseClassifier.Classify(result.Error!);
        var duration = _time.GetElapsedTime(started);
        Metrics.RequestCompleted(outcome, body.Length, duration);
        return result with { Outcome = outcome, Duration = duration };
    }

    private async Task<Attempt> SendOnceAsync(byte[] body, CancellationToken cancellationToken)
    {
        try
        {
            return await _attemptTimeout.ExecuteAsync(static (state, token) => state.Client.SendCoreAsync(state.Body, token), (Client: this, Body: body), cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutRejectedException ex)
        {
            return new Attempt(null, "", null, new TimeoutException($"no response within {_options.Timeout.TotalSeconds:0.###} s (remoteWrite.timeoutSeconds)", ex));
        }
    }

    private async ValueTask<Attempt> SendCoreAsync(byte[] body, CancellationToken token)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, _options.Endpoint);
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = ProtobufContentType;
            content.Headers.ContentEncoding.Add("snappy");
            request.Content = content;
            request.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
            request.Headers.Add("X-Prometheus-Remote-Write-Version", "0.1.0");
            try
            {
                await _auth.ApplyAsync(request, token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // No credential at all (e.g. no managed identity, not signed in): a configuration problem.
                throw new RemoteWriteFatalException($"could not obtain remote-write credentials (remoteWrite.auth '{_auth.Kind}'): {ex.Message}", ex);
            }

            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var text = status is >= 200 and < 300 ? "" : await ReadErrorAsync(response, token).ConfigureAwait(false);
            return new Attempt(status, text, RemoteWriteRetryPolicy.RetryAfter(response.Headers.RetryAfter, _time.GetUtcNow()), null);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return new Attempt(null, "", null, ex);
        }
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        text = text.Trim();
        return text.Length <= 512 ? text : text[..512] + "…";
    }

    /// <summary>End-to-end freshness of a written batch: now − the newest event time that fed it.</summary>
    private TimeSpan? Freshness(WriteBatch batch)
    {
        long newest = 0;
        foreach (var chunk in batch.Chunks)
        {
            for (var i = chunk.Start; i < chunk.Start + chunk.Count; i++) newest = Math.Max(newest, chunk.Series.Samples[i].NewestEventTimeMs);
        }
        if (newest <= 0) return null;
        var lag = _time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(newest);
        return lag < TimeSpan.Zero ? TimeSpan.Zero : lag;
    }

    public void Dispose()
    {
        _http.Dispose();
        _concurrency.Dispose();
        if (_ownsMetrics) Metrics.Dispose();
        (_auth as IDisposable)?.Dispose();
    }
}
