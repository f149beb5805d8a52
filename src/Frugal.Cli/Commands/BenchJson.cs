using System.Text.Json.Serialization;
using Frugal.Engine.Benchmarking;

namespace Frugal.Cli.Commands;

/// <summary>The JSON of <c>frugal bench --json</c>: the <see cref="BenchmarkReport"/> itself, in snake_case.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(BenchmarkReport))]
public sealed partial class BenchJsonContext : JsonSerializerContext;
