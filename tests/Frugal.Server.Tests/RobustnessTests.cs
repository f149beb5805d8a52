using System.Net;
using System.Text;
using System.Text.Json;
using Frugal.Server.Tests.Support;
using Frugal.TestSupport;

namespace Frugal.Server.Tests;

/// <summary>Queue limits, API keys, timeouts, disconnects and failures: each is contained to its own request.</summary>
public sealed class RobustnessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private const string Invalid = "invalid_request_error";

    private static string Completion(int maxTokens, bool stream = false) =>
        $$"""{"model":"stories260K","prompt":"Once upon a time","max_tokens":{{maxTokens}},"temperature":0,"stream":{{(stream ? "true" : "false")}}}""";

    private static async Task<HttpResponseMessage> OpenStreamAsync(TestServer server, HttpClient client, string body, CancellationToken cancellation = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.BaseAddress, "/v1/completions"))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response;
    }

    [SharedFact]
    public async Task FullQueueIs429WithRetryAfter()
    {
        await using var server = await TestServer.StartAsync(new TestServerOptions { QueueCapacity = 1, TokenDelay = TimeSpan.FromMilliseconds(40) });
        using var client = new HttpClient();
        using var cancel = new CancellationTokenSource();
        // A runs (slowly), B waits in the one queue slot, so C finds the queue full.
        using var running = await OpenStreamAsync(server, client, Completion(250, stream: true), cancel.Token);
        using var reader = new StreamReader(await running.Content.ReadAsStreamAsync(cancel.Token));
        while (await reader.ReadLineAsync(cancel.Token) is string line && !line.StartsWith("data: ", StringComparison.Ordinal)) { }
        var waiting = server.PostJsonAsync("/v1/completions", Completion(4), cancel.Token);
        for (int i = 0; i < 800 && server.Scheduler.Stats.Waiting < 1; i++) await Task.Delay(10);
        Assert.Equal(1, server.Scheduler.Stats.Waiting);

        var (status, error, response) = await server.PostAsync("/v1/completions", Completion(4));
        Assert.Equal(429, status);
        ErrorAssert.IsOpenAiError(error, "rate_limit_error", null, "rate_limit_exceeded");
        Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [SharedFact]
    public async Task ApiKeyIsRequiredWhenConfigured()
    {
        await using var server = await TestServer.StartAsync(new TestServerOptions { ApiKey = "s3cret" });
        using var anonymous = new HttpClient { BaseAddress = server.BaseAddress };

        var missing = await anonymous.PostAsync("/v1/completions", new StringContent(Completion(2), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        ErrorAssert.IsOpenAiError(JsonDocument.Parse(await missing.Content.ReadAsStringAsync()).RootElement, Invalid, null, "missing_api_key");

        var wrongRequest = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        wrongRequest.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "s3cre");
        var wrong = await anonymous.SendAsync(wrongRequest);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        ErrorAssert.IsOpenAiError(JsonDocument.Parse(await wrong.Content.ReadAsStringAsync()).RootElement, Invalid, null, "invalid_api_key");

        await Assert.ThrowsAsync<System.ClientModel.ClientResultException>(() =>
            server.OpenAI("wrong").GetChatClient("stories260K").CompleteChatAsync("hi"));
        var ok = await server.OpenAI("s3cret").GetChatClient("stories260K")
            .CompleteChatAsync([new OpenAI.Chat.UserChatMessage("hi")], new OpenAI.Chat.ChatCompletionOptions { MaxOutputTokenCount = 3 });
        Assert.NotNull(ok.Value.Content);

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/metrics")).StatusCode);
    }

    [SharedFact]
    public async Task TimeoutCancelsTheJobAndAnswersAnError()
    {
        await using var server = await TestServer.StartAsync(new TestServerOptions
        {
            TokenDelay = TimeSpan.FromMilliseconds(40),
            RequestTimeout = TimeSpan.FromMilliseconds(400),
        });
        var (status, error, _) = await server.PostAsync("/v1/completions", Completion(200));
        Assert.Equal(504, status);
        ErrorAssert.IsOpenAiError(error, "timeout_error", null, "request_timeout");
        Assert.True(await server.Scheduler.WaitForCancelledJobAsync(Patience));

        // Streaming: the error is the stream's last event, without [DONE].
        var response = await server.PostJsonAsync("/v1/completions", Completion(200, stream: true));
        var events = await Sse.ReadAllAsync(response);
        Assert.NotEqual("[DONE]", events[^1]);
        var last = JsonDocument.Parse(events[^1]).RootElement;
        ErrorAssert.IsOpenAiError(last, "timeout_error", null, "request_timeout");
        Assert.True(events.Count > 1, "some tokens streamed before the timeout");
        Assert.True(await server.Scheduler.WaitForCancelledJobAsync(Patience));
    }

    [SharedFact]
    public async Task ClientDisconnectCancelsItsJobAtOnce()
    {
        await using var server = await TestServer.StartAsync(new TestServerOptions { TokenDelay = TimeSpan.FromMilliseconds(25) });
        using var client = new HttpClient();
        var response = await OpenStreamAsync(server, client, Completion(250, stream: true));
        var stream = await response.Content.ReadAsStreamAsync();
        var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync() is string line && !line.StartsWith("data: ", StringComparison.Ordinal)) { }
        Assert.Equal(0, server.Scheduler.Cancelled);
        response.Dispose();   // aborts the connection mid-stream
        client.Dispose();
        // 250 tokens × 25 ms would take > 6 s; the cancellation must arrive long before.
        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(await server.Scheduler.WaitForCancelledJobAsync(TimeSpan.FromSeconds(5)), "the scheduler never saw the cancellation");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5));

        // The server carries on.
        var (status, _, _) = await server.PostAsync("/v1/completions", Completion(3));
        Assert.Equal(200, status);
    }

    [SharedFact]
    public async Task AFailingRequestDoesNotDisturbOthers()
    {
        await using var server = await TestServer.StartAsync(new TestServerOptions { TokenDelay = TimeSpan.FromMilliseconds(5) });
        var healthy = server.PostAsync("/v1/completions", Completion(40, stream: false));
        var failures = Enumerable.Range(0, 4).Select(_ => server.PostAsync("/v1/chat/completions",
            """{"model":"stories260K","messages":[{"role":"crash","content":"x"}]}""")).ToArray();
        foreach (var failure in failures)
        {
            var (status, error, _) = await failure;
            Assert.Equal(500, status);
            ErrorAssert.IsOpenAiError(error, "server_error", null, "chat_template_error");
        }
        var (okStatus, body, _) = await healthy;
        Assert.Equal(200, okStatus);
        Assert.Equal(40, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [SharedFact]
    public async Task ChatWithoutATemplateIs400()
    {
        await using var server = await TestServer.StartAsync(new TestServerOptions { WithChat = false });
        var (status, error, _) = await server.PostAsync("/v1/chat/completions",
            """{"model":"stories260K","messages":[{"role":"user","content":"hi"}]}""");
        Assert.Equal(400, status);
        ErrorAssert.IsOpenAiError(error, Invalid, "messages", "chat_template_missing");
    }

    [SharedFact]
    public async Task RunAsyncServesUntilCancelled()
    {
        using var model = Frugal.Models.Model.Load(SharedData.Model("stories260K.gguf"), new Frugal.Models.ModelLoadOptions { Threads = 1 });
        await using var scheduler = TestServer.CreateScheduler(model, new TestServerOptions());
        using var stop = new CancellationTokenSource();
        var listening = new TaskCompletionSource<Uri>();
        var settings = new ServerSettings { Port = 0, ModelId = "tiny", ConsoleLogLevel = Microsoft.Extensions.Logging.LogLevel.None };
        var run = FrugalServer.RunAsync(model, scheduler, null, settings, listening.SetResult, stop.Token);
        Uri address = await listening.Task.WaitAsync(Patience);
        Assert.Equal("127.0.0.1", address.Host);
        Assert.NotEqual(0, address.Port);
        using var client = new HttpClient { BaseAddress = address };
        var models = JsonDocument.Parse(await client.GetStringAsync("/v1/models")).RootElement;
        Assert.Equal("tiny", models.GetProperty("data")[0].GetProperty("id").GetString());
        await stop.CancelAsync();
        await run.WaitAsync(Patience);
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync("/health"));
    }

    [Fact]
    public void SettingsAreValidated()
    {
        Assert.Throws<ArgumentException>(() => new ServerSettings { Port = 70000 }.Validate());
        Assert.Throws<ArgumentException>(() => new ServerSettings { PricePerHour = -1 }.Validate());
        Assert.Throws<ArgumentException>(() => new ServerSettings { RequestTimeout = TimeSpan.Zero }.Validate());
        Assert.Throws<ArgumentException>(() => new ServerSettings { ApiKey = "" }.Validate());
        new ServerSettings().Validate();
    }
}
