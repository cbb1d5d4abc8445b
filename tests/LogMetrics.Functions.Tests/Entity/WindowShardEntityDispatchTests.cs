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

    private static string End(string lane, long next) => $$"""{"Lane":"{{lane}}","FirstSequence":{{next}},"LastSequence":{{next - 1}},"LaneFinished":true}""";

    private static WindowShardState StateOf(EntityBatchResult result)
    {
        Assert.NotNull(result.EntityState);
        return JsonSerializer.Deserialize<WindowShardState>(result.EntityState, WindowShardOperations.StateJson)!;
    }

    /// <summary>Committed (count, errors) of the one series "acc" per base window.</summary>
    private static Dictionary<long, (double, double)> Cells(WindowShardState state)
    {
        Assert.All(state.Windows, w => Assert.Equal([0], w.Series));
        Assert.Equal(["acc"], Assert.Single(state.SeriesLabels));
        return state.Windows.ToDictionary(w => w.Start, w => (w.Values[0], w.Values[1]));
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
        var held = Assert.Single(state.Lanes["0"].Held);
        Assert.Equal((1, 10), (held.First, held.Last));
        Assert.Equal([3.0, 1.0], Assert.Single(held.Windows).Values);
        Assert.Empty(state.Windows);                      // held apart until a later range continues it
        Assert.Equal(long.MinValue, state.Lanes["0"].WatermarkMs);
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
            ("advance", """{"WrittenThroughMs":[1010000],"SealThroughMs":1010000,"DroppedSamples":0}"""),
            ("apply", Signal("1", 1, 5, 995_000, 1_000_000, 7, 0)),
            ("apply", End("1", 6)));

        AllSucceeded(second);
        var state = StateOf(second);
        Assert.Equal(1_010_000, Assert.Single(state.Lanes["0"].Held).Windows.Single().Start);
        Assert.Empty(Cells(state));                        // window 1 000 000 written and evicted; 1 010 000 still held
        Assert.Equal(1_010_000, state.SealedThroughMs);
        Assert.Equal(1_010_000, state.WrittenThrough(0));
        Assert.Equal(7, state.LateContributions);          // lane 1's cells are for the sealed window
    }

    [Theory]
    [MemberData(nameof(Converters))]
    public async Task Advance_ExportsTheSealedWindow_AndPublishesTheHeader_AsEntitySignals(string converter)
    {
        var result = await RunAsync(converter, null,
            ("apply", Signal("0", 1, 10, 1_015_000, 1_000_000, 3, 1)),
            ("apply", End("0", 11)),
            ("advance", """{"SealThroughMs":1010000}"""));

        AllSucceeded(result);
        var signals = result.Actions!.OfType<SendSignalOperationAction>().ToList();
        Assert.Equal(["@windowclosed@shard-03-10000-1000000 store", "@windowhead@shard-03 set"], signals.Select(x => $"{x.InstanceId} {x.Name}"));
        var part = Assert.Single(JsonSerializer.Deserialize<ClosedWindow>(signals[0].Input!, WindowShardOperations.StateJson)!.Parts);
        Assert.Equal((1_000_000L, 0, "acc"), (part.Base, Assert.Single(part.Families), Assert.Single(Assert.Single(part.Labels))));
        Assert.Equal([3.0, 1.0], part.Values);
        var header = JsonSerializer.Deserialize<ShardHeader>(signals[1].Input!, WindowShardOperations.StateJson)!;
        Assert.Equal(1_010_000, header.SealedThroughMs);
        Assert.Equal((10_000L, 1_000_000L, 1), Assert.Single(header.Closed.Select(c => (c.ResolutionMs, c.Start, c.Parts))));
        Assert.Equal(1_015_000, header.Lanes["0"].WatermarkMs);
        Assert.Empty(StateOf(result).Windows);             // the sealed window left the shard
    }

    [Theory]
    [MemberData(nameof(Converters))]
    public async Task SatelliteEntities_StoreOnce_DeleteAndKeepTheNewestHeader(string converter)
    {
        const string window = """{"Parts":[{"Base":1000000,"Newest":1000001,"Families":[0],"Labels":[["acc"]],"Values":[3,1]}]}""";
        const string other = """{"Parts":[{"Base":1000000,"Newest":1000001,"Families":[0],"Labels":[["ecs"]],"Values":[9,9]}]}""";
        var closed = Factory(converter).CreateEntity(ShardMessages.ClosedEntity, new WindowClosedEntity(), new EntityId(ShardMessages.ClosedEntity, "shard-03-10000-1000000"));
        var stored = await closed.ExecuteOperationBatchAsync(new EntityBatchRequest
        {
            InstanceId = "@windowclosed@shard-03-10000-1000000",
            Operations = [new OperationRequest { Operation = "store", Id = Guid.NewGuid(), Input = window }, new OperationRequest { Operation = "store", Id = Guid.NewGuid(), Input = other }],
        });
        AllSucceeded(stored);
        Assert.Equal(["acc"], Assert.Single(Assert.Single(JsonSerializer.Deserialize<ClosedWindow>(stored.EntityState!, WindowShardOperations.StateJson)!.Parts).Labels));
        var deleted = await closed.ExecuteOperationBatchAsync(new EntityBatchRequest
        {
            InstanceId = "@windowclosed@shard-03-10000-1000000",
            EntityState = stored.EntityState,
            Operations = [new OperationRequest { Operation = "delete", Id = Guid.NewGuid() }],
        });
        AllSucceeded(deleted);
        Assert.Null(deleted.EntityState);

        var head = Factory(converter).CreateEntity(ShardMessages.HeaderEntity, new WindowHeadEntity(), new EntityId(ShardMessages.HeaderEntity, "shard-03"));
        var set = await head.ExecuteOperationBatchAsync(new EntityBatchRequest
        {
            InstanceId = "@windowhead@shard-03",
            Operations =
            [
                new OperationRequest { Operation = "set", Id = Guid.NewGuid(), Input = """{"Version":5,"SealedThroughMs":1010000}""" },
                new OperationRequest { Operation = "set", Id = Guid.NewGuid(), Input = """{"Version":4,"SealedThroughMs":1000000}""" },
            ],
        });
        AllSucceeded(set);
        Assert.Equal((5L, 1_010_000L), JsonSerializer.Deserialize<ShardHeader>(set.EntityState!, WindowShardOperations.StateJson) is { } h ? (h.Version, h.SealedThroughMs) : default);
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
        var state = StateOf(result);
        // The failed operation left no trace: 1–10 and 21–30 are held, nothing continues 1–10, so nothing is committed.
        Assert.Empty(state.Windows);
        Assert.Equal([(1L, 10L), (21L, 30L)], state.Lanes["0"].Held.Select(h => (h.First, h.Last)));
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
        for (var lane = 0; lane < 4; lane++) operations.Add(("apply", End(lane.ToString(System.Globalization.CultureInfo.InvariantCulture), 501)));

        var result = await RunAsync(converter, null, [.. operations]);

        AllSucceeded(result);
        Assert.Equal(operations.Count, result.Results!.Count);
        var state = StateOf(result);
        Assert.Equal((200.0, 100.0), Assert.Single(Cells(state).Values));
        Assert.Equal(20, state.DuplicateSignals);
        Assert.All(state.Lanes.Values, l => Assert.Equal(500, l.CommittedThrough));
    }

    [Theory]
    [MemberData(nameof(Converters))]
    public async Task StoredStateOfAnEarlierVersion_StillDeserializes(string converter)
    {
        // A state document as the entity stores it, written out by hand: a change to the state's shape
        // that stored entities cannot be read back into fails here.
        const string stored = """
            {"SeriesFamily":[0],"SeriesLabels":[["acc"]],
             "Lanes":{"0":{"CommittedThrough":10,"WatermarkMs":995000,"Finished":false,"LastSeenMs":1000,
                           "Held":[{"First":11,"Last":20,"WatermarkMs":1000000,"Finished":false,"Windows":[{"Start":1000000,"Newest":1000001,"Series":[0],"Values":[2,2]}],"Records":null}]}},
             "Windows":[{"Start":1000000,"Newest":1000001,"Series":[0],"Values":[3,1]}],
             "SealedThroughMs":-9223372036854775808,"WrittenThroughMs":[],"LateContributions":0,"LateRecords":0,"CountedRecords":0,"DuplicateSignals":0,"SupersededSignals":0}
            """;

        var result = await RunAsync(converter, stored,
            ("apply", Signal("0", 1, 10, 995_000, 1_000_000, 3, 1)),      // a redelivery of the committed 1–10
            ("apply", Signal("0", 21, 30, 1_000_000, 1_000_000, 1, 0)));

        AllSucceeded(result);
        var state = StateOf(result);
        Assert.Equal(1, state.DuplicateSignals);
        Assert.Equal((5.0, 3.0), Cells(state)[1_000_000]);  // the stored held range 11–20 was continued by 21–30
        Assert.Equal(20, state.Lanes["0"].CommittedThrough);
        Assert.Equal(1_000_000, state.Lanes["0"].WatermarkMs);
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
