using System.Globalization;
using System.Text;
using System.Text.Json;
using Frugal.Engine.Sampling;
using Frugal.Models.Tokenization;
using Frugal.Server.Api;

namespace Frugal.Server.Generation;

/// <summary>How the logprobs of a response are shaped.</summary>
public enum LogprobsFormat { None, Chat, Legacy }

/// <summary>
/// A validated generation request, endpoint-independent: the tokenized prompts, how many choices each gets and
/// how to generate them. Choice i of prompt p has index p × ChoicesPerPrompt + i.
/// </summary>
public sealed record GenerationPlan
{
    public required IReadOnlyList<int[]> Prompts { get; init; }
    public required int ChoicesPerPrompt { get; init; }
    /// <summary>Requested limit, or null for the endpoint's default; always clamped to the room left in the context.</summary>
    public int? MaxTokens { get; init; }
    public required int DefaultMaxTokens { get; init; }
    public required SamplingOptions Sampling { get; init; }
    public required IReadOnlyList<string> Stops { get; init; }
    public LogprobsFormat Logprobs { get; init; }
    public int TopLogprobs { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public bool StopAtEndOfGeneration { get; init; } = true;
    public required string PromptParam { get; init; }
}

/// <summary>Checks request DTOs against OpenAI's rules and turns them into <see cref="GenerationPlan"/>s.</summary>
public static class RequestParser
{
    public const int MaxStopStrings = 4;
    public const int MaxChoices = 128;
    public const int MaxChatTopLogprobs = 20;
    public const int MaxLegacyLogprobs = 5;
    public const int CompletionsDefaultMaxTokens = 16;   // OpenAI's default for the legacy endpoint

    public static GenerationPlan ParseCompletion(CompletionRequestDto request, Tokenizer tokenizer)
    {
        if (request.Echo == true) throw Unsupported("echo");
        if (!string.IsNullOrEmpty(request.Suffix)) throw Unsupported("suffix");
        int n = CheckChoices(request.N);
        if (request.BestOf is int bestOf && bestOf != n)
            throw ApiException.InvalidRequest($"best_of other than n is not supported (got best_of={bestOf}, n={n}).", "best_of", "unsupported_parameter");
        if (request.Logprobs is < 0 or > MaxLegacyLogprobs)
            throw OutOfRange("logprobs", $"must be between 0 and {MaxLegacyLogprobs}", request.Logprobs.Value);

        var prompts = ParsePrompt(request.Prompt, tokenizer);
        if (prompts.Count * n > MaxChoices)
            throw ApiException.InvalidRequest($"{prompts.Count} prompts × n={n} asks for more than {MaxChoices} choices.", "n", "invalid_value");
        return new GenerationPlan
        {
            Prompts = prompts,
            ChoicesPerPrompt = n,
            MaxTokens = CheckMaxTokens(request.MaxTokens, "max_tokens"),
            DefaultMaxTokens = CompletionsDefaultMaxTokens,
            Sampling = Sampling(request.Temperature, request.TopP, request.PresencePenalty, request.FrequencyPenalty,
                request.Seed, request.LogitBias, tokenizer.VocabSize),
            Stops = ParseStop(request.Stop),
            Logprobs = request.Logprobs is null ? LogprobsFormat.None : LogprobsFormat.Legacy,
            TopLogprobs = request.Logprobs ?? 0,
            Stream = request.Stream == true,
            IncludeUsage = request.StreamOptions?.IncludeUsage == true,
            StopAtEndOfGeneration = request.IgnoreEos != true,
            PromptParam = "prompt",
        };
    }

    /// <summary>Validates a chat request; the prompt comes from <paramref name="promptTokens"/> (the rendered messages).</summary>
    public static GenerationPlan ParseChat(ChatCompletionRequestDto request, int[] promptTokens, int vocabSize)
    {
        int n = CheckChoices(request.N);
        if (request.TopLogprobs is int top)
        {
            if (top is < 0 or > MaxChatTopLogprobs) throw OutOfRange("top_logprobs", $"must be between 0 and {MaxChatTopLogprobs}", top);
            if (request.Logprobs != true)
                throw ApiException.InvalidRequest("top_logprobs needs logprobs set to true.", "top_logprobs", "invalid_value");
        }
        int? maxTokens = CheckMaxTokens(request.MaxCompletionTokens, "max_completion_tokens") ?? CheckMaxTokens(request.MaxTokens, "max_tokens");
        return new GenerationPlan
        {
            Prompts = [promptTokens],
            ChoicesPerPrompt = n,
            MaxTokens = maxTokens,
            DefaultMaxTokens = int.MaxValue,   // chat: until the model stops or the context is full
            Sampling = Sampling(request.Temperature, request.TopP, request.PresencePenalty, request.FrequencyPenalty,
                request.Seed, request.LogitBias, vocabSize),
            Stops = ParseStop(request.Stop),
            Logprobs = request.Logprobs == true ? LogprobsFormat.Chat : LogprobsFormat.None,
            TopLogprobs = request.Logprobs == true ? request.TopLogprobs ?? 0 : 0,
            Stream = request.Stream == true,
            IncludeUsage = request.StreamOptions?.IncludeUsage == true,
            StopAtEndOfGeneration = request.IgnoreEos != true,
            PromptParam = "messages",
        };
    }

    /// <summary>
    /// The messages as plain values for the chat renderer. Each must be an object with a string "role";
    /// "content" may be a string, null, or an array of text parts (joined with newlines).
    /// </summary>
    public static List<IReadOnlyDictionary<string, object?>> ParseMessages(JsonElement messages)
    {
        if (messages.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
            throw ApiException.InvalidRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        if (messages.ValueKind != JsonValueKind.Array)
            throw ApiException.InvalidRequest("Invalid type for 'messages': expected an array of message objects.", "messages", "invalid_type");
        if (messages.GetArrayLength() == 0)
            throw ApiException.InvalidRequest("'messages' must hold at least one message.", "messages", "invalid_value");

        var result = new List<IReadOnlyDictionary<string, object?>>();
        int index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            string where = $"messages[{index}]";
            if (message.ValueKind != JsonValueKind.Object)
                throw ApiException.InvalidRequest($"Invalid type for '{where}': expected an object.", where, "invalid_type");
            if (!message.TryGetProperty("role", out var role))
                throw ApiException.InvalidRequest($"Missing required parameter: '{where}.role'.", $"{where}.role", "missing_required_parameter");
            if (role.ValueKind != JsonValueKind.String)
                throw ApiException.InvalidRequest($"Invalid type for '{where}.role': expected a string.", $"{where}.role", "invalid_type");

            var values = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var property in message.EnumerateObject())
                values[property.Name] = property.Name == "content" ? Content(property.Value, $"{where}.content") : PlainValue(property.Value);
            result.Add(values);
            index++;
        }
        return result;
    }

    private static object? Content(JsonElement content, string where)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String: return content.GetString();
            case JsonValueKind.Null: return null;
            case JsonValueKind.Array:
                var text = new StringBuilder();
                int part = 0;
                foreach (var item in content.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                        throw ApiException.InvalidRequest($"Invalid content part '{where}[{part}]': expected an object with a \"type\".", $"{where}[{part}]", "invalid_type");
                    if (type.GetString() != "text")
                        throw ApiException.InvalidRequest($"Content part type '{type.GetString()}' is not supported by this model; only \"text\" is.",
                            $"{where}[{part}].type", "unsupported_content");
                    if (!item.TryGetProperty("text", out var partText) || partText.ValueKind != JsonValueKind.String)
                        throw ApiException.InvalidRequest($"Content part '{where}[{part}]' needs a string \"text\".", $"{where}[{part}].text", "invalid_type");
                    if (part > 0) text.Append('\n');
                    text.Append(partText.GetString());
                    part++;
                }
                return text.ToString();
            default:
                throw ApiException.InvalidRequest($"Invalid type for '{where}': expected a string or an array of content parts.", where, "invalid_type");
        }
    }

    /// <summary>JSON as plain .NET values: Dictionary, List, string, long or double, bool, null.</summary>
    public static object? PlainValue(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().ToDictionary(p => p.Name, p => PlainValue(p.Value), StringComparer.Ordinal),
        JsonValueKind.Array => element.EnumerateArray().Select(PlainValue).ToList(),
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.TryGetInt64(out long whole) ? whole : element.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    /// <summary>A string, an array of strings, a token-id array, or an array of token-id arrays.</summary>
    public static List<int[]> ParsePrompt(JsonElement prompt, Tokenizer tokenizer)
    {
        const string param = "prompt";
        var prompts = new List<int[]>();
        switch (prompt.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                throw ApiException.InvalidRequest("Missing required parameter: 'prompt'.", param, "missing_required_parameter");
            case JsonValueKind.String:
                prompts.Add(EncodeText(prompt.GetString()!, tokenizer));
                break;
            case JsonValueKind.Array:
                if (prompt.GetArrayLength() == 0)
                    throw ApiException.InvalidRequest("'prompt' must not be an empty array.", param, "invalid_value");
                var kinds = prompt.EnumerateArray().Select(item => item.ValueKind).Distinct().ToArray();
                if (kinds is [JsonValueKind.String])
                    prompts.AddRange(prompt.EnumerateArray().Select(item => EncodeText(item.GetString()!, tokenizer)));
                else if (kinds is [JsonValueKind.Number])
                    prompts.Add(TokenIds(prompt, tokenizer.VocabSize, param));
                else if (kinds is [JsonValueKind.Array])
                    prompts.AddRange(prompt.EnumerateArray().Select((item, i) => TokenIds(item, tokenizer.VocabSize, $"{param}[{i}]")));
                else
                    throw ApiException.InvalidRequest(
                        "Invalid type for 'prompt': expected a string, an array of strings, an array of token ids or an array of token-id arrays.",
                        param, "invalid_type");
                break;
            default:
                throw ApiException.InvalidRequest("Invalid type for 'prompt': expected a string or an array.", param, "invalid_type");
        }
        for (int i = 0; i < prompts.Count; i++)
            if (prompts[i].Length == 0)
                throw ApiException.InvalidRequest(
                    $"The prompt{(prompts.Count > 1 ? $" at index {i}" : "")} is empty and this model adds no BOS token; give at least one token.",
                    param, "invalid_value");
        return prompts;
    }

    /// <summary>Text prompts are tokenized as frugal run and llama.cpp do: BOS as the vocabulary asks, special tokens parsed.</summary>
    public static int[] EncodeText(string text, Tokenizer tokenizer) => tokenizer.Encode(text, addSpecial: true, parseSpecial: true);

    private static int[] TokenIds(JsonElement array, int vocabSize, string param)
    {
        if (array.ValueKind != JsonValueKind.Array)
            throw ApiException.InvalidRequest($"Invalid type for '{param}': expected an array of token ids.", param, "invalid_type");
        var ids = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int id))
                throw ApiException.InvalidRequest($"Invalid token id at '{param}[{i}]': expected an integer.", param, "invalid_type");
            if (id < 0 || id >= vocabSize)
                throw ApiException.InvalidRequest($"Token id {id} at '{param}[{i}]' is outside the vocabulary [0, {vocabSize}).", param, "invalid_value");
            ids[i++] = id;
        }
        return ids;
    }

    public static IReadOnlyList<string> ParseStop(JsonElement stop)
    {
        switch (stop.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return [];
            case JsonValueKind.String:
                return [stop.GetString()!];
            case JsonValueKind.Array:
                if (stop.GetArrayLength() > MaxStopStrings)
                    throw ApiException.InvalidRequest($"'stop' holds {stop.GetArrayLength()} sequences; at most {MaxStopStrings} are allowed.", "stop", "invalid_value");
                var stops = new List<string>();
                foreach (var item in stop.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String)
                        throw ApiException.InvalidRequest("Invalid type for 'stop': expected a string or an array of strings.", "stop", "invalid_type");
                    stops.Add(item.GetString()!);
                }
                return stops;
            default:
                throw ApiException.InvalidRequest("Invalid type for 'stop': expected a string or an array of strings.", "stop", "invalid_type");
        }
    }

    private static SamplingOptions Sampling(float? temperature, float? topP, float? presencePenalty, float? frequencyPenalty,
        long? seed, Dictionary<string, float>? logitBias, int vocabSize)
    {
        float t = temperature ?? 1.0f;
        if (!float.IsFinite(t) || t < 0 || t > 2) throw OutOfRange("temperature", "must be between 0 and 2", t);
        float p = topP ?? 1.0f;
        if (!float.IsFinite(p) || p < 0 || p > 1) throw OutOfRange("top_p", "must be between 0 and 1", p);
        float presence = presencePenalty ?? 0;
        if (!float.IsFinite(presence) || presence < -2 || presence > 2) throw OutOfRange("presence_penalty", "must be between -2 and 2", presence);
        float frequency = frequencyPenalty ?? 0;
        if (!float.IsFinite(frequency) || frequency < -2 || frequency > 2) throw OutOfRange("frequency_penalty", "must be between -2 and 2", frequency);

        Dictionary<int, float>? bias = null;
        if (logitBias is { Count: > 0 })
        {
            bias = new Dictionary<int, float>();
            foreach (var (key, value) in logitBias)
            {
                if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out int id) || id >= vocabSize)
                    throw ApiException.InvalidRequest($"Invalid logit_bias key '{key}': expected a token id in [0, {vocabSize}).", "logit_bias", "invalid_value");
                if (!float.IsFinite(value) || value < -100 || value > 100)
                    throw ApiException.InvalidRequest($"Invalid logit_bias value {value.ToString(CultureInfo.InvariantCulture)} for token {id}: must be between -100 and 100.",
                        "logit_bias", "invalid_value");
                bias[id] = value;
            }
        }

        // OpenAI's sampler: temperature and nucleus only (no top-k, no min-p); penalties over the whole history.
        return new SamplingOptions
        {
            Temperature = t,
            TopK = 0,
            TopP = p,
            MinP = 0,
            RepetitionPenalty = 1,
            PresencePenalty = presence,
            FrequencyPenalty = frequency,
            PenaltyLastN = -1,
            Seed = seed is long s ? unchecked((ulong)s) : null,
            LogitBias = bias,
        };
    }

    private static int CheckChoices(int? n)
    {
        int value = n ?? 1;
        if (value < 1 || value > MaxChoices) throw OutOfRange("n", $"must be between 1 and {MaxChoices}", value);
        return value;
    }

    private static int? CheckMaxTokens(int? value, string param)
    {
        if (value is < 1) throw OutOfRange(param, "must be at least 1", value.Value);
        return value;
    }

    private static ApiException OutOfRange(string param, string rule, double value) =>
        ApiException.InvalidRequest($"Invalid value for '{param}': {value.ToString(CultureInfo.InvariantCulture)} ({param} {rule}).", param, "invalid_value");

    private static ApiException Unsupported(string param) =>
        ApiException.InvalidRequest($"'{param}' is not supported by this server.", param, "unsupported_parameter");
}
