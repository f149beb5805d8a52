using Frugal.Models.Architectures;
using Frugal.Numerics;
using Frugal.Numerics.Threading;
using Frugal.Quants;

namespace Frugal.Models.Transformer;

/// <summary>
/// The fast forward pass: a block of up to <see cref="MaxTokens"/> tokens of one sequence goes through every
/// layer together, so each weight row is read once per block (prefill) and activations are quantized once per
/// row block. All buffers are allocated here, once; a step allocates nothing.
/// </summary>
public sealed unsafe class BatchForward : IDisposable
{
    public const int MaxTokens = 64;

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

    /// <summary>Sees the activations of every forward pass when set (calibration tools); null in serving.</summary>
    public ForwardObserver? Observer { get; set; }

    public BatchForward(ArchitectureBinding model, KvCache cache, WorkerPool pool)
    {
        _config = model.Config;
        _weights = model.Weights;
        _options = model.Options;
        _cache = cache;
        var c = _config;
        int widest = Math.Max(Math.Max(c.EmbeddingDim, c.QueryDim), c.FeedForwardDim);
        _activations = new ActivationQuantizer(pool, MaxTokens, widest);
        _matMul = new MatMul(pool);
        _attention = new Attention(pool, cache, c);
        _x = new(MaxTokens * c.EmbeddingDim);
        _normed = new(MaxTokens * c.EmbeddingDim);
        _q = new(MaxTokens * c.QueryDim);
        _k = new(MaxTokens * c.KvDim);
        _v = new(MaxTokens * c.KvDim);
        _attended = new(MaxTokens * c.QueryDim);
        _projected = new(MaxTokens * c.EmbeddingDim);
        _gate = new(MaxTokens * c.FeedForwardDim);
        _up = new(MaxTokens * c.FeedForwardDim);
        _cos = new(c.RopeDims / 2);
        _sin = new(c.RopeDims / 2);
    }

    /// <summary>
    /// Runs tokens [n ≤ MaxTokens] at positions startPosition… and writes the logits of the last
    /// <paramref name="logitRows"/> tokens to logits [logitRows, vocab].
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, int startPosition, float* logits, int logitRows)
    {
        var c = _config;
        int n = tokens.Length;
        if (n == 0 || n > MaxTokens) throw new ArgumentOutOfRangeException(nameof(tokens), $"a block holds 1 to {MaxTokens} tokens, got {n}");
        if (logitRows < 0 || logitRows > n) throw new ArgumentOutOfRangeException(nameof(logitRows));
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
            _matMul.Run(layer.Query, _activations, n, _q.Pointer, qDim);
            _matMul.Run(layer.Key, _activations, n, _k.Pointer, kvDim);
            _matMul.Run(layer.Value, _activations, n, _v.Pointer, kvDim);
            for (int t = 0; t < n; t++)
            {
                float* q = _q.Pointer + t * qDim, k = _k.Pointer + t * kvDim, v = _v.Pointer + t * kvDim;
                if (layer.QueryBias is not null)
                {
                    VectorOps.AddInPlace(q, layer.QueryBias.Pointer, qDim);
                    VectorOps.AddInPlace(k, layer.KeyBias!.Pointer, kvDim);
                    VectorOps.AddInPlace(v, layer.ValueBias!.Pointer, kvDim);
                }
                int position = startPosition + t;
                Rope.Angles(position, c.RopeDims, c.RopeBase, c.RopeFrequencyScale,
                    _weights.RopeFrequencyFactors is { } factors ? factors.Pointer : null, _cos.Pointer, _sin.Pointer);
                Rope.Apply(q, c.Heads, c.HeadDim, c.RopeDims, _options.RopeStyle, _cos.Pointer, _sin.Pointer);
                Rope.Apply(k, c.KvHeads, c.HeadDim, c.RopeDims, _options.RopeStyle, _cos.Pointer, _sin.Pointer);
                VectorOps.ToHalf(k, _cache.Key(l, position), kvDim);
                VectorOps.ToHalf(v, _cache.Value(l, position), kvDim);
            }
            _attention.Run(l, _q.Pointer, startPosition, n, _attended.Pointer);
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
            _matMul.Run(layer.Gate, _activations, n, _gate.Pointer, ffn);
            _matMul.Run(layer.Up, _activations, n, _up.Pointer, ffn);
            // Row by row: ggml's SiLU works in chunks of 8 within each row, so rows must not run together.
            for (int t = 0; t < n; t++) VectorOps.SwiGlu(_gate.Pointer + t * ffn, _up.Pointer + t * ffn, ffn);
            _activations.Prepare(_gate.Pointer, n, ffn);
            Observer?.MatMulInput(l, layer.Down, _gate.Pointer, n, ffn);
            _matMul.Run(layer.Down, _activations, n, _projected.Pointer, dim);
            VectorOps.AddInPlace(x, _projected.Pointer, n * dim);
        }

        Observer?.LayerInput(c.Layers, x, n, dim);
        if (logitRows == 0) return;
        int first = n - logitRows;
        for (int t = first; t < n; t++) VectorOps.RmsNorm(x + t * dim, _weights.OutputNorm.Pointer, normed + (t - first) * dim, dim, c.RmsNormEpsilon);
        _activations.Prepare(normed, logitRows, dim);
        Observer?.MatMulInput(-1, _weights.Output, normed, logitRows, dim);
        _matMul.Run(_weights.Output, _activations, logitRows, logits, c.VocabSize);
    }

    public void Dispose()
    {
        _activations.Dispose();
        _attention.Dispose();
        foreach (var buffer in new[] { _x, _normed, _q, _k, _v, _attended, _projected, _gate, _up, _cos, _sin }) buffer.Dispose();
    }
}
