using Frugal.Models.Transformer;

namespace Frugal.Models.Batching;

/// <summary>How a <see cref="BatchEngine"/> sizes its paged KV cache and its forward passes.</summary>
public sealed record BatchEngineOptions
{
    /// <summary>Bytes of K and V storage (half precision) for every sequence together. 0 = room for 4 full contexts.
    /// Must hold at least one full context, so a lone sequence can always run to the end.</summary>
    public long KvMemoryBytes { get; init; }

    /// <summary>Token positions per KV block.</summary>
    public int BlockTokens { get; init; } = 16;

    /// <summary>Most token rows in one step (one forward pass).</summary>
    public int MaxBatchTokens { get; init; } = BatchForward.DefaultMaxTokens;

    /// <summary>Share the blocks of already computed prompt prefixes between sequences.</summary>
    public bool PrefixCaching { get; init; } = true;

    /// <summary>Most tokens one sequence may hold; 0 = the model's context, capped at <see cref="Model.DefaultContextCap"/>.</summary>
    public int ContextSize { get; init; }
}

/// <summary>One token row of a step: <paramref name="Token"/> appended to <paramref name="Sequence"/> at its next
/// position; <paramref name="WantsLogits"/> asks for the logits after it.</summary>
public readonly record struct BatchItem(BatchSequence Sequence, int Token, bool WantsLogits);

/// <summary>
/// Runs many sequences through a model together over a paged KV cache: a pool of fixed-size blocks sized from
/// a memory budget, a block table per sequence, and a prefix cache that lets a new sequence attach the blocks of
/// a prompt prefix computed before. A step takes token rows of any sequences (prefill chunks and decode tokens
/// mixed), runs every matrix once for all of them, and returns the logits asked for. A sequence's logits are
/// bit-identical to what an <see cref="InferenceSession"/> computes for it alone. The forward passes run on the
/// model's worker pool, so nothing else may evaluate on the same <see cref="Model"/> at the same time.
/// Not thread-safe; a step allocates nothing.
/// </summary>
public sealed unsafe class BatchEngine : IDisposable
{
    private readonly ModelConfig _config;
    private readonly KvCache _cache;
    private readonly BatchForward _forward;
    private readonly KvBlockPool _blocks;
    private readonly int[] _rowTokens;    // [MaxBatchTokens] token of each row of the step
    private readonly int[] _rowPositions; // [MaxBatchTokens] its position in its sequence
    private readonly nint[] _rowTables;   // [MaxBatchTokens] its sequence's block table (int*)
    private readonly int[] _logitRows;    // [MaxBatchTokens] rows whose logits were asked for, in item order
    private long _nextSequenceId;
    private bool _disposed;

    public BatchEngine(Model model, BatchEngineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new BatchEngineOptions();
        _config = model.Config;
        if (options.ContextSize < 0) throw new ArgumentException($"context size must be >= 0 (0 = the model's), got {options.ContextSize}", nameof(options));
        if (options.BlockTokens < 1 || options.BlockTokens > 1024)
            throw new ArgumentException($"a KV block holds 1 to 1024 tokens, got {options.BlockTokens}", nameof(options));
        if (options.MaxBatchTokens < 1 || options.MaxBatchTokens > 4096)
            throw new ArgumentException($"a step holds 1 to 4096 tokens, got {options.MaxBatchTokens}", nameof(options));
        if (options.KvMemoryBytes < 0) throw new ArgumentException($"KV memory must be >= 0 bytes (0 = default), got {options.KvMemoryBytes}", nameof(options));

        ContextSize = options.ContextSize == 0 ? Math.Min(_config.ContextLength, Model.DefaultContextCap) : options.ContextSize;
        BlockTokens = options.BlockTokens;
        MaxBatchTokens = options.MaxBatchTokens;
        PrefixCaching = options.PrefixCaching;
        long blockBytes = KvCache.BlockBytes(_config.Layers, _config.KvDim, BlockTokens);
        int blocksPerContext = (ContextSize + BlockTokens - 1) / BlockTokens;
        long budget = options.KvMemoryBytes == 0 ? 4 * blocksPerContext * blockBytes : options.KvMemoryBytes;
        long blockCount = budget / blockBytes;
        if (blockCount < blocksPerContext)
            throw new ArgumentException(
                $"KV memory of {budget} bytes holds {blockCount} blocks of {BlockTokens} tokens ({blockBytes} bytes each), " +
                $"fewer than the {blocksPerContext} one sequence of {ContextSize} tokens needs", nameof(options));
        if (blockCount > int.MaxValue / 2) throw new ArgumentException($"KV memory of {budget} bytes is more blocks than this engine counts", nameof(options));

        _cache = new KvCache(_config.Layers, _config.KvHeads, _config.HeadDim, BlockTokens, (int)blockCount);
        try
        {
            _forward = new BatchForward(model.Binding, _cache, model.Pool, ContextSize, MaxBatchTokens);
        }
        catch
        {
            _cache.Dispose();
            throw;
        }
        _blocks = new KvBlockPool((int)blockCount, BlockTokens);
        _rowTokens = new int[MaxBatchTokens];
        _rowPositions = new int[MaxBatchTokens];
        _rowTables = new nint[MaxBatchTokens];
        _logitRows = new int[MaxBatchTokens];
    }

    /// <summary>Most tokens one sequence may hold.</summary>
    public int ContextSize { get; }

    public int BlockTokens { get; }

    public int MaxBatchTokens { get; }

    public bool PrefixCaching { get; }

    public int VocabSize => _config.VocabSize;

    /// <summary>The block book-keeping: used, cached (reference count 0, evictable) and free counts.</summary>
    public KvBlockPool Blocks => _blocks;

    public int TotalBlocks => _blocks.TotalBlocks;

    /// <summary>Blocks held by live sequences (cached prefix blocks that nobody holds are not counted).</summary>
    public int UsedBlocks => _blocks.UsedBlocks;

    /// <summary>Bytes of KV storage (K and V, half precision).</summary>
    public long KvBytes => _cache.ByteSize;

    /// <summary>Prompt tokens looked up in the prefix cache, and how many of them were found.</summary>
    public long PrefixLookupTokens { get; private set; }

    public long PrefixHitTokens { get; private set; }

    /// <summary>Sees the activations of every step when set (calibration tools).</summary>
    public ForwardObserver? Observer
    {
        get => _forward.Observer;
        set => _forward.Observer = value;
    }

    /// <summary>KV bytes one token position takes in every layer.</summary>
    public static long BytesPerToken(ModelConfig config) => KvCache.BlockBytes(config.Layers, config.KvDim, 1);

    /// <summary>A new, empty sequence (no blocks yet).</summary>
    public BatchSequence CreateSequence()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new BatchSequence(this, _nextSequenceId++, ContextSize, BlockTokens);
    }

    /// <summary>
    /// Attaches to an empty sequence the cached blocks that hold the longest prefix of <paramref name="promptTokens"/>
    /// (whole blocks only, and never the last prompt token, whose logits must be computed). Returns the number of
    /// tokens reused; the sequence continues from there.
    /// </summary>
    public int AttachCachedPrefix(BatchSequence sequence, ReadOnlySpan<int> promptTokens)
    {
        CheckLive(sequence);
        if (sequence.Length != 0 || sequence.BlockCount != 0)
            throw new InvalidOperationException($"{sequence} is not empty; a cached prefix can only start a sequence");
        if (promptTokens.Length > ContextSize)
            throw new ArgumentException($"the prompt has {promptTokens.Length} tokens; a sequence holds at most {ContextSize}", nameof(promptTokens));
        PrefixLookupTokens += promptTokens.Length;
        if (!PrefixCaching || promptTokens.IsEmpty) return 0;

        int reusableBlocks = (promptTokens.Length - 1) / BlockTokens;
        int attached = 0;
        while (attached < reusableBlocks)
        {
            var tokens = promptTokens.Slice(attached * BlockTokens, BlockTokens);
            ulong hash = KvBlockPool.ChainHash(sequence.ChainHash, tokens);
            if (!_blocks.TryFindCached(hash, tokens, sequence.ChainSerial, out int block, out long serial)) break;
            _blocks.AddReference(block);
            sequence.BlockTable[attached++] = block;
            sequence.ChainHash = hash;
            sequence.ChainSerial = serial;
        }
        int reused = attached * BlockTokens;
        promptTokens[..reused].CopyTo(sequence.TokenBuffer);
        sequence.BlockCount = attached;
        sequence.RegisteredBlocks = attached;
        sequence.Length = reused;
        sequence.CachedTokens = reused;
        PrefixHitTokens += reused;
        return reused;
    }

    /// <summary>
    /// Makes sure the sequence has blocks for <paramref name="extraTokens"/> more tokens, taking free blocks and then
    /// evicting cached ones (least recently released first). Returns false, and takes nothing, when the pool cannot
    /// provide them.
    /// </summary>
    public bool TryReserve(BatchSequence sequence, int extraTokens)
    {
        CheckLive(sequence);
        if (extraTokens < 0) throw new ArgumentOutOfRangeException(nameof(extraTokens), $"cannot reserve {extraTokens} tokens");
        if (sequence.Length + extraTokens > ContextSize)
            throw new ArgumentOutOfRangeException(nameof(extraTokens),
                $"{sequence} cannot grow by {extraTokens} tokens: a sequence holds at most {ContextSize}");
        int needed = (sequence.Length + extraTokens + BlockTokens - 1) / BlockTokens - sequence.BlockCount;
        if (needed <= 0) return true;
        if (_blocks.AvailableBlocks < needed) return false;
        for (int i = 0; i < needed; i++) sequence.BlockTable[sequence.BlockCount++] = _blocks.Allocate();
        return true;
    }

    /// <summary>
    /// One forward pass over <paramref name="items"/> (1…MaxBatchTokens rows, a sequence's rows in order). Each
    /// row's sequence must have room reserved for it. Writes the logits of the rows that want them to
    /// <paramref name="logits"/> [rows wanting logits, vocab], in item order; full blocks then join the prefix cache.
    /// </summary>
    public void Step(ReadOnlySpan<BatchItem> items, Span<float> logits)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int n = items.Length;
        if (n == 0 || n > MaxBatchTokens) throw new ArgumentException($"a step holds 1 to {MaxBatchTokens} tokens, got {n}", nameof(items));
        int wanted = 0;
        try
        {
            for (int i = 0; i < n; i++)
            {
                var item = items[i];
                CheckLive(item.Sequence);
                var sequence = item.Sequence;
                if ((uint)item.Token >= (uint)VocabSize)
                    throw new ArgumentException($"token id {item.Token} is outside the vocabulary (0…{VocabSize - 1})", nameof(items));
                int position = sequence.Length + sequence.PendingRows;
                if (position >= sequence.BlockCount * BlockTokens)
                    throw new InvalidOperationException(
                        $"{sequence} has blocks for {sequence.BlockCount * BlockTokens} tokens but this step writes position {position}; reserve first");
                sequence.PendingRows++;
                _rowTokens[i] = item.Token;
                _rowPositions[i] = position;
                _rowTables[i] = sequence.BlockTablePointer;
                if (item.WantsLogits) _logitRows[wanted++] = i;
            }
            if (logits.Length < (long)wanted * VocabSize)
                throw new ArgumentException($"logits holds {logits.Length} floats, {wanted} × {VocabSize} needed", nameof(logits));

            fixed (float* output = logits)
            {
                _forward.Forward(_rowTokens.AsSpan(0, n), _rowPositions.AsSpan(0, n), _rowTables.AsSpan(0, n), _logitRows.AsSpan(0, wanted), output);
            }
            foreach (var item in items)
            {
                var sequence = item.Sequence;
                sequence.TokenBuffer[sequence.Length++] = item.Token;
            }
        }
        finally
        {
            foreach (var item in items)
            {
                if (item.Sequence is { } sequence && sequence.Owner == this) sequence.PendingRows = 0;
            }
        }
        if (!PrefixCaching) return;
        foreach (var item in items) RegisterFullBlocks(item.Sequence);
    }

    /// <summary>Gives back the sequence's blocks: registered ones stay cached for later prompts, the rest are freed.</summary>
    public void Release(BatchSequence sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (sequence.Owner != this) throw new ArgumentException($"{sequence} belongs to another engine", nameof(sequence));
        if (sequence.IsReleased) return;
        // Last block first: the most shared first blocks become the most recently released, evicted last.
        for (int b = sequence.BlockCount - 1; b >= 0; b--) _blocks.Release(sequence.BlockTable[b]);
        sequence.BlockCount = 0;
        sequence.Length = 0;
        sequence.IsReleased = true;
    }

    // Registers the blocks the last step filled, continuing the sequence's chain (cheap when there are none).
    private void RegisterFullBlocks(BatchSequence sequence)
    {
        int full = sequence.Length / BlockTokens;
        while (sequence.RegisteredBlocks < full && sequence.ChainSerial != KvBlockPool.BrokenChain)
        {
            int b = sequence.RegisteredBlocks;
            var tokens = sequence.TokenBuffer.AsSpan(b * BlockTokens, BlockTokens);
            ulong hash = KvBlockPool.ChainHash(sequence.ChainHash, tokens);
            sequence.ChainSerial = _blocks.Register(sequence.BlockTable[b], hash, tokens, sequence.ChainSerial);
            sequence.ChainHash = hash;
            sequence.RegisteredBlocks++;
        }
    }

    private void CheckLive(BatchSequence sequence)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(sequence);
        if (sequence.Owner != this) throw new ArgumentException($"{sequence} belongs to another engine", nameof(sequence));
        if (sequence.IsReleased) throw new InvalidOperationException($"{sequence} was released");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _forward.Dispose();
        _cache.Dispose();
    }
}
