using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Frugal.Server.Benchmark;

/// <summary>
/// Load generator for OpenAI-compatible servers (Frugal's and llama.cpp's llama-server): for each concurrency
/// level, that many clients send streaming requests until <see cref="BenchmarkOptions.Requests"/> are done,
/// timing the first token and the gaps between streamed chunks.
/// </summary>
public static class ServeBenchmark
{
    /// <summary>Runs every level in order. <paramref name="handler"/> replaces the HTTP stack (tests); <paramref name="progress"/> gets one line per level.</summary>
    public static async Task<BenchmarkReport> RunAsync(BenchmarkOptions options, HttpMessageHandler? handler = null,
        Action<string>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        using var http = handler is null
            ? new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1) })
            : new HttpClient(handler, disposeHandler: false);
        http.Timeout = Timeout.InfiniteTimeSpan; // each request has its own timeout
        if (options.ApiKey is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);

        Uri root = ServerRoot(options.Url);
        string model = options.Model ?? await FirstModelAsync(http, root, cancellation);
        var prompts = await PromptFactory.CreateAsync(http, root, options, cancellation);
        var levels = new List<BenchmarkLevel>();
        int requestNumber = 0;  // global across levels, so no level reuses another's prompts from the prefix cache
        foreach (int concurrency in options.Concurrency)
        {
            var level = await RunLevelAsync(http, root, model, options, prompts, concurrency, requestNumber, cancellation);
            requestNumber += options.Requests;
            levels.Add(level);
            progress?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"concurrency {concurrency}: {level.OutputTokensPerSecond:0.0} output tokens/s, TTFT p50 {level.TimeToFirstTokenMs.P50:0.0} ms, {level.Errors} errors"));
        }
        return new BenchmarkReport(root.ToString(), model, options.Endpoint == BenchmarkEndpoint.Chat ? "chat" : "completions",
            options.PromptTokens, options.MaxTokens, options.SharedPrefixTokens, levels);
    }

    /// <summary>"http://h:p", "http://h:p/" and "http://h:p/v1" all mean the server at http://h:p/.</summary>
    public static Uri ServerRoot(Uri url)
    {
        string text = url.GetLeftPart(UriPartial.Path).TrimEnd('/');
        if (text.EndsWith("/v1", StringComparison.Ordinal)) text = text[..^3];
        return new Uri(text + "/");
    }

    private static async Task<string> FirstModelAsync(HttpClient http, Uri root, CancellationToken cancellation)
    {
        using var response = await http.GetAsync(new Uri(root, "v1/models"), cancellation);
        string body = await response.Content.ReadAsStringAsync(cancellation);
        if (!response.IsSuccessStatusCode)
            throw new IOException($"GET {root}v1/models answered {(int)response.StatusCode}: {Shorten(body)}; give the model name with --model");
        try
        {
            var id = JsonNode.Parse(body)?["data"]?[0]?["id"]?.GetValue<string>();
            return id ?? throw new IOException($"GET {root}v1/models listed no model; give the model name with --model");
        }
        catch (Exception error) when (error is JsonException or InvalidOperationException or FormatException)
        {
            throw new IOException($"GET {root}v1/models did not answer with an OpenAI model list: {Shorten(body)}");
        }
    }

    private static async Task<BenchmarkLevel> RunLevelAsync(HttpClient http, Uri root, string model, BenchmarkOptions options,
        PromptFactory prompts, int concurrency, int firstRequest, CancellationToken cancellation)
    {
        var results = new RequestResult[options.Requests];
        int next = -1;
        long start = Stopwatch.GetTimestamp();
        var clients = Enumerable.Range(0, Math.Min(concurrency, options.Requests)).Select(_ => Task.Run(async () =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < options.Requests)
                results[index] = await SendAsync(http, root, model, options, prompts.Prompt(firstRequest + index), cancellation);
        }, cancellation));
        await Task.WhenAll(clients);
        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;

        var succeeded = results.Where(result => result.Error is null).ToArray();
        long outputTokens = succeeded.Sum(result => (long)result.OutputTokens);
        double? cost = null;
        string? costSource = null;
        if (succeeded.Length > 0 && succeeded.All(result => result.CostUsd is not null))
        {
            cost = succeeded.Sum(result => result.CostUsd!.Value);
            costSource = "server";
        }
        else if (options.PricePerHour is double price)
        {
            cost = price / 3600.0 * wall;   // the whole machine, for as long as the level ran
            costSource = "price-per-hour";
        }
        return new BenchmarkLevel
        {
            Concurrency = concurrency,
            Requests = options.Requests,
            Succeeded = succeeded.Length,
            Errors = results.Length - succeeded.Length,
            FirstError = results.FirstOrDefault(result => result.Error is not null)?.Error,
            WallSeconds = wall,
            PromptTokens = succeeded.Sum(result => (long)(result.PromptTokens ?? 0)),
            OutputTokens = outputTokens,
            OutputTokensPerSecond = wall > 0 ? outputTokens / wall : 0,
            RequestsPerSecond = wall > 0 ? succeeded.Length / wall : 0,
            TimeToFirstTokenMs = Percentiles.Of(succeeded.Where(r => r.TimeToFirstTokenMs is not null).Select(r => r.TimeToFirstTokenMs!.Value).ToArray()),
            InterTokenLatencyMs = Percentiles.Of(succeeded.SelectMany(result => result.InterTokenMs).ToArray()),
            CostPerMillionOutputTokens = cost is double usd && outputTokens > 0 ? usd / outputTokens * 1e6 : null,
            CostSource = cost is null || outputTokens == 0 ? null : costSource,
            UsageReported = succeeded.Length > 0 && succeeded.All(result => result.UsageReported),
        };
    }

    private sealed record RequestResult(string? Error, int OutputTokens = 0, int? PromptTokens = null, double? TimeToFirstTokenMs = null,
        IReadOnlyList<double>? InterTokenMsOrNull = null, double? CostUsd = null, bool UsageReported = false)
    {
        public IReadOnlyList<double> InterTokenMs => InterTokenMsOrNull ?? [];
    }

    private static async Task<RequestResult> SendAsync(HttpClient http, Uri root, string model, BenchmarkOptions options, string prompt,
        CancellationToken cancellation)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["max_tokens"] = options.MaxTokens,
            ["temperature"] = 0,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        if (options.IgnoreEos) body["ignore_eos"] = true;
        string path;
        if (options.Endpoint == BenchmarkEndpoint.Chat)
        {
            body["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt });
            path = "v1/chat/completions";
        }
        else
        {
            body["prompt"] = prompt;
            path = "v1/completions";
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(options.RequestTimeout);
        long sent = Stopwatch.GetTimestamp();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(root, path))
            {
                Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (!response.IsSuccessStatusCode)
                return new RequestResult($"HTTP {(int)response.StatusCode}: {Shorten(await response.Content.ReadAsStringAsync(timeout.Token))}");

            await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var gaps = new List<double>();
            long lastChunk = 0;
            double? ttft = null;
            int chunks = 0;
            int? completionTokens = null, promptTokens = null;
            double? cost = null;
            bool done = false;
            while (!done && await reader.ReadLineAsync(timeout.Token) is string line)
            {
                if (!line.StartsWith("data:", StringComparison.Ordinal)) continue;
                string data = line[5..].Trim();
                if (data == "[DONE]")
                {
                    done = true;
                    break;
                }
                using var chunk = JsonDocument.Parse(data);
                var rootElement = chunk.RootElement;
                if (rootElement.TryGetProperty("error", out var error))
                    return new RequestResult($"stream error: {Shorten(error.ToString())}");
                if (HasText(rootElement))
                {
                    long now = Stopwatch.GetTimestamp();
                    if (chunks == 0) ttft = Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds;
                    else gaps.Add(Stopwatch.GetElapsedTime(lastChunk, now).TotalMilliseconds);
                    lastChunk = now;
                    chunks++;
                }
                if (rootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                {
                    if (usage.TryGetProperty("completion_tokens", out var c) && c.TryGetInt32(out int ct)) completionTokens = ct;
                    if (usage.TryGetProperty("prompt_tokens", out var p) && p.TryGetInt32(out int pt)) promptTokens = pt;
                    if (usage.TryGetProperty("frugal", out var frugal) && frugal.ValueKind == JsonValueKind.Object
                        && frugal.TryGetProperty("cost_usd", out var usd) && usd.TryGetDouble(out double value))
                        cost = value;
                }
            }
            // llama-server may end without [DONE] after its last chunk; a stream that ended is complete either way.
            return new RequestResult(null, completionTokens ?? chunks, promptTokens, ttft, gaps, cost, completionTokens is not null);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return new RequestResult($"timed out after {options.RequestTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s");
        }
        catch (Exception error) when (error is HttpRequestException or IOException or JsonException)
        {
            return new RequestResult($"{error.GetType().Name}: {Shorten(error.Message)}");
        }
    }

    // A chunk carries generated text in choices[i].text (completions) or choices[i].delta.content (chat).
    private static bool HasText(JsonElement chunk)
    {
        if (!chunk.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array) return false;
        foreach (var choice in choices.EnumerateArray())
        {
            if (choice.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String && text.GetString()!.Length > 0) return true;
            if (choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object
                && delta.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String && content.GetString()!.Length > 0)
                return true;
        }
        return false;
    }

    private static string Shorten(string text)
    {
        text = text.ReplaceLineEndings(" ").Trim();
        return text.Length <= 300 ? text : text[..300] + "…";
    }

    /// <summary>The report as a table, one row per concurrency level.</summary>
    public static string FormatTable(BenchmarkReport report)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"{report.Url} model {report.Model}, {report.Endpoint}, ~{report.PromptTokens} prompt tokens ({report.SharedPrefixTokens} shared), {report.MaxTokens} max tokens");
        text.AppendLine("conc  reqs  err   out tok/s   req/s  TTFT p50/p90/p99 ms        ITL p50/p90/p99 ms       $/M out tok");
        foreach (var level in report.Levels)
        {
            var ttft = level.TimeToFirstTokenMs;
            var itl = level.InterTokenLatencyMs;
            string cost = level.CostPerMillionOutputTokens is double usd ? $"{usd:0.0000} ({level.CostSource})" : "-";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{level.Concurrency,4}  {level.Requests,4}  {level.Errors,3}  {level.OutputTokensPerSecond,10:0.0}  {level.RequestsPerSecond,6:0.00}  " +
                $"{ttft.P50,7:0.0} {ttft.P90,7:0.0} {ttft.P99,7:0.0}    {itl.P50,7:0.00} {itl.P90,7:0.00} {itl.P99,7:0.00}    {cost}");
        }
        foreach (var level in report.Levels.Where(level => level.FirstError is not null))
            text.AppendLine(CultureInfo.InvariantCulture, $"concurrency {level.Concurrency}: first error: {level.FirstError}");
        if (report.Levels.Any(level => !level.UsageReported && level.Succeeded > 0))
            text.AppendLine("note: the server reported no token usage in its streams; output tokens were counted as streamed chunks");
        return text.ToString();
    }

    public static string FormatJson(BenchmarkReport report) => JsonSerializer.Serialize(report, BenchmarkJsonContext.Readable.BenchmarkReport);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(BenchmarkReport))]
public sealed partial class BenchmarkJsonContext : JsonSerializerContext
{
    public static BenchmarkJsonContext Readable { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
