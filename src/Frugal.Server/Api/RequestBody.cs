using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace Frugal.Server.Api;

/// <summary>Reads a JSON request body into a DTO, turning every way it can be wrong into a precise 400 (or 413).</summary>
public static class RequestBody
{
    // What each field must be, for the message of a wrong-type error (the serializer's own names CLR types).
    private static readonly Dictionary<string, string> ExpectedTypes = new(StringComparer.Ordinal)
    {
        ["model"] = "a string",
        ["temperature"] = "a number",
        ["top_p"] = "a number",
        ["presence_penalty"] = "a number",
        ["frequency_penalty"] = "a number",
        ["max_tokens"] = "an integer",
        ["max_completion_tokens"] = "an integer",
        ["n"] = "an integer",
        ["best_of"] = "an integer",
        ["seed"] = "an integer",
        ["top_logprobs"] = "an integer",
        ["stream"] = "a boolean",
        ["echo"] = "a boolean",
        ["ignore_eos"] = "a boolean",
        ["suffix"] = "a string",
        ["stream_options"] = "an object",
        ["logit_bias"] = "an object mapping token ids to numbers",
        ["content"] = "a string",
        ["add_special"] = "a boolean",
        ["parse_special"] = "a boolean",
        ["tokens"] = "an array of token ids",
    };

    public static async Task<T> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type, CancellationToken cancellation) where T : class
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(request.Body, default, cancellation);
        }
        catch (JsonException error)
        {
            string where = error.LineNumber is long line && error.BytePositionInLine is long column
                ? $" (line {line + 1}, byte {column + 1})" : "";
            throw ApiException.InvalidRequest(
                $"We could not parse the JSON body of your request{where}. The body must be one JSON object.", code: "invalid_json");
        }
        catch (BadHttpRequestException error) when (error.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new ApiException(413, "The request body is larger than the server accepts.", ErrorTypes.InvalidRequest, code: "request_too_large");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw ApiException.InvalidRequest(
                    $"The request body must be a JSON object, got {Describe(document.RootElement.ValueKind)}.", code: "invalid_json");
            try
            {
                return document.RootElement.Deserialize(type)
                    ?? throw ApiException.InvalidRequest("The request body must be a JSON object.", code: "invalid_json");
            }
            catch (JsonException error)
            {
                string param = ParamOf(error.Path);
                string topLevel = param.Split('.', '[')[0];
                string? expected = topLevel == "logprobs"
                    ? (typeof(T) == typeof(ChatCompletionRequestDto) ? "a boolean" : "an integer")
                    : ExpectedTypes.GetValueOrDefault(topLevel);
                string message = expected is null || topLevel != param
                    ? $"Invalid type for '{param}'."
                    : $"Invalid type for '{param}': expected {expected}.";
                throw ApiException.InvalidRequest(message, param, "invalid_type");
            }
        }
    }

    /// <summary>"$.logit_bias['5']" or "$['top_p']" → "logit_bias.5" / "top_p".</summary>
    private static string ParamOf(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return "body";
        string text = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        text = text.Replace("['", ".", StringComparison.Ordinal).Replace("']", "", StringComparison.Ordinal).TrimStart('.');
        return text.Length == 0 ? "body" : text;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}
