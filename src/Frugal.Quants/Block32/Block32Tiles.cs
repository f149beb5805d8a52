// Tile kernels (see Tiles/DotTile.cs) for the 32-element block formats.
//
// LaneOrder: the order of ggml_vec_dot_*_q8_* (eight float lanes per dot, one FMA per block, hsum_float_8 at
// the end). Four weight rows meet one activation row per sweep: the activation block is loaded and its scale
// converted once for the four rows, and the four row scales are widened from fp16 together. Each row keeps its
// own eight-lane accumulator, so every dot is the single-row kernel's sequence of operations.
//
// Q4_0 row groups: the order of llama.cpp's repacked Q4_0 kernels (ggml_gemv/gemm_q4_0_8x8_q8_0): each block's
// integer sum in full, then acc = fma(sum, d_w·d_x, acc). Eight (row, token) dots share one register:
//   lane i of the float accumulator is dot i, its integer block sums come out of one horizontal-add tree.
// The int16 tree is exact: |q − 8| ≤ 8 and |x| ≤ 127, so any partial sum of a block's 32 products is at most
// 32·8·127 = 32512 in size, inside int16.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Quants.Float;
using Frugal.Quants.Tiles;

namespace Frugal.Quants.Block32;

/// <summary>Lane-order tile kernel of one 32-element weight format (bit-identical with its VecDot).</summary>
internal static unsafe class Block32Tile<TKernel, TWeight, TActivation>
    where TKernel : struct, IBlock32Weights<TWeight, TActivation>
    where TWeight : unmanaged
    where TActivation : unmanaged
{
    public static void LaneOrder(in DotTile tile)
    {
        int blocks = TileKernels.Blocks(tile, 32, TKernel.Name);
        if (!TileKernels.Use256)
        {
            PerDot(tile, 0, tile.Rows);
            return;
        }
        int rows = tile.Rows & ~3;
        for (int r = 0; r < rows; r += 4)
        {
            for (int t = 0; t < tile.Tokens; t++)
            {
                Rows4(tile.Weights + r * tile.WeightStride, tile.WeightStride, tile.Activations + t * tile.ActivationStride,
                    blocks, tile.Output + t * tile.OutputStride + r);
            }
        }
        PerDot(tile, rows, tile.Rows - rows);
    }

    /// <summary>Rows [first, first + count) one dot at a time, at the level the single dot picks.</summary>
    private static void PerDot(in DotTile tile, int first, int count)
    {
        for (int r = first; r < first + count; r++)
        {
            byte* row = tile.Weights + r * tile.WeightStride;
            for (int t = 0; t < tile.Tokens; t++)
            {
                tile.Output[t * tile.OutputStride + r] = Block32Dot<TKernel, TWeight, TActivation>.Dot(row, tile.Activations + t * tile.ActivationStride, tile.Cols);
            }
        }
    }

    /// <summary>Four consecutive rows (stride bytes apart) × one activation row; writes output[0..3].</summary>
    private static void Rows4(byte* w, long stride, byte* x, int blocks, float* output)
    {
        TWeight* w0 = (TWeight*)w, w1 = (TWeight*)(w + stride), w2 = (TWeight*)(w + 2 * stride), w3 = (TWeight*)(w + 3 * stride);
        TActivation* xb = (TActivation*)x;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        float summs0 = 0, summs1 = 0, summs2 = 0, summs3 = 0;
        for (int b = 0; b < blocks; b++)
        {
            var xq = Vector256.Load(TKernel.ActivationQuants(xb + b));
            float dx = Fp16Bits.ToSingle(TKernel.ActivationScaleBits(xb + b));
            // d_w·d_x of the four rows, each the single product the one-row kernel forms.
            var d = Fp16Bits.ToSingle(Vector128.Create((uint)TKernel.ScaleBits(w0 + b), TKernel.ScaleBits(w1 + b),
                TKernel.ScaleBits(w2 + b), TKernel.ScaleBits(w3 + b))) * Vector128.Create(dx);
            var d8 = Vector256.Create(d, d);
            acc0 = Vector256.FusedMultiplyAdd(Lane(d8, 0), Vector256.ConvertToSingle(LaneSums(w0 + b, xq)), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Lane(d8, 1), Vector256.ConvertToSingle(LaneSums(w1 + b, xq)), acc1);
            acc2 = Vector256.FusedMultiplyAdd(Lane(d8, 2), Vector256.ConvertToSingle(LaneSums(w2 + b, xq)), acc2);
            acc3 = Vector256.FusedMultiplyAdd(Lane(d8, 3), Vector256.ConvertToSingle(LaneSums(w3 + b, xq)), acc3);
            if (TKernel.HasMinimum)
            {
                summs0 = TKernel.AddMinimum(summs0, w0 + b, xb + b);
                summs1 = TKernel.AddMinimum(summs1, w1 + b, xb + b);
                summs2 = TKernel.AddMinimum(summs2, w2 + b, xb + b);
                summs3 = TKernel.AddMinimum(summs3, w3 + b, xb + b);
            }
        }
        output[0] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc0), summs0);
        output[1] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc1), summs1);
        output[2] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc2), summs2);
        output[3] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc3), summs3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> LaneSums(TWeight* w, Vector256<sbyte> xq) =>
        Block32Dot<TKernel, TWeight, TActivation>.MultiplyAddQuads(TKernel.Quants256(w), xq);

    /// <summary>Every lane = lane <paramref name="index"/> of <paramref name="values"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lane(Vector256<float> values, int index) => Avx2.PermuteVar8x32(values, Vector256.Create(index));
}

/// <summary>
/// Tile kernel of Q4_0's row-group dot (<see cref="Q4_0.DotRowGroups"/>). Decode (one token) takes eight rows per
/// sweep; prefill takes two rows × four tokens, with the scales of the four tokens widened once per token group.
/// </summary>
internal static unsafe class Q4_0Tiles
{
    private const int BlockBytes = BlockQ4_0.Size;
    private const int ActivationBlockBytes = BlockQ8_0.Size;

    /// <summary>Largest row (in blocks) whose token-group scales fit the stack buffer; longer rows take the per-dot path.</summary>
    private const int MaxStackBlocks = 2048;

    public static void RowGroups(in DotTile tile)
    {
        int blocks = TileKernels.Blocks(tile, 32, Q4_0.Name);
        if (!TileKernels.Use256 || blocks > MaxStackBlocks)
        {
            PerDot(tile, 0, tile.Rows, 0, tile.Tokens);
            return;
        }
        int rows8 = tile.Rows & ~7;
        int tokens4 = tile.Rows >= 2 ? tile.Tokens & ~3 : 0;
        int rows2 = tile.Rows & ~1;
        float* tokenScales = stackalloc float[4 * blocks];   // [block, token of the group]: d_x as float
        float* rowScales = stackalloc float[2 * blocks];     // [row of the pair, block]: d_w as float
        for (int t = 0; t < tokens4; t += 4)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            WidenTokenScales(x, tile.ActivationStride, blocks, tokenScales);
            for (int r = 0; r < rows2; r += 2)
            {
                byte* w = tile.Weights + r * tile.WeightStride;
                WidenRowScales(w, blocks, rowScales);
                WidenRowScales(w + tile.WeightStride, blocks, rowScales + blocks);
                Rows2Tokens4(w, tile.WeightStride, x, tile.ActivationStride, blocks, rowScales, tokenScales,
                    tile.Output + t * tile.OutputStride + r, tile.OutputStride);
            }
        }
        for (int t = tokens4; t < tile.Tokens; t++)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            for (int r = 0; r < rows8; r += 8)
            {
                Rows8(tile.Weights + r * tile.WeightStride, tile.WeightStride, x, blocks, tile.Output + t * tile.OutputStride + r);
            }
        }
        // What the two shapes above leave: an odd last row of the token groups, rows beyond the last eight of the rest.
        PerDot(tile, rows2, tile.Rows - rows2, 0, tokens4);
        PerDot(tile, rows8, tile.Rows - rows8, tokens4, tile.Tokens - tokens4);
    }

    private static void PerDot(in DotTile tile, int firstRow, int rows, int firstToken, int tokens)
    {
        for (int r = firstRow; r < firstRow + rows; r++)
        {
            byte* row = tile.Weights + r * tile.WeightStride;
            for (int t = firstToken; t < firstToken + tokens; t++)
            {
                tile.Output[t * tile.OutputStride + r] = Q4_0.DotRowGroups(row, tile.Activations + t * tile.ActivationStride, tile.Cols);
            }
        }
    }

    /// <summary>Eight consecutive rows × one token: lane i of the accumulator is row i; writes output[0..7].</summary>
    private static void Rows8(byte* w, long stride, byte* x, int blocks, float* output)
    {
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++, w += BlockBytes, x += ActivationBlockBytes)
        {
            var xq = Vector256.Load((sbyte*)x + 2);
            var p0 = PairSums(SignedQuants(w), xq);
            var p1 = PairSums(SignedQuants(w + stride), xq);
            var p2 = PairSums(SignedQuants(w + 2 * stride), xq);
            var p3 = PairSums(SignedQuants(w + 3 * stride), xq);
            var p4 = PairSums(SignedQuants(w + 4 * stride), xq);
            var p5 = PairSums(SignedQuants(w + 5 * stride), xq);
            var p6 = PairSums(SignedQuants(w + 6 * stride), xq);
            var p7 = PairSums(SignedQuants(w + 7 * stride), xq);
            var sums = BlockSums(p0, p1, p2, p3, p4, p5, p6, p7);
            var dw = Fp16Bits.ToSingle(Vector256.Create(
                (uint)*(ushort*)w, *(ushort*)(w + stride), *(ushort*)(w + 2 * stride), *(ushort*)(w + 3 * stride),
                *(ushort*)(w + 4 * stride), *(ushort*)(w + 5 * stride), *(ushort*)(w + 6 * stride), *(ushort*)(w + 7 * stride)));
            var scale = dw * Vector256.Create(Fp16Bits.ToSingle(*(ushort*)x));
            acc = Vector256.FusedMultiplyAdd(sums, scale, acc);
        }
        acc.Store(output);
    }

    /// <summary>
    /// Two consecutive rows × four tokens: lane 4r + t is (row r, token t). rowScales [2, blocks] and
    /// tokenScales [blocks, 4] hold the widened d of every block; output[t·outputStride + r].
    /// </summary>
    private static void Rows2Tokens4(byte* w, long stride, byte* x, long xStride, int blocks, float* rowScales, float* tokenScales,
        float* output, long outputStride)
    {
        var acc = Vector256<float>.Zero;
        byte* w1 = w + stride;
        for (int b = 0; b < blocks; b++)
        {
            var q0 = SignedQuants(w + b * BlockBytes);
            var q1 = SignedQuants(w1 + b * BlockBytes);
            var a0 = Avx2.Abs(q0);
            var a1 = Avx2.Abs(q1);
            sbyte* xb = (sbyte*)x + b * ActivationBlockBytes + 2;
            var x0 = Vector256.Load(xb);
            var x1 = Vector256.Load(xb + xStride);
            var x2 = Vector256.Load(xb + 2 * xStride);
            var x3 = Vector256.Load(xb + 3 * xStride);
            var sums = BlockSums(
                Avx2.MultiplyAddAdjacent(a0, Avx2.Sign(x0, q0)), Avx2.MultiplyAddAdjacent(a0, Avx2.Sign(x1, q0)),
                Avx2.MultiplyAddAdjacent(a0, Avx2.Sign(x2, q0)), Avx2.MultiplyAddAdjacent(a0, Avx2.Sign(x3, q0)),
                Avx2.MultiplyAddAdjacent(a1, Avx2.Sign(x0, q1)), Avx2.MultiplyAddAdjacent(a1, Avx2.Sign(x1, q1)),
                Avx2.MultiplyAddAdjacent(a1, Avx2.Sign(x2, q1)), Avx2.MultiplyAddAdjacent(a1, Avx2.Sign(x3, q1)));
            var dw = Vector256.Create(Vector128.Create(rowScales[b]), Vector128.Create(rowScales[blocks + b]));
            var dx = Vector128.Load(tokenScales + 4 * b);
            acc = Vector256.FusedMultiplyAdd(sums, dw * Vector256.Create(dx, dx), acc);
        }
        float* lanes = stackalloc float[8];
        acc.Store(lanes);
        for (int t = 0; t < 4; t++)
        {
            output[t * outputStride] = lanes[t];
            output[t * outputStride + 1] = lanes[4 + t];
        }
    }

    /// <summary>d_x of four consecutive activation rows, widened: scales[4·b + t].</summary>
    private static void WidenTokenScales(byte* x, long xStride, int blocks, float* scales)
    {
        for (int b = 0; b < blocks; b++)
        {
            byte* block = x + b * ActivationBlockBytes;
            Fp16Bits.ToSingle(Vector128.Create((uint)*(ushort*)block, *(ushort*)(block + xStride),
                *(ushort*)(block + 2 * xStride), *(ushort*)(block + 3 * xStride))).Store(scales + 4 * b);
        }
    }

    /// <summary>d_w of every block of one row, widened: scales[b].</summary>
    private static void WidenRowScales(byte* w, int blocks, float* scales)
    {
        int b = 0;
        for (; b + 8 <= blocks; b += 8)
        {
            byte* p = w + b * BlockBytes;
            Fp16Bits.ToSingle(Vector256.Create((uint)*(ushort*)p, *(ushort*)(p + BlockBytes), *(ushort*)(p + 2 * BlockBytes),
                *(ushort*)(p + 3 * BlockBytes), *(ushort*)(p + 4 * BlockBytes), *(ushort*)(p + 5 * BlockBytes),
                *(ushort*)(p + 6 * BlockBytes), *(ushort*)(p + 7 * BlockBytes))).Store(scales + b);
        }
        for (; b < blocks; b++) scales[b] = Fp16Bits.ToSingle(*(ushort*)(w + b * BlockBytes));
    }

    /// <summary>A Q4_0 block's 32 quants minus 8 (−8..7), in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> SignedQuants(byte* block)
    {
        var packed = Vector128.Load(block + 2);
        var both = Vector256.Create(packed, (packed.AsUInt16() >>> 4).AsByte());
        return ((both & Vector256.Create((byte)0x0F)) - Vector256.Create((byte)8)).AsSByte();
    }

    /// <summary>int16 pair sums of q·x (pmaddubsw of |q| and x signed like q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> PairSums(Vector256<sbyte> q, Vector256<sbyte> x) => Avx2.MultiplyAddAdjacent(Avx2.Abs(q), Avx2.Sign(x, q));

    /// <summary>
    /// The total of each of eight pair-sum vectors, as floats in lanes 0..7: three levels of phaddw leave, in each
    /// 128-bit half, lane i = the sum of p_i's eight int16 in that half; the halves add up. All exact in int16.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BlockSums(Vector256<short> p0, Vector256<short> p1, Vector256<short> p2, Vector256<short> p3,
        Vector256<short> p4, Vector256<short> p5, Vector256<short> p6, Vector256<short> p7)
    {
        var c = Avx2.HorizontalAdd(
            Avx2.HorizontalAdd(Avx2.HorizontalAdd(p0, p1), Avx2.HorizontalAdd(p2, p3)),
            Avx2.HorizontalAdd(Avx2.HorizontalAdd(p4, p5), Avx2.HorizontalAdd(p6, p7)));
        return Vector256.ConvertToSingle(Avx2.ConvertToVector256Int32(c.GetLower() + c.GetUpper()));
    }
}
