using System.Text;
using System.Text.Json;
using Azure.Core.Serialization;
using Azure.Messaging.EventHubs.Consumer;
using LogMetrics.Functions.Hosting;
using Newtonsoft.Json;
using Newtonsoft.Json.Serialization;

namespace LogMetrics.Functions.Tests.Hosting;

/// <summary>
/// The <c>PartitionContext</c> binding data of the Event Hubs trigger, in every shape the host sends,
/// through the same conversion the isolated worker applies before <c>IngestFunction</c> sees it.
/// <list type="bullet">
/// <item>WebJobs EventHubs extension (<c>EventHubTriggerBindingStrategy.GetBindingData</c>): the value is
/// the partition's <c>TriggerPartitionContext</c> (an Azure.Messaging.EventHubs <c>PartitionContext</c>
/// plus <c>IsCheckpointingAfterInvocation</c>), or null when the listener has no processor partition.</item>
/// <item>Functions host (<c>RpcMessageConversionExtensions.ToRpcDefault</c>): a POCO goes to the worker
/// as <c>TypedData.Json</c> = <c>JsonConvert.SerializeObject(value, Formatting.None)</c> (Newtonsoft);
/// if that throws, as <c>TypedData.String</c> = <c>value.ToString()</c>; null as no data.</item>
/// <item>Worker (<c>GrpcFunctionBindingsFeature</c>, <c>JsonPocoConverter</c>): the JSON arrives as a
/// string and is deserialized with the worker's <c>JsonObjectSerializer</c> into the parameter type,
/// here <see cref="JsonElement"/>.</item>
/// </list>
/// </summary>
public sealed class PartitionContextBindingTests
{
    /// <summary>What the extension binds: TriggerPartitionContext's shape (a real PartitionContext subclass).</summary>
    private sealed class TriggerPartitionContext(string ns, string hub, string group, string partition) : PartitionContext(ns, hub, group, partition)
    {
        public bool IsCheckpointingAfterInvocation { get; init; } = true;
    }

    private static readonly TriggerPartitionContext Context = new("logs-ns.servicebus.windows.net", "accesslogs", "$Default", "3");

    /// <summary>The worker's JsonPocoConverter: UTF-8 bytes of the string, deserialized by the worker's serializer.</summary>
    private static async Task<JsonElement> WorkerBindsAsync(string bindingData)
    {
        var serializer = new JsonObjectSerializer(new JsonSerializerOptions { PropertyNameCaseInsensitive = true });
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(bindingData));
        return (JsonElement)(await serializer.DeserializeAsync(stream, typeof(JsonElement), CancellationToken.None))!;
    }

    [Fact]
    public async Task HostJson_TriggerPartitionContext_GivesItsPartitionId()
    {
        var json = JsonConvert.SerializeObject(Context, Formatting.None);

        var bound = await WorkerBindsAsync(json);

        Assert.Contains("\"PartitionId\":\"3\"", json, StringComparison.Ordinal);
        Assert.Contains("IsCheckpointingAfterInvocation", json, StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Object, bound.ValueKind);
        Assert.Equal("3", PartitionContextReader.GetPartitionId(bound));
    }

    [Fact]
    public async Task HostJson_CamelCaseContract_GivesItsPartitionId()
    {
        var json = JsonConvert.SerializeObject(Context, new JsonSerializerSettings { ContractResolver = new CamelCasePropertyNamesContractResolver() });

        Assert.Equal("3", PartitionContextReader.GetPartitionId(await WorkerBindsAsync(json)));
    }

    [Fact]
    public async Task HostJson_SerializedTwice_StringHoldingTheJson_GivesItsPartitionId()
    {
        // A host or middleware that serializes the already-serialized JSON (azure-functions-dotnet-worker #544, #3105).
        var twice = JsonConvert.SerializeObject(JsonConvert.SerializeObject(Context));

        var bound = await WorkerBindsAsync(twice);

        Assert.Equal(JsonValueKind.String, bound.ValueKind);
        Assert.Equal("3", PartitionContextReader.GetPartitionId(bound));
    }

    [Fact]
    public void HostNull_NoProcessorPartition_RefusesTheBatchNamingPartitionId()
    {
        // No TypedData: the worker leaves the JsonElement parameter unbound (default).
        var error = Assert.Throws<InvalidOperationException>(() => PartitionContextReader.GetPartitionId(default));

        Assert.Contains("PartitionId", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostJsonNull_RefusesTheBatchNamingPartitionId()
    {
        var bound = await WorkerBindsAsync("null");

        var error = Assert.Throws<InvalidOperationException>(() => PartitionContextReader.GetPartitionId(bound));

        Assert.Contains("PartitionId", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostString_ToStringFallback_FailsTheBindingNotTheLane()
    {
        // TypedData.String = value.ToString(): a type name, not JSON. The worker's conversion fails, so the
        // invocation fails before the function body (it never guesses a lane).
        var text = Context.ToString()!;

        await Assert.ThrowsAnyAsync<System.Text.Json.JsonException>(() => WorkerBindsAsync(text));
        Assert.Null(PartitionContextReader.TryGetPartitionId(text));
    }

    [Fact]
    public async Task SequenceNumberArray_AsJson_BindsToLongArray()
    {
        // Normally TypedData.CollectionSint64 (long[] directly); a host sending JSON still binds.
        var serializer = new JsonObjectSerializer();
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(JsonConvert.SerializeObject(new long[] { 41, 42, 43 })));

        var bound = (long[])(await serializer.DeserializeAsync(stream, typeof(long[]), CancellationToken.None))!;

        Assert.Equal([41L, 42L, 43L], bound);
    }
}
