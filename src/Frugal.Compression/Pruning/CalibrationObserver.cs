using Frugal.Compression.Evaluation;
using Frugal.Models;
using Frugal.Models.Transformer;

namespace Frugal.Compression.Pruning;

/// <summary>
/// Gathers the statistics pruning needs while calibration text runs through a model: for every layer the sum of
/// squares of each FFN intermediate neuron (the input of ffn_down), and the cosine similarity between the residual
/// stream entering each layer and the stream leaving it.
/// </summary>
public sealed unsafe class CalibrationObserver : ForwardObserver
{
    private readonly int _layers;
    private readonly int _dim;
    // [layers][ffn]: Σ a_j² over all calibration tokens.
    private readonly double[][] _squareSums;
    // [layers]: Σ cos(x_in, x_out) over all calibration tokens.
    private readonly double[] _cosineSums;
    // [MaxTokens × dim] copy of the residual stream that entered the previous layer, for the current batch.
    private float[] _previous = [];
    private int _previousLayer = -1;

    public CalibrationObserver(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        _layers = config.Layers;
        _dim = config.EmbeddingDim;
        _squareSums = new double[_layers][];
        for (int l = 0; l < _layers; l++) _squareSums[l] = new double[config.FeedForwardDim];
        _cosineSums = new double[_layers];
    }

    /// <summary>Calibration tokens seen by every layer.</summary>
    public long Tokens { get; private set; }

    /// <summary>mean(a_j²) over the calibration tokens for neuron j of <paramref name="layer"/>'s FFN ([ffn]).</summary>
    public double[] MeanSquareActivation(int layer)
    {
        RequireTokens();
        return _squareSums[layer].Select(s => s / Tokens).ToArray();
    }

    /// <summary>Mean cosine similarity between the residual stream entering and leaving each layer ([layers]).</summary>
    public double[] MeanLayerSimilarity()
    {
        RequireTokens();
        return _cosineSums.Select(s => s / Tokens).ToArray();
    }

    public override void MatMulInput(int layer, in WeightMatrix weights, float* input, int tokens, int cols)
    {
        if (layer < 0 || !weights.Name.EndsWith(".ffn_down.weight", StringComparison.Ordinal)) return;
        var sums = _squareSums[layer];
        if (cols != sums.Length) throw new InvalidOperationException($"{weights.Name} has {cols} inputs, the model's FFN has {sums.Length}");
        for (int t = 0; t < tokens; t++)
        {
            float* row = input + (long)t * cols;
            for (int j = 0; j < cols; j++) sums[j] += (double)row[j] * row[j];
        }
    }

    public override void LayerInput(int layer, float* x, int tokens, int dim)
    {
        if (dim != _dim) throw new InvalidOperationException($"the residual stream has {dim} values, the model's dimension is {_dim}");
        var current = new ReadOnlySpan<float>(x, tokens * dim);
        if (layer > 0 && _previousLayer == layer - 1)
        {
            for (int t = 0; t < tokens; t++)
                _cosineSums[layer - 1] += Cosine(_previous.AsSpan(t * dim, dim), current.Slice(t * dim, dim));
        }
        if (layer == _layers)
        {
            Tokens += tokens;
            _previousLayer = -1;
            return;
        }
        if (_previous.Length < tokens * dim) _previous = new float[tokens * dim];
        current.CopyTo(_previous);
        _previousLayer = layer;
    }

    /// <summary>Runs <paramref name="model"/> over the calibration text (chunks of <paramref name="contextSize"/>) with a new observer.</summary>
    public static CalibrationObserver Collect(Model model, string text, int contextSize, int? maxChunks = null,
        Action<int, int>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        int[][] chunks = TextChunks.Split(model.Tokenizer, text, contextSize, maxChunks);
        var observer = new CalibrationObserver(model.Config);
        using var session = model.CreateSession(contextSize);
        session.Observer = observer;
        for (int c = 0; c < chunks.Length; c++)
        {
            cancellation.ThrowIfCancellationRequested();
            session.Reset();
            // Only the last logits are asked for: the observer sees every layer of every token anyway.
            session.Evaluate(chunks[c]);
            progress?.Invoke(c + 1, chunks.Length);
        }
        return observer;
    }

    /// <summary>cos(a, b) in double; 0 when either vector is zero.</summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            aa += (double)a[i] * a[i];
            bb += (double)b[i] * b[i];
        }
        return aa == 0 || bb == 0 ? 0 : dot / Math.Sqrt(aa * bb);
    }

    private void RequireTokens()
    {
        if (Tokens == 0) throw new InvalidOperationException("no calibration tokens have been observed");
    }
}
