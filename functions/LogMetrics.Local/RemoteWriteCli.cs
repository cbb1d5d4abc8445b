using System.CommandLine;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Write;

namespace LogMetrics.Local;

/// <summary>The replay command's remote-write options: <c>--remote-write URL [--auth none|basic|bearer|entra ...]</c>.</summary>
public sealed class RemoteWriteOptions
{
    public required Option<string?> Url { get; init; }
    public required Option<string> Auth { get; init; }
    public required Option<string?> UsernameEnv { get; init; }
    public required Option<string?> PasswordEnv { get; init; }
    public required Option<string?> TokenEnv { get; init; }
    public required Option<FileInfo?> TokenFile { get; init; }
    public required Option<string?> ClientIdEnv { get; init; }
    public required Option<int?> RetryBudgetSeconds { get; init; }

    public static RemoteWriteOptions Create() => new()
    {
        Url = new Option<string?>("--remote-write") { Description = "Prometheus remote-write endpoint, e.g. http://127.0.0.1:9090/api/v1/write" },
        Auth = new Option<string>("--auth") { Description = "none, basic, bearer or entra", DefaultValueFactory = _ => "none" },
        UsernameEnv = new Option<string?>("--username-env") { Description = "basic: environment variable holding the user name" },
        PasswordEnv = new Option<string?>("--password-env") { Description = "basic: environment variable holding the password" },
        TokenEnv = new Option<string?>("--bearer-token-env") { Description = "bearer: environment variable holding the token" },
        TokenFile = new Option<FileInfo?>("--bearer-token-file") { Description = "bearer: file holding the token (re-read on refresh)" },
        ClientIdEnv = new Option<string?>("--client-id-env") { Description = "entra: environment variable holding a managed identity client id (else DefaultAzureCredential)" },
        RetryBudgetSeconds = new Option<int?>("--retry-budget-seconds") { Description = "Time the whole run may spend retrying remote write (default: remoteWrite.maxElapsedSeconds)" },
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Url);
        command.Options.Add(Auth);
        command.Options.Add(UsernameEnv);
        command.Options.Add(PasswordEnv);
        command.Options.Add(TokenEnv);
        command.Options.Add(TokenFile);
        command.Options.Add(ClientIdEnv);
        command.Options.Add(RetryBudgetSeconds);
    }

    /// <summary>Builds the writer when <c>--remote-write</c> is given; <paramref name="error"/> names the bad setting otherwise.</summary>
    public RemoteWriterHandle? Build(ParseResult result, RemoteWriteDefinition fromPipeline, out string? error)
    {
        error = null;
        if (result.GetValue(Url) is not { } text) return null;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            error = $"--remote-write: '{text}' is not an http(s) URL";
            return null;
        }
        var auth = result.GetValue(Auth)!;
        var definition = new RemoteWriteDefinition
        {
            Endpoint = url.ToString(),
            Auth = auth,
            UsernameEnv = result.GetValue(UsernameEnv) ?? fromPipeline.UsernameEnv,
            PasswordEnv = result.GetValue(PasswordEnv) ?? fromPipeline.PasswordEnv,
            BearerTokenEnv = result.GetValue(TokenEnv) ?? fromPipeline.BearerTokenEnv,
            BearerTokenFile = result.GetValue(TokenFile)?.FullName ?? fromPipeline.BearerTokenFile,
            ClientIdEnv = result.GetValue(ClientIdEnv) ?? fromPipeline.ClientIdEnv,
            Scope = fromPipeline.Scope,
            MaxSamplesPerRequest = fromPipeline.MaxSamplesPerRequest,
            MaxBytesPerRequest = fromPipeline.MaxBytesPerRequest,
            Concurrency = fromPipeline.Concurrency,
            TimeoutSeconds = fromPipeline.TimeoutSeconds,
            InitialBackoffMs = fromPipeline.InitialBackoffMs,
            MaxBackoffMs = fromPipeline.MaxBackoffMs,
            MaxElapsedSeconds = fromPipeline.MaxElapsedSeconds,
            MaxPendingSamples = fromPipeline.MaxPendingSamples,
        };
        var budget = result.GetValue(RetryBudgetSeconds) ?? fromPipeline.MaxElapsedSeconds;
        if (budget < 0)
        {
            error = $"--retry-budget-seconds must be >= 0, not {budget}";
            return null;
        }
        try
        {
            // One retry budget for the whole run: a dead endpoint costs the run at most about this long.
            return new RemoteWriterHandle(RemoteWriteClient.Create(definition, url.ToString(), auth,
                new RemoteWriteServices { EntraTokenSource = LogMetrics.Azure.AzureTokenSource.Create }, TimeSpan.FromSeconds(budget)));
        }
        catch (RemoteWriteConfigurationException e)
        {
            error = $"remote write: {e.Message}";
            return null;
        }
    }
}

/// <summary>An owned remote-write client and its metrics, for the final report.</summary>
public sealed class RemoteWriterHandle(RemoteWriteClient client) : IAsyncDisposable
{
    public ISampleWriter Writer => client;

    public RemoteWriteMetricsSnapshot Snapshot() => client.Metrics.Snapshot();

    public string Endpoint => client.Options.Endpoint.ToString();

    public ValueTask DisposeAsync()
    {
        client.Dispose();
        return ValueTask.CompletedTask;
    }
}
