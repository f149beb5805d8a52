using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Frugal.Server.Api;

/// <summary>
/// A request that must be answered with OpenAI's error object. Thrown anywhere below an endpoint and turned
/// into the response by the error middleware (or into a final error event once a stream has begun).
/// </summary>
public sealed class ApiException(int status, string message, string type, string? param = null, string? code = null, Exception? inner = null)
    : Exception(message, inner)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    /// <summary>Seconds the client should wait before retrying (429 only).</summary>
    public int? RetryAfterSeconds { get; init; }

    public ErrorResponseDto ToDto() => new(new ErrorBodyDto(Message, Type, Param, Code));

    public static ApiException InvalidRequest(string message, string? param = null, string? code = null) =>
        new(400, message, ErrorTypes.InvalidRequest, param, code);

    public static ApiException ServerError(string message, string? code = null, Exception? inner = null) =>
        new(500, message, ErrorTypes.Server, null, code, inner);
}

/// <summary>The "type" values of OpenAI's error object.</summary>
public static class ErrorTypes
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Authentication = "authentication_error";
    public const string RateLimit = "rate_limit_error";
    public const string Server = "server_error";
    public const string Timeout = "timeout_error";
}

/// <summary>One serializer setup for every response: snake_case, source-generated, text left readable.</summary>
public static class ServerJson
{
    public static ServerJsonContext Context { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.Strict,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
