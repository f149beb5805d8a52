// Tile kernel of Q8_0 weights × Q8_0 activations for prefill and batched decode, in the float order of
// ggml_vec_dot_q8_0_q8_0 (AVX2), which llama.cpp also keeps in its Q8_0 GEMM (llamafile's tinyBLAS_Q0_AVX):
//   per block: lane l = Σ_{k=4l..4l+3} w_k·x_k in int32 (|w|·sign(x, w) through pmaddubsw, then pmaddwd with ones),
//              acc[l] = fma(d_w·d_x, float(lane l), acc[l]);   at the end hsum_float_8(acc).
// Every (row, token) keeps its own eight-lane accumulator, so each result has the single dot's bits.
//
// Register block: 2 weight rows × 4 tokens = 8 accumulators. Per block, each row's |w| is formed once for the four
// tokens and the eight scale products d_w·d_x come out of one multiply:
//   rowScales   [row pair][block][2]   d_w of the pair's two rows, widened once per tile
//   tokenScales [block][8]             d_x of the group's four tokens, each twice: t0 t0 t1 t1 t2 t2 t3 t3
//   products    = (d_w0, d_w1) broadcast × tokenScales[block] = d_w0·d_x0, d_w1·d_x0, d_w0·d_x1, …
// The rest of a plain tile (an odd last row, fewer than four tokens left) goes to the generic lane-order tile kernel;
// the packed layout (Q8_0Packed.cs) runs the same register block over its runs of 4 blocks.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Quants.Float;
using Frugal.Quants.Tiles;

namespace Frugal.Quants.Block32;

using Generic = Block32Tile<Q8_0Weights, BlockQ8_0, BlockQ8_0>;

/// <summary>Register-blocked lane-order tile kernel of Q8_0 (bit-identical with <see cref="Q8_0.Dot"/>).</summary>
internal static unsafe class Q8_0Tiles
{
    private const int BlockBytes = BlockQ8_0.Size;

    /// <summary>Floats of scale tables the kernel keeps on the stack (64 KB); longer rows are cut into row chunks.</summary>
    private const int StackFloats = 16 * 1024;

    /// <summary>Longest row (in blocks) the token scale table takes (8 floats per block, 32 KB).</summary>
    internal const int MaxBlocks = 1024;

    public static void LaneOrder(in DotTile tile)
    {
        int blocks = TileKernels.Blocks(tile, 32, Q8_0.Name);
        int tokens4 = tile.Tokens & ~3;
        int rows2 = tile.Rows & ~1;
        if (!TileKernels.Use256 || blocks > MaxBlocks || tokens4 == 0 || rows2 == 0)
        {
            Generic.LaneOrder(tile);
            return;
        }
        TokenGroups(tile, rows2, tokens4, blocks, packed: false);
        // What the 2 × 4 block leaves: the tokens after the last group of four (all rows), an odd last row.
        if (tokens4 < tile.Tokens) Generic.LaneOrder(tile.TokenRange(tokens4, tile.Tokens - tokens4));
        if (rows2 < tile.Rows) Generic.LaneOrder(tile.RowRange(rows2, tile.Rows - rows2).TokenRange(0, tokens4));
    }

    /// <summary>
    /// The 2 × 4 register block over rows [0, rows) (an even count) × tokens [0, tokens4) (a multiple of 4) of a
    /// plain tile, or of a packed one (<see cref="Q8_0Packed"/>: rows in 8-row groups, tile.Weights = the first group).
    /// </summary>
    internal static void TokenGroups(in DotTile tile, int rows, int tokens4, int blocks, bool packed)
    {
        // Block b of a row lies at (b >> runShift)·runBytes + (b & runMask)·stride from its block 0: plain rows are
        // one run of BlockBytes-spaced blocks, packed groups runs of 4 (Q8_0Packed.cs).
        var scales = packed ? new BlockWalk(Q8_0Packed.RunShift, Q8_0Packed.RunBytes, RowGroups.ScaleBytes) : BlockWalk.Plain;
        var quants = packed ? new BlockWalk(Q8_0Packed.RunShift, Q8_0Packed.RunBytes, Q8_0Packed.QuantBlockBytes) : BlockWalk.Plain;
        // Rows per chunk: whole pairs whose scale table fits the stack next to the token table.
        int chunkRows = Math.Max(2, Math.Min(rows, (StackFloats - 8 * blocks) / blocks) & ~1);
        float* rowScales = stackalloc float[chunkRows * blocks];
        float* tokenScales = stackalloc float[8 * blocks];
        for (int first = 0; first < rows; first += chunkRows)
        {
            int count = Math.Min(chunkRows, rows - first);
            for (int r = 0; r < count; r += 2)
            {
                RowScales(RowStart(tile, first + r, blocks, packed, quants: false), RowStart(tile, first + r + 1, blocks, packed, quants: false),
                    scales, blocks, rowScales + r * blocks);
            }
            for (int t = 0; t < tokens4; t += 4)
            {
                byte* x = tile.Activations + t * tile.ActivationStride;
                TokenScales(x, tile.ActivationStride, blocks, tokenScales);
                for (int r = 0; r < count; r += 2)
                {
                    int row = first + r;
                    Rows2Tokens4(RowStart(tile, row, blocks, packed, quants: true), RowStart(tile, row + 1, blocks, packed, quants: true), quants,
                        x + 2, tile.ActivationStride, blocks, rowScales + r * blocks, tokenScales, tile.Output + t * tile.OutputStride + row, tile.OutputStride);
                }
            }
        }
    }

    /// <summary>Row r's block-0 scale or quants: in its own row (plain), or in its 8-row group (packed, see Q8_0Packed.cs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* RowStart(in DotTile tile, int r, int blocks, bool packed, bool quants)
    {
        if (!packed) return tile.Weights + r * tile.WeightStride + (quants ? 2 : 0);
        byte* group = tile.Weights + (r / RowGroups.Rows) * RowGroups.Rows * tile.WeightStride;
        int i = r % RowGroups.Rows;
        return quants ? Q8_0Packed.QuantsOf(group, 0, i) : Q8_0Packed.ScaleOf(group, 0, i);
    }

    /// <summary>d_w of a row pair, block by block (each row's scales laid out as <paramref name="walk"/> says): table[2b + 0|1].</summary>
    private static void RowScales(byte* scale0, byte* scale1, BlockWalk walk, int blocks, float* table)
    {
        for (int b = 0; b < blocks; b++)
        {
            long at = walk.Offset(b);
            table[2 * b] = Fp16Bits.ToSingle(*(ushort*)(scale0 + at));
            table[2 * b + 1] = Fp16Bits.ToSingle(*(ushort*)(scale1 + at));
        }
    }

    /// <summary>Where block b of a row lies from its block 0: runs of 2^shift blocks Stride bytes apart, runs RunBytes apart.</summary>
    private readonly struct BlockWalk(int shift, long runBytes, long stride)
    {
        /// <summary>Plain rows: one run (b &gt;&gt; 30 is 0 for any row), blocks BlockBytes apart.</summary>
        public static BlockWalk Plain => new(30, 0, BlockBytes);

        public int RunLength => 1 << shift;

        /// <summary>
        /// Prefetch distance: the same place 8 blocks on. Packed runs of 4 break the constant stride the hardware
        /// prefetcher follows, so the kernel asks for each row's line itself (2 runs ahead).
        /// </summary>
        public long PrefetchAhead => shift >= 3 ? 8 * stride : (8 >> shift) * runBytes;
        public long RunBytes => runBytes;
        public long Stride => stride;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public long Offset(int b) => (b >> shift) * runBytes + (b & ((1 << shift) - 1)) * stride;
    }

    /// <summary>d_x of four tokens (stride bytes apart), block by block, each twice: table[8b + 2t + 0|1].</summary>
    private static void TokenScales(byte* x, long stride, int blocks, float* table)
    {
        for (int b = 0; b < blocks; b++)
        {
            for (int t = 0; t < 4; t++)
            {
                float d = Fp16Bits.ToSingle(*(ushort*)(x + t * stride + b * BlockBytes));
                table[8 * b + 2 * t] = d;
                table[8 * b + 2 * t + 1] = d;
            }
        }
    }

    /// <summary>
    /// Two weight rows (block-0 quants at q0, q1; blocks laid out as <paramref name="walk"/> says) × four tokens (block-0 quants at
    /// x0 + k·xStride, blocks BlockBytes apart), all blocks; writes output[k·outputStride + 0..1]. rowScales is the
    /// pair's [block][2] table, tokenScales the group's [block][8] table.
    /// </summary>
    private static void Rows2Tokens4(byte* q0, byte* q1, BlockWalk walk, byte* x0, long xStride, int blocks, float* rowScales,
        float* tokenScales, float* output, long outputStride)
    {
        long x1 = xStride, x2 = 2 * xStride, x3 = 3 * xStride;   // the other tokens, from token 0's block
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;   // row 0 × tokens 0..3
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;   // row 1 × tokens 0..3
        float* d = stackalloc float[8];   // the block's d_w·d_x: [token][row]
        var ones = Vector256.Create((short)1);
        byte* x = x0;
        for (int b = 0; b < blocks; q0 += walk.RunBytes, q1 += walk.RunBytes)
        {
            int runEnd = Math.Min(blocks, b + walk.RunLength);
            for (byte* p0 = q0, p1 = q1; b < runEnd; b++, p0 += walk.Stride, p1 += walk.Stride, x += BlockBytes, rowScales += 2, tokenScales += 8)
            {
                Sse.Prefetch0(p0 + walk.PrefetchAhead);
                Sse.Prefetch0(p1 + walk.PrefetchAhead);
                var w0 = Vector256.Load((sbyte*)p0);
                var w1 = Vector256.Load((sbyte*)p1);
                var abs0 = Avx2.Abs(w0);   // byte lanes: |w| ≤ 128
                var abs1 = Avx2.Abs(w1);
                (Vector256.Create(*(double*)rowScales).AsSingle() * Vector256.Load(tokenScales)).Store(d);

                var xq = Vector256.Load((sbyte*)x);
                a00 = Vector256.FusedMultiplyAdd(Vector256.Create(d[0]), Lanes(abs0, Avx2.Sign(xq, w0), ones), a00);
                a10 = Vector256.FusedMultiplyAdd(Vector256.Create(d[1]), Lanes(abs1, Avx2.Sign(xq, w1), ones), a10);
                xq = Vector256.Load((sbyte*)(x + x1));
                a01 = Vector256.FusedMultiplyAdd(Vector256.Create(d[2]), Lanes(abs0, Avx2.Sign(xq, w0), ones), a01);
                a11 = Vector256.FusedMultiplyAdd(Vector256.Create(d[3]), Lanes(abs1, Avx2.Sign(xq, w1), ones), a11);
                xq = Vector256.Load((sbyte*)(x + x2));
                a02 = Vector256.FusedMultiplyAdd(Vector256.Create(d[4]), Lanes(abs0, Avx2.Sign(xq, w0), ones), a02);
                a12 = Vector256.FusedMultiplyAdd(Vector256.Create(d[5]), Lanes(abs1, Avx2.Sign(xq, w1), ones), a12);
                xq = Vector256.Load((sbyte*)(x + x3));
                a03 = Vector256.FusedMultiplyAdd(Vector256.Create(d[6]), Lanes(abs0, Avx2.Sign(xq, w0), ones), a03);
                a13 = Vector256.FusedMultiplyAdd(Vector256.Create(d[7]), Lanes(abs1, Avx2.Sign(xq, w1), ones), a13);
            }
        }
        output[0] = BlockLanes.Finish(a00);
        output[1] = BlockLanes.Finish(a10);
        output[outputStride] = BlockLanes.Finish(a01);
        output[outputStride + 1] = BlockLanes.Finish(a11);
        output[2 * outputStride] = BlockLanes.Finish(a02);
        output[2 * outputStride + 1] = BlockLanes.Finish(a12);
        output[3 * outputStride] = BlockLanes.Finish(a03);
        output[3 * outputStride + 1] = BlockLanes.Finish(a13);
    }

    /// <summary>The eight int32 lane sums of |w|·(x signed like w) = w·x, as floats (exact: |lane| ≤ 4·127·128).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lanes(Vector256<byte> absWeights, Vector256<sbyte> signedActivations, Vector256<short> ones) =>
        Vector256.ConvertToSingle(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(absWeights, signedActivations), ones));
}
