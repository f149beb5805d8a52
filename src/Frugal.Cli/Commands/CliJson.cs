using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Frugal.Cli.Commands;

// JSON shapes printed by the commands (snake_case names; see each command for its meaning).

public sealed record RunTimingsJson(double PromptMs, double PromptTokensPerSecond, double GenerationMs, double GenerationTokensPerSecond);

public sealed record RunJson(int[] PromptTokens, int[] Tokens, string Text, RunTimingsJson Timings, string FinishReason, ulong Seed);

/// <summary>One teacher-forced position: the best ids (highest logit first) and their raw logits.</summary>
public sealed record PositionJson(int[] Ids, float[] Logits);

public sealed record LogitsJson(int[] Tokens, int Topk, PositionJson[] Positions);

public sealed record TokenJson(int Id, string Piece);

public sealed record TokenizeJson(TokenJson[] Tokens);

/// <summary>A metadata entry; arrays are summarized by element type, count and their first items.</summary>
public sealed record MetadataJson(string Key, string Type, JsonNode? Value, string? ElementType, long? Count, JsonNode?[]? First);

public sealed record TensorJson(string Name, string Type, long[] Shape, long Bytes);

public sealed record TotalsJson(int Tensors, long Parameters, long Bytes, double BytesPerWeight);

public sealed record InspectJson(string Path, uint Version, ulong Alignment, long FileSize, long DataOffset,
    MetadataJson[] Metadata, TensorJson[] Tensors, TotalsJson Totals);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RunJson))]
[JsonSerializable(typeof(LogitsJson))]
[JsonSerializable(typeof(TokenizeJson))]
[JsonSerializable(typeof(InspectJson))]
public sealed partial class CliJsonContext : JsonSerializerContext
{
    /// <summary>Same shapes, but text stays readable (no \u escapes for non-ASCII or &lt; &gt; &amp;).</summary>
    public static CliJsonContext Readable { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
