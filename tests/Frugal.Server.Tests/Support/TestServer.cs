using System.ClientModel;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Frugal.Engine.Serving;
using Frugal.Models;
using Frugal.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using OpenAI;

namespace Frugal.Server.Tests.Support;

/// <summary>Per-server knobs of the tests.</summary>
public sealed record TestServerOptions
{
    public string ModelFile { get; init; } = "stories260K.gguf";
    public int ContextSize { get; init; } = 256;
    public int QueueCapacity { get; init; } = 64;
    public int Parallel { get; init; } = 8;
    /// <summary>Pause after each generated token, so a request can be cancelled or time out midway.</summary>
    public TimeSpan TokenDelay { get; init; }
    public bool WithChat { get; init; } = true;
    public string? ApiKey { get; init; }
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(2);
    public double PricePerHour { get; init; } = 3.6;
    public long MaxRequestBodyBytes { get; init; } = 1 << 20;
}

/// <summary>A real Kestrel server on a free loopback port with a ../shared model, and clients for it.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private TestServer(Model model, RecordingScheduler scheduler, WebApplication app, Uri baseAddress, string? apiKey)
    {
        Model = model;
        Scheduler = scheduler;
        App = app;
        BaseAddress = baseAddress;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(2) };
        if (apiKey is not null) Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
    }

    /// <summary>
    /// The scheduler under test: the continuous-batching one. The serial test scheduler remains only for tests that need generation slowed down (timeouts, a full
    /// queue, cancellation midway), which the real scheduler has no knob for.
    /// </summary>
    public static IGenerationScheduler CreateScheduler(Model model, TestServerOptions options) =>
        options.TokenDelay > TimeSpan.Zero
            ? new SerialTestScheduler(model, options.ContextSize, options.QueueCapacity, options.TokenDelay)
            : new ContinuousBatchingScheduler(model, new SchedulerOptions
            {
                ContextSize = options.ContextSize,
                QueueCapacity = options.QueueCapacity,
                MaxRunning = options.Parallel,
            });

    public Model Model { get; }
    public RecordingScheduler Scheduler { get; }
    public WebApplication App { get; }
    public Uri BaseAddress { get; }
    public HttpClient Http { get; }
    public string ModelId => "stories260K";

    public static async Task<TestServer> StartAsync(TestServerOptions? options = null)
    {
        options ??= new TestServerOptions();
        var model = Model.Load(SharedData.Model(options.ModelFile), new ModelLoadOptions { Threads = 1 });
        var scheduler = new RecordingScheduler(CreateScheduler(model, options));
        var settings = new ServerSettings
        {
            Host = "127.0.0.1",
            Port = 0,
            ApiKey = options.ApiKey,
            PricePerHour = options.PricePerHour,
            RequestTimeout = options.RequestTimeout,
            MaxRequestBodyBytes = options.MaxRequestBodyBytes,
            ConsoleLogLevel = LogLevel.None,
        };
        var app = FrugalServer.Build(model, scheduler, options.WithChat ? new SimpleChatRenderer() : null, settings);
        await app.StartAsync();
        return new TestServer(model, scheduler, app, FrugalServer.GetBaseAddress(app), options.ApiKey);
    }

    /// <summary>The official OpenAI SDK pointed at this server.</summary>
    public OpenAIClient OpenAI(string apiKey = "x") =>
        new(new ApiKeyCredential(apiKey), new OpenAIClientOptions { Endpoint = new Uri(BaseAddress, "v1") });

    public Task<HttpResponseMessage> PostJsonAsync(string path, string json, CancellationToken cancellation = default) =>
        Http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), cancellation);

    /// <summary>
    /// POSTs and returns the status and the parsed body. With <paramref name="expectContinue"/> the body is
    /// sent only once the server asks for it, so a body the server refuses unread (413) cannot race the
    /// server closing the connection while the client is still uploading.
    /// </summary>
    public async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> PostAsync(string path, string json, bool expectContinue = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        request.Headers.ExpectContinue = expectContinue;
        var response = await Http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        var body = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return ((int)response.StatusCode, body, response);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        await Scheduler.DisposeAsync();
        Model.Dispose();
    }
}

/// <summary>Wraps the scheduler under test and records what happened to each job (e.g. that a cancellation arrived).</summary>
public sealed class RecordingScheduler(IGenerationScheduler inner) : IGenerationScheduler
{
    private readonly SemaphoreSlim _cancellations = new(0);
    private int _submitted;
    private int _cancelled;

    public int ContextSize => inner.ContextSize;
    public SchedulerStats Stats => inner.Stats;
    public int Submitted => Volatile.Read(ref _submitted);
    public int Cancelled => Volatile.Read(ref _cancelled);

    /// <summary>Errors of jobs that failed (a healthy run has none).</summary>
    public System.Collections.Concurrent.ConcurrentBag<Exception> Errors { get; } = [];

    public GenerationStream Submit(GenerationJob job, CancellationToken cancellation = default)
    {
        var stream = inner.Submit(job, cancellation);
        Interlocked.Increment(ref _submitted);
        _ = stream.Completion.ContinueWith(task =>
        {
            if (task.Result.Error is { } error) Errors.Add(error);
            if (task.Result.FinishReason == JobFinishReason.Cancelled)
            {
                Interlocked.Increment(ref _cancelled);
                _cancellations.Release();
            }
        }, TaskScheduler.Default);
        return stream;
    }

    /// <summary>True when some job ended as cancelled within <paramref name="timeout"/> (each call consumes one).</summary>
    public Task<bool> WaitForCancelledJobAsync(TimeSpan timeout) => _cancellations.WaitAsync(timeout);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
