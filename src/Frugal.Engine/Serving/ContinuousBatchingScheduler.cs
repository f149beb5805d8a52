using System.Diagnostics;
using System.Numerics.Tensors;
using Frugal.Engine.Sampling;
using Frugal.Models;
using Frugal.Models.Batching;

namespace Frugal.Engine.Serving;

/// <summary>
/// In-flight (continuous) batching over a <see cref="BatchEngine"/>. One dedicated thread runs steps; before each
/// it drops cancelled jobs, admits waiting ones as far as slots and KV memory allow (attaching cached prompt
/// prefixes), and plans the step: every running decode gets one token, and the rest of the token budget goes to
/// prompt chunks, oldest job first, so a long prompt never holds decodes back for more than a step. When a decode
/// needs a block and none is left, the newest running job is preempted: its blocks are given back and it returns
/// to the front of the queue, to be recomputed (prompt + tokens so far) when memory allows; its sampler and
/// history go with it, so its output is exactly what it would have been. Tokens are written to a job's channel
/// the moment they are sampled.
/// <para>The scheduler uses the model's worker pool: nothing else may evaluate on the same <see cref="Model"/>
/// while it runs. It does not own the model.</para>
/// </summary>
public sealed class ContinuousBatchingScheduler : IGenerationScheduler
{
    private const int MaxTopLogprobs = 20;

    private readonly Model _model;
    private readonly SchedulerOptions _options;
    private readonly BatchEngine _engine;
    private readonly Thread _thread;
    private readonly object _gate = new();                      // guards _waiting, _stopping
    private readonly LinkedList<ScheduledJob> _waiting = new(); // FIFO; preempted jobs go back to the front
    private readonly List<ScheduledJob> _running = [];          // in admission order (the newest last)
    private readonly BatchItem[] _items;                        // [MaxBatchTokens] rows of the step being planned
    private readonly ScheduledJob[] _stepJobs;                  // [MaxRunning] jobs with rows in that step
    private readonly float[] _logits;                           // [MaxRunning, vocab] one logits row per job that asked
    private readonly float[] _adjusted;                         // [vocab] logits after bias and penalties (for logprobs)
    private readonly float[] _scratch;                          // [vocab] exp(adjusted - max)
    private readonly int[] _topIds = new int[MaxTopLogprobs];
    private readonly float[] _topLogprobs = new float[MaxTopLogprobs];
    private bool _stopping;
    private Exception? _fault;
    private long _admissions;
    private long _releases;            // bumped whenever blocks may have come back: admission is retried then
    private long _releasesAtBlockedAdmission = -1;
    private ScheduledJob? _blockedJob;
    private double _averageJobSeconds = 1;

    // Published for Stats (read from any thread).
    private int _runningCount;
    private int _waitingCount;
    private int _blocksUsed;
    private long _lookupTokens;
    private long _hitTokens;
    private long _preemptions;
    private long _steps;

    public ContinuousBatchingScheduler(Model model, SchedulerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new SchedulerOptions();
        options.Validate();
        _model = model;
        _options = options;
        int contextSize = options.ContextSize == 0 ? Math.Min(model.Config.ContextLength, Model.DefaultContextCap) : options.ContextSize;
        long kvBytes = options.KvMemoryBytes;
        if (kvBytes == 0)
        {
            long blockTokens = (contextSize + options.BlockTokens - 1) / options.BlockTokens * (long)options.BlockTokens;
            kvBytes = options.MaxRunning * blockTokens * BatchEngine.BytesPerToken(model.Config);
        }
        _engine = new BatchEngine(model, new BatchEngineOptions
        {
            ContextSize = contextSize,
            KvMemoryBytes = kvBytes,
            BlockTokens = options.BlockTokens,
            MaxBatchTokens = options.MaxBatchTokens,
            PrefixCaching = options.PrefixCaching,
        });
        int vocab = model.Config.VocabSize;
        _items = new BatchItem[options.MaxBatchTokens];
        _stepJobs = new ScheduledJob[options.MaxRunning];
        _logits = new float[options.MaxRunning * vocab];
        _adjusted = new float[vocab];
        _scratch = new float[vocab];
        _blocksUsed = _engine.UsedBlocks;
        _thread = new Thread(Run) { IsBackground = true, Name = "frugal-scheduler" };
        _thread.Start();
    }

    public int ContextSize => _engine.ContextSize;

    public SchedulerOptions Options => _options;

    public SchedulerStats Stats => new()
    {
        Running = Volatile.Read(ref _runningCount),
        Waiting = Volatile.Read(ref _waitingCount),
        KvBlocksUsed = Volatile.Read(ref _blocksUsed),
        KvBlocksTotal = _engine.TotalBlocks,
        KvBlockTokens = _engine.BlockTokens,
        PrefixCacheLookupTokens = Interlocked.Read(ref _lookupTokens),
        PrefixCacheHitTokens = Interlocked.Read(ref _hitTokens),
        Preemptions = Interlocked.Read(ref _preemptions),
        StepsRun = Interlocked.Read(ref _steps),
    };

    public GenerationStream Submit(GenerationJob job, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        var scheduled = Validate(job, cancellation);
        var stream = new GenerationStream(scheduled.Output.Reader, scheduled.Completion.Task);
        if (cancellation.IsCancellationRequested || job.MaxTokens == 0)
        {
            Complete(scheduled, cancellation.IsCancellationRequested ? JobFinishReason.Cancelled : JobFinishReason.Length);
            return stream;
        }

        // Registered before the job is queued (the scheduler may finish it at once) and outside the lock (an
        // already cancelled token runs the callback at once, and the callback takes the lock).
        if (cancellation.CanBeCanceled) scheduled.CancellationRegistration = cancellation.Register(Wake);
        bool stopping;
        int waiting;
        lock (_gate)
        {
            stopping = _stopping;
            waiting = _waiting.Count;
            if (!stopping && waiting < _options.QueueCapacity)
            {
                _waiting.AddLast(scheduled);
                Volatile.Write(ref _waitingCount, _waiting.Count);
                Monitor.Pulse(_gate);
                return stream;
            }
        }
        scheduled.CancellationRegistration.Dispose();
        if (stopping)
            throw new ObjectDisposedException(nameof(ContinuousBatchingScheduler), _fault is null ? "the scheduler is shut down" : $"the scheduler failed: {_fault.Message}");
        var retryAfter = EstimateRetryAfter(waiting);
        throw new SchedulerOverloadedException(
            $"{waiting} jobs are already waiting (queue capacity {_options.QueueCapacity}); retry in about {retryAfter.TotalSeconds:0} s", retryAfter);
    }

    private ScheduledJob Validate(GenerationJob job, CancellationToken cancellation)
    {
        var prompt = job.PromptTokens ?? throw new ArgumentException("the job has no prompt tokens", nameof(job));
        if (prompt.Count == 0) throw new ArgumentException("the prompt must hold at least one token (a BOS token for an empty prompt)", nameof(job));
        if (prompt.Count + 1 > ContextSize)
            throw new ArgumentException($"the prompt has {prompt.Count} tokens but the context holds {ContextSize} (the prompt and at least one generated token must fit)", nameof(job));
        int vocab = _model.Config.VocabSize;
        for (int i = 0; i < prompt.Count; i++)
        {
            if ((uint)prompt[i] >= (uint)vocab)
                throw new ArgumentException($"prompt token {i} is id {prompt[i]}, outside the vocabulary of {vocab} tokens", nameof(job));
        }
        if (job.MaxTokens < 0) throw new ArgumentException($"max tokens must be >= 0, got {job.MaxTokens}", nameof(job));
        if (job.TopLogprobs < 0 || job.TopLogprobs > MaxTopLogprobs)
            throw new ArgumentException($"top logprobs must be between 0 and {MaxTopLogprobs}, got {job.TopLogprobs}", nameof(job));
        if (job.Sampling is null) throw new ArgumentException("the job has no sampling options", nameof(job));
        var sampler = new Sampler(vocab, job.Sampling); // validates the options and the logit bias ids
        int historyCapacity = (int)Math.Min((long)prompt.Count + job.MaxTokens, ContextSize + 1L);
        return new ScheduledJob(job, sampler, historyCapacity, cancellation);
    }

    private TimeSpan EstimateRetryAfter(int waiting)
    {
        // Jobs ahead leave in waves of MaxRunning, each about as long as a recent job took.
        double rounds = Math.Ceiling((waiting + 1.0) / _options.MaxRunning);
        return TimeSpan.FromSeconds(Math.Clamp(Math.Ceiling(rounds * Volatile.Read(ref _averageJobSeconds)), 1, 300));
    }

    private void Wake()
    {
        lock (_gate) Monitor.Pulse(_gate);
    }

    // ---- The scheduler thread ----

    private void Run()
    {
        try
        {
            while (true)
            {
                lock (_gate)
                {
                    while (!_stopping && _running.Count == 0 && !AnyWaitingLocked()) Monitor.Wait(_gate);
                    if (_stopping) break;
                }
                DropCancelled();
                Admit();
                if (PlanStep(out int rows, out int jobs)) RunStep(rows, jobs);
                Publish();
            }
        }
        catch (Exception error)
        {
            // A bug in the loop itself: every job learns of it; later submissions are refused.
            _fault = error;
            lock (_gate) _stopping = true;
        }
        Shutdown();
    }

    private bool AnyWaitingLocked() => _waiting.Count > 0;

    private void DropCancelled()
    {
        for (int i = _running.Count - 1; i >= 0; i--)
        {
            if (_running[i].Cancellation.IsCancellationRequested) Finish(_running[i], JobFinishReason.Cancelled);
        }
        List<ScheduledJob>? cancelled = null;
        lock (_gate)
        {
            for (var node = _waiting.First; node is not null;)
            {
                var next = node.Next;
                if (node.Value.Cancellation.IsCancellationRequested)
                {
                    (cancelled ??= []).Add(node.Value);
                    _waiting.Remove(node);
                }
                node = next;
            }
        }
        if (cancelled is not null)
        {
            foreach (var job in cancelled) Finish(job, JobFinishReason.Cancelled);
        }
    }

    // Admits from the front of the queue while a slot is free and the job's pending tokens fit in the KV pool.
    private void Admit()
    {
        while (_running.Count < _options.MaxRunning)
        {
            ScheduledJob? job;
            lock (_gate) job = _waiting.First?.Value;
            if (job is null) return;
            // The same job did not fit and nothing has been released since: it still does not.
            if (job == _blockedJob && _releasesAtBlockedAdmission == _releases && _running.Count > 0) return;

            var sequence = _engine.CreateSequence();
            int reused = _engine.AttachCachedPrefix(sequence, job.History.AsSpan(0, job.Length));
            if (!_engine.TryReserve(sequence, job.Length - reused))
            {
                _engine.Release(sequence);
                if (_running.Count == 0)
                {
                    // Cannot happen (the pool holds a full context and nothing else runs); never spin on it.
                    lock (_gate) _waiting.RemoveFirst();
                    Fail(job, new InvalidOperationException($"the KV pool cannot hold the job's {job.Length} tokens"));
                    continue;
                }
                _blockedJob = job;
                _releasesAtBlockedAdmission = _releases;
                return;
            }
            lock (_gate)
            {
                _waiting.RemoveFirst();
                Volatile.Write(ref _waitingCount, _waiting.Count);
            }

            long now = Stopwatch.GetTimestamp();
            if (!job.EverAdmitted)
            {
                job.EverAdmitted = true;
                job.AdmittedAt = now;
                job.CachedPromptTokens = Math.Min(reused, job.PromptLength);
                Interlocked.Add(ref _lookupTokens, job.PromptLength);
                Interlocked.Add(ref _hitTokens, job.CachedPromptTokens);
            }
            else
            {
                job.RecomputedTokens += Math.Max(0, job.ComputedHighWater - reused);
            }
            job.Sequence = sequence;
            job.AdmissionOrder = _admissions++;
            _running.Add(job);
        }
    }

    // Decodes first (one token each, oldest first, preempting the newest job when a block is missing), then
    // prompt chunks in admission order with what is left of the budget.
    private bool PlanStep(out int rows, out int jobs)
    {
        rows = 0;
        jobs = 0;
        int budget = _options.MaxBatchTokens;
        for (int i = 0; i < _running.Count; i++)
        {
            var job = _running[i];
            if (job.PendingTokens != 1) continue;
            while (!_engine.TryReserve(job.Sequence!, 1))
            {
                var victim = _running[^1];
                Preempt(victim);
                if (victim == job) break;
            }
            if (job.Sequence is null) break; // the job preempted itself: it was the newest, nothing after it remains
            AddRows(job, 1, ref rows, ref jobs);
        }
        for (int i = 0; i < _running.Count && rows < budget; i++)
        {
            var job = _running[i];
            int pending = job.PendingTokens;
            if (pending <= 1) continue;
            int chunk = Math.Min(pending, budget - rows);
            if (!_engine.TryReserve(job.Sequence!, chunk)) continue; // reserved at admission; never expected
            AddRows(job, chunk, ref rows, ref jobs);
        }
        return rows > 0;
    }

    private void AddRows(ScheduledJob job, int count, ref int rows, ref int jobs)
    {
        var sequence = job.Sequence!;
        int start = sequence.Length;
        bool reachesEnd = start + count == job.Length;
        for (int r = 0; r < count; r++)
        {
            _items[rows++] = new BatchItem(sequence, job.History[start + r], reachesEnd && r == count - 1);
        }
        job.StepTokens = count;
        job.LogitRow = -1;
        _stepJobs[jobs++] = job;
    }

    private void RunStep(int rows, int jobs)
    {
        int logitRows = 0;
        for (int j = 0; j < jobs; j++)
        {
            var job = _stepJobs[j];
            if (job.Sequence!.Length + job.StepTokens == job.Length) job.LogitRow = logitRows++;
        }

        long start = Stopwatch.GetTimestamp();
        try
        {
            _engine.Step(_items.AsSpan(0, rows), _logits);
        }
        catch (Exception error)
        {
            // Not any one job's fault: every job of the step fails, the others and the scheduler go on.
            for (int j = 0; j < jobs; j++) Fail(_stepJobs[j], error);
            Array.Clear(_stepJobs, 0, jobs);
            return;
        }
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        Interlocked.Increment(ref _steps);

        for (int j = 0; j < jobs; j++)
        {
            var job = _stepJobs[j];
            _stepJobs[j] = null!;
            job.CpuSeconds += seconds * _model.Threads * job.StepTokens / rows;
            job.ComputedHighWater = Math.Max(job.ComputedHighWater, job.Sequence!.Length);
            if (job.LogitRow >= 0) Advance(job, _logits.AsSpan(job.LogitRow * _adjusted.Length, _adjusted.Length));
        }
    }

    // Samples the job's next token from the logits after its last token and hands it to the reader at once.
    private void Advance(ScheduledJob job, ReadOnlySpan<float> logits)
    {
        try
        {
            var history = job.History.AsSpan(0, job.Length);
            int token = job.Sampler.Sample(logits, history);
            if (job.Job.StopAtEndOfGeneration && _model.Tokenizer.IsEndOfGeneration(token))
            {
                Finish(job, JobFinishReason.Stop);
                return;
            }

            // Log-probabilities of the distribution after bias and penalties, before temperature and truncation.
            job.Sampler.ApplyBiasAndPenalties(logits, history, _adjusted);
            float max = TensorPrimitives.Max(_adjusted);
            TensorPrimitives.Subtract(_adjusted, max, _scratch);
            TensorPrimitives.Exp(_scratch, _scratch);
            float logNormalizer = max + MathF.Log(TensorPrimitives.Sum(_scratch));
            IReadOnlyList<TokenLogprob> top = [];
            if (job.Job.TopLogprobs > 0)
            {
                int count = Math.Min(job.Job.TopLogprobs, _adjusted.Length);
                var alternatives = new TokenLogprob[count];
                var ids = _topIds.AsSpan(0, count);
                count = TokenRanking.SelectTop(_adjusted, ids);
                for (int i = 0; i < count; i++) alternatives[i] = new TokenLogprob(ids[i], _adjusted[ids[i]] - logNormalizer);
                top = alternatives;
            }

            job.History[job.Length++] = token;
            if (job.FirstTokenAt == 0) job.FirstTokenAt = Stopwatch.GetTimestamp();
            job.Output.Writer.TryWrite(new GeneratedToken(token, _adjusted[token] - logNormalizer, top));
            // The new token is computed only if another may follow: budget left and room in the context for it.
            if (job.Generated >= job.Job.MaxTokens || job.Length - 1 >= ContextSize) Finish(job, JobFinishReason.Length);
        }
        catch (Exception error)
        {
            Fail(job, error);
        }
    }

    private void Preempt(ScheduledJob job)
    {
        ReleaseSequence(job);
        _running.Remove(job);
        lock (_gate)
        {
            _waiting.AddFirst(job);
            Volatile.Write(ref _waitingCount, _waiting.Count);
        }
        Interlocked.Increment(ref _preemptions);
    }

    private void ReleaseSequence(ScheduledJob job)
    {
        if (job.Sequence is null) return;
        _engine.Release(job.Sequence);
        job.Sequence = null;
        _releases++;
    }

    private void Fail(ScheduledJob job, Exception error) => Finish(job, JobFinishReason.Failed, error);

    // Ends a job wherever it is (running or already out of the queue): blocks back, channel closed, result set.
    private void Finish(ScheduledJob job, JobFinishReason reason, Exception? error = null)
    {
        ReleaseSequence(job);
        _running.Remove(job);
        var usage = Complete(job, reason, error);
        double seconds = usage.TotalTime.TotalSeconds;
        Volatile.Write(ref _averageJobSeconds, 0.8 * Volatile.Read(ref _averageJobSeconds) + 0.2 * seconds);
    }

    private static JobUsage Complete(ScheduledJob job, JobFinishReason reason, Exception? error = null)
    {
        var usage = job.Usage(Stopwatch.GetTimestamp());
        job.CancellationRegistration.Dispose();
        job.Output.Writer.TryComplete();
        job.Completion.TrySetResult(new JobResult(reason, usage, error));
        return usage;
    }

    private void Publish()
    {
        Volatile.Write(ref _runningCount, _running.Count);
        Volatile.Write(ref _blocksUsed, _engine.UsedBlocks);
        lock (_gate) Volatile.Write(ref _waitingCount, _waiting.Count);
    }

    private void Shutdown()
    {
        List<ScheduledJob> left;
        lock (_gate)
        {
            left = [.. _waiting];
            _waiting.Clear();
        }
        left.AddRange(_running);
        foreach (var job in left)
        {
            if (_fault is null) Finish(job, JobFinishReason.Cancelled);
            else Fail(job, _fault);
        }
        Publish();
        _engine.Dispose();
    }

    /// <summary>Stops the thread after the current step; jobs still queued or running end as cancelled.</summary>
    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        if (Thread.CurrentThread != _thread) _thread.Join();
        return ValueTask.CompletedTask;
    }
}
