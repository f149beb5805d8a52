using System.Collections.Concurrent;
using Frugal.Engine.Sampling;
using Frugal.Engine.Serving;
using Frugal.Models;
using Frugal.TestSupport;

namespace Frugal.Engine.Tests.Serving;

/// <summary>
/// The scheduler on stories260K against solo generation: every job that is not cancelled produces exactly the
/// tokens it produces alone, however it was batched, preempted or served from the prefix cache.
/// </summary>
public sealed class ContinuousBatchingSchedulerTests
{
    private const int Context = 128;
    private const int LongContext = 512;

    private static readonly string[] Texts =
    [
        "Once upon a time",
        "The little dog ran to the park and saw a big red ball.",
        "Lily and Ben were friends.",
        "One day, a cat found a box. The box was very big and the cat wanted to play in it all day long.",
        "Tom",
        "The sun was hot. Mom said they should go to the beach, and everyone was happy.",
    ];

    private static Model Load(int threads = 2) =>
        Model.Load(SharedData.Model("stories260K.gguf"), new ModelLoadOptions { Threads = threads });

    private static GenerationResult Solo(Model model, int[] prompt, int maxTokens, SamplingOptions? sampling = null, int context = Context)
    {
        using var session = model.CreateSession(context);
        return Generator.Generate(session, model.Tokenizer, prompt,
            new GenerationOptions { MaxTokens = maxTokens, Sampling = sampling ?? SamplingOptions.Greedy });
    }

    private static JobFinishReason ReasonOf(GenerationResult result) =>
        result.FinishReason == FinishReasons.Stop ? JobFinishReason.Stop : JobFinishReason.Length;

    private static async Task<(List<GeneratedToken> Tokens, JobResult Result)> Collect(GenerationStream stream, Action<int>? onToken = null)
    {
        var tokens = new List<GeneratedToken>();
        await foreach (var token in stream.Tokens.ReadAllAsync())
        {
            tokens.Add(token);
            onToken?.Invoke(tokens.Count);
        }
        return (tokens, await stream.Completion);
    }

    // Stats are published after the step that finished the last job; give the thread a moment.
    private static async Task<SchedulerStats> SettledStats(IGenerationScheduler scheduler)
    {
        for (int i = 0; i < 200; i++)
        {
            var stats = scheduler.Stats;
            if (stats.Running == 0 && stats.Waiting == 0 && stats.KvBlocksUsed == 0) return stats;
            await Task.Delay(10);
        }
        return scheduler.Stats;
    }

    [SharedFact]
    public async Task Thirty_two_concurrent_jobs_with_cancellations_equal_solo_greedy_runs_and_free_every_block()
    {
        using var model = Load();
        var jobs = Enumerable.Range(0, 32).Select(i =>
        {
            int[] prompt = model.Tokenizer.Encode(Texts[i % Texts.Length] + (i % 4 == 0 ? " She" : ""), addSpecial: true);
            // A job to cancel asks for the rest of a longer context: with 40 tokens, the tiny model sometimes generated
            // all of them before the client's cancellation after its third token reached the scheduler (the consumers
            // wait for a core while the scheduler's threads run), and none was cancelled.
            bool cancel = i % 5 == 2;
            return (Prompt: prompt, MaxTokens: cancel ? LongContext - prompt.Length : 6 + i * 7 % 37, Cancel: cancel);
        }).ToArray();
        var solo = new Dictionary<(string, int), GenerationResult>();
        foreach (var job in jobs)
        {
            var key = (string.Join(",", job.Prompt), job.MaxTokens);
            if (!solo.ContainsKey(key)) solo[key] = Solo(model, job.Prompt, job.MaxTokens, context: LongContext);
        }

        await using var scheduler = new ContinuousBatchingScheduler(model,
            new SchedulerOptions { MaxRunning = 8, ContextSize = LongContext, MaxBatchTokens = 32, QueueCapacity = 32 });
        var runs = jobs.Select(job =>
        {
            var cancellation = new CancellationTokenSource();
            var stream = scheduler.Submit(new GenerationJob { PromptTokens = job.Prompt, MaxTokens = job.MaxTokens }, cancellation.Token);
            return Task.Run(() => Collect(stream, count => { if (job.Cancel && count == 3) cancellation.Cancel(); }));
        }).ToArray();
        var outcomes = await Task.WhenAll(runs);

        for (int i = 0; i < jobs.Length; i++)
        {
            var expected = solo[(string.Join(",", jobs[i].Prompt), jobs[i].MaxTokens)];
            var (tokens, result) = outcomes[i];
            int[] ids = tokens.Select(t => t.Token).ToArray();
            Assert.Null(result.Error);
            if (jobs[i].Cancel && result.FinishReason == JobFinishReason.Cancelled)
            {
                Assert.Equal(expected.Tokens.Take(ids.Length), ids);
                Assert.True(ids.Length < expected.Tokens.Length, $"job {i} was cancelled after 3 of {expected.Tokens.Length} tokens but got them all");
                continue;
            }
            Assert.Equal(expected.Tokens, ids);
            Assert.Equal(ReasonOf(expected), result.FinishReason);
            Assert.Equal(jobs[i].Prompt.Length, result.Usage.PromptTokens);
            Assert.Equal(ids.Length, result.Usage.CompletionTokens);
            Assert.True(result.Usage.CpuSeconds > 0);
            Assert.True(result.Usage.TotalTime >= result.Usage.TimeToFirstToken);
        }
        Assert.Contains(outcomes, outcome => outcome.Result.FinishReason == JobFinishReason.Cancelled);

        var stats = await SettledStats(scheduler);
        Assert.Equal(0, stats.Running);
        Assert.Equal(0, stats.Waiting);
        Assert.Equal(0, stats.KvBlocksUsed);
        Assert.True(stats.StepsRun > 0);
    }

    [SharedFact]
    public async Task Second_job_sharing_a_long_prefix_reports_cached_tokens_and_the_same_output()
    {
        using var model = Load();
        string shared = "One day, a little girl named Lily went to the park with her mom. She saw a big tree and a small bird. The bird was";
        int[] first = model.Tokenizer.Encode(shared + " sad.", addSpecial: true);
        int[] second = model.Tokenizer.Encode(shared + " happy and it sang.", addSpecial: true);
        var soloSecond = Solo(model, second, 20);

        await using var scheduler = new ContinuousBatchingScheduler(model, new SchedulerOptions { MaxRunning = 2, ContextSize = Context, BlockTokens = 16 });
        var (_, firstResult) = await Collect(scheduler.Submit(new GenerationJob { PromptTokens = first, MaxTokens = 20 }));
        Assert.Equal(0, firstResult.Usage.CachedPromptTokens);
        var (tokens, secondResult) = await Collect(scheduler.Submit(new GenerationJob { PromptTokens = second, MaxTokens = 20 }));

        int common = first.Zip(second).TakeWhile(pair => pair.First == pair.Second).Count();
        Assert.True(common >= 32, $"the prompts share only {common} tokens");
        Assert.Equal(common / 16 * 16, secondResult.Usage.CachedPromptTokens);
        Assert.Equal(soloSecond.Tokens, tokens.Select(t => t.Token));
        var stats = await SettledStats(scheduler);
        Assert.Equal(secondResult.Usage.CachedPromptTokens, stats.PrefixCacheHitTokens);
        Assert.Equal(first.Length + second.Length, stats.PrefixCacheLookupTokens);
    }

    [SharedTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Preemption_under_a_tiny_memory_budget_still_gives_exact_outputs(bool prefixCaching)
    {
        using var model = Load();
        const int context = 64, blockTokens = 8;
        var jobs = Enumerable.Range(0, 6).Select(i => (Prompt: model.Tokenizer.Encode(Texts[i], addSpecial: true), MaxTokens: 40)).ToArray();
        var solo = jobs.Select(job => Solo(model, job.Prompt, job.MaxTokens, context: context)).ToArray();

        // Exactly one full context of blocks, shared by four running sequences.
        long kvBytes = context * 2L * model.Config.Layers * model.Config.KvDim * 2;
        await using var scheduler = new ContinuousBatchingScheduler(model, new SchedulerOptions
        {
            MaxRunning = 4, ContextSize = context, BlockTokens = blockTokens, KvMemoryBytes = kvBytes, MaxBatchTokens = 16, PrefixCaching = prefixCaching,
        });
        Assert.Equal(context / blockTokens, scheduler.Stats.KvBlocksTotal);
        var outcomes = await Task.WhenAll(jobs.Select(job =>
            Collect(scheduler.Submit(new GenerationJob { PromptTokens = job.Prompt, MaxTokens = job.MaxTokens }))));

        for (int i = 0; i < jobs.Length; i++)
        {
            Assert.Null(outcomes[i].Result.Error);
            Assert.Equal(solo[i].Tokens, outcomes[i].Tokens.Select(t => t.Token));
            Assert.Equal(ReasonOf(solo[i]), outcomes[i].Result.FinishReason);
        }
        var stats = await SettledStats(scheduler);
        Assert.True(stats.Preemptions > 0, "the budget was meant to force preemptions");
        Assert.Contains(outcomes, outcome => outcome.Result.Usage.RecomputedTokens > 0 || prefixCaching);
        Assert.Equal(0, stats.KvBlocksUsed);
    }

    [SharedFact]
    public async Task Seeded_sampling_with_penalties_matches_solo_generation()
    {
        using var model = Load();
        var options = Enumerable.Range(0, 4).Select(i => new SamplingOptions
        {
            Temperature = 0.9f, Seed = (ulong)(100 + i), FrequencyPenalty = 0.3f, PresencePenalty = 0.2f, RepetitionPenalty = 1.1f,
        }).ToArray();
        int[] prompt = model.Tokenizer.Encode(Texts[1], addSpecial: true);
        var solo = options.Select(o => Solo(model, prompt, 30, o)).ToArray();

        await using var scheduler = new ContinuousBatchingScheduler(model, new SchedulerOptions { MaxRunning = 4, ContextSize = Context });
        var outcomes = await Task.WhenAll(options.Select(o =>
            Collect(scheduler.Submit(new GenerationJob { PromptTokens = prompt, MaxTokens = 30, Sampling = o }))));
        for (int i = 0; i < options.Length; i++) Assert.Equal(solo[i].Tokens, outcomes[i].Tokens.Select(t => t.Token));
        Assert.NotEqual(solo[0].Tokens, solo[1].Tokens);
    }

    [SharedFact]
    public async Task Logprobs_are_the_log_softmax_of_the_solo_logits()
    {
        using var model = Load();
        int[] prompt = model.Tokenizer.Encode(Texts[2], addSpecial: true);
        await using (var scheduler = new ContinuousBatchingScheduler(model, new SchedulerOptions { MaxRunning = 2, ContextSize = Context }))
        {
            var (tokens, result) = await Collect(scheduler.Submit(new GenerationJob { PromptTokens = prompt, MaxTokens = 5, TopLogprobs = 3 }));
            Assert.Equal(JobFinishReason.Length, result.FinishReason);

            using var session = model.CreateSession(Context);
            var logits = session.Evaluate(prompt).ToArray();
            foreach (var token in tokens)
            {
                int[] ids = new int[3];
                float[] expected = new float[3];
                TokenRanking.LogSoftmaxTopK(logits, ids, expected);
                Assert.Equal(ids, token.TopLogprobs.Select(t => t.Token));
                for (int i = 0; i < 3; i++) Assert.Equal(expected[i], token.TopLogprobs[i].Logprob, 4);
                Assert.Equal(ids[0], token.Token);
                Assert.Equal(expected[0], token.Logprob, 4);
                logits = session.Evaluate([token.Token]).ToArray();
            }
        }
    }

    [SharedFact]
    public async Task Full_queue_refuses_with_a_retry_estimate()
    {
        using var model = Load(threads: 1);
        int[] prompt = model.Tokenizer.Encode(Texts[3], addSpecial: true);
        using var cancellation = new CancellationTokenSource();
        await using var scheduler = new ContinuousBatchingScheduler(model, new SchedulerOptions { MaxRunning = 1, ContextSize = Context, QueueCapacity = 2 });
        var accepted = new List<GenerationStream>();
        SchedulerOverloadedException? refused = null;
        for (int i = 0; i < 5 && refused is null; i++)
        {
            try { accepted.Add(scheduler.Submit(new GenerationJob { PromptTokens = prompt, MaxTokens = 100, StopAtEndOfGeneration = false }, cancellation.Token)); }
            catch (SchedulerOverloadedException error) { refused = error; }
        }
        Assert.NotNull(refused);
        Assert.InRange(accepted.Count, 2, 3);
        Assert.Contains("queue capacity 2", refused.Message);
        Assert.True(refused.RetryAfter >= TimeSpan.FromSeconds(1));
        cancellation.Cancel();
        foreach (var stream in accepted) Assert.Equal(JobFinishReason.Cancelled, (await stream.Completion).FinishReason);
    }

    [SharedFact]
    public async Task Bad_jobs_are_refused_with_clear_messages()
    {
        using var model = Load(threads: 1);
        await using var scheduler = new ContinuousBatchingScheduler(model, new SchedulerOptions { MaxRunning = 2, ContextSize = 32 });
        void Refused(GenerationJob job, string fragment) =>
            Assert.Contains(fragment, Assert.ThrowsAny<ArgumentException>(() => scheduler.Submit(job)).Message);
        Refused(new GenerationJob { PromptTokens = [], MaxTokens = 4 }, "at least one token");
        Refused(new GenerationJob { PromptTokens = Enumerable.Repeat(5, 32).ToArray(), MaxTokens = 4 }, "context holds 32");
        Refused(new GenerationJob { PromptTokens = [1, 512], MaxTokens = 4 }, "outside the vocabulary");
        Refused(new GenerationJob { PromptTokens = [1], MaxTokens = -1 }, "max tokens");
        Refused(new GenerationJob { PromptTokens = [1], MaxTokens = 4, TopLogprobs = 21 }, "top logprobs");
        Refused(new GenerationJob { PromptTokens = [1], MaxTokens = 4, Sampling = new SamplingOptions { Temperature = -1 } }, "temperature");
        Refused(new GenerationJob { PromptTokens = [1], MaxTokens = 4, Sampling = new SamplingOptions { LogitBias = new Dictionary<int, float> { [600] = 1 } } }, "token id 600");
        Assert.Throws<ArgumentException>(() => new ContinuousBatchingScheduler(model, new SchedulerOptions { MaxRunning = 100, MaxBatchTokens = 64 }));
        Assert.Throws<ArgumentException>(() => new ContinuousBatchingScheduler(model, new SchedulerOptions { ContextSize = 64, KvMemoryBytes = 1024 }));

        var zero = await scheduler.Submit(new GenerationJob { PromptTokens = [1], MaxTokens = 0 }).Completion;
        Assert.Equal(JobFinishReason.Length, zero.FinishReason);
    }

    [SharedFact]
    public async Task A_job_that_faults_fails_alone()
    {
        using var model = Load();
        int[] prompt = model.Tokenizer.Encode(Texts[0], addSpecial: true);
        var solo = Solo(model, prompt, 16);
        var banAll = Enumerable.Range(0, model.Config.VocabSize).ToDictionary(id => id, _ => float.NegativeInfinity);

        await using var scheduler = new ContinuousBatchingScheduler(model, new SchedulerOptions { MaxRunning = 4, ContextSize = Context });
        var bad = Collect(scheduler.Submit(new GenerationJob { PromptTokens = prompt, MaxTokens = 16, Sampling = SamplingOptions.Greedy with { LogitBias = banAll } }));
        var good = Collect(scheduler.Submit(new GenerationJob { PromptTokens = prompt, MaxTokens = 16 }));
        var badOutcome = await bad;
        Assert.Equal(JobFinishReason.Failed, badOutcome.Result.FinishReason);
        Assert.IsType<InvalidOperationException>(badOutcome.Result.Error);
        Assert.Equal(solo.Tokens, (await good).Tokens.Select(t => t.Token));
        // The scheduler is still serving.
        Assert.Equal(solo.Tokens, (await Collect(scheduler.Submit(new GenerationJob { PromptTokens = prompt, MaxTokens = 16 }))).Tokens.Select(t => t.Token));
    }

    [SharedFact]
    public async Task Dispose_cancels_pending_jobs_and_refuses_new_ones()
    {
        using var model = Load(threads: 1);
        int[] prompt = model.Tokenizer.Encode(Texts[3], addSpecial: true);
        var scheduler = new ContinuousBatchingScheduler(model, new SchedulerOptions { MaxRunning = 2, ContextSize = Context });
        var streams = Enumerable.Range(0, 6).Select(_ =>
            scheduler.Submit(new GenerationJob { PromptTokens = prompt, MaxTokens = 100, StopAtEndOfGeneration = false })).ToArray();
        await scheduler.DisposeAsync();
        foreach (var stream in streams)
        {
            // The channel is closed: reading to the end terminates.
            var (_, result) = await Collect(stream);
            Assert.Contains(result.FinishReason, new[] { JobFinishReason.Cancelled, JobFinishReason.Length });
        }
        Assert.Contains(streams, s => s.Completion.Result.FinishReason == JobFinishReason.Cancelled);
        Assert.Throws<ObjectDisposedException>(() => scheduler.Submit(new GenerationJob { PromptTokens = prompt, MaxTokens = 4 }));
    }
}
