using LogMetrics.Core.Telemetry;
using System.Net.Http.Headers;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

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
/// bounded concurrency, and retries per <see cref="RemoteWriteRetryPolicy"/>.
/// </summary>
/// <remarks>
/// Retrying is safe because remote write is idempotent per (series, timestamp): a receiver answers
/// 2xx to an identical re-send. A 401/403 the auth cannot fix throws
/// <see cref="RemoteWriteFatalException"/> (after in-flight requests settle) rather than dropping data.
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
    private readonly Func<TimeSpan, CancellationToken, Task> _delay;
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
        _delay = services.Delay ?? ((d, ct) => Task.Delay(d, _time, ct));
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
    public static RemoteWriteClient Create(RemoteWriteDefinition definition, string? endpointOverride, string? authOverride, RemoteWriteServices? services = null)
    {
        services ??= new RemoteWriteServices();
        var options = RemoteWriteOptions.From(definition, endpointOverride);
        var auth = RemoteWriteAuthFactory.Create(definition, authOverride, services.GetEnvironmentVariable, services.EntraTokenSource, services.Time);
        return new RemoteWriteClient(options, auth, services);
    }

    public async Task<WriteResult> WriteAsync(IReadOnlyList<Sample> samples, CancellationToken cancellationToken)
    {
        if (samples.Count == 0) return WriteResult.Ok(0);
        var chains = _batcher.Plan(samples);
        var results = await Task.WhenAll(chains.Select(chain => SendChainAsync(chain, cancellationToken))).ConfigureAwait(false);

        long written = 0;
        var failed = false;
        var drops = new Dictionary<string, long>(StringComparer.Ordinal);
        string? fatal = null;
        foreach (var result in results.SelectMany(r => r))
        {
            switch (result.Kind)
            {
                case BatchKind.Written: written += result.Samples; break;
                case BatchKind.Dropped: drops[result.Reason!] = drops.GetValueOrDefault(result.Reason!) + result.Samples; break;
                case BatchKind.Failed: failed = true; break;
                case BatchKind.Fatal: fatal ??= result.Reason; break;
            }
        }
        if (fatal is not null) throw new RemoteWriteFatalException(fatal);
        if (failed) return new WriteResult(WriteOutcome.Failed, written, drops);
        return drops.Count == 0 ? WriteResult.Ok(written) : new WriteResult(WriteOutcome.Dropped, written, drops);
    }

    private enum BatchKind { Written, Dropped, Failed, Fatal }

    private readonly record struct BatchResult(BatchKind Kind, int Samples, string? Reason = null);

    /// <summary>
    /// Sends a chain's requests in order. Once one fails (transiently, beyond the retry budget) the rest
    /// are not sent: a later chunk of a split series accepted before an earlier one would make the
    /// earlier one "out of order" when the flush is offered again.
    /// </summary>
    private async Task<List<BatchResult>> SendChainAsync(IReadOnlyList<WriteBatch> chain, CancellationToken cancellationToken)
    {
        var results = new List<BatchResult>(chain.Count);
        foreach (var batch in chain)
        {
            var result = results.Count > 0 && results[^1].Kind is BatchKind.Failed or BatchKind.Fatal
                ? new BatchResult(BatchKind.Failed, batch.SampleCount)
                : await SendBatchAsync(batch, cancellationToken).ConfigureAwait(false);
            results.Add(result);
        }
        return results;
    }

    private async Task<BatchResult> SendBatchAsync(WriteBatch batch, CancellationToken cancellationToken)
    {
        var body = RemoteWriteEncoder.EncodeCompressed(batch.Chunks, out _);
        var started = _time.GetTimestamp();
        var refreshed = false;
        for (var attempt = 0; ; attempt++)
        {
            var attemptStarted = _time.GetTimestamp();
            Attempt result;
            await _concurrency.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                result = await SendOnceAsync(body, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _concurrency.Release();
            }

            var outcome = result.Status is { } status
                ? RemoteWriteResponseClassifier.Classify(status, _auth.CanRefresh && !refreshed)
                : RemoteWriteResponseClassifier.Classify(result.Error!);
            Metrics.RequestCompleted(outcome, body.Length, _time.GetElapsedTime(attemptStarted));

            switch (outcome)
            {
                case RemoteWriteOutcome.Success:
                    Metrics.SamplesWritten(batch.SampleCount, Freshness(batch));
                    return new BatchResult(BatchKind.Written, batch.SampleCount);
                case RemoteWriteOutcome.Permanent:
                {
                    var reason = $"http_{result.Status}";
                    Log.Rejected(_logger, batch.SampleCount, _options.Endpoint, result.Status!.Value, result.Body);
                    Metrics.SamplesDropped(reason, batch.SampleCount);
                    return new BatchResult(BatchKind.Dropped, batch.SampleCount, reason);
                }
                case RemoteWriteOutcome.Fatal:
                {
                    var message = result.Status is { } s
                        ? $"remote write to {_options.Endpoint} was refused with HTTP {s} (remoteWrite.auth '{_auth.Kind}'): {result.Body}"
                        : $"remote write to {_options.Endpoint} failed: {result.Error!.Message}";
                    if (result.Status is { } st) Log.AuthRejected(_logger, _options.Endpoint, st, _auth.Kind, result.Body);
                    return new BatchResult(BatchKind.Fatal, batch.SampleCount, message);
                }
            }

            if (result.Status is { } code && RemoteWriteRetryPolicy.ShouldRefreshAuth(code, _auth, refreshed))
            {
                refreshed = true;
                Log.RefreshingAuth(_logger, _options.Endpoint, code, _auth.Kind);
                await _auth.RefreshAsync(cancellationToken).ConfigureAwait(false);
                Metrics.SamplesRetried(batch.SampleCount);
                continue;
            }

            var reasonText = result.Status is { } c ? $"HTTP {c}" : result.Error!.GetType().Name + ": " + result.Error.Message;
            var delay = _policy.NextDelay(attempt, _time.GetElapsedTime(started), result.RetryAfter);
            if (delay is null)
            {
                Log.GaveUp(_logger, batch.SampleCount, _options.Endpoint, attempt + 1, reasonText);
                Metrics.BatchFailed();
                return new BatchResult(BatchKind.Failed, batch.SampleCount);
            }
            Log.Retrying(_logger, attempt + 1, _options.Endpoint, reasonText, batch.SampleCount, delay.Value);
            Metrics.SamplesRetried(batch.SampleCount);
            await _delay(delay.Value, cancellationToken).ConfigureAwait(false);
        }
    }

    private readonly record struct Attempt(int? Status, string Body, TimeSpan? RetryAfter, Exception? Error);

    private async Task<Attempt> SendOnceAsync(byte[] body, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
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
                await _auth.ApplyAsync(request, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // No credential at all (e.g. no managed identity, not signed in): a configuration problem.
                throw new RemoteWriteFatalException($"could not obtain remote-write credentials (remoteWrite.auth '{_auth.Kind}'): {ex.Message}", ex);
            }

            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var text = status is >= 200 and < 300 ? "" : await ReadErrorAsync(response, timeout.Token).ConfigureAwait(false);
            return new Attempt(status, text, RemoteWriteRetryPolicy.RetryAfter(response.Headers.RetryAfter, _time.GetUtcNow()), null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            return new Attempt(null, "", null, new TimeoutException($"no response within {_options.Timeout.TotalSeconds:0.###} s (remoteWrite.timeoutSeconds)", ex));
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
