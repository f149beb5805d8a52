using System.Diagnostics;
using System.Threading.Channels;
using Frugal.Engine.Sampling;
using Frugal.Engine.Serving;
using Frugal.Models;

namespace Frugal.Server.Tests.Support;

/// <summary>
/// A small but real scheduler for the server tests: one job at a time on one InferenceSession, in submission
/// order, on its own thread. Honours cancellation between tokens, MaxTokens, end-of-generation, TopLogprobs,
/// and reports usage (CPU-seconds = wall time × the model's worker threads). A bounded queue throws
/// <see cref="SchedulerOverloadedException"/> when full. <see cref="TokenDelay"/> slows generation down so
/// tests can cancel or time out a request midway.
/// </summary>
public sealed class SerialTestScheduler : IGenerationScheduler
{
    private readonly Model _model;
    private readonly InferenceSession _session;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread _worker;
    private readonly int _queueCapacity;
    private int _waiting;
    private int _running;
    private long _steps;
    private int _cancelled;

    public SerialTestScheduler(Model model, int contextSize, int queueCapacity = 64, TimeSpan tokenDelay = default)
    {
        _model = model;
        _session = model.CreateSession(contextSize);
        _queueCapacity = queueCapacity;
        TokenDelay = tokenDelay;
        _worker = new Thread(Work) { IsBackground = true, Name = "serial-test-scheduler" };
        _worker.Start();
    }

    public TimeSpan TokenDelay { get; }

    public int ContextSize => _session.ContextSize;

    /// <summary>Jobs that ended because their cancellation token fired.</summary>
    public int CancelledJobs => Volatile.Read(ref _cancelled);

    public SchedulerStats Stats => new()
    {
        Running = Volatile.Read(ref _running),
        Waiting = Volatile.Read(ref _waiting),
        KvBlocksTotal = 1,
        KvBlocksUsed = Volatile.Read(ref _running),
        KvBlockTokens = ContextSize,
        StepsRun = Interlocked.Read(ref _steps),
    };

    public GenerationStream Submit(GenerationJob job, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.PromptTokens.Count == 0) throw new ArgumentException("the prompt must hold at least one token", nameof(job));
        if (job.PromptTokens.Count + 1 > ContextSize)
            throw new ArgumentException($"the prompt has {job.PromptTokens.Count} tokens; the context holds {ContextSize}", nameof(job));
        foreach (int token in job.PromptTokens)
            if ((uint)token >= (uint)_session.VocabSize) throw new ArgumentException($"token id {token} is outside the vocabulary", nameof(job));
        if (job.MaxTokens < 1) throw new ArgumentException($"MaxTokens must be >= 1, got {job.MaxTokens}", nameof(job));
        if (job.TopLogprobs is < 0 or > 20) throw new ArgumentException($"TopLogprobs must be 0–20, got {job.TopLogprobs}", nameof(job));
        job.Sampling.Validate();

        if (Interlocked.Increment(ref _waiting) > _queueCapacity)
        {
            Interlocked.Decrement(ref _waiting);
            throw new SchedulerOverloadedException($"{_queueCapacity} requests are already waiting.", TimeSpan.FromSeconds(2));
        }
        var tokens = Channel.CreateUnbounded<GeneratedToken>(new UnboundedChannelOptions { SingleWriter = true });
        var completion = new TaskCompletionSource<JobResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Writer.TryWrite(new Pending(job, cancellation, tokens.Writer, completion, Stopwatch.GetTimestamp()));
        return new GenerationStream(tokens.Reader, completion.Task);
    }

    private void Work()
    {
        while (_queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (_queue.Reader.TryRead(out var pending))
            {
                Interlocked.Decrement(ref _waiting);
                Interlocked.Increment(ref _running);
                JobResult result;
                try
                {
                    result = Run(pending);
                }
                catch (Exception error)
                {
                    result = new JobResult(JobFinishReason.Failed, new JobUsage { PromptTokens = pending.Job.PromptTokens.Count }, error);
                }
                Interlocked.Decrement(ref _running);
                if (result.FinishReason == JobFinishReason.Cancelled) Interlocked.Increment(ref _cancelled);
                pending.Tokens.TryComplete();
                pending.Completion.TrySetResult(result);
            }
        }
    }

    private JobResult Run(Pending pending)
    {
        var job = pending.Job;
        long started = Stopwatch.GetTimestamp();
        long firstToken = 0;
        int generated = 0;
        JobFinishReason reason = JobFinishReason.Length;
        int vocab = _session.VocabSize;
        var sampler = new Sampler(vocab, job.Sampling);
        var adjusted = new float[vocab];          // [vocab] logits after bias and penalties: what logprobs describe
        var topIds = new int[job.TopLogprobs];
        var topLogprobs = new float[job.TopLogprobs];
        var history = new List<int>(job.PromptTokens);

        if (!pending.Cancellation.IsCancellationRequested)
        {
            _session.Reset();
            int[] prompt = job.PromptTokens.ToArray();
            float[] logits = _session.Evaluate(prompt).ToArray();
            Interlocked.Increment(ref _steps);
            while (true)
            {
                if (pending.Cancellation.IsCancellationRequested)
                {
                    reason = JobFinishReason.Cancelled;
                    break;
                }
                var historySpan = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(history);
                sampler.ApplyBiasAndPenalties(logits, historySpan, adjusted);
                int token = sampler.Sample(logits, historySpan);
                if (job.StopAtEndOfGeneration && _model.Tokenizer.IsEndOfGeneration(token))
                {
                    reason = JobFinishReason.Stop;
                    break;
                }
                int count = TokenRanking.LogSoftmaxTopK(adjusted, topIds, topLogprobs);
                var top = new TokenLogprob[count];
                for (int i = 0; i < count; i++) top[i] = new TokenLogprob(topIds[i], topLogprobs[i]);
                if (firstToken == 0) firstToken = Stopwatch.GetTimestamp();
                pending.Tokens.TryWrite(new GeneratedToken(token, LogProbability(adjusted, token), top));
                history.Add(token);
                generated++;
                if (generated == job.MaxTokens || _session.Position == _session.ContextSize) break;
                if (TokenDelay > TimeSpan.Zero) pending.Cancellation.WaitHandle.WaitOne(TokenDelay);
                logits = _session.Evaluate([token]).ToArray();
                Interlocked.Increment(ref _steps);
            }
        }
        else
        {
            reason = JobFinishReason.Cancelled;
        }

        var total = Stopwatch.GetElapsedTime(started);
        return new JobResult(reason, new JobUsage
        {
            PromptTokens = job.PromptTokens.Count,
            CompletionTokens = generated,
            QueueTime = Stopwatch.GetElapsedTime(pending.Submitted, started),
            TimeToFirstToken = firstToken == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(pending.Submitted, firstToken),
            TotalTime = Stopwatch.GetElapsedTime(pending.Submitted),
            CpuSeconds = total.TotalSeconds * _model.Threads,
        });
    }

    private static float LogProbability(ReadOnlySpan<float> logits, int token)
    {
        float max = float.NegativeInfinity;
        foreach (float logit in logits) max = Math.Max(max, logit);
        double sum = 0;
        foreach (float logit in logits) sum += Math.Exp((double)logit - max);
        return (float)(logits[token] - (max + Math.Log(sum)));
    }

    public ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _worker.Join(TimeSpan.FromSeconds(30));
        _session.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed record Pending(GenerationJob Job, CancellationToken Cancellation, ChannelWriter<GeneratedToken> Tokens,
        TaskCompletionSource<JobResult> Completion, long Submitted);
}
