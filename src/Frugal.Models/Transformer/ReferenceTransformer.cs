using Frugal.Models.Architectures;
using Frugal.Numerics;
using Frugal.Quants;

namespace Frugal.Models.Transformer;

/// <summary>
/// The oracle: a plain scalar forward pass, one token at a time, read top to bottom like llama2.c's run.c.
/// Weights are dequantized row by row to F32, activations stay F32 (no activation quantization, F32 KV cache),
/// sums are taken in double. Slow on purpose; the fast path (<see cref="BatchForward"/>) is tested against it.
/// </summary>
public sealed unsafe class ReferenceTransformer
{
    private readonly ModelConfig _c;
    private readonly TransformerWeights _w;
    private readonly TransformerOptions _options;
    private readonly float[][] _keys;   // [layers][contextSize · kvDim]
    private readonly float[][] _values; // [layers][contextSize · kvDim]
    private readonly int _contextSize;

    public ReferenceTransformer(ArchitectureBinding model, int contextSize)
    {
        _c = model.Config;
        _w = model.Weights;
        _options = model.Options;
        _contextSize = contextSize;
        _keys = new float[_c.Layers][];
        _values = new float[_c.Layers][];
        for (int l = 0; l < _c.Layers; l++)
        {
            _keys[l] = new float[contextSize * _c.KvDim];
            _values[l] = new float[contextSize * _c.KvDim];
        }
    }

    /// <summary>Consumes <paramref name="token"/> at <paramref name="position"/> and returns the logits [vocab].</summary>
    public float[] Forward(int token, int position)
    {
        if (position >= _contextSize) throw new ArgumentOutOfRangeException(nameof(position));
        int dim = _c.EmbeddingDim, hd = _c.HeadDim, kvDim = _c.KvDim;

        float[] x = Row(_w.TokenEmbedding, token); // [dim]
        for (int l = 0; l < _c.Layers; l++)
        {
            var layer = _w.Layers[l];

            // Attention block.
            float[] xb = RmsNorm(x, layer.AttentionNorm);                       // [dim]
            float[] q = MatVec(layer.Query, xb, layer.QueryBias);               // [heads · hd]
            float[] k = MatVec(layer.Key, xb, layer.KeyBias);                   // [kvHeads · hd]
            float[] v = MatVec(layer.Value, xb, layer.ValueBias);               // [kvHeads · hd]
            ApplyRope(q, _c.Heads, position);
            ApplyRope(k, _c.KvHeads, position);
            Array.Copy(k, 0, _keys[l], position * kvDim, kvDim);
            Array.Copy(v, 0, _values[l], position * kvDim, kvDim);

            float[] attended = new float[_c.QueryDim];                          // [heads · hd]
            int group = _c.Heads / _c.KvHeads;
            for (int h = 0; h < _c.Heads; h++)
            {
                int kvBase = h / group * hd;
                float[] scores = new float[position + 1];
                for (int j = 0; j <= position; j++)
                {
                    double s = 0;
                    for (int i = 0; i < hd; i++) s += (double)q[h * hd + i] * _keys[l][j * kvDim + kvBase + i];
                    scores[j] = (float)(s / Math.Sqrt(hd));
                }
                ScalarOps.Softmax(scores);
                for (int i = 0; i < hd; i++)
                {
                    double s = 0;
                    for (int j = 0; j <= position; j++) s += (double)scores[j] * _values[l][j * kvDim + kvBase + i];
                    attended[h * hd + i] = (float)s;
                }
            }
            float[] projected = MatVec(layer.AttentionOutput, attended, null);   // [dim]
            for (int i = 0; i < dim; i++) x[i] += projected[i];

            // Feed-forward block (SwiGLU).
            xb = RmsNorm(x, layer.FeedForwardNorm);
            float[] gate = MatVec(layer.Gate, xb, null);                        // [ffn]
            float[] up = MatVec(layer.Up, xb, null);                            // [ffn]
            for (int i = 0; i < gate.Length; i++) gate[i] = ScalarOps.Silu(gate[i]) * up[i];
            float[] down = MatVec(layer.Down, gate, null);                      // [dim]
            for (int i = 0; i < dim; i++) x[i] += down[i];
        }

        return MatVec(_w.Output, RmsNorm(x, _w.OutputNorm), null);              // [vocab]
    }

    private float[] RmsNorm(float[] x, NativeBuffer<float> weight)
    {
        var result = new float[x.Length];
        ScalarOps.RmsNorm(x, weight.AsSpan(), result, _c.RmsNormEpsilon);
        return result;
    }

    private static float[] Row(in WeightMatrix m, int row)
    {
        var result = new float[m.Cols];
        fixed (float* dst = result) QuantKernels.Get(m.Type).Dequantize(m.Row(row), dst, m.Cols);
        return result;
    }

    private static float[] MatVec(in WeightMatrix m, float[] x, NativeBuffer<float>? bias)
    {
        var result = new float[m.Rows];
        for (int r = 0; r < m.Rows; r++)
        {
            float[] w = Row(m, r);
            result[r] = (float)ScalarOps.Dot(w, x) + (bias is null ? 0 : bias.Pointer[r]);
        }
        return result;
    }

    private void ApplyRope(float[] x, int heads, int position)
    {
        int half = _c.RopeDims / 2;
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < half; i++)
            {
                double frequency = Math.Pow(_c.RopeBase, -2.0 * i / _c.RopeDims);
                if (_w.RopeFrequencyFactors is { } factors) frequency /= factors.Pointer[i];
                double angle = position * _c.RopeFrequencyScale * frequency;
                float cos = (float)Math.Cos(angle), sin = (float)Math.Sin(angle);
                // Normal style rotates adjacent pairs, NEOX style pairs dimension i with i + half.
                int a = h * _c.HeadDim + (_options.RopeStyle == RopeStyle.Normal ? 2 * i : i);
                int b = h * _c.HeadDim + (_options.RopeStyle == RopeStyle.Normal ? 2 * i + 1 : i + half);
                float xa = x[a], xb = x[b];
                x[a] = xa * cos - xb * sin;
                x[b] = xa * sin + xb * cos;
            }
        }
    }
}
