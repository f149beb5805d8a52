using System.Threading.Channels;
using Frugal.Engine.Sampling;

namespace Frugal.Engine.Serving;

// The boundary between the HTTP server (Frugal.Server) and the continuous-batching scheduler that runs many
// sequences through the model together. The server tokenizes, renders templates, applies stop strings and
// formats responses; the scheduler owns the model, the KV memory and the order in which work is done.

/// <summary>One request for the scheduler: a tokenized prompt and how to continue it.</summary>
public sealed record GenerationJob
{
    /// <summary>Prompt token ids (BOS included where the model wants one); at least one token.</summary>
    public required IReadOnlyList<int> PromptTokens { get; init; }

    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>Upper bound on generated tokens; the job ends with <see cref="JobFinishReason.Length"/> there
    /// (or earlier, when the context window is full).</summary>
    public required int MaxTokens { get; init; }

    /// <summary>How many most-likely alternatives to report with each token (0–20). The chosen token's own
    /// log-probability is always reported.</summary>
    public int TopLogprobs { get; init; }

    /// <summary>End the job when the model emits an end-of-generation token (that token is not reported).</summary>
    public bool StopAtEndOfGeneration { get; init; } = true;
}

/// <summary>A token and its log-probability under the model's distribution after penalties and bias,
/// before temperature and truncation (what OpenAI's logprobs report).</summary>
public readonly record struct TokenLogprob(int Token, float Logprob);

/// <summary>One generated token, delivered as soon as it has been sampled.</summary>
public sealed record GeneratedToken(int Token, float Logprob, IReadOnlyList<TokenLogprob> TopLogprobs);

public enum JobFinishReason
{
    /// <summary>The model emitted an end-of-generation token.</summary>
    Stop,

    /// <summary>MaxTokens reached or the context window is full.</summary>
    Length,

    /// <summary>The caller's cancellation token fired (client gone, stop string found, timeout).</summary>
    Cancelled,

    /// <summary>The job failed; <see cref="JobResult.Error"/> says why. Other jobs are unaffected.</summary>
    Failed,
}

/// <summary>What a finished job consumed. CPU-seconds are the job's share of every step it took part in
/// (step wall time × worker threads × its tokens / the step's tokens).</summary>
public sealed record JobUsage
{
    public int PromptTokens { get; init; }

    /// <summary>Prompt tokens whose KV came from the prefix cache instead of being computed.</summary>
    public int CachedPromptTokens { get; init; }

    public int CompletionTokens { get; init; }

    /// <summary>Prompt tokens computed again after the job was preempted for memory.</summary>
    public int RecomputedTokens { get; init; }

    public TimeSpan QueueTime { get; init; }
    public TimeSpan TimeToFirstToken { get; init; }
    public TimeSpan TotalTime { get; init; }
    public double CpuSeconds { get; init; }
}

public sealed record JobResult(JobFinishReason FinishReason, JobUsage Usage, Exception? Error = null);

/// <summary>The live output of a submitted job. <see cref="Tokens"/> completes when the job ends;
/// <see cref="Completion"/> then gives the reason and the usage (it never faults).</summary>
public sealed class GenerationStream
{
    public GenerationStream(ChannelReader<GeneratedToken> tokens, Task<JobResult> completion)
    {
        Tokens = tokens;
        Completion = completion;
    }

    public ChannelReader<GeneratedToken> Tokens { get; }
    public Task<JobResult> Completion { get; }
}

/// <summary>A point-in-time view of the scheduler, for /metrics and /health.</summary>
public sealed record SchedulerStats
{
    public int Running { get; init; }
    public int Waiting { get; init; }
    public int KvBlocksUsed { get; init; }
    public int KvBlocksTotal { get; init; }
    public int KvBlockTokens { get; init; }
    public long PrefixCacheLookupTokens { get; init; }
    public long PrefixCacheHitTokens { get; init; }
    public long Preemptions { get; init; }
    public long StepsRun { get; init; }
}

/// <summary>Thrown by <see cref="IGenerationScheduler.Submit"/> when the waiting queue is full.</summary>
public sealed class SchedulerOverloadedException(string message, TimeSpan retryAfter) : Exception(message)
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>Runs generation jobs, many at once. Thread-safe.</summary>
public interface IGenerationScheduler : IAsyncDisposable
{
    /// <summary>Most tokens (prompt + generated) one sequence may hold.</summary>
    int ContextSize { get; }

    /// <summary>
    /// Queues a job and returns its stream at once. Throws <see cref="ArgumentException"/> for a job that can
    /// never run (empty prompt, prompt + 1 longer than the context, token ids outside the vocabulary, bad
    /// sampling values) and <see cref="SchedulerOverloadedException"/> when the queue is full. Cancelling
    /// <paramref name="cancellation"/> ends the job at the next step and frees its KV blocks.
    /// </summary>
    GenerationStream Submit(GenerationJob job, CancellationToken cancellation = default);

    SchedulerStats Stats { get; }
}
