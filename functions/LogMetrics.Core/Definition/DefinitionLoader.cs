using System.Text.Json;

namespace LogMetrics.Core.Definition;

/// <summary>
/// Reads <c>pipeline.json</c> into a <see cref="PipelineDefinition"/>. Unknown properties and wrong
/// types are errors that name their JSON path; every error is collected before throwing.
/// Semantic checks (names, references, resolutions) are <see cref="PipelineCompiler"/>'s job.
/// </summary>
public static class DefinitionLoader
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Reads the file's UTF-8 as it is (a byte order mark is skipped), without decoding it to text first.</summary>
    public static PipelineDefinition LoadFile(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DefinitionException([new DefinitionError("$", $"cannot read {path}: {e.Message}")]);
        }
        var utf8 = bytes.AsMemory();
        if (utf8.Span.StartsWith("\uFEFF"u8)) utf8 = utf8[3..];
        // Not UTF-8: read as text as before (invalid bytes become U+FFFD), so such a file means what it meant.
        if (!System.Text.Unicode.Utf8.IsValid(utf8.Span)) return Load(File.ReadAllText(path));
        return Load(utf8);
    }

    public static PipelineDefinition Load(string json) => Read(() => JsonDocument.Parse(json, DocumentOptions));

    /// <summary>As <see cref="Load(string)"/>, from UTF-8 (no byte order mark).</summary>
    public static PipelineDefinition Load(ReadOnlyMemory<byte> utf8Json) => Read(() => JsonDocument.Parse(utf8Json, DocumentOptions));

    private static PipelineDefinition Read(Func<JsonDocument> parse)
    {
        JsonDocument doc;
        try
        {
            doc = parse();
        }
        catch (JsonException e)
        {
            throw new DefinitionException([new DefinitionError($"$ (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})", "not valid JSON: " + e.Message.Split(". ")[0])]);
        }
        return Read(doc);
    }

    private static PipelineDefinition Read(JsonDocument doc)
    {
        using (doc)
        {
            var reader = new Reader();
            var definition = reader.ReadPipeline(doc.RootElement, "$");
            if (reader.Errors.Count > 0)
            {
                throw new DefinitionException(reader.Errors);
            }
            return definition;
        }
    }

    private sealed class Reader
    {
        public List<DefinitionError> Errors { get; } = [];

        private void Error(string path, string message) => Errors.Add(new DefinitionError(path, message));

        private bool IsObject(JsonElement e, string path)
        {
            if (e.ValueKind == JsonValueKind.Object) return true;
            Error(path, $"expected an object, got {Kind(e)}");
            return false;
        }

        private static string Kind(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            _ => "null",
        };

        /// <summary>Walks an object's properties, dispatching known names and reporting unknown ones.</summary>
        private void Properties(JsonElement obj, string path, Dictionary<string, Action<JsonElement, string>> handlers)
        {
            if (!IsObject(obj, path)) return;
            foreach (var p in obj.EnumerateObject())
            {
                var childPath = $"{path}.{p.Name}";
                if (p.Name.StartsWith('$') || p.Name.StartsWith("//", StringComparison.Ordinal))
                {
                    continue; // "$schema", "//comment"
                }
                if (handlers.TryGetValue(p.Name, out var handler))
                {
                    handler(p.Value, childPath);
                }
                else
                {
                    Error(childPath, $"unknown property '{p.Name}' (expected one of: {string.Join(", ", handlers.Keys)})");
                }
            }
        }

        private string Str(JsonElement e, string path, string fallback = "")
        {
            if (e.ValueKind == JsonValueKind.String) return e.GetString()!;
            Error(path, $"expected a string, got {Kind(e)}");
            return fallback;
        }

        private string? OptStr(JsonElement e, string path) => e.ValueKind == JsonValueKind.Null ? null : Str(e, path);

        private int Int(JsonElement e, string path, int fallback = 0)
        {
            if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v)) return v;
            Error(path, $"expected an integer, got {Kind(e)}{(e.ValueKind == JsonValueKind.Number ? " " + e.GetRawText() : "")}");
            return fallback;
        }

        private long? OptLong(JsonElement e, string path)
        {
            if (e.ValueKind == JsonValueKind.Null) return null;
            if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v)) return v;
            Error(path, $"expected an integer, got {Kind(e)}");
            return null;
        }

        private bool Bool(JsonElement e, string path)
        {
            if (e.ValueKind is JsonValueKind.True or JsonValueKind.False) return e.GetBoolean();
            Error(path, $"expected true or false, got {Kind(e)}");
            return false;
        }

        private List<T> Array<T>(JsonElement e, string path, Func<JsonElement, string, T> item)
        {
            var list = new List<T>();
            if (e.ValueKind != JsonValueKind.Array)
            {
                Error(path, $"expected an array, got {Kind(e)}");
                return list;
            }
            var i = 0;
            foreach (var x in e.EnumerateArray())
            {
                list.Add(item(x, $"{path}[{i++}]"));
            }
            return list;
        }

        public PipelineDefinition ReadPipeline(JsonElement e, string path)
        {
            var d = new PipelineDefinition();
            var seen = new HashSet<string>();
            Properties(e, path, new()
            {
                ["name"] = (v, p) => d.Name = Str(v, p),
                ["source"] = (v, p) => { seen.Add("source"); d.Source = ReadSource(v, p); },
                ["processor"] = (v, p) => d.Processor = Array(v, p, ReadStep),
                ["lookups"] = (v, p) => d.Lookups = Array(v, p, ReadLookup),
                ["metrics"] = (v, p) => { seen.Add("metrics"); d.Metrics = Array(v, p, ReadFamily); },
                ["remoteWrite"] = (v, p) => d.RemoteWrite = ReadRemoteWrite(v, p),
            });
            if (e.ValueKind == JsonValueKind.Object && !seen.Contains("metrics"))
            {
                Error($"{path}.metrics", "missing: a pipeline needs at least one metric family");
            }
            if (e.ValueKind == JsonValueKind.Object && !seen.Contains("source"))
            {
                // Defaults here would hide a typo: no typed fields means no validation of what the metrics read.
                Error($"{path}.source", "missing: a pipeline must say where event time is and which fields are typed (timeField, timeUnit, windowSeconds, fields)");
            }
            return d;
        }

        private SourceDefinition ReadSource(JsonElement e, string path)
        {
            var s = new SourceDefinition();
            Properties(e, path, new()
            {
                ["timeField"] = (v, p) => s.TimeField = Str(v, p),
                ["timeUnit"] = (v, p) => s.TimeUnit = Str(v, p),
                ["windowSeconds"] = (v, p) => s.WindowSeconds = Int(v, p),
                ["outOfOrdernessSeconds"] = (v, p) => s.OutOfOrdernessSeconds = Int(v, p),
                ["idleLaneTimeoutSeconds"] = (v, p) => s.IdleLaneTimeoutSeconds = Int(v, p),
                ["maxFutureSeconds"] = (v, p) => s.MaxFutureSeconds = Int(v, p),
                ["laneJumpSeconds"] = (v, p) => s.LaneJumpSeconds = Int(v, p),
                ["laneJumpConfirmations"] = (v, p) => s.LaneJumpConfirmations = Int(v, p),
                ["maxRecordBytes"] = (v, p) => s.MaxRecordBytes = Int(v, p),
                ["fields"] = (v, p) => s.Fields = Array(v, p, ReadField),
            });
            return s;
        }

        private FieldDefinition ReadField(JsonElement e, string path)
        {
            var f = new FieldDefinition();
            Properties(e, path, new()
            {
                ["name"] = (v, p) => f.Name = Str(v, p),
                ["type"] = (v, p) => f.Type = Str(v, p),
                ["required"] = (v, p) => f.Required = Bool(v, p),
                ["min"] = (v, p) => f.Min = OptLong(v, p),
            });
            return f;
        }

        private StepDefinition ReadStep(JsonElement e, string path)
        {
            var step = new StepDefinition { Path = path };
            if (!IsObject(e, path)) return step;
            var props = e.EnumerateObject().Where(p => !p.Name.StartsWith("//", StringComparison.Ordinal)).ToList();
            if (props.Count != 1)
            {
                Error(path, "a step is an object with exactly one of: where, parse-json, parse-kv, parse-regexp, project");
                return step;
            }
            var (name, value) = (props[0].Name, props[0].Value);
            var p = $"{path}.{name}";
            step.Path = p;
            switch (name)
            {
                case "where":
                    step.Kind = StepKind.Where;
                    step.Expression = Str(value, p);
                    break;
                case "project":
                    step.Kind = StepKind.Project;
                    step.Fields = Array<string>(value, p, (x, q) => Str(x, q));
                    break;
                case "parse-json":
                    step.Kind = StepKind.ParseJson;
                    Properties(value, p, new()
                    {
                        ["field"] = (v, q) => step.Field = Str(v, q),
                        ["prefix"] = (v, q) => step.Prefix = Str(v, q),
                    });
                    break;
                case "parse-kv":
                    step.Kind = StepKind.ParseKv;
                    Properties(value, p, new()
                    {
                        ["field"] = (v, q) => step.Field = Str(v, q),
                        ["prefix"] = (v, q) => step.Prefix = Str(v, q),
                        ["pairDelimiter"] = (v, q) => step.PairDelimiter = Str(v, q),
                        ["keyValueDelimiter"] = (v, q) => step.KeyValueDelimiter = Str(v, q),
                        ["keys"] = (v, q) =>
                        {
                            if (!IsObject(v, q)) return;
                            foreach (var k in v.EnumerateObject()) step.Keys[k.Name] = Str(k.Value, $"{q}.{k.Name}");
                        },
                    });
                    break;
                case "parse-regexp":
                    step.Kind = StepKind.ParseRegexp;
                    Properties(value, p, new()
                    {
                        ["field"] = (v, q) => step.Field = Str(v, q),
                        ["pattern"] = (v, q) => step.Pattern = Str(v, q),
                    });
                    break;
                default:
                    Error(p, $"unknown step '{name}' (expected where, parse-json, parse-kv, parse-regexp or project)");
                    break;
            }
            return step;
        }

        private LookupDefinition ReadLookup(JsonElement e, string path)
        {
            var l = new LookupDefinition();
            Properties(e, path, new()
            {
                ["name"] = (v, p) => l.Name = Str(v, p),
                ["key"] = (v, p) => l.Key = Array(v, p, (x, q) =>
                {
                    var k = new LookupKey();
                    Properties(x, q, new()
                    {
                        ["field"] = (y, r) => k.Field = Str(y, r),
                        ["column"] = (y, r) => k.Column = Str(y, r),
                    });
                    return k;
                }),
                ["outputs"] = (v, p) => l.Outputs = Array(v, p, (x, q) =>
                {
                    var o = new LookupOutput();
                    Properties(x, q, new()
                    {
                        ["column"] = (y, r) => o.Column = Str(y, r),
                        ["as"] = (y, r) => o.As = Str(y, r),
                        ["fallback"] = (y, r) => o.Fallback = OptStr(y, r),
                    });
                    return o;
                }),
                ["default"] = (v, p) => l.Default = Str(v, p),
                ["cache"] = (v, p) =>
                {
                    var c = l.Cache;
                    Properties(v, p, new()
                    {
                        ["policy"] = (y, r) => c.Policy = Str(y, r),
                        ["reloadMinutes"] = (y, r) => c.ReloadMinutes = Int(y, r),
                        ["maxRows"] = (y, r) => c.MaxRows = Int(y, r),
                        ["ttlMinutes"] = (y, r) => c.TtlMinutes = Int(y, r),
                        ["maxRetries"] = (y, r) => c.MaxRetries = Int(y, r),
                    });
                },
            });
            return l;
        }

        private FamilyDefinition ReadFamily(JsonElement e, string path)
        {
            var f = new FamilyDefinition { Path = path };
            Properties(e, path, new()
            {
                ["prefix"] = (v, p) => f.Prefix = Str(v, p),
                ["labels"] = (v, p) =>
                {
                    if (!IsObject(v, p)) return;
                    foreach (var l in v.EnumerateObject()) f.Labels.Add(new(l.Name, Str(l.Value, $"{p}.{l.Name}")));
                },
                ["resolutionSeconds"] = (v, p) => f.ResolutionSeconds = Int(v, p),
                ["maxSeries"] = (v, p) => f.MaxSeries = Int(v, p),
                ["where"] = (v, p) => f.Where = OptStr(v, p),
                ["metrics"] = (v, p) => f.Metrics = Array(v, p, (x, q) =>
                {
                    var m = new MetricDefinition { Path = q };
                    var hasAggregate = false;
                    Properties(x, q, new()
                    {
                        ["name"] = (y, r) => m.Name = Str(y, r),
                        ["aggregate"] = (y, r) => { hasAggregate = true; m.Aggregate = Str(y, r); },
                        ["help"] = (y, r) => m.Help = OptStr(y, r),
                    });
                    if (x.ValueKind == JsonValueKind.Object && !hasAggregate)
                    {
                        Error($"{q}.aggregate", "missing: say what the metric computes, e.g. \"count\", \"sum(TotalUsedTime)\" or \"ratio(HttpCode >= 500)\"");
                    }
                    return m;
                }),
            });
            return f;
        }

        private RemoteWriteDefinition ReadRemoteWrite(JsonElement e, string path)
        {
            var w = new RemoteWriteDefinition();
            Properties(e, path, new()
            {
                ["endpoint"] = (v, p) => w.Endpoint = OptStr(v, p),
                ["auth"] = (v, p) => w.Auth = Str(v, p),
                ["usernameEnv"] = (v, p) => w.UsernameEnv = OptStr(v, p),
                ["passwordEnv"] = (v, p) => w.PasswordEnv = OptStr(v, p),
                ["bearerTokenEnv"] = (v, p) => w.BearerTokenEnv = OptStr(v, p),
                ["bearerTokenFile"] = (v, p) => w.BearerTokenFile = OptStr(v, p),
                ["clientIdEnv"] = (v, p) => w.ClientIdEnv = OptStr(v, p),
                ["scope"] = (v, p) => w.Scope = Str(v, p),
                ["maxSamplesPerRequest"] = (v, p) => w.MaxSamplesPerRequest = Int(v, p),
                ["maxBytesPerRequest"] = (v, p) => w.MaxBytesPerRequest = Int(v, p),
                ["concurrency"] = (v, p) => w.Concurrency = Int(v, p),
                ["timeoutSeconds"] = (v, p) => w.TimeoutSeconds = Int(v, p),
                ["initialBackoffMs"] = (v, p) => w.InitialBackoffMs = Int(v, p),
                ["maxBackoffMs"] = (v, p) => w.MaxBackoffMs = Int(v, p),
                ["maxElapsedSeconds"] = (v, p) => w.MaxElapsedSeconds = Int(v, p),
                ["maxPendingSamples"] = (v, p) => w.MaxPendingSamples = Int(v, p),
            });
            return w;
        }
    }
}
