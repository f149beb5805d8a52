using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace Frugal.Server.Api;

/// <summary>Writes JSON responses, OpenAI error objects and server-sent events.</summary>
public static class HttpJson
{
    public static async Task WriteAsync<T>(HttpContext http, int status, T value, JsonTypeInfo<T> type)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, value, type, http.RequestAborted);
    }

    /// <summary>Answers with the error object, unless the response has already begun (then the caller reports it in-band).</summary>
    public static async Task WriteErrorAsync(HttpContext http, ApiException error)
    {
        if (http.Response.HasStarted) return;
        http.Response.Clear();
        if (error.RetryAfterSeconds is int seconds) http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (error.Status == StatusCodes.Status401Unauthorized) http.Response.Headers.WWWAuthenticate = "Bearer";
        await WriteAsync(http, error.Status, error.ToDto(), ServerJson.Context.ErrorResponseDto);
    }
}

/// <summary>
/// Server-sent events on one response: "data: {json}\n\n" per event, "data: [DONE]\n\n" at the end, each flushed
/// at once. Writes from several choices are serialized. Once the client is gone, writes are dropped silently
/// (the request's cancellation is already stopping the jobs).
/// </summary>
public sealed class SseWriter(HttpResponse response, CancellationToken clientGone, Action? onClientGone)
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();
    private readonly SemaphoreSlim _gate = new(1, 1);

    public bool ClientGone { get; private set; }

    /// <summary>Starts the event stream. <paramref name="onClientGone"/> runs once when a write finds the client
    /// gone (a closed socket can show up as a failed write before the request's abort token fires).</summary>
    public static async Task<SseWriter> StartAsync(HttpResponse response, CancellationToken clientGone, Action? onClientGone = null)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";   // ask reverse proxies not to buffer the stream
        await response.StartAsync(clientGone);
        return new SseWriter(response, clientGone, onClientGone);
    }

    public Task WriteAsync<T>(T value, JsonTypeInfo<T> type) => WriteBytesAsync(JsonSerializer.SerializeToUtf8Bytes(value, type), framed: true);

    public Task WriteErrorAsync(ApiException error) => WriteAsync(error.ToDto(), ServerJson.Context.ErrorResponseDto);

    public Task WriteDoneAsync() => WriteBytesAsync(Done, framed: false);

    private async Task WriteBytesAsync(byte[] payload, bool framed)
    {
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            if (ClientGone) return;
            if (framed) await response.Body.WriteAsync(DataPrefix, clientGone);
            await response.Body.WriteAsync(payload, clientGone);
            if (framed) await response.Body.WriteAsync(EventEnd, clientGone);
            await response.Body.FlushAsync(clientGone);
        }
        catch (Exception error) when (error is OperationCanceledException or IOException or ObjectDisposedException)
        {
            ClientGone = true;
            onClientGone?.Invoke();
        }
        finally
        {
            _gate.Release();
        }
    }
}
