using Frugal.Models.Architectures;
using Frugal.Models.Transformer;
using Frugal.Numerics.Threading;

namespace Frugal.Models;

/// <summary>
/// One sequence being evaluated: its KV cache (one contiguous block as large as the context) and scratch
/// buffers. Not thread-safe. Many sequences sharing a paged cache: <see cref="Batching.BatchEngine"/>.
/// </summary>
public sealed unsafe class InferenceSession : IDisposable
{
    private readonly ModelConfig _config;
    private readonly KvCache _cache;
    private readonly BatchForward _forward;
    private readonly NativeBuffer<float> _lastLogits; // [vocab]
    private readonly NativeBuffer<int> _blockTable;   // [1]: the single block, id 0
    private readonly int[] _positions = new int[BatchForward.DefaultMaxTokens];   // [rows] of the pass being run
    private readonly nint[] _tables = new nint[BatchForward.DefaultMaxTokens];    // [rows]: every row uses _blockTable
    private readonly int[] _logitRows = new int[BatchForward.DefaultMaxTokens];   // [rows]: 0, 1, 2…

    internal InferenceSession(ArchitectureBinding model, WorkerPool pool, int contextSize)
    {
        _config = model.Config;
        ContextSize = contextSize;
        _cache = new KvCache(_config.Layers, _config.KvHeads, _config.HeadDim, blockTokens: contextSize, blockCount: 1);
        _forward = new BatchForward(model, _cache, pool, contextSize);
        _lastLogits = new NativeBuffer<float>(_config.VocabSize);
        _blockTable = new NativeBuffer<int>(1);
        Array.Fill(_tables, (nint)_blockTable.Pointer);
        for (int i = 0; i < _logitRows.Length; i++) _logitRows[i] = i;
    }

    /// <summary>Sees the activations of every later evaluation (calibration tools such as imatrix and prune).</summary>
    public ForwardObserver? Observer
    {
        get => _forward.Observer;
        set => _forward.Observer = value;
    }

    /// <summary>Number of tokens already in the KV cache.</summary>
    public int Position { get; private set; }

    public int ContextSize { get; }

    public int VocabSize => _config.VocabSize;

    /// <summary>Forgets every token (position 0).</summary>
    public void Reset() => Position = 0;

    /// <summary>Forgets the tokens from <paramref name="position"/> on (keeps the prefix before it).</summary>
    public void Rewind(int position)
    {
        if (position < 0 || position > Position) throw new ArgumentOutOfRangeException(nameof(position), $"can rewind to 0…{Position}, not {position}");
        Position = position;
    }

    /// <summary>Appends tokens and returns the logits after the last one ([VocabSize]); valid until the next call.</summary>
    public ReadOnlySpan<float> Evaluate(ReadOnlySpan<int> tokens)
    {
        Check(tokens);
        for (int start = 0; start < tokens.Length; start += _forward.MaxTokens)
        {
            var block = tokens.Slice(start, Math.Min(_forward.MaxTokens, tokens.Length - start));
            bool last = start + block.Length == tokens.Length;
            Forward(block, _lastLogits.Pointer, last ? _logitRows.AsSpan(block.Length - 1, 1) : default);
        }
        return new ReadOnlySpan<float>(_lastLogits.Pointer, _config.VocabSize);
    }

    /// <summary>Appends tokens and writes the logits after every one of them: logits [tokens.Length, VocabSize].</summary>
    public void EvaluateAll(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        Check(tokens);
        if (logits.Length < (long)tokens.Length * VocabSize)
            throw new ArgumentException($"logits holds {logits.Length} floats, {tokens.Length} × {VocabSize} needed", nameof(logits));
        fixed (float* output = logits)
        {
            for (int start = 0; start < tokens.Length; start += _forward.MaxTokens)
            {
                var block = tokens.Slice(start, Math.Min(_forward.MaxTokens, tokens.Length - start));
                Forward(block, output + (long)start * VocabSize, _logitRows.AsSpan(0, block.Length));
            }
        }
    }

    // One pass over consecutive positions from Position on; the rows in logitRows write their logits.
    private void Forward(ReadOnlySpan<int> block, float* logits, ReadOnlySpan<int> logitRows)
    {
        for (int t = 0; t < block.Length; t++) _positions[t] = Position + t;
        _forward.Forward(block, _positions.AsSpan(0, block.Length), _tables.AsSpan(0, block.Length), logitRows, logits);
        Position += block.Length;
    }

    private void Check(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty) throw new ArgumentException("no tokens to evaluate", nameof(tokens));
        if (Position + tokens.Length > ContextSize)
            throw new InvalidOperationException($"context is full: {Position} + {tokens.Length} tokens exceed the context size {ContextSize}");
        foreach (int token in tokens)
        {
            if ((uint)token >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {token} is outside the vocabulary (0…{VocabSize - 1})");
        }
    }

    public void Dispose()
    {
        _forward.Dispose();
        _cache.Dispose();
        _lastLogits.Dispose();
        _blockTable.Dispose();
    }
}
