using Frugal.Models.Architectures;
using Frugal.Numerics;
using Frugal.Numerics.Threading;
using Frugal.Quants;

namespace Frugal.Models.Transformer;

/// <summary>
/// The fast forward pass: a block of up to <see cref="MaxTokens"/> token rows goes through every layer together,
/// so each weight row is read once per block and activations are quantized once per row block. The rows may
/// come from one sequence (a prefill chunk) or from many (batched decode mixed with prefill chunks): each row
/// carries its own position and its sequence's block table, writes its K and V there and attends over that
/// sequence only. Every row is computed exactly as it would be alone, so a sequence's logits never depend on
/// what it was batched with. All buffers are allocated here, once; a step allocates nothing.
/// </summary>
public sealed unsafe class BatchForward : IDisposable
{
    /// <summary>Rows per pass unless the caller chooses otherwise.</summary>
    public const int DefaultMaxTokens = 64;

    private readonly ModelConfig _config;
    private readonly TransformerWeights _weights;
    private readonly TransformerOptions _options;
    private readonly KvCache _cache;
    private readonly ActivationQuantizer _activations;
    private readonly MatMul _matMul;
    private readonly Attention _attention;
    private readonly NativeBuffer<float> _x;        // [MaxTokens, dim]  residual stream
    private readonly NativeBuffer<float> _normed;   // [MaxTokens, dim]  normalized input of a sub-layer
    private readonly NativeBuffer<float> _q;        // [MaxTokens, qDim]
    private readonly NativeBuffer<float> _k;        // [MaxTokens, kvDim]
    private readonly NativeBuffer<float> _v;        // [MaxTokens, kvDim]
    private readonly NativeBuffer<float> _attended; // [MaxTokens, qDim]
    private readonly NativeBuffer<float> _projected;// [MaxTokens, dim]
    private readonly NativeBuffer<float> _gate;     // [MaxTokens, ffn]
    private readonly NativeBuffer<float> _up;       // [MaxTokens, ffn]
    private readonly NativeBuffer<float> _cos;      // [ropeDims/2]
    private readonly NativeBuffer<float> _sin;      // [ropeDims/2]
    private readonly NativeBuffer<int> _positions;  // [MaxTokens]  position of each row in its sequence
    private readonly NativeBuffer<nint> _tables;    // [MaxTokens]  int* block table of each row's sequence

    /// <summary>Sees the activations of every forward pass when set (calibration tools); null in serving.</summary>
    public ForwardObserver? Observer { get; set; }

    /// <param name="maxContext">The most positions one sequence may reach (its block table covers them).</param>
    /// <param name="maxTokens">Rows per pass (1…4096).</param>
    public BatchForward(ArchitectureBinding model, KvCache cache, WorkerPool pool, int maxContext, int maxTokens = DefaultMaxTokens)
    {
        if (maxTokens < 1 || maxTokens > 4096) throw new ArgumentOutOfRangeException(nameof(maxTokens), $"a pass holds 1 to 4096 rows, got {maxTokens}");
        if (maxContext < 1) throw new ArgumentOutOfRangeException(nameof(maxContext), $"the context must hold at least one position, got {maxContext}");
        _config = model.Config;
        _weights = model.Weights;
        _options = model.Options;
        _cache = cache;
        MaxTokens = maxTokens;
        MaxContext = maxContext;
        var c = _config;
        if (cache.Layers != c.Layers || cache.KvDim != c.KvDim)
            throw new ArgumentException($"the cache has {cache.Layers} layers of width {cache.KvDim}, the model {c.Layers} of width {c.KvDim}", nameof(cache));
        int widest = Math.Max(Math.Max(c.EmbeddingDim, c.QueryDim), c.FeedForwardDim);
        _activations = new ActivationQuantizer(pool, maxTokens, widest);
        _matMul = new MatMul(pool);
        _attention = new Attention(pool, cache, c, maxContext);
        _x = new(maxTokens * c.EmbeddingDim);
        _normed = new(maxTokens * c.EmbeddingDim);
        _q = new(maxTokens * c.QueryDim);
        _k = new(maxTokens * c.KvDim);
        _v = new(maxTokens * c.KvDim);
        _attended = new(maxTokens * c.QueryDim);
        _projected = new(maxTokens * c.EmbeddingDim);
        _gate = new(maxTokens * c.FeedForwardDim);
        _up = new(maxTokens * c.FeedForwardDim);
        _cos = new(c.RopeDims / 2);
        _sin = new(c.RopeDims / 2);
        _positions = new(maxTokens);
        _tables = new(maxTokens);
    }

    public int MaxTokens { get; }

    public int MaxContext { get; }

    /// <summary>
    /// Runs token rows [n ≤ MaxTokens]: row t is token tokens[t] at position positions[t] of the sequence whose
    /// block table (an int* of at least positions[t] / BlockTokens + 1 block ids) is blockTables[t]. Rows of one
    /// sequence must come in position order, and every earlier position of a row's sequence must already be in
    /// the cache or in an earlier row. Writes the logits of rows logitRows[0], logitRows[1]… to logits
    /// [logitRows.Length, vocab], in that order.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions, ReadOnlySpan<nint> blockTables, ReadOnlySpan<int> logitRows, float* logits)
    {
        int n = tokens.Length;
        if (n == 0 || n > MaxTokens) throw new ArgumentOutOfRangeException(nameof(tokens), $"a pass holds 1 to {MaxTokens} rows, got {n}");
        if (positions.Length != n || blockTables.Length != n)
            throw new ArgumentException($"{n} tokens need {n} positions and {n} block tables, got {positions.Length} and {blockTables.Length}");
        if (logitRows.Length > n) throw new ArgumentOutOfRangeException(nameof(logitRows), $"{logitRows.Length} logit rows asked of {n} rows");
        if (logitRows.Length > 0 && logits == null) throw new ArgumentNullException(nameof(logits));
        foreach (int row in logitRows)
        {
            if ((uint)row >= (uint)n) throw new ArgumentOutOfRangeException(nameof(logitRows), $"logit row {row} is not one of the {n} rows");
        }
        for (int t = 0; t < n; t++)
        {
            if ((uint)tokens[t] >= (uint)_config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {tokens[t]} is outside the vocabulary (0…{_config.VocabSize - 1})");
            if ((uint)positions[t] >= (uint)MaxContext)
                throw new ArgumentOutOfRangeException(nameof(positions), $"position {positions[t]} is outside the context (0…{MaxContext - 1})");
            // Every block the row reads must exist: a bad id would read outside the cache.
            int* table = (int*)blockTables[t];
            if (table == null) throw new ArgumentNullException(nameof(blockTables), $"row {t} has no block table");
            for (int b = 0; b <= positions[t] / _cache.BlockTokens; b++)
            {
                if ((uint)table[b] >= (uint)_cache.BlockCount)
                    throw new ArgumentOutOfRangeException(nameof(blockTables), $"row {t} names block {table[b]}; the cache has {_cache.BlockCount}");
            }
            _positions.Pointer[t] = positions[t];
            _tables.Pointer[t] = blockTables[t];
        }
        Run(tokens, logitRows, logits);
    }

    private void Run(ReadOnlySpan<int> tokens, ReadOnlySpan<int> logitRows, float* logits)
    {
        var c = _config;
        int n = tokens.Length;
        int dim = c.EmbeddingDim, qDim = c.QueryDim, kvDim = c.KvDim, ffn = c.FeedForwardDim;
        float* x = _x.Pointer, normed = _normed.Pointer;

        // Embedding lookup: x[t] = token_embd row of tokens[t], dequantized.
        var embedding = _weights.TokenEmbedding;
        var dequantize = QuantKernels.Get(embedding.Type).Dequantize;
        for (int t = 0; t < n; t++) dequantize(embedding.Row(tokens[t]), x + t * dim, dim);

        for (int l = 0; l < c.Layers; l++)
        {
            var layer = _weights.Layers[l];
            Observer?.LayerInput(l, x, n, dim);

            // Attention: normed = rmsnorm(x); q, k, v = projections (+ biases); RoPE; append k, v to the cache.
            for (int t = 0; t < n; t++) VectorOps.RmsNorm(x + t * dim, layer.AttentionNorm.Pointer, normed + t * dim, dim, c.RmsNormEpsilon);
            _activations.Prepare(normed, n, dim);
            if (Observer is { } observer)
            {
                observer.MatMulInput(l, layer.Query, normed, n, dim);
                observer.MatMulInput(l, layer.Key, normed, n, dim);
                observer.MatMulInput(l, layer.Value, normed, n, dim);
            }
            // Q, K and V share one input: one pool dispatch for the three (the target list lives on the stack).
            _matMul.Run(_activations, n, [new MatMulTarget(layer.Query, _q.Pointer, qDim),
                                          new MatMulTarget(layer.Key, _k.Pointer, kvDim),
                                          new MatMulTarget(layer.Value, _v.Pointer, kvDim)]);
            for (int t = 0; t < n; t++)
            {
                float* q = _q.Pointer + t * qDim, k = _k.Pointer + t * kvDim, v = _v.Pointer + t * kvDim;
                if (layer.QueryBias is not null)
                {
                    VectorOps.AddInPlace(q, layer.QueryBias.Pointer, qDim);
                    VectorOps.AddInPlace(k, layer.KeyBias!.Pointer, kvDim);
                    VectorOps.AddInPlace(v, layer.ValueBias!.Pointer, kvDim);
                }
                int position = _positions.Pointer[t];
                Rope.Angles(position, c.RopeDims, c.RopeBase, c.RopeFrequencyScale,
                    _weights.RopeFrequencyFactors is { } factors ? factors.Pointer : null, _cos.Pointer, _sin.Pointer);
                Rope.Apply(q, c.Heads, c.HeadDim, c.RopeDims, _options.RopeStyle, _cos.Pointer, _sin.Pointer);
                Rope.Apply(k, c.KvHeads, c.HeadDim, c.RopeDims, _options.RopeStyle, _cos.Pointer, _sin.Pointer);
                int block = ((int*)_tables.Pointer[t])[position / _cache.BlockTokens], offset = position % _cache.BlockTokens;
                for (int h = 0; h < c.KvHeads; h++)
                {
                    VectorOps.ToHalf(k + h * c.HeadDim, _cache.Key(block, l, h, offset), c.HeadDim);
                    VectorOps.ToHalf(v + h * c.HeadDim, _cache.Value(block, l, h, offset), c.HeadDim);
                }
            }
            _attention.Run(l, _q.Pointer, _positions.Pointer, (int**)_tables.Pointer, n, _attended.Pointer);
            _activations.Prepare(_attended.Pointer, n, qDim);
            Observer?.MatMulInput(l, layer.AttentionOutput, _attended.Pointer, n, qDim);
            _matMul.Run(layer.AttentionOutput, _activations, n, _projected.Pointer, dim);
            VectorOps.AddInPlace(x, _projected.Pointer, n * dim);

            // Feed-forward: x += down(silu(gate(normed)) * up(normed)).
            for (int t = 0; t < n; t++) VectorOps.RmsNorm(x + t * dim, layer.FeedForwardNorm.Pointer, normed + t * dim, dim, c.RmsNormEpsilon);
            _activations.Prepare(normed, n, dim);
            if (Observer is { } ffnObserver)
            {
                ffnObserver.MatMulInput(l, layer.Gate, normed, n, dim);
                ffnObserver.MatMulInput(l, layer.Up, normed, n, dim);
            }
            _matMul.Run(_activations, n, [new MatMulTarget(layer.Gate, _gate.Pointer, ffn),
                                          new MatMulTarget(layer.Up, _up.Pointer, ffn)]);
            // Row by row: ggml's SiLU works in chunks of 8 within each row, so rows must not run together.
            for (int t = 0; t < n; t++) VectorOps.SwiGlu(_gate.Pointer + t * ffn, _up.Pointer + t * ffn, ffn);
            _activations.Prepare(_gate.Pointer, n, ffn);
            Observer?.MatMulInput(l, layer.Down, _gate.Pointer, n, ffn);
            _matMul.Run(layer.Down, _activations, n, _projected.Pointer, dim);
            VectorOps.AddInPlace(x, _projected.Pointer, n * dim);
        }

        Observer?.LayerInput(c.Layers, x, n, dim);
        int outputs = logitRows.Length;
        if (outputs == 0) return;
        for (int i = 0; i < outputs; i++) VectorOps.RmsNorm(x + logitRows[i] * dim, _weights.OutputNorm.Pointer, normed + i * dim, dim, c.RmsNormEpsilon);
        _activations.Prepare(normed, outputs, dim);
        Observer?.MatMulInput(-1, _weights.Output, normed, outputs, dim);
        _matMul.Run(_weights.Output, _activations, outputs, logits, c.VocabSize);
    }

    public void Dispose()
    {
        _activations.Dispose();
        _attention.Dispose();
        foreach (var buffer in new[] { _x, _normed, _q, _k, _v, _attended, _projected, _gate, _up, _cos, _sin }) buffer.Dispose();
        _positions.Dispose();
        _tables.Dispose();
    }
}
