namespace Frugal.Engine.Serving;

/// <summary>How a <see cref="ContinuousBatchingScheduler"/> shares the model between jobs.</summary>
public sealed record SchedulerOptions
{
    /// <summary>Most sequences advancing together (<c>--parallel</c>); at most <see cref="MaxBatchTokens"/>.</summary>
    public int MaxRunning { get; init; } = 8;

    /// <summary>Most tokens (prompt + generated) one sequence may hold; 0 = the model's context, capped at 4096.</summary>
    public int ContextSize { get; init; }

    /// <summary>Bytes of KV cache for all sequences (<c>--kv-memory</c>); 0 = one full context per running sequence.
    /// Must hold at least one full context.</summary>
    public long KvMemoryBytes { get; init; }

    /// <summary>Most tokens one step computes: every running decode gets one, prefill chunks share the rest.</summary>
    public int MaxBatchTokens { get; init; } = 64;

    /// <summary>Most jobs waiting for a slot; a submission beyond it gets <see cref="SchedulerOverloadedException"/>.</summary>
    public int QueueCapacity { get; init; } = 64;

    /// <summary>Token positions per KV block.</summary>
    public int BlockTokens { get; init; } = 16;

    /// <summary>Reuse the KV blocks of prompt prefixes computed before.</summary>
    public bool PrefixCaching { get; init; } = true;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value out of range.</summary>
    public void Validate()
    {
        if (MaxBatchTokens < 1 || MaxBatchTokens > 4096)
            throw new ArgumentException($"max batch tokens must be between 1 and 4096, got {MaxBatchTokens}", nameof(MaxBatchTokens));
        if (MaxRunning < 1 || MaxRunning > MaxBatchTokens)
            throw new ArgumentException($"parallel sequences must be between 1 and the max batch tokens ({MaxBatchTokens}), got {MaxRunning}", nameof(MaxRunning));
        if (ContextSize < 0) throw new ArgumentException($"context size must be >= 0 (0 = the model's), got {ContextSize}", nameof(ContextSize));
        if (KvMemoryBytes < 0) throw new ArgumentException($"KV memory must be >= 0 bytes (0 = default), got {KvMemoryBytes}", nameof(KvMemoryBytes));
        if (QueueCapacity < 1) throw new ArgumentException($"queue capacity must be at least 1, got {QueueCapacity}", nameof(QueueCapacity));
        if (BlockTokens < 1 || BlockTokens > 1024) throw new ArgumentException($"KV block tokens must be between 1 and 1024, got {BlockTokens}", nameof(BlockTokens));
    }
}
