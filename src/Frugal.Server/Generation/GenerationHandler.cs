using System.Diagnostics;
using System.Globalization;
using System.Text;
using Frugal.Engine.Serving;
using Frugal.Models.Tokenization;
using Frugal.Server.Api;
using Frugal.Server.Cost;
using Microsoft.AspNetCore.Http;

namespace Frugal.Server.Generation;

/// <summary>
/// POST /v1/completions and /v1/chat/completions: validates, tokenizes (rendering chat through the template),
/// submits one scheduler job per choice, and answers with one JSON object or a stream of server-sent events.
/// </summary>
public sealed class GenerationHandler(ServerState state)
{
    private const string SystemFingerprint = "frugal";
    private Tokenizer Tokenizer => state.Model.Tokenizer;

    public async Task CompletionsAsync(HttpContext http)
    {
        var request = await RequestBody.ReadAsync(http.Request, ServerJson.Context.CompletionRequestDto, http.RequestAborted);
        CheckModel(request.Model);
        var plan = RequestParser.ParseCompletion(request, Tokenizer);
        await ExecuteAsync(http, plan, chat: false, "/v1/completions");
    }

    public async Task ChatCompletionsAsync(HttpContext http)
    {
        var request = await RequestBody.ReadAsync(http.Request, ServerJson.Context.ChatCompletionRequestDto, http.RequestAborted);
        CheckModel(request.Model);
        var messages = RequestParser.ParseMessages(request.Messages);
        int[] prompt = RenderChat(messages);
        var plan = RequestParser.ParseChat(request, prompt, Tokenizer.VocabSize);
        await ExecuteAsync(http, plan, chat: true, "/v1/chat/completions");
    }

    private void CheckModel(string? model)
    {
        if (model is null)
            throw ApiException.InvalidRequest("Missing required parameter: 'model'.", "model", "missing_required_parameter");
        if (!state.ServesModel(model))
            throw new ApiException(404, $"The model '{model}' does not exist; this server serves '{state.ModelId}'.",
                ErrorTypes.InvalidRequest, "model", "model_not_found");
    }

    private int[] RenderChat(List<IReadOnlyDictionary<string, object?>> messages)
    {
        if (state.Chat is null)
            throw ApiException.InvalidRequest(
                "This model has no chat template, so /v1/chat/completions cannot format messages; use /v1/completions with a prompt.",
                "messages", "chat_template_missing");
        string text;
        try
        {
            text = state.Chat.Render(messages, addGenerationPrompt: true);
        }
        catch (ChatRenderException error) when (error.Failure == ChatRenderFailure.ConversationRejected)
        {
            throw ApiException.InvalidRequest($"The chat template rejected the messages: {error.Message}", "messages", "invalid_conversation");
        }
        catch (ArgumentException error)
        {
            throw ApiException.InvalidRequest($"The chat template rejected the messages: {error.Message}", "messages", "invalid_conversation");
        }
        catch (Exception error)
        {
            throw ApiException.ServerError($"The model's chat template failed: {error.Message}", "chat_template_error", error);
        }

        int[] tokens = RequestParser.EncodeText(text, Tokenizer);
        // Templates usually write the BOS text themselves; the tokenizer adds BOS too. Keep one, as the model saw in training.
        if (tokens.Length >= 2 && tokens[0] == Tokenizer.BosId && tokens[1] == Tokenizer.BosId) tokens = tokens[1..];
        if (tokens.Length == 0)
            throw ApiException.InvalidRequest("The rendered conversation is empty.", "messages", "invalid_value");
        return tokens;
    }

    // One choice of the response: its job and what it has produced so far.
    private sealed class Choice(int index, int promptIndex, CancellationTokenSource job, GenerationStream stream, ChoiceRunner runner)
    {
        public int Index { get; } = index;
        public int PromptIndex { get; } = promptIndex;
        public CancellationTokenSource Job { get; } = job;
        public GenerationStream Stream { get; } = stream;
        public ChoiceRunner Runner { get; } = runner;
        public StringBuilder Text { get; } = new();
        public List<EmittedToken> Tokens { get; } = [];
    }

    private async Task ExecuteAsync(HttpContext http, GenerationPlan plan, bool chat, string endpoint)
    {
        long start = Stopwatch.GetTimestamp();
        var costStart = state.Cost.Start();
        int context = state.Scheduler.ContextSize;
        foreach (int[] prompt in plan.Prompts)
        {
            if (prompt.Length + 1 > context)
                throw ApiException.InvalidRequest(
                    $"This model's maximum context length is {context} tokens. However, your {plan.PromptParam} resulted in {prompt.Length} tokens " +
                    "(at least one more is needed to generate). Please reduce the length of the " + plan.PromptParam + ".",
                    plan.PromptParam, "context_length_exceeded");
        }

        using var timeout = new CancellationTokenSource(state.Settings.RequestTimeout);
        using var request = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, timeout.Token);
        var choices = new List<Choice>();
        try
        {
            Submit(plan, context, start, request.Token, choices);
            await (plan.Stream
                ? StreamAsync(http, plan, chat, choices, timeout, request.Token, start, costStart, endpoint)
                : RespondAsync(http, plan, chat, choices, timeout, request.Token, start, costStart, endpoint));
        }
        finally
        {
            // Whatever happened, no job of this request may keep running.
            foreach (var choice in choices)
            {
                await choice.Job.CancelAsync();
                choice.Job.Dispose();
            }
        }
    }

    private void Submit(GenerationPlan plan, int context, long start, CancellationToken request, List<Choice> choices)
    {
        try
        {
            for (int p = 0; p < plan.Prompts.Count; p++)
            {
                int[] prompt = plan.Prompts[p];
                for (int i = 0; i < plan.ChoicesPerPrompt; i++)
                {
                    // Each choice of a seeded request gets its own reproducible seed.
                    var sampling = plan.Sampling.Seed is ulong seed ? plan.Sampling with { Seed = unchecked(seed + (ulong)i) } : plan.Sampling;
                    var job = new GenerationJob
                    {
                        PromptTokens = prompt,
                        Sampling = sampling,
                        MaxTokens = Math.Min(plan.MaxTokens ?? plan.DefaultMaxTokens, context - prompt.Length),
                        TopLogprobs = plan.TopLogprobs,
                        StopAtEndOfGeneration = plan.StopAtEndOfGeneration,
                    };
                    var jobCancellation = CancellationTokenSource.CreateLinkedTokenSource(request);
                    GenerationStream stream;
                    try
                    {
                        stream = state.Scheduler.Submit(job, jobCancellation.Token);
                    }
                    catch
                    {
                        jobCancellation.Dispose();
                        throw;
                    }
                    var runner = new ChoiceRunner(Tokenizer, plan.Stops, start, state.Metrics);
                    choices.Add(new Choice(p * plan.ChoicesPerPrompt + i, p, jobCancellation, stream, runner));
                }
            }
        }
        catch (SchedulerOverloadedException error)
        {
            int seconds = Math.Max(1, (int)Math.Ceiling(error.RetryAfter.TotalSeconds));
            throw new ApiException(429, $"The server is busy: {error.Message} Retry after {seconds} s.", ErrorTypes.RateLimit, null, "rate_limit_exceeded")
            {
                RetryAfterSeconds = seconds,
            };
        }
        catch (ArgumentException error)
        {
            string message = error.ParamName is null ? error.Message : error.Message.Replace($" (Parameter '{error.ParamName}')", "");
            throw ApiException.InvalidRequest($"The request cannot be run: {message}", plan.PromptParam, "invalid_value");
        }
    }

    private async Task<ChoiceOutcome[]> RespondAsync(HttpContext http, GenerationPlan plan, bool chat, List<Choice> choices,
        CancellationTokenSource timeout, CancellationToken request, long start, CostStart costStart, string endpoint)
    {
        var outcomes = await Task.WhenAll(choices.Select(choice => choice.Runner.RunAsync(choice.Stream, choice.Job, delta =>
        {
            choice.Text.Append(delta.Text);
            choice.Tokens.AddRange(delta.Tokens);
            return ValueTask.CompletedTask;
        }, request)));
        var usage = Account(plan, choices, outcomes, start, costStart, endpoint);
        if (http.RequestAborted.IsCancellationRequested) return outcomes; // nobody is listening
        ThrowIfUnfinished(outcomes, timeout);

        string id = NewId(chat);
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (chat)
        {
            var body = new ChatCompletionResponseDto(id, "chat.completion", created, state.ModelId, SystemFingerprint,
                choices.Select((choice, i) => new ChatChoiceDto(choice.Index, new ChatMessageDto("assistant", choice.Text.ToString()),
                    plan.Logprobs == LogprobsFormat.Chat ? ChatLogprobs(choice.Tokens) : null, outcomes[i].FinishReason!)).ToArray(),
                usage);
            await HttpJson.WriteAsync(http, 200, body, ServerJson.Context.ChatCompletionResponseDto);
        }
        else
        {
            var body = new CompletionResponseDto(id, "text_completion", created, state.ModelId, SystemFingerprint,
                choices.Select((choice, i) => new CompletionChoiceDto(choice.Text.ToString(), choice.Index,
                    plan.Logprobs == LogprobsFormat.Legacy ? LegacyLogprobs(choice.Tokens) : null, outcomes[i].FinishReason)).ToArray(),
                usage);
            await HttpJson.WriteAsync(http, 200, body, ServerJson.Context.CompletionResponseDto);
        }
        return outcomes;
    }

    private async Task<ChoiceOutcome[]> StreamAsync(HttpContext http, GenerationPlan plan, bool chat, List<Choice> choices,
        CancellationTokenSource timeout, CancellationToken request, long start, CostStart costStart, string endpoint)
    {
        // A client gone mid-stream stops its jobs at once: their KV blocks go back to the pool.
        var sse = await SseWriter.StartAsync(http.Response, http.RequestAborted, () =>
        {
            foreach (var choice in choices) choice.Job.Cancel();
        });
        string id = NewId(chat);
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        Task WriteChat(int index, ChatDeltaDto delta, ChatLogprobsDto? logprobs, string? finish) =>
            sse.WriteAsync(new ChatChunkDto(id, "chat.completion.chunk", created, state.ModelId, SystemFingerprint,
                [new ChatChunkChoiceDto(index, delta, logprobs, finish)], null), ServerJson.Context.ChatChunkDto);

        Task WriteText(int index, string text, LegacyLogprobsDto? logprobs, string? finish) =>
            sse.WriteAsync(new CompletionResponseDto(id, "text_completion", created, state.ModelId, SystemFingerprint,
                [new CompletionChoiceDto(text, index, logprobs, finish)], null), ServerJson.Context.CompletionResponseDto);

        if (chat)
            foreach (var choice in choices)
                await WriteChat(choice.Index, new ChatDeltaDto("assistant", ""), null, null);

        var outcomes = await Task.WhenAll(choices.Select(async choice =>
        {
            var outcome = await choice.Runner.RunAsync(choice.Stream, choice.Job, async delta =>
            {
                if (chat)
                    await WriteChat(choice.Index, new ChatDeltaDto(null, delta.Text),
                        plan.Logprobs == LogprobsFormat.Chat ? ChatLogprobs(delta.Tokens) : null, null);
                else
                    await WriteText(choice.Index, delta.Text, plan.Logprobs == LogprobsFormat.Legacy ? LegacyLogprobs(delta.Tokens) : null, null);
            }, request);
            if (outcome.FinishReason is not null)
            {
                if (chat) await WriteChat(choice.Index, new ChatDeltaDto(null, null), null, outcome.FinishReason);
                else await WriteText(choice.Index, "", null, outcome.FinishReason);
            }
            return outcome;
        }));

        var usage = Account(plan, choices, outcomes, start, costStart, endpoint);
        if (sse.ClientGone || http.RequestAborted.IsCancellationRequested) return outcomes;
        try
        {
            ThrowIfUnfinished(outcomes, timeout);
        }
        catch (ApiException error)
        {
            await sse.WriteErrorAsync(error); // the status line is long gone: the error is the stream's last event
            return outcomes;
        }
        if (plan.IncludeUsage)
        {
            if (chat)
                await sse.WriteAsync(new ChatChunkDto(id, "chat.completion.chunk", created, state.ModelId, SystemFingerprint, [], usage),
                    ServerJson.Context.ChatChunkDto);
            else
                await sse.WriteAsync(new CompletionResponseDto(id, "text_completion", created, state.ModelId, SystemFingerprint, [], usage),
                    ServerJson.Context.CompletionResponseDto);
        }
        await sse.WriteDoneAsync();
        return outcomes;
    }

    private void ThrowIfUnfinished(ChoiceOutcome[] outcomes, CancellationTokenSource timeout)
    {
        if (outcomes.All(outcome => outcome.FinishReason is not null)) return;
        if (timeout.IsCancellationRequested)
            throw new ApiException(504,
                $"The request did not finish within the server's timeout of {state.Settings.RequestTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s and was cancelled.",
                ErrorTypes.Timeout, null, "request_timeout");
        var failed = outcomes.FirstOrDefault(outcome => outcome.Result.FinishReason == JobFinishReason.Failed);
        if (failed is not null)
            throw ApiException.ServerError($"Generation failed: {failed.Result.Error?.Message ?? "unknown error"}", "generation_failed", failed.Result.Error);
        throw ApiException.ServerError("The generation job was cancelled by the server.", "generation_cancelled");
    }

    /// <summary>Adds up the jobs' usage, prices it, records the metrics, and gives the response's usage object.</summary>
    private UsageDto Account(GenerationPlan plan, List<Choice> choices, ChoiceOutcome[] outcomes, long start, CostStart costStart, string endpoint)
    {
        int promptTokens = 0, cachedTokens = 0, completionTokens = 0, recomputed = 0;
        double cpuSeconds = 0, queueMs = 0;
        double ttftMs = double.PositiveInfinity;
        double decodeTicks = 0;
        long decodeGaps = 0;
        for (int i = 0; i < choices.Count; i++)
        {
            var usage = outcomes[i].Result.Usage;
            if (choices[i].Index % plan.ChoicesPerPrompt == 0)
            {
                // OpenAI counts each prompt once, however many choices it has.
                promptTokens += usage.PromptTokens;
                cachedTokens += usage.CachedPromptTokens;
            }
            completionTokens += usage.CompletionTokens;
            recomputed += usage.RecomputedTokens;
            cpuSeconds += usage.CpuSeconds;
            queueMs = Math.Max(queueMs, usage.QueueTime.TotalMilliseconds);
            var outcome = outcomes[i];
            if (outcome.TokensReceived > 0)
                ttftMs = Math.Min(ttftMs, Stopwatch.GetElapsedTime(start, outcome.FirstTokenTimestamp).TotalMilliseconds);
            if (outcome.TokensReceived > 1)
            {
                decodeTicks += outcome.LastTokenTimestamp - outcome.FirstTokenTimestamp;
                decodeGaps += outcome.TokensReceived - 1;
            }
        }
        if (double.IsPositiveInfinity(ttftMs)) ttftMs = 0;
        double tpotMs = decodeGaps == 0 ? 0 : decodeTicks / decodeGaps * 1000.0 / Stopwatch.Frequency;
        var cost = state.Cost.Finish(costStart, cpuSeconds);
        state.Metrics.RecordUsage(endpoint, Stopwatch.GetElapsedTime(start), promptTokens, cachedTokens, completionTokens,
            cost.CpuSeconds, cost.CostUsd, cost.EnergyJoules, cost.EnergySource);
        return new UsageDto(promptTokens, completionTokens, promptTokens + completionTokens, new PromptTokensDetailsDto(cachedTokens),
            new FrugalUsageDto(ttftMs, tpotMs, queueMs, cost.CpuSeconds, cost.CostUsd, cost.EnergyJoules, cost.EnergySource, recomputed));
    }

    private ChatLogprobsDto ChatLogprobs(IReadOnlyList<EmittedToken> tokens) =>
        new(tokens.Select(emitted => new TokenLogprobDto(
            TokenString(emitted.Token.Token), emitted.Token.Logprob, TokenBytes(emitted.Token.Token),
            emitted.Token.TopLogprobs.Select(top => new TopLogprobDto(TokenString(top.Token), top.Logprob, TokenBytes(top.Token))).ToArray()))
            .ToArray());

    private LegacyLogprobsDto LegacyLogprobs(IReadOnlyList<EmittedToken> tokens)
    {
        var result = new LegacyLogprobsDto([], [], [], []);
        foreach (var emitted in tokens)
        {
            result.Tokens.Add(TokenString(emitted.Token.Token));
            result.TokenLogprobs.Add(emitted.Token.Logprob);
            var top = new Dictionary<string, float>(StringComparer.Ordinal);
            foreach (var alternative in emitted.Token.TopLogprobs) top.TryAdd(TokenString(alternative.Token), alternative.Logprob);
            result.TopLogprobs.Add(top);
            result.TextOffset.Add(emitted.TextOffset);
        }
        return result;
    }

    // The token's own text: its bytes as UTF-8 (a lone byte of a split character shows as U+FFFD); control tokens by name.
    private string TokenString(int token)
    {
        byte[] bytes = Tokenizer.TokenBytes(token);
        return bytes.Length == 0 ? Tokenizer.TokenText(token) : Encoding.UTF8.GetString(bytes);
    }

    private int[] TokenBytes(int token) => Array.ConvertAll(Tokenizer.TokenBytes(token), b => (int)b);

    private static string NewId(bool chat) => (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
}
