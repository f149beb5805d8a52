using System.Text.Json;
using System.Text.Json.Serialization;

namespace Frugal.Server.Api;

// The wire shapes of the OpenAI API (snake_case through ServerJsonContext). Requests keep the fields that may
// take several shapes (prompt, stop, messages) as JsonElement and are interpreted by RequestParser; unknown
// fields are ignored, as OpenAI does.

public sealed class StreamOptionsDto
{
    public bool? IncludeUsage { get; set; }
}

/// <summary>POST /v1/completions.</summary>
public sealed class CompletionRequestDto
{
    public string? Model { get; set; }
    public JsonElement Prompt { get; set; }               // string | string[] | int[] | int[][]
    public int? MaxTokens { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    public int? N { get; set; }
    public bool? Stream { get; set; }
    public StreamOptionsDto? StreamOptions { get; set; }
    public int? Logprobs { get; set; }                    // legacy: how many alternatives per token (0–5)
    public bool? Echo { get; set; }
    public JsonElement Stop { get; set; }                 // string | string[] | null
    public float? PresencePenalty { get; set; }
    public float? FrequencyPenalty { get; set; }
    public int? BestOf { get; set; }
    public Dictionary<string, float>? LogitBias { get; set; }
    public long? Seed { get; set; }
    public string? Suffix { get; set; }
    public bool? IgnoreEos { get; set; }                  // extension shared with llama-server
}

/// <summary>POST /v1/chat/completions.</summary>
public sealed class ChatCompletionRequestDto
{
    public string? Model { get; set; }
    public JsonElement Messages { get; set; }             // [{role, content, ...}]
    public int? MaxTokens { get; set; }
    public int? MaxCompletionTokens { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    public int? N { get; set; }
    public bool? Stream { get; set; }
    public StreamOptionsDto? StreamOptions { get; set; }
    public bool? Logprobs { get; set; }
    public int? TopLogprobs { get; set; }
    public JsonElement Stop { get; set; }
    public float? PresencePenalty { get; set; }
    public float? FrequencyPenalty { get; set; }
    public Dictionary<string, float>? LogitBias { get; set; }
    public long? Seed { get; set; }
    public bool? IgnoreEos { get; set; }
}

public sealed class TokenizeRequestDto
{
    public string? Content { get; set; }
    public bool? AddSpecial { get; set; }
    public bool? ParseSpecial { get; set; }
}

public sealed class DetokenizeRequestDto
{
    public int[]? Tokens { get; set; }
}

public sealed record TokenizeResponseDto(int[] Tokens);

public sealed record DetokenizeResponseDto(string Content);

/// <summary>OpenAI's error object: {"error": {"message", "type", "param", "code"}}; param and code are written even when null.</summary>
public sealed record ErrorBodyDto(
    string Message,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);

public sealed record ErrorResponseDto(ErrorBodyDto Error);

public sealed record ModelDto(string Id, string Object, long Created, string OwnedBy, ModelMetaDto Meta);

/// <summary>Extension: what a client may want to know about the served model.</summary>
public sealed record ModelMetaDto(int ContextSize, int VocabSize, string Architecture, bool HasChatTemplate);

public sealed record ModelListDto(string Object, ModelDto[] Data);

public sealed record PromptTokensDetailsDto(int CachedTokens);

/// <summary>Extension object "usage.frugal": what the request cost (see docs/SERVER.md).</summary>
public sealed record FrugalUsageDto(
    double TimeToFirstTokenMs,
    double TimePerOutputTokenMs,
    double QueueTimeMs,
    double CpuSeconds,
    double CostUsd,
    double EnergyJoules,
    string EnergySource,
    int RecomputedTokens);

public sealed record UsageDto(
    int PromptTokens,
    int CompletionTokens,
    int TotalTokens,
    PromptTokensDetailsDto PromptTokensDetails,
    FrugalUsageDto Frugal);

/// <summary>Legacy completions logprobs: parallel arrays, one entry per generated token.</summary>
public sealed record LegacyLogprobsDto(
    List<string> Tokens,
    List<float> TokenLogprobs,
    List<Dictionary<string, float>> TopLogprobs,
    List<int> TextOffset);

public sealed record CompletionChoiceDto(
    string Text,
    int Index,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] LegacyLogprobsDto? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

/// <summary>A completion, or (object "text_completion" too) one streamed chunk of it.</summary>
public sealed record CompletionResponseDto(
    string Id,
    string Object,
    long Created,
    string Model,
    string SystemFingerprint,
    CompletionChoiceDto[] Choices,
    UsageDto? Usage);

public sealed record TopLogprobDto(string Token, float Logprob, int[] Bytes);

public sealed record TokenLogprobDto(string Token, float Logprob, int[] Bytes, TopLogprobDto[] TopLogprobs);

public sealed record ChatLogprobsDto(TokenLogprobDto[] Content);

public sealed record ChatMessageDto(
    string Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Content);

public sealed record ChatChoiceDto(
    int Index,
    ChatMessageDto Message,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] ChatLogprobsDto? Logprobs,
    string FinishReason);

public sealed record ChatCompletionResponseDto(
    string Id,
    string Object,
    long Created,
    string Model,
    string SystemFingerprint,
    ChatChoiceDto[] Choices,
    UsageDto Usage);

public sealed record ChatDeltaDto(string? Role, string? Content);

public sealed record ChatChunkChoiceDto(
    int Index,
    ChatDeltaDto Delta,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] ChatLogprobsDto? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

public sealed record ChatChunkDto(
    string Id,
    string Object,
    long Created,
    string Model,
    string SystemFingerprint,
    ChatChunkChoiceDto[] Choices,
    UsageDto? Usage);

public sealed record SchedulerStatsDto(
    int Running,
    int Waiting,
    int KvBlocksUsed,
    int KvBlocksTotal,
    int KvBlockTokens,
    long PrefixCacheLookupTokens,
    long PrefixCacheHitTokens,
    long Preemptions,
    long StepsRun);

public sealed record HealthDto(string Status, string Model, int ContextSize, SchedulerStatsDto Scheduler);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.Strict,
    AllowTrailingCommas = false)]
[JsonSerializable(typeof(CompletionRequestDto))]
[JsonSerializable(typeof(ChatCompletionRequestDto))]
[JsonSerializable(typeof(TokenizeRequestDto))]
[JsonSerializable(typeof(DetokenizeRequestDto))]
[JsonSerializable(typeof(TokenizeResponseDto))]
[JsonSerializable(typeof(DetokenizeResponseDto))]
[JsonSerializable(typeof(ErrorResponseDto))]
[JsonSerializable(typeof(ModelListDto))]
[JsonSerializable(typeof(ModelDto))]
[JsonSerializable(typeof(CompletionResponseDto))]
[JsonSerializable(typeof(ChatCompletionResponseDto))]
[JsonSerializable(typeof(ChatChunkDto))]
[JsonSerializable(typeof(HealthDto))]
public sealed partial class ServerJsonContext : JsonSerializerContext;
