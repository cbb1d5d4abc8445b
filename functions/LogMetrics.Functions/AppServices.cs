using Azure.Data.Tables;
using Azure.Storage.Blobs;
using LogMetrics.Azure;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Hosting;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Write;
using LogMetrics.Functions.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LogMetrics.Functions;

/// <summary>
/// The composition of the Functions app, callable without a Functions host (Program.cs only adds the
/// host and telemetry around it): settings and pipeline are validated before anything is registered,
/// then the same core pieces the console uses, with Azure-backed shards, dimension tables, dead letters
/// and credentials.
/// </summary>
public static class AppServices
{
    /// <summary>
    /// Validates the app settings and pipeline.json and registers the app's services.
    /// </summary>
    /// <param name="setting">Reads an app setting (the host's configuration).</param>
    /// <param name="appDirectory">Where a relative <c>PIPELINE_PATH</c> (or the default pipeline.json) is resolved.</param>
    /// <exception cref="HostSettingsException">A setting is missing or invalid; every error names its key.</exception>
    /// <exception cref="InvalidOperationException">pipeline.json is invalid: the message names the file and every
    /// error's JSON path; the inner <see cref="DefinitionException"/> lists them.</exception>
    public static (HostSettings Settings, CompiledPipeline Pipeline) AddLogMetrics(this IServiceCollection services, Func<string, string?> setting, string appDirectory)
    {
        var settings = HostSettings.Load(setting, appDirectory);
        CompiledPipeline compiled;
        try
        {
            compiled = PipelineCompiler.CompileFile(settings.PipelinePath);
        }
        catch (DefinitionException e)
        {
            throw new InvalidOperationException($"{settings.PipelinePath} ({HostSettings.PipelinePathKey}): {e.Message}", e);
        }

        services.AddSingleton(settings);
        services.AddSingleton(compiled);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<PipelineCounters>();

        // Dead letters: failed batches and malformed events in a Blob container (identity-based in Azure, connection string for Azurite).
        services.AddSingleton(_ => settings.DeadLetterBlobUri is { } blobUri
            ? new BlobServiceClient(blobUri, AzureTokenSource.CredentialFor(settings.AzureClientId))
            : new BlobServiceClient(settings.DeadLetterConnectionString!));
        services.AddSingleton<IDeadLetterStore>(sp => new BlobDeadLetterStore(sp.GetRequiredService<BlobServiceClient>().GetBlobContainerClient(settings.DeadLetterContainer)));
        services.AddSingleton<IngestDeadLetters>();
        services.AddSingleton<IDeadLetterSink>(sp => sp.GetRequiredService<IngestDeadLetters>());

        // Enrich: dimension tables over Table Storage (identity-based in Azure, connection string for Azurite).
        services.AddSingleton(_ => settings.DimensionsTableUri is { } tableUri
            ? new TableServiceClient(tableUri, AzureTokenSource.CredentialFor(settings.AzureClientId))
            : new TableServiceClient(settings.DimensionsConnectionString!));
        services.AddSingleton<IDimensionSource, TableDimensionSource>();
        services.AddSingleton(sp => new Enricher(compiled, sp.GetRequiredService<IDimensionSource>(), sp.GetRequiredService<TimeProvider>()));

        // Ingest: one lane per Event Hubs partition.
        services.AddSingleton(sp => new LaneIngestor(compiled, sp.GetRequiredService<Enricher>(), sp.GetRequiredService<PipelineCounters>(),
            sp.GetRequiredService<IDeadLetterSink>(), settings.ShardCount, sp.GetRequiredService<TimeProvider>()));

        // Write: remote write to REMOTE_WRITE_URL; REMOTE_WRITE_AUTH overrides pipeline.json's remoteWrite.auth.
        services.AddSingleton(sp => RemoteWriteClient.Create(compiled.Definition.RemoteWrite, settings.RemoteWriteUrl.ToString(), settings.RemoteWriteAuth,
            new RemoteWriteServices
            {
                GetEnvironmentVariable = setting,
                EntraTokenSource = clientId => AzureTokenSource.Create(clientId ?? settings.AzureClientId),
                Time = sp.GetRequiredService<TimeProvider>(),
                Logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("LogMetrics.Write"),
            }));

        // Flush: one coordinator for the life of the host (it bounds how long missing lanes may hold the watermark).
        services.AddSingleton(sp => new FlushTicker(compiled, settings.ShardCount, sp.GetRequiredService<RemoteWriteClient>(),
            sp.GetRequiredService<PipelineCounters>(), sp.GetRequiredService<TimeProvider>(),
            new FlushOptions { ExpectedLanes = settings.ExpectedLanes, MaxPendingSamples = compiled.Definition.RemoteWrite.MaxPendingSamples },
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("LogMetrics.Flush")));

        return (settings, compiled);
    }

    /// <summary>
    /// Builds what the functions need now, so that a configuration error (e.g. remote-write auth)
    /// fails startup rather than the first invocation, and logs the startup line.
    /// </summary>
    public static void StartLogMetrics(this IServiceProvider services)
    {
        var settings = services.GetRequiredService<HostSettings>();
        var compiled = services.GetRequiredService<CompiledPipeline>();
        services.GetRequiredService<FlushTicker>();
        services.GetRequiredService<LaneIngestor>();
        services.GetRequiredService<IDeadLetterStore>();
        Log.Started(services.GetRequiredService<ILoggerFactory>().CreateLogger("LogMetrics.Startup"), compiled.Definition.Name, settings.PipelinePath,
            settings.ShardCount, settings.ExpectedLanes, settings.RemoteWriteUrl.Host, settings.RemoteWriteAuth ?? compiled.Definition.RemoteWrite.Auth);
    }
}
