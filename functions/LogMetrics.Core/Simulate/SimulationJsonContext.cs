using System.Text.Json.Serialization;

namespace LogMetrics.Core.Simulate;

/// <summary>
/// Source-generated serializer of <c>logmetrics simulate</c>'s summary file (indented, like before):
/// the summary is a dictionary of numbers and the two records below, each registered here so that
/// its values serialize without reflection (Native AOT).
/// </summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(Dictionary<string, object>))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(SimulationFaults))]
[JsonSerializable(typeof(SimulationCosts))]
public sealed partial class SimulationJsonContext : JsonSerializerContext;
