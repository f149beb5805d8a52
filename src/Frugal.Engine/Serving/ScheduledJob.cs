using System.Diagnostics;
using System.Threading.Channels;
using Frugal.Engine.Sampling;
using Frugal.Models.Batching;

namespace Frugal.Engine.Serving;

/// <summary>
/// A job inside the scheduler: its tokens so far, its sampler, its output channel and its accounting. Touched
/// only by the scheduler thread once submitted (the cancellation token is read from any thread).
/// </summary>
internal sealed class ScheduledJob
{
    public ScheduledJob(GenerationJob job, Sampler sampler, int historyCapacity, CancellationToken cancellation)
    {
        Job = job;
        Sampler = sampler;
        Cancellation = cancellation;
        PromptLength = job.PromptTokens.Count;
        History = new int[historyCapacity];
        for (int i = 0; i < PromptLength; i++) History[i] = job.PromptTokens[i];
        Length = PromptLength;
        SubmittedAt = Stopwatch.GetTimestamp();
    }

    public GenerationJob Job { get; }
    public Sampler Sampler { get; }
    public CancellationToken Cancellation { get; }
    public CancellationTokenRegistration CancellationRegistration { get; set; }

    // Unbounded: the scheduler never waits for a slow reader; one reader (the server), one writer (the scheduler).
    public Channel<GeneratedToken> Output { get; } =
        Channel.CreateUnbounded<GeneratedToken>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    public TaskCompletionSource<JobResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>[prompt + generated, up to context + 1]: the prompt, then every generated token; the penalties' history.</summary>
    public int[] History { get; }

    public int PromptLength { get; }

    /// <summary>Valid tokens in <see cref="History"/>.</summary>
    public int Length { get; set; }

    public int Generated => Length - PromptLength;

    /// <summary>The sequence holding the job's KV blocks while it runs; null while it waits (or after preemption).</summary>
    public BatchSequence? Sequence { get; set; }

    /// <summary>Order of the latest admission: the highest running one is preempted first.</summary>
    public long AdmissionOrder { get; set; }

    /// <summary>Tokens of History that still need computing: the prompt rest, or the last sampled token.</summary>
    public int PendingTokens => Length - Sequence!.Length;

    /// <summary>Tokens this job has in the step being assembled, and the logits row it asked for (-1: none).</summary>
    public int StepTokens { get; set; }
    public int LogitRow { get; set; } = -1;

    /// <summary>Most tokens its sequence ever held: what a preemption throws away.</summary>
    public int ComputedHighWater { get; set; }

    public bool EverAdmitted { get; set; }
    public int CachedPromptTokens { get; set; }
    public int RecomputedTokens { get; set; }
    public long SubmittedAt { get; }
    public long AdmittedAt { get; set; }
    public long FirstTokenAt { get; set; }
    public double CpuSeconds { get; set; }

    public JobUsage Usage(long now) => new()
    {
        PromptTokens = PromptLength,
        CachedPromptTokens = CachedPromptTokens,
        CompletionTokens = Generated,
        RecomputedTokens = RecomputedTokens,
        QueueTime = EverAdmitted ? Stopwatch.GetElapsedTime(SubmittedAt, AdmittedAt) : Stopwatch.GetElapsedTime(SubmittedAt, now),
        TimeToFirstToken = FirstTokenAt != 0 ? Stopwatch.GetElapsedTime(SubmittedAt, FirstTokenAt) : TimeSpan.Zero,
        TotalTime = Stopwatch.GetElapsedTime(SubmittedAt, now),
        CpuSeconds = CpuSeconds,
    };
}
