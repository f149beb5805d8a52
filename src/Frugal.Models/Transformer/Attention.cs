using System.Runtime.Intrinsics;
using Frugal.Numerics;
using Frugal.Numerics.Threading;
using Frugal.Quants.Float;

namespace Frugal.Models.Transformer;

/// <summary>
/// Causal grouped-query attention of a block of token rows over the half-precision KV cache, one (row, head)
/// pair per work item. Each row belongs to a sequence (its block table) and sits at a position of it; it
/// attends to positions 0…position of that sequence only, so rows of different sequences can share a pass.
/// The arithmetic follows llama.cpp's CPU path (no flash attention) step for step, so logits agree bit for bit
/// where llama.cpp's do, and a row's result never depends on the other rows: the query is rounded to half and
/// dotted with each key by ggml's F16 dot; scores are scaled and soft-maxed by ggml's softmax; the weights are
/// rounded to half; each output dimension is ggml's F16 dot of the weights with that dimension of the values,
/// accumulated in the same 32 partial sums (position mod 32) and folded in the same order.
/// </summary>
internal sealed unsafe class Attention : IParallelWork, IDisposable
{
    private const int Lanes = 32; // ggml_vec_dot_f16 on AVX2: 4 accumulators × 8 lanes

    private readonly WorkerPool _pool;
    private readonly KvCache _cache;
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;
    private readonly float _scale;
    private readonly int _scoreStride;
    private readonly NativeBuffer<float> _scores;   // [chunks (one per pool thread), maxContext rounded up to 8]
    private readonly NativeBuffer<Half> _halves;    // [chunks, headDim + maxContext rounded up to 8]: the query, then the weights, in half
    private readonly NativeBuffer<float> _partials; // [chunks, 32, headDim]: per-lane sums of weight · value
    private float* _queries;
    private float* _output;
    private int* _positions;
    private int** _blockTables;
    private int _layer;
    private int _tokens;

    /// <param name="maxContext">The most positions one sequence may hold (sizes the per-thread score rows).</param>
    public Attention(WorkerPool pool, KvCache cache, ModelConfig config, int maxContext)
    {
        _pool = pool;
        _cache = cache;
        _heads = config.Heads;
        _kvHeads = config.KvHeads;
        _headDim = config.HeadDim;
        _scale = 1.0f / MathF.Sqrt(config.HeadDim);
        _scoreStride = (maxContext + 7) & ~7;
        _scores = new NativeBuffer<float>((long)pool.ThreadCount * _scoreStride);
        _halves = new NativeBuffer<Half>((long)pool.ThreadCount * (_headDim + _scoreStride));
        _partials = new NativeBuffer<float>((long)pool.ThreadCount * Lanes * _headDim);
    }

    /// <summary>
    /// queries [tokens, heads·headDim] (RoPE applied); row t is at positions[t] of the sequence whose block table
    /// is blockTables[t]. The cache already holds that sequence's keys and values up to positions[t] inclusive.
    /// Writes output [tokens, heads·headDim].
    /// </summary>
    public void Run(int layer, float* queries, int* positions, int** blockTables, int tokens, float* output)
    {
        _layer = layer;
        _queries = queries;
        _positions = positions;
        _blockTables = blockTables;
        _tokens = tokens;
        _output = output;
        _pool.Run(this);
    }

    public void Execute(int chunkIndex, int chunkCount)
    {
        float* scores = _scores.Pointer + (long)chunkIndex * _scoreStride;
        Half* query = _halves.Pointer + (long)chunkIndex * (_headDim + _scoreStride);
        Half* weights = query + _headDim;
        float* partials = _partials.Pointer + (long)chunkIndex * Lanes * _headDim;
        int group = _heads / _kvHeads;
        int queryDim = _heads * _headDim;
        int kvDim = _cache.KvDim, blockTokens = _cache.BlockTokens;
        for (int item = chunkIndex; item < _tokens * _heads; item += chunkCount)
        {
            int t = item / _heads, h = item % _heads;
            int kvOffset = h / group * _headDim;
            int visible = _positions[t] + 1;
            int* table = _blockTables[t];

            // Scores: (half query · half key) · 1/√d, then softmax over the visible positions. Positions past
            // them are masked (-∞ → weight 0) up to a multiple of 8, as ggml's padded KV view would be.
            VectorOps.ToHalf(_queries + (long)t * queryDim + h * _headDim, query, _headDim);
            for (int start = 0, b = 0; start < visible; start += blockTokens, b++)
            {
                Half* keys = _cache.Key(table[b], _layer, 0) + kvOffset;
                int count = Math.Min(blockTokens, visible - start);
                for (int i = 0; i < count; i++) scores[start + i] = F16.DotHalf(keys + (long)i * kvDim, query, _headDim) * _scale;
            }
            int padded = (visible + 7) & ~7;
            for (int j = visible; j < padded; j++) scores[j] = float.NegativeInfinity;
            VectorOps.Softmax(scores, padded);
            VectorOps.ToHalf(scores, weights, visible);

            WeightedValues(weights, visible, table, kvOffset, partials, _output + (long)t * queryDim + h * _headDim);
        }
    }

    /// <summary>output[d] = Σ_j weight[j] · V[j][d], with ggml_vec_dot_f16's lane structure (position j feeds partial j mod 32).</summary>
    private void WeightedValues(Half* weights, int visible, int* table, int kvOffset, float* partials, float* output)
    {
        int d = _headDim, kvDim = _cache.KvDim, blockTokens = _cache.BlockTokens;
        new Span<float>(partials, Lanes * d).Clear();
        float* value = output; // the output row doubles as the converted value row until the final fold
        for (int start = 0, b = 0; start < visible; start += blockTokens, b++)
        {
            Half* values = _cache.Value(table[b], _layer, 0) + kvOffset;
            int count = Math.Min(blockTokens, visible - start);
            for (int i = 0; i < count; i++)
            {
                int j = start + i;
                VectorOps.ToSingle(values + (long)i * kvDim, value, d);
                VectorOps.FusedMultiplyAdd(value, (float)weights[j], partials + (j % Lanes) * d, d);
            }
        }

        // Fold the 32 partials as GGML_F32x8_REDUCE does: accumulators (0+2)+(1+3), then lanes (l+4), then pairs.
        for (int i = 0; i < d; i++)
        {
            float* p = partials + i;
            float l0 = (p[0 * d] + p[16 * d]) + (p[8 * d] + p[24 * d]);
            float l1 = (p[1 * d] + p[17 * d]) + (p[9 * d] + p[25 * d]);
            float l2 = (p[2 * d] + p[18 * d]) + (p[10 * d] + p[26 * d]);
            float l3 = (p[3 * d] + p[19 * d]) + (p[11 * d] + p[27 * d]);
            float l4 = (p[4 * d] + p[20 * d]) + (p[12 * d] + p[28 * d]);
            float l5 = (p[5 * d] + p[21 * d]) + (p[13 * d] + p[29 * d]);
            float l6 = (p[6 * d] + p[22 * d]) + (p[14 * d] + p[30 * d]);
            float l7 = (p[7 * d] + p[23 * d]) + (p[15 * d] + p[31 * d]);
            output[i] = ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7));
        }
    }

    public void Dispose()
    {
        _scores.Dispose();
        _halves.Dispose();
        _partials.Dispose();
    }
}
