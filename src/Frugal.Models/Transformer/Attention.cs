using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
/// are the ones ggml forms). Scores go eight keys at a time for all heads of the group, the eight dots folded
/// together; the values are kept lane-major (position mod 32) so that each partial sum of the weighted values
/// streams its positions contiguously, with the partial in a register, which keeps each partial's order of additions.
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
    private readonly int _group;          // query heads per KV head
    private readonly int _rowsPerLane;    // positions per lane (position mod 32) in the lane-major widened values
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
        _group = _heads / _kvHeads;
        _rowsPerLane = (_scoreStride + Lanes - 1) / Lanes;
        // keys [stride, d] + values [32, rowsPerLane, d] + queries [group, d] + scores [group, stride]
        // + weights [group, stride] + partials [group, 32, d], each 16-float aligned
        _chunkFloats = Align16((long)_scoreStride * _headDim) + Align16((long)Lanes * _rowsPerLane * _headDim) + Align16((long)_group * _headDim)
            + 2 * Align16((long)_group * _scoreStride) + Align16((long)_group * Lanes * _headDim);
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
        int d = _headDim, group = _group, stride = _scoreStride;
        float* keys = _scratch.Pointer + chunkIndex * _chunkFloats;        // [visible, d] widened keys of one KV head
        long laneStride = (long)_rowsPerLane * d;
        float* values = keys + Align16((long)stride * d);                  // [32, rowsPerLane, d] widened values, lane-major (ValueRow)
        float* queries = values + Align16(Lanes * laneStride);             // [group, d] the group's queries rounded to half, widened
        float* scores = queries + Align16((long)group * d);                // [group, stride] (visible rounded up to 8 used)
        float* weights = scores + Align16((long)group * stride);           // [group, stride] soft-maxed, rounded to half, widened
        float* partials = weights + Align16((long)group * stride);         // [group, 32, d] per-lane sums of weight · value
        Half* halfQuery = _halves.Pointer + (long)chunkIndex * (d + stride);
        Half* halfWeights = halfQuery + d;

        int queryDim = _heads * d;
        for (int item = chunkIndex; item < _runs * _kvHeads; item += chunkCount)
        {
            int run = item / _kvHeads, kvHead = item % _kvHeads;
            int first = _runStarts[run], end = _runStarts[run + 1];
            WidenKeysAndValues(_blockTables[first], kvHead, _positions[end - 1] + 1, keys, values);

            for (int t = first; t < end; t++)
            {
                int visible = _positions[t] + 1, padded = (visible + 7) & ~7;
                float* rowQueries = _queries + (long)t * queryDim + kvHead * group * d;
                float* rowOutput = _output + (long)t * queryDim + kvHead * group * d;
                for (int g = 0; g < group; g++)
                {
                    VectorOps.ToHalf(rowQueries + g * d, halfQuery, d);
                    Widen(halfQuery, queries + g * d, d);
                }
                // Scores: (half query · half key) · 1/√d for the whole group, key by key; then per head a softmax over
                // the visible positions. Positions past them are masked (-∞ → weight 0) up to a multiple of 8, as
                // ggml's padded KV view would be.
                Scores(keys, queries, visible, scores);
                for (int g = 0; g < group; g++)
                {
                    float* headScores = scores + (long)g * stride;
                    for (int j = visible; j < padded; j++) headScores[j] = float.NegativeInfinity;
                    VectorOps.Softmax(headScores, padded);
                    VectorOps.ToHalf(headScores, halfWeights, visible);
                    Widen(halfWeights, weights + (long)g * stride, visible);
                }
                WeightedValues(weights, stride, group, values, laneStride, visible, d, partials);
                for (int g = 0; g < group; g++) FoldPartials(partials + (long)g * Lanes * d, d, rowOutput + g * d);
            }
        }
    }

    /// <summary>
    /// scores [group, stride]: head g's row j = (query g · key j in ggml's F16 dot order) · 1/√d; keys [visible, d],
    /// queries [group, d]. Eight keys at a time serve every head of the group while they are in L1.
    /// </summary>
    private void Scores(float* keys, float* queries, int visible, float* scores)
    {
        int d = _headDim, group = _group, stride = _scoreStride, j = 0;
        if (d == 64 && Simd.Use512 && Avx2.IsSupported && Avx512F.IsSupported)
        {
            j = Scores64Wide(keys, queries, group, stride, visible, _scale, scores);
        }
        else if (d % 32 == 0 && Simd.Use256 && Avx2.IsSupported)
        {
            var scale = Vector256.Create(_scale);
            for (; j <= visible - 8; j += 8)
            {
                for (int g = 0; g < group; g++)
                {
                    float* headScores = scores + (long)g * stride + j;
                    F16OrderDot8(keys + (long)j * d, queries + g * d, d, headScores);
                    (Vector256.Load(headScores) * scale).Store(headScores);
                }
            }
        }
        for (; j < visible; j++)
        {
            for (int g = 0; g < group; g++) scores[(long)g * stride + j] = F16OrderDot(keys + (long)j * d, queries + g * d, d) * _scale;
        }
    }

    /// <summary>
    /// <see cref="Scores"/> for 64-dimension heads with 512-bit vectors, eight keys at a time; returns the keys done
    /// (a multiple of 8). A head's query stays in four registers while the eight keys pass; each 512-bit accumulator
    /// holds two of the dot's 8-lane accumulators side by side (elementwise the same FMAs, so the same bits).
    /// </summary>
    private static int Scores64Wide(float* keys, float* queries, int group, int stride, int visible, float scale, float* scores)
    {
        const int D = 64;
        var scales = Vector256.Create(scale);
        int j = 0;
        for (; j <= visible - 8; j += 8)
        {
            float* block = keys + (long)j * D;
            for (int g = 0; g < group; g++)
            {
                float* query = queries + g * D;
                var q0 = Vector512.Load(query);
                var q1 = Vector512.Load(query + 16);
                var q2 = Vector512.Load(query + 32);
                var q3 = Vector512.Load(query + 48);
                var l0 = Lanes64(block, q0, q1, q2, q3);
                var l1 = Lanes64(block + D, q0, q1, q2, q3);
                var l2 = Lanes64(block + 2 * D, q0, q1, q2, q3);
                var l3 = Lanes64(block + 3 * D, q0, q1, q2, q3);
                var l4 = Lanes64(block + 4 * D, q0, q1, q2, q3);
                var l5 = Lanes64(block + 5 * D, q0, q1, q2, q3);
                var l6 = Lanes64(block + 6 * D, q0, q1, q2, q3);
                var l7 = Lanes64(block + 7 * D, q0, q1, q2, q3);
                (FoldEight(l0, l1, l2, l3, l4, l5, l6, l7) * scales).Store(scores + (long)g * stride + j);
            }
        }
        return j;
    }

    /// <summary>
    /// The eight lanes of <see cref="MainLanes"/> for one 64-float key: accumulators 0|1 and 2|3 side by side in
    /// two 512-bit registers over the two 32-element steps, then (0+2)|(1+3) and the halves added.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lanes64(float* key, Vector512<float> q0, Vector512<float> q1, Vector512<float> q2, Vector512<float> q3)
    {
        var low = Vector512.FusedMultiplyAdd(Vector512.Load(key + 32), q2, Vector512.FusedMultiplyAdd(Vector512.Load(key), q0, Vector512<float>.Zero));
        var high = Vector512.FusedMultiplyAdd(Vector512.Load(key + 48), q3, Vector512.FusedMultiplyAdd(Vector512.Load(key + 16), q1, Vector512<float>.Zero));
        var sums = low + high;
        return sums.GetLower() + sums.GetUpper();
    }

    /// <summary>Row of position j in the lane-major values: lane j mod 32, then j / 32 within the lane.</summary>
    private long ValueRow(int j) => (long)(j & (Lanes - 1)) * _rowsPerLane + (j >> 5);

    /// <summary>
    /// keys [visible, d] and values (lane-major, <see cref="ValueRow"/>) = KV head <paramref name="kvHead"/>
    /// of positions 0…visible-1, widened to float.
    /// </summary>
    private void WidenKeysAndValues(int* table, int kvHead, int visible, float* keys, float* values)
    {
        int d = _headDim, blockTokens = _cache.BlockTokens;
        for (int start = 0, b = 0; start < visible; start += blockTokens, b++)
        {
            Half* blockKeys = _cache.Key(table[b], _layer, kvHead, 0);
            Half* blockValues = _cache.Value(table[b], _layer, kvHead, 0);
            int count = Math.Min(blockTokens, visible - start);
            Widen(blockKeys, keys + (long)start * d, count * d);   // the block's rows of this head are contiguous, as in keys
            for (int i = 0; i < count; i++) Widen(blockValues + (long)i * d, values + ValueRow(start + i) * d, d);
        }
    }

    /// <summary>
    /// dst [n] = src [n] widened from half, exactly (TensorPrimitives' conversion is scalar on this runtime). Halves
    /// are finite in practice, so the vector loop takes <see cref="Fp16Bits.FiniteToSingle"/> and keeps the largest
    /// magnitude seen; if an inf or NaN was among them, the vector part is widened again by the general conversion.
    /// Bit-identical with the scalar cast for all 65,536 halves.
    /// </summary>
    internal static void Widen(Half* src, float* dst, int n)
    {
        int i = 0;
        if (Simd.Use512 && Avx512BW.IsSupported)
        {
            var magnitudes = Vector512<ushort>.Zero;
            for (; i <= n - 32; i += 32)
            {
                magnitudes = Vector512.Max(magnitudes, Vector512.Load((ushort*)src + i) & Vector512.Create((ushort)0x7FFF));
                Fp16Bits.FiniteToSingle(Avx512F.ConvertToVector512Int32(Vector256.Load((short*)src + i))).Store(dst + i);
                Fp16Bits.FiniteToSingle(Avx512F.ConvertToVector512Int32(Vector256.Load((short*)src + i + 16))).Store(dst + i + 16);
            }
            if (Vector512.GreaterThanOrEqualAny(magnitudes, Vector512.Create(Fp16Bits.NonFiniteMagnitude))) WidenGeneral(src, dst, i);
        }
        if (Simd.Use256 && Avx2.IsSupported)
        {
            int start = i;
            var magnitudes = Vector256<ushort>.Zero;
            for (; i <= n - 16; i += 16)
            {
                magnitudes = Vector256.Max(magnitudes, Vector256.Load((ushort*)src + i) & Vector256.Create((ushort)0x7FFF));
                Fp16Bits.FiniteToSingle(Avx2.ConvertToVector256Int32(Vector128.Load((short*)src + i))).Store(dst + i);
                Fp16Bits.FiniteToSingle(Avx2.ConvertToVector256Int32(Vector128.Load((short*)src + i + 8))).Store(dst + i + 8);
            }
            if (Vector256.GreaterThanOrEqualAny(magnitudes, Vector256.Create(Fp16Bits.NonFiniteMagnitude))) WidenGeneral(src + start, dst + start, i - start);
            for (; i <= n - 8; i += 8)
                Fp16Bits.ToSingle(Vector256.WidenLower(Vector128.Load((ushort*)src + i).ToVector256Unsafe())).Store(dst + i);
        }
        for (; i < n; i++) dst[i] = (float)src[i];
    }

    /// <summary>dst [n] = src [n] widened by the general vector conversion (inf and NaN included); n a multiple of 16.</summary>
    private static void WidenGeneral(Half* src, float* dst, int n)
    {
        for (int i = 0; i < n; i += 16)
        {
            var (low, high) = Vector256.Widen(Vector256.Load((ushort*)src + i));
            Fp16Bits.ToSingle(low).Store(dst + i);
            Fp16Bits.ToSingle(high).Store(dst + i + 8);
        }
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
            var lanes = MainLanes(x, y, main);
            var quad = lanes.GetLower() + lanes.GetUpper();   // t_l = lane l + lane l+4
            sum = (quad.GetElement(0) + quad.GetElement(1)) + (quad.GetElement(2) + quad.GetElement(3));
        }
        else sum = F16OrderDotMainScalar(x, y, main);
        for (int i = main; i < n; i++) sum += (double)(x[i] * y[i]);
        return (float)sum;
    }

    /// <summary>
    /// The eight lanes of <see cref="F16OrderDot"/>'s main part: four 8-lane accumulators over 32 elements per step,
    /// combined (0+2)+(1+3). main a positive multiple of 32.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MainLanes(float* x, float* y, int main)
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int i = 0; i < main; i += 32)
        {
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.Load(y + i), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 8), Vector256.Load(y + i + 8), acc1);
            acc2 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 16), Vector256.Load(y + i + 16), acc2);
            acc3 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 24), Vector256.Load(y + i + 24), acc3);
        }
        return (acc0 + acc2) + (acc1 + acc3);
    }

    /// <summary>
    /// output[r] = <see cref="F16OrderDot"/>(rows + r·n, y, n) for r = 0…7, the same bits; n a positive multiple of 32
    /// (no leftovers) and 256-bit vectors available. The eight lane vectors are folded together: lane l + lane l+4
    /// by 128-bit halves, then the pairs and the pairs of pairs by horizontal adds, in the single dot's order.
    /// </summary>
    internal static void F16OrderDot8(float* rows, float* y, int n, float* output)
    {
        var l0 = MainLanes(rows, y, n);
        var l1 = MainLanes(rows + n, y, n);
        var l2 = MainLanes(rows + 2 * n, y, n);
        var l3 = MainLanes(rows + 3 * n, y, n);
        var l4 = MainLanes(rows + 4 * n, y, n);
        var l5 = MainLanes(rows + 5 * n, y, n);
        var l6 = MainLanes(rows + 6 * n, y, n);
        var l7 = MainLanes(rows + 7 * n, y, n);
        FoldEight(l0, l1, l2, l3, l4, l5, l6, l7).Store(output);
    }

    /// <summary>
    /// The dots of eight rows from their lane vectors, each folded as <see cref="F16OrderDot"/> folds one: lane l +
    /// lane l+4 by 128-bit halves, then the pairs and the pairs of pairs by horizontal adds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> FoldEight(Vector256<float> l0, Vector256<float> l1, Vector256<float> l2, Vector256<float> l3,
        Vector256<float> l4, Vector256<float> l5, Vector256<float> l6, Vector256<float> l7)
    {
        // [t of row a | t of row b], t_l = lane l + lane l+4
        var t01 = Avx.Permute2x128(l0, l1, 0x20) + Avx.Permute2x128(l0, l1, 0x31);
        var t23 = Avx.Permute2x128(l2, l3, 0x20) + Avx.Permute2x128(l2, l3, 0x31);
        var t45 = Avx.Permute2x128(l4, l5, 0x20) + Avx.Permute2x128(l4, l5, 0x31);
        var t67 = Avx.Permute2x128(l6, l7, 0x20) + Avx.Permute2x128(l6, l7, 0x31);
        // (t0+t1), (t2+t3) of rows 0, 2 | 1, 3 and 4, 6 | 5, 7; then their sums: rows 0, 2, 4, 6 | 1, 3, 5, 7
        var sums = Avx.HorizontalAdd(Avx.HorizontalAdd(t01, t23), Avx.HorizontalAdd(t45, t67));
        return Avx2.PermuteVar8x32(sums, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7));
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
    /// partials[g, l, i] = Σ over positions j ≡ l (mod 32), in increasing j, of fma(values[j, i], weights[g, j], ·),
    /// starting from 0: ggml_vec_dot_f16's lane l for output dimension i of head g. The values lie lane-major (see
    /// <see cref="ValueRow"/>), so a lane's positions are one contiguous stream (position-major, they were 32 rows
    /// apart, and the L1 sets aliased). Two lanes at a time, each partial in a register while its positions stream
    /// past (eight 256-bit FMA chains or four 512-bit ones: fewer would wait on the FMA latency), and every head of
    /// the group over the same 32 dimensions while those positions are in L1; with 512-bit vectors four heads at a
    /// time share each load of a value row (decode after 2048 positions, attention alone: ~10.3 → ~9.7 ms per token,
    /// 1 thread, `Frugal.Benchmarks --attention 2048`).
    /// weights [group, weightStride], values [32, laneStride / d, d], partials [group, 32, d].
    /// </summary>
    internal static void WeightedValues(float* weights, int weightStride, int group, float* values, long laneStride, int visible, int d, float* partials)
    {
        long partialStride = (long)Lanes * d;
        for (int lane = 0; lane < Lanes; lane += 2)
        {
            float* laneValues = values + lane * laneStride;
            int i = 0;
            if (Simd.Use256)
            {
                for (; i <= d - 32; i += 32)
                {
                    int g = 0;
                    if (Simd.Use512)
                    {
                        for (; g + 3 < group; g += 4)
                        {
                            float* w = weights + (long)g * weightStride, partial = partials + g * partialStride + (long)lane * d + i;
                            FourHeadsTwoLanes32(w + lane, weightStride, laneValues + i, laneStride, visible - lane, d, partial, partialStride);
                        }
                    }
                    for (; g < group; g++)
                    {
                        float* w = weights + (long)g * weightStride, partial = partials + g * partialStride + (long)lane * d + i;
                        if (Simd.Use512) TwoLanes32Wide(w + lane, laneValues + i, laneStride, visible - lane, d, partial);
                        else TwoLanes32(w + lane, laneValues + i, laneStride, visible - lane, d, partial);
                    }
                }
                for (; i <= d - 8; i += 8)
                {
                    for (int g = 0; g < group; g++)
                    {
                        float* w = weights + (long)g * weightStride + lane, partial = partials + g * partialStride + (long)lane * d + i;
                        Vector256<float> a = default, c = default;
                        float* v = laneValues + i;
                        int j = 0;
                        for (; j + 1 < visible - lane; j += Lanes, v += d)
                        {
                            a = Vector256.FusedMultiplyAdd(Vector256.Load(v), Vector256.Create(w[j]), a);
                            c = Vector256.FusedMultiplyAdd(Vector256.Load(v + laneStride), Vector256.Create(w[j + 1]), c);
                        }
                        if (j < visible - lane) a = Vector256.FusedMultiplyAdd(Vector256.Load(v), Vector256.Create(w[j]), a);
                        a.Store(partial);
                        c.Store(partial + d);
                    }
                }
            }
            for (; i < d; i++)
            {
                for (int g = 0; g < group; g++)
                {
                    float* w = weights + (long)g * weightStride;
                    for (int l = lane; l < lane + 2; l++)
                    {
                        float a = 0;
                        float* v = values + l * laneStride + i;
                        for (int j = l; j < visible; j += Lanes, v += d) a = MathF.FusedMultiplyAdd(*v, w[j], a);
                        partials[g * partialStride + (long)l * d + i] = a;
                    }
                }
            }
        }
    }

    /// <summary>
    /// 32 dimensions of two neighbouring partial rows (partial, partial + d): the first lane's positions are
    /// weights[0, 32, 64, …] with values rows v, v + d, …; the second lane's weights[1, 33, …] with rows
    /// laneStride floats further. <paramref name="count"/> = positions visible from the first lane's first one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TwoLanes32(float* weights, float* v, long laneStride, int count, int d, float* partial)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        int j = 0;
        for (; j + 1 < count; j += Lanes, v += d)
        {
            var w = Vector256.Create(weights[j]);
            var u = Vector256.Create(weights[j + 1]);
            float* next = v + laneStride;
            a0 = Vector256.FusedMultiplyAdd(Vector256.Load(v), w, a0);
            c0 = Vector256.FusedMultiplyAdd(Vector256.Load(next), u, c0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 8), w, a1);
            c1 = Vector256.FusedMultiplyAdd(Vector256.Load(next + 8), u, c1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 16), w, a2);
            c2 = Vector256.FusedMultiplyAdd(Vector256.Load(next + 16), u, c2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 24), w, a3);
            c3 = Vector256.FusedMultiplyAdd(Vector256.Load(next + 24), u, c3);
        }
        if (j < count)   // the first lane's last position; the second lane has none left
        {
            var w = Vector256.Create(weights[j]);
            a0 = Vector256.FusedMultiplyAdd(Vector256.Load(v), w, a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 8), w, a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 16), w, a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 24), w, a3);
        }
        a0.Store(partial); a1.Store(partial + 8); a2.Store(partial + 16); a3.Store(partial + 24);
        float* second = partial + d;
        c0.Store(second); c1.Store(second + 8); c2.Store(second + 16); c3.Store(second + 24);
    }

    /// <summary><see cref="TwoLanes32"/> with 512-bit vectors: 16 dimensions per register, four chains.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TwoLanes32Wide(float* weights, float* v, long laneStride, int count, int d, float* partial)
    {
        Vector512<float> a0 = default, a1 = default, c0 = default, c1 = default;
        int j = 0;
        for (; j + 1 < count; j += Lanes, v += d)
        {
            float* next = v + laneStride;
            TwoPositions(Vector512.Load(v), Vector512.Load(v + 16), Vector512.Load(next), Vector512.Load(next + 16), weights + j, ref a0, ref a1, ref c0, ref c1);
        }
        if (j < count) OnePosition(Vector512.Load(v), Vector512.Load(v + 16), weights[j], ref a0, ref a1);
        a0.Store(partial); a1.Store(partial + 16);
        c0.Store(partial + d); c1.Store(partial + d + 16);
    }

    /// <summary>
    /// <see cref="TwoLanes32Wide"/> for four heads at once (weights and partials of head h+1 one
    /// <paramref name="weightStride"/> / <paramref name="partialStride"/> further than head h's): each value row is
    /// loaded once for all four, so the loop issues one load per four FMAs instead of one per FMA; sixteen chains keep
    /// the multipliers busy. Each partial sees the same FMAs in the same order as with one head.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FourHeadsTwoLanes32(float* weights, int weightStride, float* v, long laneStride, int count, int d, float* partial, long partialStride)
    {
        Vector512<float> a0 = default, a1 = default, c0 = default, c1 = default;
        Vector512<float> e0 = default, e1 = default, f0 = default, f1 = default;
        Vector512<float> g0 = default, g1 = default, h0 = default, h1 = default;
        Vector512<float> k0 = default, k1 = default, m0 = default, m1 = default;
        float* weights1 = weights + weightStride, weights2 = weights1 + weightStride, weights3 = weights2 + weightStride;
        int j = 0;
        for (; j + 1 < count; j += Lanes, v += d)
        {
            float* next = v + laneStride;
            var v0 = Vector512.Load(v);
            var v1 = Vector512.Load(v + 16);
            var n0 = Vector512.Load(next);
            var n1 = Vector512.Load(next + 16);
            TwoPositions(v0, v1, n0, n1, weights + j, ref a0, ref a1, ref c0, ref c1);
            TwoPositions(v0, v1, n0, n1, weights1 + j, ref e0, ref e1, ref f0, ref f1);
            TwoPositions(v0, v1, n0, n1, weights2 + j, ref g0, ref g1, ref h0, ref h1);
            TwoPositions(v0, v1, n0, n1, weights3 + j, ref k0, ref k1, ref m0, ref m1);
        }
        if (j < count)   // the first lane's last position; the second lane has none left
        {
            var v0 = Vector512.Load(v);
            var v1 = Vector512.Load(v + 16);
            OnePosition(v0, v1, weights[j], ref a0, ref a1);
            OnePosition(v0, v1, weights1[j], ref e0, ref e1);
            OnePosition(v0, v1, weights2[j], ref g0, ref g1);
            OnePosition(v0, v1, weights3[j], ref k0, ref k1);
        }
        a0.Store(partial); a1.Store(partial + 16); c0.Store(partial + d); c1.Store(partial + d + 16);
        float* p = partial + partialStride;
        e0.Store(p); e1.Store(p + 16); f0.Store(p + d); f1.Store(p + d + 16);
        p += partialStride;
        g0.Store(p); g1.Store(p + 16); h0.Store(p + d); h1.Store(p + d + 16);
        p += partialStride;
        k0.Store(p); k1.Store(p + 16); m0.Store(p + d); m1.Store(p + d + 16);
    }

    /// <summary>One head's FMAs for a position of each lane: rows (v0, v1) weighted by w[0] into (a0, a1), rows (n0, n1) by w[1] into (c0, c1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TwoPositions(Vector512<float> v0, Vector512<float> v1, Vector512<float> n0, Vector512<float> n1, float* w,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> c0, ref Vector512<float> c1)
    {
        var first = Vector512.Create(w[0]);
        var second = Vector512.Create(w[1]);
        a0 = Vector512.FusedMultiplyAdd(v0, first, a0);
        c0 = Vector512.FusedMultiplyAdd(n0, second, c0);
        a1 = Vector512.FusedMultiplyAdd(v1, first, a1);
        c1 = Vector512.FusedMultiplyAdd(n1, second, c1);
    }

    /// <summary>One head's FMAs for the first lane's last position: rows (v0, v1) weighted by w into (a0, a1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void OnePosition(Vector512<float> v0, Vector512<float> v1, float w, ref Vector512<float> a0, ref Vector512<float> a1)
    {
        var weight = Vector512.Create(w);
        a0 = Vector512.FusedMultiplyAdd(v0, weight, a0);
        a1 = Vector512.FusedMultiplyAdd(v1, weight, a1);
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
