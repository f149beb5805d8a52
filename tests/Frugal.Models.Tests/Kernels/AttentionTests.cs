using Frugal.Models.Transformer;
using Frugal.Numerics;
using Frugal.Numerics.Threading;
using Frugal.Quants.Float;

namespace Frugal.Models.Tests.Kernels;

/// <summary>
/// The attention kernel against a plain reference written the way llama.cpp's CPU path reads: per (row, head),
/// the F16 dot of the half query with each half key, ggml's softmax, weights rounded to half, and per position
/// an FMA of weight × value into partial sum (position mod 32), folded in GGML_F32x8_REDUCE order. Bit for bit,
/// at every SIMD level the test run forces (scripts/test.sh runs the Kernels tests at 256/128/scalar).
/// </summary>
public sealed unsafe class AttentionTests
{
    [Theory]
    [InlineData(8, 2, 8, 40)]      // stories260K-like short heads: every dot is leftovers
    [InlineData(8, 2, 64, 70)]     // tinyllama-like: group of 4, crosses two 32-lane rounds and 5 blocks
    [InlineData(6, 3, 80, 33)]     // 80 = 2·32 + 16: main part + leftover dims, 8-wide value chunks
    [InlineData(4, 4, 36, 17)]     // no grouping, a 4-element leftover in the dot and in the values
    [InlineData(16, 2, 64, 301)]   // long context: eight-key score groups, lane pairs of uneven length, 10 rounds of 32
    public void Matches_the_reference_bit_for_bit(int heads, int kvHeads, int headDim, int context)
    {
        const int blockTokens = 16;
        var config = new ModelConfig { Architecture = "llama", Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Layers = 2 };
        int kvDim = kvHeads * headDim, queryDim = heads * headDim;
        int blocksPerSequence = (context + blockTokens - 1) / blockTokens;
        var random = new Random(heads * 1000 + headDim);
        using var cache = new KvCache(config.Layers, kvHeads, headDim, blockTokens, 2 * blocksPerSequence);
        Fill(cache.Key(0, 0, 0, 0), (long)cache.BlockCount * config.Layers * blockTokens * kvDim, random, 2.0f);
        Fill(cache.Value(0, 0, 0, 0), (long)cache.BlockCount * config.Layers * blockTokens * kvDim, random, 1.0f);

        // Two sequences with interleaved (shuffled) block tables. First a prefill chunk of sequence 1 (consecutive
        // positions: runs of rows that share one widening of the cache, the second run shorter), then single rows
        // of both sequences at scattered positions (runs of one).
        int[] blocks = Enumerable.Range(0, 2 * blocksPerSequence).OrderBy(_ => random.Next()).ToArray();
        int chunk = Math.Min(context, Attention.RowsPerRun + 5);
        int[] scattered = new[] { 0, 1, 31, 32, context - 1, context / 2, context - 2 }.Where(p => p < context).ToArray();
        int[] positions = [.. Enumerable.Range(context - chunk, chunk), .. scattered];
        int[] sequence = [.. Enumerable.Repeat(1, chunk), .. scattered.Select((_, i) => i % 2)];
        int tokens = positions.Length;
        float[] queries = Enumerable.Range(0, tokens * queryDim).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        float[] actual = new float[tokens * queryDim], expected = new float[tokens * queryDim];

        fixed (int* blockTable = blocks)
        fixed (int* positionPtr = positions)
        fixed (float* q = queries, output = actual)
        {
            int** tables = stackalloc int*[tokens];
            for (int t = 0; t < tokens; t++) tables[t] = blockTable + sequence[t] * blocksPerSequence;
            using var pool = new WorkerPool(2);
            using var attention = new Attention(pool, cache, config, context);
            attention.Run(layer: 1, q, positionPtr, tables, tokens, output);
            for (int t = 0; t < tokens; t++)
            {
                for (int h = 0; h < heads; h++)
                {
                    float[] row = Reference(cache, config, layer: 1, q + (long)t * queryDim + h * headDim, h, positions[t], tables[t]);
                    row.CopyTo(expected, t * queryDim + h * headDim);
                }
            }
        }
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"element {i} (row {i / queryDim}, head {i % queryDim / headDim}): expected {expected[i]:R}, got {actual[i]:R} at {Simd.Describe()}");
    }

    [Fact]
    public void The_F16_order_dot_equals_ggmls_F16_dot_on_the_same_halves()
    {
        var random = new Random(5);
        foreach (int n in new[] { 1, 8, 31, 32, 64, 80, 100, 128 })
        {
            Half[] x = Enumerable.Range(0, n).Select(_ => (Half)(random.NextDouble() * 2 - 1)).ToArray();
            Half[] y = Enumerable.Range(0, n).Select(_ => (Half)(random.NextDouble() * 2 - 1)).ToArray();
            float[] wx = new float[n], wy = new float[n];
            fixed (Half* px = x, py = y)
            fixed (float* fx = wx, fy = wy)
            {
                Attention.Widen(px, fx, n);
                Attention.Widen(py, fy, n);
                for (int i = 0; i < n; i++) Assert.Equal((float)x[i], wx[i]);
                Assert.Equal(F16.DotHalf(px, py, n), Attention.F16OrderDot(fx, fy, n));
            }
        }
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(128)]
    public void Eight_keys_at_once_give_the_single_dots_bits(int n)
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported || !Simd.Use256) return;   // the eight-key path runs only there
        var random = new Random(n);
        float[] keys = Enumerable.Range(0, 8 * n).Select(_ => (float)(Half)(random.NextDouble() * 6 - 3)).ToArray();
        float[] query = Enumerable.Range(0, n).Select(_ => (float)(Half)(random.NextDouble() * 6 - 3)).ToArray();
        float[] batched = new float[8];
        fixed (float* k = keys, q = query, o = batched)
        {
            Attention.F16OrderDot8(k, q, n, o);
            for (int r = 0; r < 8; r++)
                Assert.Equal(BitConverter.SingleToInt32Bits(Attention.F16OrderDot(k + r * n, q, n)), BitConverter.SingleToInt32Bits(o[r]));
        }
    }

    [Fact]
    public void Widening_is_exact_for_every_half_finite_or_not()
    {
        // All 65,536 patterns in order (inf and NaN among them: the general conversion), then the finite ones
        // only (the fast path throughout), each against the runtime's scalar cast (any NaN for a NaN: the vector
        // conversion quiets signalling ones, as F16C does).
        ushort[] all = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
        ushort[] finite = all.Where(b => (b & 0x7FFF) < 0x7C00).ToArray();
        foreach (ushort[] patterns in new[] { all, finite })
        {
            float[] widened = new float[patterns.Length];
            fixed (ushort* src = patterns)
            fixed (float* dst = widened)
            {
                Attention.Widen((Half*)src, dst, patterns.Length);
            }
            for (int i = 0; i < patterns.Length; i++)
            {
                float expected = (float)BitConverter.UInt16BitsToHalf(patterns[i]);
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(widened[i]) || (float.IsNaN(expected) && float.IsNaN(widened[i])),
                    $"half 0x{patterns[i]:X4}: expected {expected:R}, got {widened[i]:R} at {Simd.Describe()}");
            }
        }
    }

    private static void Fill(Half* data, long count, Random random, float range)
    {
        for (long i = 0; i < count; i++) data[i] = (Half)((random.NextDouble() * 2 - 1) * range);
    }

    /// <summary>One (row, head) of attention, computed position by position from the half cache.</summary>
    private static float[] Reference(KvCache cache, ModelConfig c, int layer, float* query, int head, int position, int* table)
    {
        int d = c.HeadDim, visible = position + 1, padded = (visible + 7) & ~7;
        int kvHead = head / (c.Heads / c.KvHeads);
        Half[] halfQuery = new Half[d];
        float[] scores = new float[padded];
        fixed (Half* hq = halfQuery)
        fixed (float* s = scores)
        {
            VectorOps.ToHalf(query, hq, d);
            for (int j = 0; j < visible; j++)
                s[j] = F16.DotHalf(cache.Key(table[j / cache.BlockTokens], layer, kvHead, j % cache.BlockTokens), hq, d) * (1.0f / MathF.Sqrt(d));
            for (int j = visible; j < padded; j++) s[j] = float.NegativeInfinity;
            VectorOps.Softmax(s, padded);
        }
        float[,] partials = new float[32, d];
        for (int j = 0; j < visible; j++)
        {
            float weight = (float)(Half)scores[j];
            Half* value = cache.Value(table[j / cache.BlockTokens], layer, kvHead, j % cache.BlockTokens);
            for (int i = 0; i < d; i++) partials[j % 32, i] = MathF.FusedMultiplyAdd((float)value[i], weight, partials[j % 32, i]);
        }
        float[] output = new float[d];
        for (int i = 0; i < d; i++)
        {
            float Lane(int l) => (partials[l, i] + partials[16 + l, i]) + (partials[8 + l, i] + partials[24 + l, i]);
            output[i] = ((Lane(0) + Lane(4)) + (Lane(1) + Lane(5))) + ((Lane(2) + Lane(6)) + (Lane(3) + Lane(7)));
        }
        return output;
    }
}
