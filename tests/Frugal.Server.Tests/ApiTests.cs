using System.Text.Json;
using Frugal.Server.Tests.Support;
using Frugal.TestSupport;
using OpenAI.Chat;

namespace Frugal.Server.Tests;

/// <summary>The OpenAI API on a real server with stories260K, driven by raw HTTP and by the official OpenAI SDK.</summary>
public sealed class ApiTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const string Prompt = "Once upon a time";
    private TestServer Server => fixture.Server;

    private static string CompletionJson(string prompt, int maxTokens, string extra = "") =>
        $$"""{"model":"stories260K","prompt":{{JsonSerializer.Serialize(prompt)}},"max_tokens":{{maxTokens}},"temperature":0{{extra}}}""";

    [SharedFact]
    public async Task CompletionGreedyOutputEqualsTheGenerators()
    {
        var expected = fixture.Greedy(Prompt, 40);
        var (status, body, _) = await Server.PostAsync("/v1/completions", CompletionJson(Prompt, 40));
        Assert.Equal(200, status);
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.Equal("stories260K", body.GetProperty("model").GetString());
        var choice = Assert.Single(body.GetProperty("choices").EnumerateArray());
        Assert.Equal(expected.Text, choice.GetProperty("text").GetString());
        Assert.Equal(expected.FinishReason, choice.GetProperty("finish_reason").GetString());
        var usage = body.GetProperty("usage");
        Assert.Equal(expected.PromptTokens, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(expected.Tokens.Length, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(expected.PromptTokens + expected.Tokens.Length, usage.GetProperty("total_tokens").GetInt32());
        Assert.Equal(0, usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
    }

    [SharedFact]
    public async Task UsageCarriesTheCostExtension()
    {
        var (status, body, _) = await Server.PostAsync("/v1/completions", CompletionJson(Prompt, 8));
        Assert.Equal(200, status);
        var frugal = body.GetProperty("usage").GetProperty("frugal");
        double cpu = frugal.GetProperty("cpu_seconds").GetDouble();
        Assert.True(cpu > 0);
        // Price 3.6 $/h: cost = cpu / cores × 3.6 / 3600.
        Assert.Equal(cpu / Environment.ProcessorCount * 3.6 / 3600, frugal.GetProperty("cost_usd").GetDouble(), 12);
        Assert.True(frugal.GetProperty("time_to_first_token_ms").GetDouble() > 0);
        Assert.True(frugal.GetProperty("time_per_output_token_ms").GetDouble() >= 0);
        Assert.True(frugal.GetProperty("energy_joules").GetDouble() >= 0);
        Assert.Contains(frugal.GetProperty("energy_source").GetString(), new[] { "rapl", "estimate" });
    }

    [SharedFact]
    public async Task TokenIdPromptGivesTheSameCompletionAsItsText()
    {
        var (_, tokenized, _) = await Server.PostAsync("/tokenize", """{"content":"Once upon a time","add_special":true}""");
        string ids = tokenized.GetProperty("tokens").GetRawText();
        var (status, body, _) = await Server.PostAsync("/v1/completions",
            $$"""{"model":"stories260K","prompt":{{ids}},"max_tokens":12,"temperature":0}""");
        Assert.Equal(200, status);
        Assert.Equal(fixture.Greedy(Prompt, 12).Text, body.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [SharedFact]
    public async Task SeveralPromptsAndChoicesAreIndexedInOrder()
    {
        var (status, body, _) = await Server.PostAsync("/v1/completions",
            """{"model":"stories260K","prompt":["Once upon a time","Lily went"],"n":2,"max_tokens":6,"temperature":0}""");
        Assert.Equal(200, status);
        var choices = body.GetProperty("choices").EnumerateArray().ToArray();
        Assert.Equal([0, 1, 2, 3], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.Equal(fixture.Greedy(Prompt, 6).Text, choices[0].GetProperty("text").GetString());
        Assert.Equal(choices[0].GetProperty("text").GetString(), choices[1].GetProperty("text").GetString());
        Assert.Equal(fixture.Greedy("Lily went", 6).Text, choices[2].GetProperty("text").GetString());
        var usage = body.GetProperty("usage");
        Assert.Equal(fixture.Greedy(Prompt, 1).PromptTokens + fixture.Greedy("Lily went", 1).PromptTokens, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(4 * 6, usage.GetProperty("completion_tokens").GetInt32());
    }

    [SharedFact]
    public async Task StreamedCompletionEqualsTheGreedyTextAndEndsWithUsage()
    {
        var expected = fixture.Greedy(Prompt, 30);
        var response = await Server.PostJsonAsync("/v1/completions",
            CompletionJson(Prompt, 30, ""","stream":true,"stream_options":{"include_usage":true}"""));
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var events = await Sse.ReadAllAsync(response);
        Assert.Equal("[DONE]", events[^1]);
        var chunks = Sse.Json(events);
        var withChoices = chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0).ToList();
        Assert.Equal(expected.Text, string.Concat(withChoices.Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString())));
        Assert.Equal(expected.FinishReason, withChoices[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        var usageChunk = chunks[^1];
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        Assert.Equal(expected.Tokens.Length, usageChunk.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [SharedFact]
    public async Task StopStringEndsTheTextBeforeIt()
    {
        string full = fixture.Greedy(Prompt, 64).Text;
        int at = full.IndexOf(" named ", StringComparison.Ordinal);
        Assert.True(at > 0, $"the reference text should name someone: {full}");
        string stop = full.Substring(at, 7);
        var (status, body, _) = await Server.PostAsync("/v1/completions",
            CompletionJson(Prompt, 64, $$""","stop":["zzz",{{JsonSerializer.Serialize(stop)}}]"""));
        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(full[..at], choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
    }

    [SharedFact]
    public async Task StreamNeverSendsPartOfAStopString()
    {
        string full = fixture.Greedy(Prompt, 64).Text;
        int at = full.IndexOf(" named ", StringComparison.Ordinal);
        string stop = full.Substring(at, 7);
        // A second stop that shares a prefix with text that does appear: " na" must be held, then released.
        string decoy = full.Substring(at, 3) + "qqq";
        var response = await Server.PostJsonAsync("/v1/completions",
            CompletionJson(Prompt, 64, $$""","stream":true,"stop":[{{JsonSerializer.Serialize(decoy)}},{{JsonSerializer.Serialize(stop)}}]"""));
        var chunks = Sse.Json(await Sse.ReadAllAsync(response));
        var texts = chunks.Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString()!).ToList();
        string streamed = string.Concat(texts);
        Assert.Equal(full[..at], streamed);
        // Nothing sent may be a (partial) stop string that was later dropped: every prefix of the stream is a prefix of the answer.
        Assert.DoesNotContain(texts, text => text.Contains(stop.Trim(), StringComparison.Ordinal));
        Assert.Equal("stop", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [SharedFact]
    public async Task ChatThroughTheOpenAiSdkEqualsTheGenerator()
    {
        var chat = Server.OpenAI().GetChatClient(Server.ModelId);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 };
        ChatCompletion completion = (await chat.CompleteChatAsync([new UserChatMessage("Tell me a story")], options)).Value;
        // The test renderer's text for this conversation, tokenized as the server does.
        var expected = fixture.Greedy("user: Tell me a story\nassistant:", 24);
        Assert.Equal(expected.Text, completion.Content[0].Text);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal(expected.FinishReason == "stop" ? ChatFinishReason.Stop : ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(expected.PromptTokens, completion.Usage.InputTokenCount);
        Assert.Equal(expected.Tokens.Length, completion.Usage.OutputTokenCount);
        // Other tests on this shared server may have cached part of this prompt already.
        Assert.InRange(completion.Usage.InputTokenDetails.CachedTokenCount, 0, expected.PromptTokens - 1);
    }

    [SharedFact]
    public async Task ChatStreamingThroughTheSdkGivesTheSameText()
    {
        var chat = Server.OpenAI().GetChatClient(Server.ModelId);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 20 };
        string whole = (await chat.CompleteChatAsync([new UserChatMessage("Hello")], options)).Value.Content[0].Text;

        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Hello")], options))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.Equal(whole, text.ToString());
        Assert.NotNull(finish);
        Assert.NotNull(usage);   // the SDK asks for stream_options.include_usage
        Assert.True(usage!.OutputTokenCount > 0);
    }

    [SharedFact]
    public async Task ChatStopSequencesThroughTheSdk()
    {
        var chat = Server.OpenAI().GetChatClient(Server.ModelId);
        var plain = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 40 };
        string full = (await chat.CompleteChatAsync([new UserChatMessage("Tell me a story")], plain)).Value.Content[0].Text;
        string stop = full.Trim().Split(' ')[2];
        int at = full.IndexOf(stop, StringComparison.Ordinal);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 40 };
        options.StopSequences.Add(stop);
        var completion = (await chat.CompleteChatAsync([new UserChatMessage("Tell me a story")], options)).Value;
        Assert.Equal(full[..at], completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
    }

    [SharedFact]
    public async Task ChatLogprobsThroughTheSdk()
    {
        var chat = Server.OpenAI().GetChatClient(Server.ModelId);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 10, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 };
        var completion = (await chat.CompleteChatAsync([new UserChatMessage("Hello")], options)).Value;
        var tokens = completion.ContentTokenLogProbabilities;
        Assert.Equal(completion.Usage.OutputTokenCount, tokens.Count);
        Assert.Equal(completion.Content[0].Text, string.Concat(tokens.Select(t => t.Token)));
        foreach (var token in tokens)
        {
            Assert.Equal(3, token.TopLogProbabilities.Count);
            Assert.True(token.LogProbability <= 0);
            // Greedy: the chosen token is the most likely one.
            Assert.Equal(token.Token, token.TopLogProbabilities[0].Token);
            Assert.Equal(token.LogProbability, token.TopLogProbabilities[0].LogProbability, 5);
            Assert.True(token.TopLogProbabilities[0].LogProbability >= token.TopLogProbabilities[1].LogProbability);
            Assert.Equal(System.Text.Encoding.UTF8.GetBytes(token.Token), token.Utf8Bytes!.Value.ToArray());
        }
    }

    [SharedFact]
    public async Task LegacyLogprobsHaveParallelArrays()
    {
        var (status, body, _) = await Server.PostAsync("/v1/completions", CompletionJson(Prompt, 8, ""","logprobs":2"""));
        Assert.Equal(200, status);
        var choice = body.GetProperty("choices")[0];
        var logprobs = choice.GetProperty("logprobs");
        var tokens = logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToArray();
        Assert.Equal(8, tokens.Length);
        Assert.Equal(choice.GetProperty("text").GetString(), string.Concat(tokens));
        Assert.Equal(8, logprobs.GetProperty("token_logprobs").GetArrayLength());
        Assert.All(logprobs.GetProperty("top_logprobs").EnumerateArray(), top => Assert.Equal(2, top.EnumerateObject().Count()));
        var offsets = logprobs.GetProperty("text_offset").EnumerateArray().Select(o => o.GetInt32()).ToArray();
        int expectedOffset = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            Assert.Equal(expectedOffset, offsets[i]);
            expectedOffset += tokens[i].Length;
        }
    }

    [SharedFact]
    public async Task SeededSamplingIsReproducibleAndChoicesDiffer()
    {
        string json = """{"model":"stories260K","prompt":"Once upon a time","max_tokens":24,"temperature":1.0,"top_p":0.95,"seed":42,"n":3}""";
        var first = (await Server.PostAsync("/v1/completions", json)).Body.GetProperty("choices");
        var second = (await Server.PostAsync("/v1/completions", json)).Body.GetProperty("choices");
        var texts = first.EnumerateArray().Select(c => c.GetProperty("text").GetString()).ToArray();
        Assert.Equal(texts, second.EnumerateArray().Select(c => c.GetProperty("text").GetString()));
        Assert.True(texts.Distinct().Count() > 1, "each choice gets its own seed");
    }

    [SharedFact]
    public async Task LogitBiasCanBanTheGreedyToken()
    {
        var expected = fixture.Greedy(Prompt, 4);
        int banned = expected.Tokens[0];
        var (status, body, _) = await Server.PostAsync("/v1/completions",
            CompletionJson(Prompt, 4, $$""","logprobs":0,"logit_bias":{"{{banned}}":-100}"""));
        Assert.Equal(200, status);
        string firstToken = body.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("tokens")[0].GetString()!;
        var (_, detok, _) = await Server.PostAsync("/detokenize", $$"""{"tokens":[{{banned}}]}""");
        Assert.NotEqual(detok.GetProperty("content").GetString(), firstToken);
    }

    [SharedFact]
    public async Task PenaltiesChangeARepetitiveContinuation()
    {
        string plain = (await Server.PostAsync("/v1/completions", CompletionJson(Prompt, 48))).Body.GetProperty("choices")[0].GetProperty("text").GetString()!;
        string penalized = (await Server.PostAsync("/v1/completions", CompletionJson(Prompt, 48, ""","frequency_penalty":2,"presence_penalty":2""")))
            .Body.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.NotEqual(plain, penalized);
    }

    [SharedFact]
    public async Task TokenizeAndDetokenizeRoundTrip()
    {
        var (status, body, _) = await Server.PostAsync("/tokenize", """{"content":"Lily saw a big, red ball."}""");
        Assert.Equal(200, status);
        var tokens = body.GetProperty("tokens");
        Assert.NotEqual(1, tokens[0].GetInt32());   // add_special defaults to false: no BOS
        var (status2, text, _) = await Server.PostAsync("/detokenize", $$"""{"tokens":{{tokens.GetRawText()}}}""");
        Assert.Equal(200, status2);
        Assert.Equal("Lily saw a big, red ball.", text.GetProperty("content").GetString()!.TrimStart());
        var (_, withBos, _) = await Server.PostAsync("/tokenize", """{"content":"Lily","add_special":true}""");
        Assert.Equal(1, withBos.GetProperty("tokens")[0].GetInt32());
    }

    [SharedFact]
    public async Task ModelsHealthAndMetricsAnswer()
    {
        var models = (await Server.OpenAI().GetOpenAIModelClient().GetModelsAsync()).Value;
        Assert.Equal("stories260K", Assert.Single(models).Id);

        var health = JsonDocument.Parse(await Server.Http.GetStringAsync("/health")).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal(256, health.GetProperty("context_size").GetInt32());
        Assert.True(health.GetProperty("scheduler").TryGetProperty("waiting", out _));

        await Server.PostAsync("/v1/completions", CompletionJson(Prompt, 4));
        string metrics = await Server.Http.GetStringAsync("/metrics");
        foreach (string name in new[]
        {
            "frugal_server_time_to_first_token_seconds_bucket", "frugal_server_inter_token_latency_seconds_bucket",
            "frugal_server_prompt_tokens", "frugal_server_completion_tokens", "frugal_server_requests",
            "frugal_server_queue_depth", "frugal_server_running_sequences", "frugal_server_kv_blocks_used",
            "frugal_server_kv_blocks_total", "frugal_server_prefix_cache_hit_ratio", "frugal_server_completion_tokens_per_second",
            "frugal_server_cost_per_million_tokens_usd", "frugal_server_cost_usd_total", "frugal_server_energy_joules_total",
            "frugal_server_cpu_time_seconds_total", "frugal_server_request_duration_seconds_bucket",
        })
            Assert.Contains(name, metrics);
        Assert.Contains("status=\"200\"", metrics);
    }

    [SharedFact]
    public async Task StreamedChatWithSeveralChoicesKeepsThemApart()
    {
        string body = """{"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"n":2,"max_tokens":12,"temperature":0,"seed":3}""";
        var whole = (await Server.PostAsync("/v1/chat/completions", body)).Body;
        var response = await Server.PostJsonAsync("/v1/chat/completions", body.Replace("\"seed\":3", "\"seed\":3,\"stream\":true"));
        var chunks = Sse.Json(await Sse.ReadAllAsync(response));
        for (int index = 0; index < 2; index++)
        {
            var mine = chunks.Select(c => c.GetProperty("choices")[0]).Where(c => c.GetProperty("index").GetInt32() == index).ToList();
            Assert.Equal("assistant", mine[0].GetProperty("delta").GetProperty("role").GetString());
            string text = string.Concat(mine.Select(c => c.GetProperty("delta").TryGetProperty("content", out var content) ? content.GetString() : ""));
            Assert.Equal(whole.GetProperty("choices")[index].GetProperty("message").GetProperty("content").GetString(), text);
            Assert.Equal("length", mine[^1].GetProperty("finish_reason").GetString());
        }
    }
}
