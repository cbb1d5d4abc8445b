using System.Text.Json;
using DurableTask.Core.Entities;
using DurableTask.Core.Entities.OperationFormat;
using LogMetrics.Core.Accumulate;
using LogMetrics.Core.Definition;
using LogMetrics.Core.Hosting;
using Microsoft.DurableTask.Converters;
using Microsoft.DurableTask.Worker;
using Microsoft.DurableTask.Worker.Shims;

namespace LogMetrics.Functions.Tests.Entity;

/// <summary>
/// The window-shard entity run through the Durable Task SDK's own dispatch, with no host: the shim
/// factory wraps <see cref="WindowShardEntity"/> as the worker does, operations are dispatched by name,
/// and state and inputs cross the boundary as JSON text, serialized by the SDK's data converter.
/// Operation names and JSON documents are written out literally, so renaming an operation or changing
/// the state's shape breaks these tests the way it would break stored entities.
/// </summary>
public sealed class WindowShardEntityDispatchTests
{
    private static readonly CompiledPipeline Pipeline = PipelineCompiler.Compile(DefinitionLoader.Load("""
        {
          "name": "entity-dispatch",
          "source": {
            "timeField": "__time__", "timeUnit": "s", "windowSeconds": 10, "outOfOrdernessSeconds": 5, "idleLaneTimeoutSeconds": 30,
            "fields": [
              { "name": "__time__", "type": "int", "required": true, "min": 0 },
              { "name": "Product", "type": "string", "required": true },
              { "name": "HttpCode", "type": "int", "required": true }
            ]
          },
          "metrics": [
            { "prefix": "t_", "labels": { "product": "Product" }, "resolutionSeconds": 10,
              "metrics": [ { "name": "req", "aggregate": "count" }, { "name": "err", "aggregate": "count(HttpCode >= 500)" } ] }
          ]
        }
        """));

    /// <summary>The converters entity state goes through: the SDK default, and the Functions worker's default (System.Text.Json, case-insensitive names).</summary>
    public static TheoryData<string> Converters => ["sdk-default", "functions-worker"];

    private static DurableTaskShimFactory Factory(string converter) => converter switch
    {
        "sdk-default" => DurableTaskShimFactory.Default,
        "functions-worker" => new DurableTaskShimFactory(new DurableTaskWorkerOptions
        {
            DataConverter = new JsonDataConverter(new JsonSerializerOptions { PropertyNameCaseInsensitive = true }),
        }),
        _ => throw new ArgumentOutOfRangeException(nameof(converter)),
    };

    private static async Task<EntityBatchResult> RunAsync(string converter, string? state, params (string Operation, string? Input)[] operations)
    {
        var entity = Factory(converter).CreateEntity(WindowShardOperations.EntityName, new WindowShardEntity(Pipeline), new EntityId(WindowShardOperations.EntityName, "shard-03"));
        return await entity.ExecuteOperationBatchAsync(new EntityBatchRequest
        {
            InstanceId = $"@{WindowShardOperations.EntityName}@shard-03",
            EntityState = state,
            Operations = [.. operations.Select(o => new OperationRequest { Operation = o.Operation, Id = Guid.NewGuid(), Input = o.Input })],
        });
    }

    private static string Signal(string lane, long first, long last, long watermarkMs, long windowStartMs, double count, double errors) => $$"""
        {"Lane":"{{lane}}","FirstSequence":{{first}},"LastSequence":{{last}},"LaneWatermarkMs":{{watermarkMs}},"LaneFinished":false,"SentAtMs":1000,
         "Partials":[{"Family":0,"Labels":["acc"],"WindowStartMs":{{windowStartMs}},"Values":[{{count}},{{errors}}],"NewestEventMs":{{windowStartMs + 1}}}]}
        """;

    private static WindowShardState StateOf(EntityBatchResult result)
    {
        Assert.NotNull(result.EntityState);
        return JsonSerializer.Deserialize<WindowShardState>(result.EntityState)!;
    }

    private static void AllSucceeded(EntityBatchResult result)
    {
        Assert.Null(result.FailureDetails);
        Assert.All(result.Results!, r => Assert.Null(r.FailureDetails));
    }

    [Theory]
    [MemberData(nameof(Converters))]
    public async Task Apply_NullInitialState_CreatesTheState(string converter)
    {
        var result = await RunAsync(converter, null, ("apply", Signal("0", 1, 10, 995_000, 1_000_000, 3, 1)));

        AllSucceeded(result);
        var state = StateOf(result);
        var partial = Assert.Single(state.Partials);
        Assert.Equal([3.0, 1.0], partial.Values);
        Assert.Equal(10, state.Lanes["0"].HighestSequence);
        Assert.Equal(995_000, state.Lanes["0"].WatermarkMs);
    }

    [Theory]
    [MemberData(nameof(Converters))]
    public async Task OperationNames_AreCaseInsensitive(string converter)
    {
        var result = await RunAsync(converter, null, ("Apply", Signal("0", 1, 10, 995_000, 1_000_000, 3, 1)), ("ADVANCE", """{"SealThroughMs":1010000}"""));

        AllSucceeded(result);
        Assert.Equal(1_010_000, StateOf(result).SealedThroughMs);
    }

    [Theory]
    [MemberData(nameof(Converters))]
    public async Task Advance_SealsAndEvicts_StoredStateRoundTrips(string converter)
    {
        var first = await RunAsync(converter, null,
            ("apply", Signal("0", 1, 10, 995_000, 1_000_000, 3, 1)),
            ("apply", Signal("0", 11, 20, 1_005_000, 1_010_000, 2, 0)));
        AllSucceeded(first);

        // The stored text of the first batch is the input state of the next, as the backend hands it back.
        var second = await RunAsync(converter, first.EntityState,
            ("advance", """{"EvictThroughMs":1010000,"SealThroughMs":1010000,"DroppedSamples":0}"""),
            ("apply", Signal("1", 1, 5, 995_000, 1_000_000, 7, 0)));

        AllSucceeded(second);
        var state = StateOf(second);
        var partial = Assert.Single(state.Partials);
        Assert.Equal(1_010_000, partial.WindowStartMs);
        Assert.Equal(1_010_000, state.SealedThroughMs);
        Assert.Equal(7, state.LateContributions); // lane 1's partial is for the sealed window
    }

    [Theory]
    [MemberData(nameof(Converters))]
    public async Task UnknownOperation_FailsThatOperationOnly_StateRolledBack(string converter)
    {
        var result = await RunAsync(converter, null,
            ("apply", Signal("0", 1, 10, 995_000, 1_000_000, 3, 1)),
            ("merge", Signal("0", 11, 20, 995_000, 1_000_000, 5, 0)),
            ("apply", Signal("0", 21, 30, 995_000, 1_000_000, 4, 0)));

        Assert.Null(result.FailureDetails);
        Assert.Equal(3, result.Results!.Count);
        Assert.Null(result.Results[0].FailureDetails);
        var failure = result.Results[1].FailureDetails;
        Assert.NotNull(failure);
        Assert.Contains("merge", failure.ErrorMessage, StringComparison.OrdinalIgnoreCase);
        Assert.Null(result.Results[2].FailureDetails);
        Assert.Equal(7, Assert.Single(StateOf(result).Partials).Values[0]);
    }

    [Theory]
    [MemberData(nameof(Converters))]
    public async Task ManyOperationsInOneBatch_EveryLaneRangeAppliedOnce(string converter)
    {
        var operations = new List<(string, string?)>();
        for (var i = 0; i < 200; i++)
        {
            var lane = (i % 4).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var first = (i / 4 * 10) + 1;
            operations.Add(("apply", Signal(lane, first, first + 9, 995_000, 1_000_000, 1, i % 2)));
            if (i % 10 == 0) operations.Add(("apply", Signal(lane, first, first + 9, 995_000, 1_000_000, 1, i % 2))); // redelivered
        }

        var result = await RunAsync(converter, null, [.. operations]);

        AllSucceeded(result);
        Assert.Equal(operations.Count, result.Results!.Count);
        var state = StateOf(result);
        Assert.Equal([200.0, 100.0], Assert.Single(state.Partials).Values);
        Assert.Equal(20, state.DuplicateSignals);
        Assert.All(state.Lanes.Values, l => Assert.Equal(500, l.HighestSequence));
    }

    [Theory]
    [MemberData(nameof(Converters))]
    public async Task StoredStateOfAnEarlierVersion_StillDeserializes(string converter)
    {
        // A state document as the entity stores it, written out by hand: a change to the state's shape
        // that stored entities cannot be read back into fails here.
        const string stored = """
            {"Lanes":{"0":{"HighestSequence":10,"WatermarkMs":995000,"Finished":false,"LastSeenMs":1000}},
             "Partials":[{"Family":0,"Labels":["acc"],"WindowStartMs":1000000,"Values":[3,1],"NewestEventMs":1000001}],
             "SealedThroughMs":-9223372036854775808,"LateContributions":0,"DuplicateSignals":0,"OverlappingSignals":0,"OverlapContributions":0}
            """;

        var result = await RunAsync(converter, stored, ("apply", Signal("0", 11, 20, 1_000_000, 1_000_000, 2, 2)));

        AllSucceeded(result);
        var state = StateOf(result);
        Assert.Equal([5.0, 3.0], Assert.Single(state.Partials).Values);
        Assert.Equal(20, state.Lanes["0"].HighestSequence);
    }

    [Theory]
    [MemberData(nameof(Converters))]
    public async Task MalformedInput_FailsTheOperation_NamesTheProblem(string converter)
    {
        var result = await RunAsync(converter, null, ("apply", """{"Lane":"0","FirstSequence":"one"}"""));

        var failure = Assert.Single(result.Results!).FailureDetails;
        Assert.NotNull(failure);
        Assert.Contains("FirstSequence", failure.ErrorMessage, StringComparison.Ordinal);
        Assert.Null(result.EntityState);
    }
}
