using Azure.Data.Tables;
using LogMetrics.Azure;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Enrich;
using LogMetrics.Core.Flush;
using LogMetrics.Core.Hosting;
using LogMetrics.Core.Parse;
using LogMetrics.Core.Telemetry;
using LogMetrics.Core.Write;
using LogMetrics.Functions;
using LogMetrics.Functions.Hosting;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// Composition of the Functions host: settings and pipeline validated before anything runs (a bad
// setting fails startup with its key; a bad pipeline.json with its JSON path), then the same core
// pieces the console host uses, with Azure-backed shards, dimension tables and credentials.
var builder = FunctionsApplication.CreateBuilder(args);
string? Setting(string key) => builder.Configuration[key];

var settings = HostSettings.Load(Setting, AppContext.BaseDirectory);
var compiled = PipelineCompiler.CompileFile(settings.PipelinePath);

builder.Services.AddApplicationInsightsTelemetryWorkerService().ConfigureFunctionsApplicationInsights();
builder.Services.AddHostedService<MeterExport>();

builder.Services.AddSingleton(settings);
builder.Services.AddSingleton(compiled);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<PipelineCounters>();
builder.Services.AddSingleton<IDeadLetterSink, LoggingDeadLetterSink>();

// Enrich: dimension tables over Table Storage (identity-based in Azure, connection string for Azurite).
builder.Services.AddSingleton(_ => settings.DimensionsTableUri is { } tableUri
    ? new TableServiceClient(tableUri, AzureTokenSource.CredentialFor(settings.AzureClientId))
    : new TableServiceClient(settings.DimensionsConnectionString!));
builder.Services.AddSingleton<IDimensionSource, TableDimensionSource>();
builder.Services.AddSingleton(sp => new Enricher(compiled, sp.GetRequiredService<IDimensionSource>(), sp.GetRequiredService<TimeProvider>()));

// Ingest: one lane per Event Hubs partition.
builder.Services.AddSingleton(sp => new LaneIngestor(compiled, sp.GetRequiredService<Enricher>(), sp.GetRequiredService<PipelineCounters>(),
    sp.GetRequiredService<IDeadLetterSink>(), settings.ShardCount, sp.GetRequiredService<TimeProvider>()));

// Write: remote write to REMOTE_WRITE_URL; REMOTE_WRITE_AUTH overrides pipeline.json's remoteWrite.auth.
builder.Services.AddSingleton(sp => RemoteWriteClient.Create(compiled.Definition.RemoteWrite, settings.RemoteWriteUrl.ToString(), settings.RemoteWriteAuth,
    new RemoteWriteServices
    {
        GetEnvironmentVariable = Setting,
        EntraTokenSource = clientId => AzureTokenSource.Create(clientId ?? settings.AzureClientId),
        Time = sp.GetRequiredService<TimeProvider>(),
        Logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("LogMetrics.Write"),
    }));

// Flush: one coordinator for the life of the host (it bounds how long missing lanes may hold the watermark).
builder.Services.AddSingleton(sp => new FlushTicker(compiled, settings.ShardCount, sp.GetRequiredService<RemoteWriteClient>(),
    sp.GetRequiredService<PipelineCounters>(), sp.GetRequiredService<TimeProvider>(),
    new FlushOptions { ExpectedLanes = settings.ExpectedLanes, MaxPendingSamples = compiled.Definition.RemoteWrite.MaxPendingSamples },
    sp.GetRequiredService<ILoggerFactory>().CreateLogger("LogMetrics.Flush")));

var app = builder.Build();

// Build the writer and flusher now, so a remote-write configuration error fails startup rather than the first tick.
app.Services.GetRequiredService<FlushTicker>();
Log.Started(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("LogMetrics.Startup"), compiled.Definition.Name, settings.PipelinePath,
    settings.ShardCount, settings.ExpectedLanes, settings.RemoteWriteUrl.Host, settings.RemoteWriteAuth ?? compiled.Definition.RemoteWrite.Auth);

app.Run();
