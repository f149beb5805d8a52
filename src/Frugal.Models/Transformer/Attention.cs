using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Frugal.Numerics;
using Frugal.Numerics.Threading;
using Frugal.Quants.Float;

namespace Frugal.Models.Transformer;

/// <summary>
/// Causal grouped-query attention of a block of token rows over the half-precision KV cache, one (row, KV head)
/// pair per work item. Each row belongs to a sequence (its block table) and sits at a position of it; it
/// attends to positions 0…position of that sequence only, so rows of different sequences can share a pass.
/// The arithmetic follows llama.cpp's CPU path (no flash attention) step for step, so logits agree bit for bit
/// where llama.cpp's do, and a row's result never depends on the other rows: the query is rounded to half and
/// dotted with each key by ggml's F16 dot; scores are scaled and soft-maxed by ggml's softmax; the weights are
/// rounded to half; each output dimension is ggml's F16 dot of the weights with that dimension of the values,
/// accumulated in the same 32 partial sums (position mod 32) and folded in the same order.
/// Speed: a work item is one KV head for a run of up to <see cref="RowsPerRun"/> consecutive rows of one sequence
/// (a prefill chunk; a decode row is a run of one). It widens the head's keys and values to float once and serves
/// every row of the run and every query head of the group from them (widening a half is exact, so the products
/// are the ones ggml forms); the weighted sum of values runs lane by lane with the partial sums in registers,
/// which keeps each partial's order of additions.
/// </summary>
internal sealed unsafe class Attention : IParallelWork, IDisposable
{
    private const int Lanes = 32; // ggml_vec_dot_f16 on AVX2: 4 accumulators × 8 lanes

    /// <summary>Most rows one work item serves from one widening of the cache (bounds an item's share of the work).</summary>
    public const int RowsPerRun = 16;

    private readonly WorkerPool _pool;
    private readonly KvCache _cache;
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;
    private readonly float _scale;
    private readonly int _scoreStride;
    private readonly long _chunkFloats;
    private readonly NativeBuffer<float> _scratch;  // [chunks (one per pool thread), _chunkFloats]: see ChunkScratch
    private readonly NativeBuffer<Half> _halves;    // [chunks, headDim + maxContext rounded up to 8]: query, then weights, in half
    private float* _queries;
    private float* _output;
    private int* _positions;
    private int** _blockTables;
    private int _layer;
    private int _tokens;
    private int[] _runStarts = new int[64];   // [runs + 1]: first row of each run of consecutive rows of one sequence
    private int _runs;

    /// <param name="maxContext">The most positions one sequence may hold (sizes the per-thread rows).</param>
    public Attention(WorkerPool pool, KvCache cache, ModelConfig config, int maxContext)
    {
        _pool = pool;
        _cache = cache;
        _heads = config.Heads;
        _kvHeads = config.KvHeads;
        _headDim = config.HeadDim;
        _scale = 1.0f / MathF.Sqrt(config.HeadDim);
        _scoreStride = (maxContext + 7) & ~7;
        // keys [stride, d] + values [stride, d] + query [d] + scores [stride] + weights [stride] + partials [32, d], each 16-float aligned
        _chunkFloats = Align16(2L * _scoreStride * _headDim) + Align16(_headDim) + 2 * Align16(_scoreStride) + Align16(Lanes * _headDim);
        _scratch = new NativeBuffer<float>(pool.ThreadCount * _chunkFloats);
        _halves = new NativeBuffer<Half>((long)pool.ThreadCount * (_headDim + _scoreStride));
    }

    private static long Align16(long floats) => (floats + 15) & ~15L;

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
        FindRuns();
        _pool.Run(this);
    }

    /// <summary>Splits the rows into runs: consecutive rows of the same sequence at consecutive positions, at most RowsPerRun long.</summary>
    private void FindRuns()
    {
        if (_runStarts.Length < _tokens + 1) _runStarts = new int[_tokens + 1];   // grows once per larger pass, never per token
        _runs = 0;
        for (int t = 0; t < _tokens; t++)
        {
            bool continues = t > 0 && t - _runStarts[_runs - 1] < RowsPerRun && _blockTables[t] == _blockTables[t - 1]
                && _positions[t] == _positions[t - 1] + 1;
            if (!continues) _runStarts[_runs++] = t;
        }
        _runStarts[_runs] = _tokens;
    }

    public void Execute(int chunkIndex, int chunkCount)
    {
        int d = _headDim;
        float* keys = _scratch.Pointer + chunkIndex * _chunkFloats;        // [visible, d] widened keys of one KV head
        float* values = keys + (long)_scoreStride * d;                    // [visible, d] widened values
        float* query = keys + Align16(2L * _scoreStride * d);              // [d] the query rounded to half, widened
        float* scores = query + Align16(d);                                // [visible rounded up to 8]
        float* weights = scores + Align16(_scoreStride);                   // [visible] soft-maxed, rounded to half, widened
        float* partials = weights + Align16(_scoreStride);                 // [32, d] per-lane sums of weight · value
        Half* halfQuery = _halves.Pointer + (long)chunkIndex * (d + _scoreStride);
        Half* halfWeights = halfQuery + d;

        int group = _heads / _kvHeads;
        int queryDim = _heads * d;
        for (int item = chunkIndex; item < _runs * _kvHeads; item += chunkCount)
        {
            int run = item / _kvHeads, kvHead = item % _kvHeads;
            int first = _runStarts[run], end = _runStarts[run + 1];
            WidenKeysAndValues(_blockTables[first], kvHead * d, _positions[end - 1] + 1, keys, values);

            for (int t = first; t < end; t++)
            {
                int visible = _positions[t] + 1;
                for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
                {
                    // Scores: (half query · half key) · 1/√d, then softmax over the visible positions. Positions past
                    // them are masked (-∞ → weight 0) up to a multiple of 8, as ggml's padded KV view would be.
                    VectorOps.ToHalf(_queries + (long)t * queryDim + h * d, halfQuery, d);
                    Widen(halfQuery, query, d);
                    for (int j = 0; j < visible; j++) scores[j] = F16OrderDot(keys + (long)j * d, query, d) * _scale;
                    int padded = (visible + 7) & ~7;
                    for (int j = visible; j < padded; j++) scores[j] = float.NegativeInfinity;
                    VectorOps.Softmax(scores, padded);
                    VectorOps.ToHalf(scores, halfWeights, visible);
                    Widen(halfWeights, weights, visible);

                    WeightedValues(weights, values, visible, d, partials);
                    FoldPartials(partials, d, _output + (long)t * queryDim + h * d);
                }
            }
        }
    }

    /// <summary>keys/values [visible, d] = the KV head at <paramref name="kvOffset"/> of positions 0…visible-1, widened to float.</summary>
    private void WidenKeysAndValues(int* table, int kvOffset, int visible, float* keys, float* values)
    {
        int d = _headDim, kvDim = _cache.KvDim, blockTokens = _cache.BlockTokens;
        for (int start = 0, b = 0; start < visible; start += blockTokens, b++)
        {
            Half* blockKeys = _cache.Key(table[b], _layer, 0) + kvOffset;
            Half* blockValues = _cache.Value(table[b], _layer, 0) + kvOffset;
            int count = Math.Min(blockTokens, visible - start);
            for (int i = 0; i < count; i++)
            {
                Widen(blockKeys + (long)i * kvDim, keys + (long)(start + i) * d, d);
                Widen(blockValues + (long)i * kvDim, values + (long)(start + i) * d, d);
            }
        }
    }

    /// <summary>
    /// dst [n] = src [n] widened from half, exactly (TensorPrimitives' conversion is scalar on this runtime; this is
    /// Fp16Bits' vector widening, bit-identical with the scalar cast for all 65,536 halves).
    /// </summary>
    internal static void Widen(Half* src, float* dst, int n)
    {
        int i = 0;
        if (Simd.Use256)
        {
            for (; i <= n - 16; i += 16)
            {
                var (low, high) = Vector256.Widen(Vector256.Load((ushort*)src + i));
                Fp16Bits.ToSingle(low).Store(dst + i);
                Fp16Bits.ToSingle(high).Store(dst + i + 8);
            }
            for (; i <= n - 8; i += 8)
                Fp16Bits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)src + i).ToVector256Unsafe())).Store(dst + i);
        }
        for (; i < n; i++) dst[i] = (float)src[i];
    }

    /// <summary>
    /// ggml_vec_dot_f16 (AVX2) on rows already widened from half: four 8-lane accumulators over 32 elements per
    /// step, combined (0+2)+(1+3), summed in hsum order, then each leftover product rounded to float and added in
    /// double. x [n], y [n].
    /// </summary>
    internal static float F16OrderDot(float* x, float* y, int n)
    {
        int main = n & ~31;
        double sum;
        if (Simd.Use256 && main > 0)
        {
            Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            for (int i = 0; i < main; i += 32)
            {
                acc0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.Load(y + i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 8), Vector256.Load(y + i + 8), acc1);
                acc2 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 16), Vector256.Load(y + i + 16), acc2);
                acc3 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 24), Vector256.Load(y + i + 24), acc3);
            }
            var lanes = (acc0 + acc2) + (acc1 + acc3);
            var quad = lanes.GetLower() + lanes.GetUpper();   // t_l = lane l + lane l+4
            sum = (quad.GetElement(0) + quad.GetElement(1)) + (quad.GetElement(2) + quad.GetElement(3));
        }
        else sum = F16OrderDotMainScalar(x, y, main);
        for (int i = main; i < n; i++) sum += (double)(x[i] * y[i]);
        return (float)sum;
    }

    /// <summary>The scalar reference of <see cref="F16OrderDot"/>'s main part: the same 32 accumulators, one lane at a time.</summary>
    private static float F16OrderDotMainScalar(float* x, float* y, int main)
    {
        float* acc = stackalloc float[Lanes];
        new Span<float>(acc, Lanes).Clear();
        for (int i = 0; i < main; i += Lanes)
        {
            for (int l = 0; l < Lanes; l++) acc[l] = MathF.FusedMultiplyAdd(x[i + l], y[i + l], acc[l]);
        }
        float* lanes = stackalloc float[8];
        for (int l = 0; l < 8; l++) lanes[l] = (acc[l] + acc[16 + l]) + (acc[8 + l] + acc[24 + l]);
        return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    }

    /// <summary>
    /// partials[l, i] = Σ over positions j ≡ l (mod 32), in increasing j, of fma(values[j, i], weights[j], ·),
    /// starting from 0: ggml_vec_dot_f16's lane l for output dimension i. Lane by lane, so each partial stays in a
    /// register while its positions stream past. weights [visible], values [visible, d], partials [32, d].
    /// </summary>
    internal static void WeightedValues(float* weights, float* values, int visible, int d, float* partials)
    {
        for (int lane = 0; lane < Lanes; lane++)
        {
            float* partial = partials + lane * d;
            int i = 0;
            if (Simd.Use256)
            {
                for (; i <= d - 32; i += 32)
                {
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (int j = lane; j < visible; j += Lanes)
                    {
                        var w = Vector256.Create(weights[j]);
                        float* v = values + (long)j * d + i;
                        a0 = Vector256.FusedMultiplyAdd(Vector256.Load(v), w, a0);
                        a1 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 8), w, a1);
                        a2 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 16), w, a2);
                        a3 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 24), w, a3);
                    }
                    a0.Store(partial + i); a1.Store(partial + i + 8); a2.Store(partial + i + 16); a3.Store(partial + i + 24);
                }
                for (; i <= d - 8; i += 8)
                {
                    Vector256<float> a = default;
                    for (int j = lane; j < visible; j += Lanes) a = Vector256.FusedMultiplyAdd(Vector256.Load(values + (long)j * d + i), Vector256.Create(weights[j]), a);
                    a.Store(partial + i);
                }
            }
            for (; i < d; i++)
            {
                float a = 0;
                for (int j = lane; j < visible; j += Lanes) a = MathF.FusedMultiplyAdd(values[(long)j * d + i], weights[j], a);
                partial[i] = a;
            }
        }
    }

    /// <summary>Folds the 32 partials [32, d] into output [d] as GGML_F32x8_REDUCE does: accumulators (0+2)+(1+3), then lanes (l+4), then pairs.
    /// Eight dimensions at a time where vectors serve: the same additions, element by element, so the same bits.</summary>
    private static void FoldPartials(float* partials, int d, float* output)
    {
        int i = 0;
        if (Simd.Use256)
        {
            for (; i <= d - 8; i += 8)
            {
                float* p = partials + i;
                var l0 = (Load(p, 0, d) + Load(p, 16, d)) + (Load(p, 8, d) + Load(p, 24, d));
                var l1 = (Load(p, 1, d) + Load(p, 17, d)) + (Load(p, 9, d) + Load(p, 25, d));
                var l2 = (Load(p, 2, d) + Load(p, 18, d)) + (Load(p, 10, d) + Load(p, 26, d));
                var l3 = (Load(p, 3, d) + Load(p, 19, d)) + (Load(p, 11, d) + Load(p, 27, d));
                var l4 = (Load(p, 4, d) + Load(p, 20, d)) + (Load(p, 12, d) + Load(p, 28, d));
                var l5 = (Load(p, 5, d) + Load(p, 21, d)) + (Load(p, 13, d) + Load(p, 29, d));
                var l6 = (Load(p, 6, d) + Load(p, 22, d)) + (Load(p, 14, d) + Load(p, 30, d));
                var l7 = (Load(p, 7, d) + Load(p, 23, d)) + (Load(p, 15, d) + Load(p, 31, d));
                (((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))).Store(output + i);
            }
        }
        for (; i < d; i++)
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

    /// <summary>Partial row <paramref name="lane"/> (rows d floats apart) at p's dimensions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Load(float* p, int lane, int d) => Vector256.Load(p + (long)lane * d);

    public void Dispose()
    {
        _scratch.Dispose();
        _halves.Dispose();
    }
}
