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
// The rest of a tile (an odd last row, fewer than four tokens left) goes to the generic lane-order tile kernel.
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
    private const int MaxBlocks = 1024;

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
        // Rows per chunk: whole pairs whose scale table fits the stack next to the token table.
        int chunkRows = Math.Max(2, Math.Min(rows2, (StackFloats - 8 * blocks) / blocks) & ~1);
        float* rowScales = stackalloc float[chunkRows * blocks];
        float* tokenScales = stackalloc float[8 * blocks];
        for (int first = 0; first < rows2; first += chunkRows)
        {
            int rows = Math.Min(chunkRows, rows2 - first);
            byte* weights = tile.Weights + first * tile.WeightStride;
            RowScales(weights, tile.WeightStride, rows, blocks, rowScales);
            for (int t = 0; t < tokens4; t += 4)
            {
                byte* x = tile.Activations + t * tile.ActivationStride;
                TokenScales(x, tile.ActivationStride, blocks, tokenScales);
                for (int r = 0; r < rows; r += 2)
                {
                    Rows2Tokens4(weights + r * tile.WeightStride, tile.WeightStride, x, tile.ActivationStride, blocks,
                        rowScales + r * blocks, tokenScales, tile.Output + t * tile.OutputStride + first + r, tile.OutputStride);
                }
            }
        }
        // What the 2 × 4 block leaves: the tokens after the last group of four (all rows), an odd last row.
        if (tokens4 < tile.Tokens) Generic.LaneOrder(tile.TokenRange(tokens4, tile.Tokens - tokens4));
        if (rows2 < tile.Rows) Generic.LaneOrder(tile.RowRange(rows2, tile.Rows - rows2).TokenRange(0, tokens4));
    }

    /// <summary>d_w of each row pair, block by block: table[(r / 2)·2·blocks + 2b + r % 2] = row r's block b scale.</summary>
    private static void RowScales(byte* weights, long stride, int rows, int blocks, float* table)
    {
        for (int r = 0; r < rows; r += 2)
        {
            byte* w0 = weights + r * stride, w1 = w0 + stride;
            float* pair = table + r * blocks;
            for (int b = 0; b < blocks; b++)
            {
                pair[2 * b] = Fp16Bits.ToSingle(*(ushort*)(w0 + b * BlockBytes));
                pair[2 * b + 1] = Fp16Bits.ToSingle(*(ushort*)(w1 + b * BlockBytes));
            }
        }
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
    /// Rows w0, w0 + stride × tokens x0 + k·xStride (k = 0..3), all blocks; writes output[k·outputStride + 0..1].
    /// rowScales is the pair's [block][2] table, tokenScales the group's [block][8] table.
    /// </summary>
    private static void Rows2Tokens4(byte* w0, long stride, byte* x0, long xStride, int blocks, float* rowScales,
        float* tokenScales, float* output, long outputStride)
    {
        byte* w1 = w0 + stride;
        byte* x1 = x0 + xStride, x2 = x0 + 2 * xStride, x3 = x0 + 3 * xStride;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;   // row 0 × tokens 0..3
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;   // row 1 × tokens 0..3
        float* d = stackalloc float[8];   // the block's d_w·d_x: [token][row]
        var ones = Vector256.Create((short)1);
        // One offset walks all six rows (blocks are BlockBytes apart in each); the scale tables advance by pointer.
        long end = (long)blocks * BlockBytes;
        for (long offset = 2; offset < end; offset += BlockBytes, rowScales += 2, tokenScales += 8)
        {
            var q0 = Vector256.Load((sbyte*)(w0 + offset));
            var q1 = Vector256.Load((sbyte*)(w1 + offset));
            var abs0 = Avx2.Abs(q0);   // byte lanes: |w| ≤ 128
            var abs1 = Avx2.Abs(q1);
            (Vector256.Create(*(double*)rowScales).AsSingle() * Vector256.Load(tokenScales)).Store(d);

            var x = Vector256.Load((sbyte*)(x0 + offset));
            a00 = Vector256.FusedMultiplyAdd(Vector256.Create(d[0]), Lanes(abs0, Avx2.Sign(x, q0), ones), a00);
            a10 = Vector256.FusedMultiplyAdd(Vector256.Create(d[1]), Lanes(abs1, Avx2.Sign(x, q1), ones), a10);
            x = Vector256.Load((sbyte*)(x1 + offset));
            a01 = Vector256.FusedMultiplyAdd(Vector256.Create(d[2]), Lanes(abs0, Avx2.Sign(x, q0), ones), a01);
            a11 = Vector256.FusedMultiplyAdd(Vector256.Create(d[3]), Lanes(abs1, Avx2.Sign(x, q1), ones), a11);
            x = Vector256.Load((sbyte*)(x2 + offset));
            a02 = Vector256.FusedMultiplyAdd(Vector256.Create(d[4]), Lanes(abs0, Avx2.Sign(x, q0), ones), a02);
            a12 = Vector256.FusedMultiplyAdd(Vector256.Create(d[5]), Lanes(abs1, Avx2.Sign(x, q1), ones), a12);
            x = Vector256.Load((sbyte*)(x3 + offset));
            a03 = Vector256.FusedMultiplyAdd(Vector256.Create(d[6]), Lanes(abs0, Avx2.Sign(x, q0), ones), a03);
            a13 = Vector256.FusedMultiplyAdd(Vector256.Create(d[7]), Lanes(abs1, Avx2.Sign(x, q1), ones), a13);
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
