using System.Net;
using System.Security.Cryptography;
using System.Text;
using Frugal.Engine.Serving;
using Frugal.Models;
using Frugal.Server.Api;
using Frugal.Server.Cost;
using Frugal.Server.Generation;
using Frugal.Server.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Frugal.Server;

/// <summary>
/// The OpenAI-compatible HTTP server on Kestrel. Endpoints and extension fields are described in docs/SERVER.md.
/// The caller owns <paramref name="model"/> and the scheduler and disposes them after the server has stopped.
/// </summary>
public static class FrugalServer
{
    /// <summary>Paths that answer without an API key (health checks and metric scrapers rarely carry one).</summary>
    private static readonly string[] OpenPaths = ["/health", "/metrics"];

    /// <summary>Builds the server (not started): <c>await app.StartAsync()</c>, then <see cref="GetBaseAddress"/>.</summary>
    public static WebApplication Build(Model model, IGenerationScheduler scheduler, IChatRenderer? chat, ServerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        var address = ListenAddress(settings.Host);
        string modelId = settings.ModelId ?? Path.GetFileNameWithoutExtension(model.File.Path);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ApplicationName = typeof(FrugalServer).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = settings.MaxRequestBodyBytes;
            kestrel.AddServerHeader = false;
            kestrel.Listen(address, settings.Port);
        });
        builder.Logging.ClearProviders();
        if (settings.ConsoleLogLevel != LogLevel.None)
        {
            builder.Logging.AddSimpleConsole(console => console.SingleLine = true);
            builder.Logging.SetMinimumLevel(settings.ConsoleLogLevel);
        }

        var metrics = new ServerMetrics(scheduler);
        var cost = new CostMeter(settings.PricePerHour, settings.EstimatedWattsPerBusyCore,
            RaplEnergyMeter.TryOpen(settings.PowercapRoot), Environment.ProcessorCount);
        var state = new ServerState(model, scheduler, chat, settings, modelId, metrics, cost);
        builder.Services.AddSingleton(state);
        builder.Services.AddSingleton(_ => metrics); // factory-made, so the host disposes it: the meter ends with the server
        builder.Services.AddOpenTelemetry().WithMetrics(meters => meters.AddMeter(ServerMetrics.MeterName).AddPrometheusExporter());

        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Frugal.Server");
        app.Use((http, next) => GuardAsync(http, next, state, log));
        MapEndpoints(app, state);
        return app;
    }

    /// <summary>Starts the server, reports its address, and serves until <paramref name="cancellation"/> fires.</summary>
    public static async Task RunAsync(Model model, IGenerationScheduler scheduler, IChatRenderer? chat, ServerSettings settings,
        Action<Uri>? onListening = null, CancellationToken cancellation = default)
    {
        await using var app = Build(model, scheduler, chat, settings);
        await app.StartAsync(cancellation);
        onListening?.Invoke(GetBaseAddress(app));
        // Run until the caller cancels (Ctrl-C) or the host is told to stop: SIGTERM (docker stop, systemd) reaches
        // the host's console lifetime, which signals ApplicationStopping and waits for this method to return.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellation, app.Lifetime.ApplicationStopping);
        try
        {
            await Task.Delay(Timeout.Infinite, stopping.Token);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        await app.StopAsync(CancellationToken.None);
    }

    /// <summary>The address the started server listens on, e.g. http://127.0.0.1:53121 (the real port when 0 was asked).</summary>
    public static Uri GetBaseAddress(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        string? first = addresses?.FirstOrDefault()
            ?? throw new InvalidOperationException("the server has no bound address yet: call StartAsync first");
        return new Uri(first);
    }

    private static IPAddress ListenAddress(string host)
    {
        if (host is "*" or "+") return IPAddress.Any;
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        if (IPAddress.TryParse(host, out var address)) return address;
        throw new ArgumentException($"the host must be an IP address, 'localhost' or '*', got '{host}'", nameof(host));
    }

    private static void MapEndpoints(WebApplication app, ServerState state)
    {
        var generation = new GenerationHandler(state);
        app.MapGet("/v1/models", (RequestDelegate)(http =>
            HttpJson.WriteAsync(http, 200, new ModelListDto("list", [ModelCard(state)]), ServerJson.Context.ModelListDto)));
        app.MapGet("/v1/models/{id}", (RequestDelegate)(http =>
        {
            string id = (string)http.GetRouteValue("id")!;
            if (!state.ServesModel(id))
                throw new ApiException(404, $"The model '{id}' does not exist; this server serves '{state.ModelId}'.",
                    ErrorTypes.InvalidRequest, "model", "model_not_found");
            return HttpJson.WriteAsync(http, 200, ModelCard(state), ServerJson.Context.ModelDto);
        }));
        app.MapPost("/v1/completions", (RequestDelegate)generation.CompletionsAsync);
        app.MapPost("/v1/chat/completions", (RequestDelegate)generation.ChatCompletionsAsync);
        app.MapPost("/tokenize", (RequestDelegate)(http => TokenizeAsync(http, state)));
        app.MapPost("/detokenize", (RequestDelegate)(http => DetokenizeAsync(http, state)));
        app.MapGet("/health", (RequestDelegate)(http =>
        {
            var stats = state.Scheduler.Stats;
            var body = new HealthDto("ok", state.ModelId, state.Scheduler.ContextSize, new SchedulerStatsDto(stats.Running, stats.Waiting,
                stats.KvBlocksUsed, stats.KvBlocksTotal, stats.KvBlockTokens, stats.PrefixCacheLookupTokens, stats.PrefixCacheHitTokens,
                stats.Preemptions, stats.StepsRun));
            return HttpJson.WriteAsync(http, 200, body, ServerJson.Context.HealthDto);
        }));
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapFallback((RequestDelegate)(http =>
            throw new ApiException(404, $"Unknown request URL: {http.Request.Method} {http.Request.Path}.", ErrorTypes.InvalidRequest, null, "unknown_url")));
    }

    private static ModelDto ModelCard(ServerState state) => new(state.ModelId, "model", state.StartedUnixSeconds, "frugal",
        new ModelMetaDto(state.Scheduler.ContextSize, state.Model.Tokenizer.VocabSize, state.Model.Config.Architecture,
            state.Chat is not null));

    private static async Task TokenizeAsync(HttpContext http, ServerState state)
    {
        var request = await RequestBody.ReadAsync(http.Request, ServerJson.Context.TokenizeRequestDto, http.RequestAborted);
        if (request.Content is null)
            throw ApiException.InvalidRequest("Missing required parameter: 'content'.", "content", "missing_required_parameter");
        int[] tokens = state.Model.Tokenizer.Encode(request.Content, request.AddSpecial ?? false, request.ParseSpecial ?? true);
        await HttpJson.WriteAsync(http, 200, new TokenizeResponseDto(tokens), ServerJson.Context.TokenizeResponseDto);
    }

    private static async Task DetokenizeAsync(HttpContext http, ServerState state)
    {
        var request = await RequestBody.ReadAsync(http.Request, ServerJson.Context.DetokenizeRequestDto, http.RequestAborted);
        if (request.Tokens is null)
            throw ApiException.InvalidRequest("Missing required parameter: 'tokens'.", "tokens", "missing_required_parameter");
        int vocab = state.Model.Tokenizer.VocabSize;
        foreach (int id in request.Tokens)
            if (id < 0 || id >= vocab)
                throw ApiException.InvalidRequest($"Token id {id} is outside the vocabulary [0, {vocab}).", "tokens", "invalid_value");
        await HttpJson.WriteAsync(http, 200, new DetokenizeResponseDto(state.Model.Tokenizer.Decode(request.Tokens)),
            ServerJson.Context.DetokenizeResponseDto);
    }

    /// <summary>
    /// Every request passes here: API-key check, then the endpoint; any exception becomes OpenAI's error object
    /// (500 for bugs) without touching other requests; the request is counted by endpoint and status.
    /// </summary>
    private static async Task GuardAsync(HttpContext http, RequestDelegate next, ServerState state, ILogger log)
    {
        try
        {
            CheckApiKey(http, state.Settings.ApiKey);
            await next(http);
        }
        catch (ApiException error)
        {
            if (error.Status >= 500) log.LogError(error.InnerException ?? error, "request {Path} failed: {Message}", http.Request.Path, error.Message);
            await ReportAsync(http, error);
        }
        catch (Exception) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (Exception error)
        {
            log.LogError(error, "unhandled error in {Path}", http.Request.Path);
            await ReportAsync(http, ApiException.ServerError(
                $"The server had an error while processing your request ({error.GetType().Name}: {error.Message}).", "internal_error", error));
        }
        finally
        {
            state.Metrics.RecordRequest(EndpointLabel(http), http.Response.StatusCode);
        }
    }

    private static async Task ReportAsync(HttpContext http, ApiException error)
    {
        if (!http.Response.HasStarted)
        {
            await HttpJson.WriteErrorAsync(http, error);
            return;
        }
        // A stream had begun: the error goes out as its last event.
        if (http.Response.ContentType?.StartsWith("text/event-stream", StringComparison.Ordinal) == true)
            await new SseWriter(http.Response, http.RequestAborted, onClientGone: null).WriteErrorAsync(error);
    }

    private static void CheckApiKey(HttpContext http, string? apiKey)
    {
        if (apiKey is null || OpenPaths.Contains(http.Request.Path.Value, StringComparer.Ordinal)) return;
        string? header = http.Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
            throw new ApiException(401, "You didn't provide an API key. Send it in an 'Authorization: Bearer <key>' header.",
                ErrorTypes.InvalidRequest, null, "missing_api_key");
        const string scheme = "Bearer ";
        string given = header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : "";
        // Constant-time comparison: the time taken must not tell how much of the key was right.
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(apiKey))))
            throw new ApiException(401, "Incorrect API key provided.", ErrorTypes.InvalidRequest, null, "invalid_api_key");
    }

    // Metric label: the known routes by name, everything else as "other" (unbounded paths would explode the series count).
    private static string EndpointLabel(HttpContext http)
    {
        string path = http.Request.Path.Value ?? "";
        return path switch
        {
            "/v1/completions" or "/v1/chat/completions" or "/v1/models" or "/tokenize" or "/detokenize" or "/health" or "/metrics" => path,
            _ when path.StartsWith("/v1/models/", StringComparison.Ordinal) => "/v1/models/{id}",
            _ => "other",
        };
    }
}
