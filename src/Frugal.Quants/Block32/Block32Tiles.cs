// Tile kernels (see Tiles/DotTile.cs) for the 32-element block formats.
//
// LaneOrder: the order of ggml_vec_dot_*_q8_* (eight float lanes per dot, one FMA per block, hsum_float_8 at
// the end). Four weight rows meet two activation rows per sweep (one, for an odd last token): each weight block is
// unpacked, and for signed formats made absolute, once for both tokens; each activation block is loaded and its
// scale converted once for the four rows, and the four row scales are widened from fp16 together. Each (row, token)
// keeps its own eight-lane accumulator, so every dot is the single-row kernel's sequence of operations.
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
    /// <summary>Largest row (in blocks) whose activation scales fit the stack buffer; longer rows take the per-dot path.</summary>
    private const int MaxStackBlocks = 4096;

    public static void LaneOrder(in DotTile tile)
    {
        int blocks = TileKernels.Blocks(tile, 32, TKernel.Name);
        if (!TileKernels.Use256 || blocks > MaxStackBlocks)
        {
            PerDot(tile, 0, tile.Rows);
            return;
        }
        int rows = tile.Rows & ~3;
        int tokens2 = tile.Tokens & ~1;
        float* activationScales = stackalloc float[2 * blocks];   // [token of the pair, block]: d_x widened
        for (int t = 0; t < tokens2; t += 2)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            ActivationScales(x, blocks, activationScales);
            ActivationScales(x + tile.ActivationStride, blocks, activationScales + blocks);
            for (int r = 0; r < rows; r += 4)
            {
                Rows4Tokens2(tile.Weights + r * tile.WeightStride, tile.WeightStride, x, x + tile.ActivationStride, activationScales, blocks,
                    tile.Output + t * tile.OutputStride + r, tile.OutputStride);
            }
        }
        for (int t = tokens2; t < tile.Tokens; t++)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            ActivationScales(x, blocks, activationScales);
            for (int r = 0; r < rows; r += 4)
            {
                Rows4(tile.Weights + r * tile.WeightStride, tile.WeightStride, x, activationScales, blocks, tile.Output + t * tile.OutputStride + r);
            }
        }
        PerDot(tile, rows, tile.Rows - rows);
    }

    private static void ActivationScales(byte* x, int blocks, float* scales)
    {
        for (int b = 0; b < blocks; b++) scales[b] = Fp16Bits.ToSingle(TKernel.ActivationScaleBits((TActivation*)x + b));
    }

    /// <summary>
    /// Four consecutive rows (stride bytes apart) × two activation rows x0, x1 whose block scales are widened in
    /// activationScales [token, block]; writes output[t·outputStride + 0..3]. The integer lane sums are those of
    /// the one-row kernel (pmaddubsw of |w| and x signed by w, then pmaddwd), with |w| formed once for both tokens.
    /// </summary>
    private static void Rows4Tokens2(byte* w, long stride, byte* x0, byte* x1, float* activationScales, int blocks,
        float* output, long outputStride)
    {
        TWeight* w0 = (TWeight*)w, w1 = (TWeight*)(w + stride), w2 = (TWeight*)(w + 2 * stride), w3 = (TWeight*)(w + 3 * stride);
        TActivation* xa = (TActivation*)x0, xb = (TActivation*)x1;
        Vector256<float> acc0a = default, acc1a = default, acc2a = default, acc3a = default;
        Vector256<float> acc0b = default, acc1b = default, acc2b = default, acc3b = default;
        float summs0a = 0, summs1a = 0, summs2a = 0, summs3a = 0, summs0b = 0, summs1b = 0, summs2b = 0, summs3b = 0;
        float* d = stackalloc float[8];   // [token, row]: d_w·d_x of the current block
        for (int b = 0; b < blocks; b++)
        {
            var qa = Vector256.Load(TKernel.ActivationQuants(xa + b));
            var qb = Vector256.Load(TKernel.ActivationQuants(xb + b));
            // d_w·d_x of each (row, token), each the single product the one-row kernel forms.
            var dw = Fp16Bits.ToSingle(Vector128.Create((uint)TKernel.ScaleBits(w0 + b), TKernel.ScaleBits(w1 + b),
                TKernel.ScaleBits(w2 + b), TKernel.ScaleBits(w3 + b)));
            (dw * Vector128.Create(activationScales[b])).Store(d);
            (dw * Vector128.Create(activationScales[blocks + b])).Store(d + 4);
            Accumulate2(w0 + b, qa, qb, d[0], d[4], ref acc0a, ref acc0b);
            Accumulate2(w1 + b, qa, qb, d[1], d[5], ref acc1a, ref acc1b);
            Accumulate2(w2 + b, qa, qb, d[2], d[6], ref acc2a, ref acc2b);
            Accumulate2(w3 + b, qa, qb, d[3], d[7], ref acc3a, ref acc3b);
            if (TKernel.HasMinimum)
            {
                summs0a = TKernel.AddMinimum(summs0a, w0 + b, xa + b);
                summs1a = TKernel.AddMinimum(summs1a, w1 + b, xa + b);
                summs2a = TKernel.AddMinimum(summs2a, w2 + b, xa + b);
                summs3a = TKernel.AddMinimum(summs3a, w3 + b, xa + b);
                summs0b = TKernel.AddMinimum(summs0b, w0 + b, xb + b);
                summs1b = TKernel.AddMinimum(summs1b, w1 + b, xb + b);
                summs2b = TKernel.AddMinimum(summs2b, w2 + b, xb + b);
                summs3b = TKernel.AddMinimum(summs3b, w3 + b, xb + b);
            }
        }
        float* outA = output, outB = output + outputStride;
        outA[0] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc0a), summs0a);
        outA[1] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc1a), summs1a);
        outA[2] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc2a), summs2a);
        outA[3] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc3a), summs3a);
        outB[0] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc0b), summs0b);
        outB[1] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc1b), summs1b);
        outB[2] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc2b), summs2b);
        outB[3] = Block32Dot<TKernel, TWeight, TActivation>.Finish(BlockLanes.Finish(acc3b), summs3b);
    }

    /// <summary>One weight block against two tokens' quants: accA += d_a·lanes(w, qa), accB += d_b·lanes(w, qb).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate2(TWeight* w, Vector256<sbyte> qa, Vector256<sbyte> qb, float da, float db,
        ref Vector256<float> accA, ref Vector256<float> accB)
    {
        var quants = TKernel.Quants256(w);
        Vector256<byte> left;
        Vector256<sbyte> rightA, rightB;
        if (TKernel.SignedQuants)
        {
            // |w| · (x signed like w): the products of w·x with a non-negative left operand for pmaddubsw.
            left = Avx2.Abs(quants.AsSByte());
            rightA = Avx2.Sign(qa, quants.AsSByte());
            rightB = Avx2.Sign(qb, quants.AsSByte());
        }
        else
        {
            left = quants;
            rightA = qa;
            rightB = qb;
        }
        var ones = Vector256.Create((short)1);
        accA = Vector256.FusedMultiplyAdd(Vector256.Create(da), Vector256.ConvertToSingle(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(left, rightA), ones)), accA);
        accB = Vector256.FusedMultiplyAdd(Vector256.Create(db), Vector256.ConvertToSingle(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(left, rightB), ones)), accB);
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

    /// <summary>
    /// Four consecutive rows (stride bytes apart) × one activation row whose block scales are widened in
    /// activationScales; writes output[0..3]. Prefetches the next four rows, which follow in memory.
    /// </summary>
    private static void Rows4(byte* w, long stride, byte* x, float* activationScales, int blocks, float* output)
    {
        byte* next = w + 4 * stride;
        int prefetchStep = sizeof(TWeight) * 4;
        TWeight* w0 = (TWeight*)w, w1 = (TWeight*)(w + stride), w2 = (TWeight*)(w + 2 * stride), w3 = (TWeight*)(w + 3 * stride);
        TActivation* xb = (TActivation*)x;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        float summs0 = 0, summs1 = 0, summs2 = 0, summs3 = 0;
        for (int b = 0; b < blocks; b++)
        {
            // Every line of the next four rows: prefetches at most 64 bytes apart (prefetchStep ≤ 192).
            Sse.Prefetch0(next + b * prefetchStep);
            Sse.Prefetch0(next + b * prefetchStep + 64);
            if (prefetchStep > 128) Sse.Prefetch0(next + b * prefetchStep + 128);
            var xq = Vector256.Load(TKernel.ActivationQuants(xb + b));
            float dx = activationScales[b];
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
/// sweep; prefill takes two rows × four tokens.
/// <para>
/// The quants enter pmaddubsw unsigned (0..15) and the −8 comes back once per block as 8·Σx, precomputed per token:
/// Σ(q − 8)·x = Σq·x − 8·Σx, exact in integers. Three levels of phaddw stay exact in int16 (16 products of at most
/// 15·128 = 1920 each: ≤ 30720); the two 128-bit halves are added in int32.
/// </para>
/// </summary>
internal static unsafe class Q4_0Tiles
{
    private const int BlockBytes = BlockQ4_0.Size;
    private const int ActivationBlockBytes = BlockQ8_0.Size;

    /// <summary>Largest row (in blocks) whose per-token tables fit the stack buffers; longer rows take the per-dot path.</summary>
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
        float* scales = stackalloc float[4 * blocks];   // [block, token of the group]: d_x widened
        int* offsets = stackalloc int[4 * blocks];      // [block, token of the group]: 8·Σx
        for (int t = 0; t < tokens4; t += 4)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            for (int k = 0; k < 4; k++) ActivationTables.ForToken(tile, t + k, blocks, scales + k, offsets + k, 4);
            for (int r = 0; r < rows2; r += 2)
            {
                Rows2Tokens4(tile.Weights + r * tile.WeightStride, tile.WeightStride, x, tile.ActivationStride, blocks, scales, offsets,
                    tile.Output + t * tile.OutputStride + r, tile.OutputStride);
            }
        }
        for (int t = tokens4; t < tile.Tokens; t++)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            ActivationTables.ForToken(tile, t, blocks, scales, offsets, 1);
            for (int r = 0; r < rows8; r += 8)
            {
                Rows8(tile.Weights + r * tile.WeightStride, tile.WeightStride, x, scales, offsets, blocks, tile.Output + t * tile.OutputStride + r);
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

    /// <summary>
    /// Eight consecutive rows × one token: lane i of the accumulator is row i; writes output[0..7]. Prefetches the
    /// next eight rows, which follow in memory.
    /// </summary>
    private static void Rows8(byte* w, long stride, byte* x, float* scales, int* offsets, int blocks, float* output)
    {
        var acc = Vector256<float>.Zero;
        byte* next = w + 8 * stride;
        long stride3 = 3 * stride, stride5 = 5 * stride, stride7 = 7 * stride;
        for (int b = 0; b < blocks; b++, w += BlockBytes, x += ActivationBlockBytes)
        {
            // 8 rows × 18 bytes of the next group per block step: three lines cover it.
            byte* ahead = next + b * (8 * BlockBytes);
            Sse.Prefetch0(ahead);
            Sse.Prefetch0(ahead + 64);
            Sse.Prefetch0(ahead + 128);
            var xq = Vector256.Load((sbyte*)x + 2);
            var sums = BlockSums(
                Avx2.MultiplyAddAdjacent(Quants(w), xq), Avx2.MultiplyAddAdjacent(Quants(w + stride), xq),
                Avx2.MultiplyAddAdjacent(Quants(w + 2 * stride), xq), Avx2.MultiplyAddAdjacent(Quants(w + stride3), xq),
                Avx2.MultiplyAddAdjacent(Quants(w + 4 * stride), xq), Avx2.MultiplyAddAdjacent(Quants(w + stride5), xq),
                Avx2.MultiplyAddAdjacent(Quants(w + 6 * stride), xq), Avx2.MultiplyAddAdjacent(Quants(w + stride7), xq));
            var total = Vector256.ConvertToSingle(sums - Vector256.Create(offsets[b]));
            var dw = Fp16Bits.ToSingle(Vector256.Create(
                (uint)*(ushort*)w, *(ushort*)(w + stride), *(ushort*)(w + 2 * stride), *(ushort*)(w + stride3),
                *(ushort*)(w + 4 * stride), *(ushort*)(w + stride5), *(ushort*)(w + 6 * stride), *(ushort*)(w + stride7)));
            acc = Vector256.FusedMultiplyAdd(total, dw * Vector256.Create(scales[b]), acc);
        }
        acc.Store(output);
    }

    /// <summary>
    /// Two consecutive rows × four tokens: lane 4r + t is (row r, token t). scales and offsets are the four tokens'
    /// tables, [block, token]; output[t·outputStride + r].
    /// </summary>
    private static void Rows2Tokens4(byte* w, long stride, byte* x, long xStride, int blocks, float* scales, int* offsets,
        float* output, long outputStride)
    {
        var acc = Vector256<float>.Zero;
        byte* w1 = w + stride;
        for (int b = 0; b < blocks; b++)
        {
            var q0 = Quants(w + b * BlockBytes);
            var q1 = Quants(w1 + b * BlockBytes);
            sbyte* xb = (sbyte*)x + b * ActivationBlockBytes + 2;
            var x0 = Vector256.Load(xb);
            var x1 = Vector256.Load(xb + xStride);
            var x2 = Vector256.Load(xb + 2 * xStride);
            var x3 = Vector256.Load(xb + 3 * xStride);
            var sums = BlockSums(
                Avx2.MultiplyAddAdjacent(q0, x0), Avx2.MultiplyAddAdjacent(q0, x1), Avx2.MultiplyAddAdjacent(q0, x2), Avx2.MultiplyAddAdjacent(q0, x3),
                Avx2.MultiplyAddAdjacent(q1, x0), Avx2.MultiplyAddAdjacent(q1, x1), Avx2.MultiplyAddAdjacent(q1, x2), Avx2.MultiplyAddAdjacent(q1, x3));
            var offset = Vector128.Load(offsets + 4 * b);
            var total = Vector256.ConvertToSingle(sums - Vector256.Create(offset, offset));
            var dx = Vector128.Load(scales + 4 * b);
            var dw = Fp16Bits.ToSingle(Vector256.Create(Vector128.Create((uint)*(ushort*)(w + b * BlockBytes)), Vector128.Create((uint)*(ushort*)(w1 + b * BlockBytes))));
            acc = Vector256.FusedMultiplyAdd(total, dw * Vector256.Create(dx, dx), acc);
        }
        float* lanes = stackalloc float[8];
        acc.Store(lanes);
        for (int t = 0; t < 4; t++)
        {
            output[t * outputStride] = lanes[t];
            output[t * outputStride + 1] = lanes[4 + t];
        }
    }

    /// <summary>A Q4_0 block's 32 quants (0..15) in element order: the packed bytes in both halves, the upper half shifted by 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Quants(byte* block)
    {
        var both = Avx2.BroadcastVector128ToVector256(block + 2);
        return Avx2.ShiftRightLogicalVariable(both.AsUInt64(), Vector256.Create(0UL, 0UL, 4UL, 4UL)).AsByte() & Vector256.Create((byte)0x0F);
    }

    /// <summary>
    /// Σq·x of each of eight pair-sum vectors, in int32 lanes 0..7: three levels of phaddw leave, in each 128-bit
    /// half, lane i = the sum of p_i's eight int16 there (exact, see the class summary); the halves add in int32.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> BlockSums(Vector256<short> p0, Vector256<short> p1, Vector256<short> p2, Vector256<short> p3,
        Vector256<short> p4, Vector256<short> p5, Vector256<short> p6, Vector256<short> p7)
    {
        var c = Avx2.HorizontalAdd(
            Avx2.HorizontalAdd(Avx2.HorizontalAdd(p0, p1), Avx2.HorizontalAdd(p2, p3)),
            Avx2.HorizontalAdd(Avx2.HorizontalAdd(p4, p5), Avx2.HorizontalAdd(p6, p7)));
        return Avx2.ConvertToVector256Int32(c.GetLower()) + Avx2.ConvertToVector256Int32(c.GetUpper());
    }
}
