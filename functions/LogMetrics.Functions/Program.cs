using LogMetrics.Functions;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// The Functions host around AppServices (tested without a host in tests/LogMetrics.Functions.Tests):
// a bad setting fails startup naming its key, a bad pipeline.json naming its JSON path.
var builder = FunctionsApplication.CreateBuilder(args);

builder.Services.AddApplicationInsightsTelemetryWorkerService().ConfigureFunctionsApplicationInsights();
builder.Services.AddHostedService<MeterExport>();

builder.Services.AddLogMetrics(key => builder.Configuration[key], AppContext.BaseDirectory);

var app = builder.Build();
app.Services.StartLogMetrics();
app.Run();
