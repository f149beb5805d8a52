using System.Text;
using System.Text.Json;
using Frugal.Server.Tests.Support;
using Frugal.TestSupport;

namespace Frugal.Server.Tests;

/// <summary>The server over the continuous-batching scheduler: many streams at once, cancellations, prefix reuse.</summary>
public sealed class BatchingServerTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    private static readonly string[] Openings =
    [
        "Once upon a time", "The little dog", "Tom and Sue went", "One day, a bird", "The sun was", "Lily had a",
        "In the park", "A big red ball", "The cat saw", "Mom said",
    ];

    [SharedFact]
    public async Task ThirtyTwoConcurrentStreamsWithCancellationsEachGetTheirSoloGreedyOutput()
    {
        // A context long enough that an abandoned generation cannot run to its end before the server has
        // seen its client leave (stories260K decodes a step in well under a millisecond here).
        await using var server = await TestServer.StartAsync(new TestServerOptions { Parallel = 8, QueueCapacity = 64, ContextSize = 2048 });
        const int requests = 32, maxTokens = 24, abandonedMaxTokens = 2000;
        var prompts = Enumerable.Range(0, requests).Select(i => $"{Openings[i % Openings.Length]} number {i}").ToArray();
        // Every fourth request asks for a long generation (past end-of-text) and is abandoned by its client
        // after its second token.
        var runs = prompts.Select((prompt, i) => i % 4 == 3
            ? StreamAsync(server, prompt, abandonedMaxTokens, cancelAfterTokens: 2)
            : StreamAsync(server, prompt, maxTokens, cancelAfterTokens: null)).ToArray();
        string?[] texts = await Task.WhenAll(runs).WaitAsync(Patience);

        for (int i = 0; i < requests; i++)
        {
            if (i % 4 == 3) continue;
            Assert.Equal(fixture.Greedy(prompts[i], maxTokens).Text, texts[i]);
        }
        for (int i = 0; i < requests / 4; i++)
        {
            bool arrived = await server.Scheduler.WaitForCancelledJobAsync(TimeSpan.FromSeconds(30));
            Assert.True(arrived, $"abandoned stream {i} reached the scheduler as a cancellation (scheduler: {server.Scheduler.Stats}, errors: {string.Join(" | ", server.Scheduler.Errors)})");
        }

        // Every KV block goes back to the pool once the last sequence has left.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((server.Scheduler.Stats.Running > 0 || server.Scheduler.Stats.KvBlocksUsed > 0) && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.Empty(server.Scheduler.Errors);
        var stats = server.Scheduler.Stats;
        Assert.Equal(0, stats.Running);
        Assert.Equal(0, stats.Waiting);
        Assert.Equal(0, stats.KvBlocksUsed);
    }

    [SharedFact]
    public async Task ASecondRequestSharingALongPrefixReportsCachedTokensAndALowerTimeToFirstToken()
    {
        await using var server = await TestServer.StartAsync(new TestServerOptions { Parallel = 2 });
        var cold = new List<double>();
        var warm = new List<double>();
        for (int round = 0; round < 3; round++)
        {
            // A fresh long prefix each round, so the first request of the pair really computes it.
            string prefix = string.Join(" ", Enumerable.Range(0, 22).Select(i => $"{Openings[(i + round) % Openings.Length]} {round}."));
            var first = await CompleteAsync(server, prefix + " The end.");
            var second = await CompleteAsync(server, prefix + " And then");
            Assert.Equal(0, first.Cached);
            Assert.True(second.Cached >= 16, $"the second request reused {second.Cached} prompt tokens");
            Assert.True(second.Cached < second.PromptTokens);
            Assert.Equal(fixture.Greedy(prefix + " And then", 4).Text, second.Text);
            cold.Add(first.TimeToFirstTokenMs);
            warm.Add(second.TimeToFirstTokenMs);
        }
        cold.Sort();
        warm.Sort();
        Assert.True(warm[1] < cold[1], $"median TTFT with the prefix cached {warm[1]:F2} ms, without {cold[1]:F2} ms");
        Assert.True(server.Scheduler.Stats.PrefixCacheHitTokens > 0);
    }

    private static async Task<(int PromptTokens, int Cached, double TimeToFirstTokenMs, string Text)> CompleteAsync(TestServer server, string prompt)
    {
        var (status, body, _) = await server.PostAsync("/v1/completions",
            JsonSerializer.Serialize(new { model = server.ModelId, prompt, max_tokens = 4, temperature = 0 }));
        Assert.Equal(200, status);
        var usage = body.GetProperty("usage");
        return (usage.GetProperty("prompt_tokens").GetInt32(),
            usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32(),
            usage.GetProperty("frugal").GetProperty("time_to_first_token_ms").GetDouble(),
            body.GetProperty("choices")[0].GetProperty("text").GetString()!);
    }

    /// <summary>Streams a greedy completion; returns its text, or null when the client gave up after some tokens.</summary>
    private static async Task<string?> StreamAsync(TestServer server, string prompt, int maxTokens, int? cancelAfterTokens)
    {
        using var abandon = new CancellationTokenSource();
        string json = JsonSerializer.Serialize(new { model = server.ModelId, prompt, max_tokens = maxTokens, temperature = 0, stream = true, ignore_eos = cancelAfterTokens is not null });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        // A client that gives up closes its connection (by default HttpClient would drain the rest of the
        // response to reuse the connection, which is not giving up).
        using var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = server.BaseAddress };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, abandon.Token);
        Assert.Equal(200, (int)response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(abandon.Token), Encoding.UTF8);
        var text = new StringBuilder();
        int chunks = 0;
        while (await reader.ReadLineAsync(abandon.Token) is string line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]") continue;
            var choices = JsonDocument.Parse(line[6..]).RootElement.GetProperty("choices");
            if (choices.GetArrayLength() == 0) continue;
            text.Append(choices[0].GetProperty("text").GetString());
            if (cancelAfterTokens is int limit && ++chunks >= limit)
            {
                await abandon.CancelAsync();
                return null;
            }
        }
        return text.ToString();
    }
}
