// Tile kernels (see Tiles/DotTile.cs) for Q4_K and Q6_K weights × Q8_K activations.
//
// Prefill: one weight row meets four activation rows per sweep, so each super-block's quants are unpacked
// (nibbles split, Q6_K's high bits merged, scales widened) once for four tokens. Each (row, token) dot keeps its own
// integer lanes and float accumulators and the exact steps of the one-row AVX2 kernel (Q4K.Dot256, Q6K.Dot256), so
// its bits are unchanged. Decode (and tokens left over from the groups of four) takes two rows per sweep.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Quants.Float;
using Frugal.Quants.Tiles;

namespace Frugal.Quants.KQuants;

internal static unsafe class KQuantTiles
{
    public static void Q4KTile(in DotTile tile) => Run(tile, "Q4_K", &Q4K.Dot, &Q4KRowTokens4, &Q4KRows2);

    /// <summary>
    /// Q6_K tile: like <see cref="Run"/>, but token-group by token-group, so that the −32 offset's share of every
    /// chunk, pmaddubsw(32, y) (which depends only on the activations), is computed once per token and chunk for all
    /// the tile's rows instead of once per row: one of the three multiplies per chunk and row. It is the same
    /// instruction on the same bytes as in <see cref="Q6K.Dot256"/>, so the bits do not change.
    /// </summary>
    public static void Q6KTile(in DotTile tile)
    {
        int blocks = TileKernels.Blocks(tile, KQuant.SuperBlock, "Q6_K");
        if (!TileKernels.Use256)
        {
            TileKernels.PerDot(tile, &Q6K.Dot);
            return;
        }
        int chunks = blocks * Q6KChunks;
        var offsets = OffsetTable(4 * chunks);   // [token of the group][super-block][chunk]: pmaddubsw(32, y chunk)
        int tokens4 = tile.Tokens & ~3;
        int rowPairs = tile.Rows & ~1;
        for (int t = 0; t < tokens4; t += 4)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            for (int k = 0; k < 4; k++) Q6KOffsets(x + k * tile.ActivationStride, blocks, offsets + k * chunks);
            for (int r = 0; r < tile.Rows; r++)
            {
                Q6KRowTokens4(tile.Weights + r * tile.WeightStride, x, tile.ActivationStride, blocks, offsets, chunks,
                    tile.Output + t * tile.OutputStride + r, tile.OutputStride);
            }
        }
        for (int t = tokens4; t < tile.Tokens; t++)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            float* output = tile.Output + t * tile.OutputStride;
            Q6KOffsets(x, blocks, offsets);
            for (int r = 0; r < rowPairs; r += 2) Q6KRows2(tile.Weights + r * tile.WeightStride, tile.WeightStride, x, blocks, offsets, output + r);
            if (rowPairs < tile.Rows) output[rowPairs] = Q6K.Dot256(tile.Weights + rowPairs * tile.WeightStride, x, tile.Cols);
        }
    }

    /// <summary>32-quant chunks per Q6_K super-block.</summary>
    private const int Q6KChunks = KQuant.SuperBlock / 32;

    /// <summary>table[8i + c] = pmaddubsw(32, chunk c of super-block i's activation quants): the offset's pair sums.</summary>
    private static void Q6KOffsets(byte* x, int blocks, Vector256<short>* table)
    {
        var offset = Vector256.Create((byte)32);
        for (int i = 0; i < blocks; i++)
        {
            var y = (BlockQ8_K*)x + i;
            for (int c = 0; c < Q6KChunks; c++) table[Q6KChunks * i + c] = Avx2.MultiplyAddAdjacent(offset, Vector256.Load(y->Qs + 32 * c));
        }
    }

    [ThreadStatic] private static Vector256<short>* t_offsetTable;
    [ThreadStatic] private static int t_offsetTableCount;

    /// <summary>
    /// This thread's scratch of at least <paramref name="count"/> vectors: allocated on the first tile and when a
    /// wider matrix comes, then reused (one per pool thread, kept for the thread's life), so a step allocates nothing.
    /// </summary>
    private static Vector256<short>* OffsetTable(int count)
    {
        if (count > t_offsetTableCount)
        {
            NativeMemory.AlignedFree(t_offsetTable);
            t_offsetTable = (Vector256<short>*)NativeMemory.AlignedAlloc((nuint)count * (nuint)sizeof(Vector256<short>), 64);
            t_offsetTableCount = count;
        }
        return t_offsetTable;
    }

    /// <summary>
    /// Groups of four tokens through <paramref name="rowTokens4"/> (one row at a time), the other tokens through
    /// <paramref name="rows2"/> (two rows at a time); an odd last row of those one dot at a time.
    /// </summary>
    private static void Run(in DotTile tile, string name, delegate*<byte*, byte*, int, float> dot,
        delegate*<byte*, byte*, long, int, float*, long, void> rowTokens4, delegate*<byte*, long, byte*, int, float*, void> rows2)
    {
        int blocks = TileKernels.Blocks(tile, KQuant.SuperBlock, name);
        if (!TileKernels.Use256)
        {
            TileKernels.PerDot(tile, dot);
            return;
        }
        int tokens4 = tile.Tokens & ~3;
        int rowPairs = tile.Rows & ~1;
        for (int r = 0; r < tile.Rows; r++)
        {
            byte* row = tile.Weights + r * tile.WeightStride;
            for (int t = 0; t < tokens4; t += 4)
            {
                rowTokens4(row, tile.Activations + t * tile.ActivationStride, tile.ActivationStride, blocks,
                    tile.Output + t * tile.OutputStride + r, tile.OutputStride);
            }
        }
        for (int t = tokens4; t < tile.Tokens; t++)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            float* output = tile.Output + t * tile.OutputStride;
            for (int r = 0; r < rowPairs; r += 2) rows2(tile.Weights + r * tile.WeightStride, tile.WeightStride, x, blocks, output + r);
            if (rowPairs < tile.Rows) output[rowPairs] = dot(tile.Weights + rowPairs * tile.WeightStride, x, tile.Cols);
        }
    }

    /// <summary>Prefetches [start, start + bytes) line by line.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(byte* start, int bytes)
    {
        for (int offset = 0; offset < bytes; offset += 64) Sse.Prefetch0(start + offset);
    }

    /// <summary>
    /// Two consecutive Q4_K rows (stride bytes apart) × one Q8_K row: output[0..1], each exactly <see cref="Q4K.Dot256"/>.
    /// The activation quants are loaded once for both rows and the four fp16 scales of a super-block pair widened
    /// together; the next two rows, which follow in memory, are prefetched.
    /// </summary>
    private static void Q4KRows2(byte* w, long stride, byte* x, int blocks, float* output)
    {
        byte* scalesThenMins0 = stackalloc byte[16];
        byte* scalesThenMins1 = stackalloc byte[16];
        var nibble = Vector256.Create((byte)0x0F);
        Vector256<float> acc0 = default, acc1 = default;
        Vector128<float> accMin0 = default, accMin1 = default;
        byte* next = w + 2 * stride;
        for (int i = 0; i < blocks; i++)
        {
            Prefetch(next + i * 2 * sizeof(BlockQ4_K), 2 * sizeof(BlockQ4_K));
            var b0 = (BlockQ4_K*)w + i;
            var b1 = (BlockQ4_K*)(w + stride) + i;
            var y = (BlockQ8_K*)x + i;
            // d = dy·d_w and dmin = −dy·dmin_w of both rows: the same single products as the one-row kernel.
            var scales = Fp16Bits.ToSingle(Vector128.Create((uint)b0->D, b0->DMin, b1->D, b1->DMin)) * Vector128.Create(y->D, -y->D, y->D, -y->D);
            KQuant.UnpackScalesMinsK4(b0->Scales, scalesThenMins0);
            KQuant.UnpackScalesMinsK4(b1->Scales, scalesThenMins1);
            accMin0 = GgmlLanes.FusedMultiplyAdd(scales.GetElement(1), KQuant.PairedMinLanes(y->BSums, scalesThenMins0 + 8), accMin0);
            accMin1 = GgmlLanes.FusedMultiplyAdd(scales.GetElement(3), KQuant.PairedMinLanes(y->BSums, scalesThenMins1 + 8), accMin1);

            Vector256<int> sum0 = default, sum1 = default;
            for (int c = 0; c < 4; c++)
            {
                var xLow = Vector256.Load(y->Qs + 64 * c);
                var xHigh = Vector256.Load(y->Qs + 64 * c + 32);
                var bytes0 = Vector256.Load(b0->Qs + 32 * c);
                var bytes1 = Vector256.Load(b1->Qs + 32 * c);
                sum0 += KSimd.MulAdd(bytes0 & nibble, xLow, Vector256.Create((short)scalesThenMins0[2 * c]))
                      + KSimd.MulAdd((bytes0.AsUInt16() >>> 4).AsByte() & nibble, xHigh, Vector256.Create((short)scalesThenMins0[2 * c + 1]));
                sum1 += KSimd.MulAdd(bytes1 & nibble, xLow, Vector256.Create((short)scalesThenMins1[2 * c]))
                      + KSimd.MulAdd((bytes1.AsUInt16() >>> 4).AsByte() & nibble, xHigh, Vector256.Create((short)scalesThenMins1[2 * c + 1]));
            }
            acc0 = GgmlLanes.FusedMultiplyAdd(scales.GetElement(0), sum0, acc0);
            acc1 = GgmlLanes.FusedMultiplyAdd(scales.GetElement(2), sum1, acc1);
        }
        output[0] = GgmlLanes.HorizontalSum8(acc0) + GgmlLanes.HorizontalSum4(accMin0);
        output[1] = GgmlLanes.HorizontalSum8(acc1) + GgmlLanes.HorizontalSum4(accMin1);
    }

    /// <summary>
    /// Two consecutive Q6_K rows × one Q8_K row: output[0..1], each exactly <see cref="Q6K.Dot256"/>; offsets is the
    /// token's <see cref="Q6KOffsets"/> table. The eight chunks of a super-block are written out (as in
    /// <see cref="Q6KRowTokens4"/>) so that every shift is an immediate and every selection folds.
    /// </summary>
    private static void Q6KRows2(byte* w, long stride, byte* x, int blocks, Vector256<short>* offsets, float* output)
    {
        Vector256<float> acc0 = default, acc1 = default;
        byte* next = w + 2 * stride;
        for (int i = 0; i < blocks; i++, offsets += Q6KChunks)
        {
            Prefetch(next + i * 2 * sizeof(BlockQ6_K), 2 * sizeof(BlockQ6_K));
            var b0 = (BlockQ6_K*)w + i;
            var b1 = (BlockQ6_K*)(w + stride) + i;
            var y = (BlockQ8_K*)x + i;
            var d = Fp16Bits.ToSingle(Vector128.Create((uint)b0->D, b1->D, 0, 0)) * Vector128.Create(y->D);
            var scales0 = Avx2.ConvertToVector256Int16(Vector128.Load(b0->Scales));   // 16 × int16
            var scales1 = Avx2.ConvertToVector256Int16(Vector128.Load(b1->Scales));
            acc0 = GgmlLanes.FusedMultiplyAdd(d.GetElement(0), Q6KSuperBlock(b0, y, offsets, scales0), acc0);
            acc1 = GgmlLanes.FusedMultiplyAdd(d.GetElement(1), Q6KSuperBlock(b1, y, offsets, scales1), acc1);
        }
        output[0] = GgmlLanes.HorizontalSum8(acc0);
        output[1] = GgmlLanes.HorizontalSum8(acc1);
    }

    /// <summary>
    /// Half h (a constant) of a Q6_K super-block × one Q8_K block in 512-bit registers: chunks 0 | 1 (low nibbles of the
    /// 64 Ql bytes; Qh bits 0-1 | 2-3) and chunks 2 | 3 (high nibbles; Qh bits 4-5 | 6-7), each register's integer lanes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Q6KHalfWide(BlockQ6_K* b, BlockQ8_K* y, Vector256<short>* offsets, Vector512<short> scales, int h)
    {
        var ql = Vector512.Load(b->Ql + 64 * h);
        // The half's 32 Qh bytes in both 256-bit halves: one load of all 64 and vshufi64x2 (Vector512.Create(v, v)
        // went through a stack slot, and BroadcastVector256ToVector512 from memory gave wrong bytes on .NET 10.0.12).
        var qhAll = Vector512.Load((ulong*)b->Qh);
        var qh = (h == 0 ? Avx512F.Shuffle4x128(qhAll, qhAll, 0b01_00_01_00) : Avx512F.Shuffle4x128(qhAll, qhAll, 0b11_10_11_10)).AsUInt16();
        var nibble = Vector512.Create((byte)0x0F);
        var highBits = Vector512.Create((byte)0x30);
        var first = (ql & nibble) | (Avx512BW.ShiftLeftLogicalVariable(qh, FirstPairShifts).AsByte() & highBits);
        var second = ((ql.AsUInt16() >>> 4).AsByte() & nibble) | (Avx512BW.ShiftRightLogicalVariable(qh, SecondPairShifts).AsByte() & highBits);
        sbyte* qs = y->Qs + 128 * h;
        return Q6KChunkPair(first, qs, offsets + 4 * h, KSimd.Permute(scales, h == 0 ? SubBlocks0To3 : SubBlocks8To11))
             + Q6KChunkPair(second, qs + 64, offsets + 4 * h + 2, KSimd.Permute(scales, h == 0 ? SubBlocks4To7 : SubBlocks12To15));
    }

    /// <summary>Two chunks (one per 256-bit half) × their 64 activation quants: <see cref="Q6KChunkDot"/> on both at once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Q6KChunkPair(Vector512<byte> quants, sbyte* y, Vector256<short>* offsets, Vector512<short> pairScales) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(quants, Vector512.Load(y)) - Vector512.Load((short*)offsets), pairScales);

    // Qh shifts that bring a chunk's two high bits to bits 4-5 of each byte: chunk 0 | 1 left by 4 | 2, chunk 2 | 3 right by 0 | 2.
    private static readonly Vector512<ushort> FirstPairShifts = Vector512.Create(Vector256.Create((ushort)4), Vector256.Create((ushort)2));
    private static readonly Vector512<ushort> SecondPairShifts = Vector512.Create(Vector256<ushort>.Zero, Vector256.Create((ushort)2));

    // vpermw indices: int16 lane → the 16-quant sub-block whose scale it takes, for two chunks (four sub-blocks).
    private static readonly Vector512<short> SubBlocks0To3 = KSimd.SubBlockLanes(0, 1, 2, 3);
    private static readonly Vector512<short> SubBlocks4To7 = KSimd.SubBlockLanes(4, 5, 6, 7);
    private static readonly Vector512<short> SubBlocks8To11 = KSimd.SubBlockLanes(8, 9, 10, 11);
    private static readonly Vector512<short> SubBlocks12To15 = KSimd.SubBlockLanes(12, 13, 14, 15);

    /// <summary>
    /// One Q6_K super-block × one Q8_K block: ggml's eight integer lanes. With AVX-512 two chunks share a 512-bit
    /// register (one 64-byte load brings both chunks' low bits, activations and offset sums, one vpermw their four
    /// sub-block scales) and the two halves' lanes add (exactly) into the eight; otherwise chunk by chunk.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Q6KSuperBlock(BlockQ6_K* b, BlockQ8_K* y, Vector256<short>* offsets, Vector256<short> scales) =>
        TileKernels.Use512
            ? KSimd.FoldHalves(Q6KHalfWide(b, y, offsets, scales.ToVector512Unsafe(), 0) + Q6KHalfWide(b, y, offsets, scales.ToVector512Unsafe(), 1))
            : Q6KHalf(b, y, offsets, scales, 0) + Q6KHalf(b, y, offsets, scales, 1);

    /// <summary>
    /// Half h (a constant: quants 128h … 128h + 127) of one Q6_K super-block × one Q8_K block: the four chunks'
    /// scaled integer lanes, added in chunk order as <see cref="Q6K.Dot256"/> adds them (integer, so exact).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Q6KHalf(BlockQ6_K* b, BlockQ8_K* y, Vector256<short>* offsets, Vector256<short> scales, int h)
    {
        var ql0 = Vector256.Load(b->Ql + 64 * h);
        var ql1 = Vector256.Load(b->Ql + 64 * h + 32);
        var qh = Vector256.Load(b->Qh + 32 * h).AsUInt16();
        sbyte* qs = y->Qs + 128 * h;
        return Q6KChunkDot(Q6KQuants(ql0, ql1, qh, 0), qs, offsets[4 * h], KSimd.PairScales(scales, 4 * h))
             + Q6KChunkDot(Q6KQuants(ql0, ql1, qh, 1), qs + 32, offsets[4 * h + 1], KSimd.PairScales(scales, 4 * h + 1))
             + Q6KChunkDot(Q6KQuants(ql0, ql1, qh, 2), qs + 64, offsets[4 * h + 2], KSimd.PairScales(scales, 4 * h + 2))
             + Q6KChunkDot(Q6KQuants(ql0, ql1, qh, 3), qs + 96, offsets[4 * h + 3], KSimd.PairScales(scales, 4 * h + 3));
    }

    /// <summary>
    /// Chunk e (a constant, 0..3) of one 128-quant half of a Q6_K super-block as quants 0..63 (the bias 32 still in):
    /// bits 0..3 are the low nibbles of ql0 (e = 0) or ql1 (e = 1), or their high nibbles (e = 2, 3); bits 4..5 are
    /// bits 2e, 2e + 1 of qh. The 16-bit shifts move bits across the two bytes of a lane only where the masks drop them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Q6KQuants(Vector256<byte> ql0, Vector256<byte> ql1, Vector256<ushort> qh, int e)
    {
        var bytes = (e & 1) == 0 ? ql0 : ql1;
        var low = (e < 2 ? bytes : (bytes.AsUInt16() >>> 4).AsByte()) & Vector256.Create((byte)0x0F);
        var high = (e < 3 ? qh << (4 - 2 * e) : qh >>> 2).AsByte() & Vector256.Create((byte)0x30);
        return low | high;
    }

    /// <summary>
    /// One chunk of 32 quants (0..63) × 32 activation quants at <paramref name="y"/>: pmaddubsw, minus the offset's
    /// pair sums pmaddubsw(32, y), times the sub-blocks' scales summed in pairs (pmaddwd), as in <see cref="Q6K.Dot256"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Q6KChunkDot(Vector256<byte> quants, sbyte* y, Vector256<short> offsetSums, Vector256<short> pairScales) =>
        KSimd.Scale(Avx2.MultiplyAddAdjacent(quants, Vector256.Load(y)) - offsetSums, pairScales);

    /// <summary>
    /// One Q4_K row × four Q8_K rows (xStride bytes apart): output[t·outputStride] for t = 0..3, each exactly
    /// <see cref="Q4K.Dot256"/>: per super-block acc = fma(d, lanes, acc) and accMin = fma(dmin, minLanes, accMin).
    /// </summary>
    private static void Q4KRowTokens4(byte* w, byte* x, long xStride, int blocks, float* output, long outputStride)
    {
        byte* scalesThenMins = stackalloc byte[16];
        var acc = stackalloc Vector256<float>[4];      // per token: the eight ggml lanes
        var accMin = stackalloc Vector128<float>[4];   // per token: the four min-term lanes
        for (int t = 0; t < 4; t++)
        {
            acc[t] = Vector256<float>.Zero;
            accMin[t] = Vector128<float>.Zero;
        }
        var nibble = Vector256.Create((byte)0x0F);
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ4_K*)w + i;
            var y0 = (BlockQ8_K*)x + i;
            var y1 = (BlockQ8_K*)(x + xStride) + i;
            var y2 = (BlockQ8_K*)(x + 2 * xStride) + i;
            var y3 = (BlockQ8_K*)(x + 3 * xStride) + i;
            float halfD = KQuant.HalfToFloat(b->D), halfDMin = KQuant.HalfToFloat(b->DMin);
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);
            accMin[0] = GgmlLanes.FusedMultiplyAdd(-y0->D * halfDMin, KQuant.PairedMinLanes(y0->BSums, scalesThenMins + 8), accMin[0]);
            accMin[1] = GgmlLanes.FusedMultiplyAdd(-y1->D * halfDMin, KQuant.PairedMinLanes(y1->BSums, scalesThenMins + 8), accMin[1]);
            accMin[2] = GgmlLanes.FusedMultiplyAdd(-y2->D * halfDMin, KQuant.PairedMinLanes(y2->BSums, scalesThenMins + 8), accMin[2]);
            accMin[3] = GgmlLanes.FusedMultiplyAdd(-y3->D * halfDMin, KQuant.PairedMinLanes(y3->BSums, scalesThenMins + 8), accMin[3]);

            Vector256<int> sum0 = default, sum1 = default, sum2 = default, sum3 = default;
            for (int c = 0; c < 4; c++)
            {
                var bytes = Vector256.Load(b->Qs + 32 * c);
                var low = bytes & nibble;
                var high = (bytes.AsUInt16() >>> 4).AsByte() & nibble;
                var scaleLow = Vector256.Create((short)scalesThenMins[2 * c]);
                var scaleHigh = Vector256.Create((short)scalesThenMins[2 * c + 1]);
                int offset = 64 * c;
                sum0 += KSimd.MulAdd(low, Vector256.Load(y0->Qs + offset), scaleLow) + KSimd.MulAdd(high, Vector256.Load(y0->Qs + offset + 32), scaleHigh);
                sum1 += KSimd.MulAdd(low, Vector256.Load(y1->Qs + offset), scaleLow) + KSimd.MulAdd(high, Vector256.Load(y1->Qs + offset + 32), scaleHigh);
                sum2 += KSimd.MulAdd(low, Vector256.Load(y2->Qs + offset), scaleLow) + KSimd.MulAdd(high, Vector256.Load(y2->Qs + offset + 32), scaleHigh);
                sum3 += KSimd.MulAdd(low, Vector256.Load(y3->Qs + offset), scaleLow) + KSimd.MulAdd(high, Vector256.Load(y3->Qs + offset + 32), scaleHigh);
            }
            acc[0] = GgmlLanes.FusedMultiplyAdd(y0->D * halfD, sum0, acc[0]);
            acc[1] = GgmlLanes.FusedMultiplyAdd(y1->D * halfD, sum1, acc[1]);
            acc[2] = GgmlLanes.FusedMultiplyAdd(y2->D * halfD, sum2, acc[2]);
            acc[3] = GgmlLanes.FusedMultiplyAdd(y3->D * halfD, sum3, acc[3]);
        }
        for (int t = 0; t < 4; t++) output[t * outputStride] = GgmlLanes.HorizontalSum8(acc[t]) + GgmlLanes.HorizontalSum4(accMin[t]);
    }

    /// <summary>
    /// One Q6_K row × four Q8_K rows: output[t·outputStride] for t = 0..3, each exactly <see cref="Q6K.Dot256"/>;
    /// offsets holds the four tokens' <see cref="Q6KOffsets"/> tables, tokenChunks apart. Each chunk's quants and pair
    /// scales are formed once for the four tokens; the eight chunks are written out, since the JIT keeps a loop over
    /// them (with variable shifts and permute indices) otherwise.
    /// </summary>
    private static void Q6KRowTokens4(byte* w, byte* x, long xStride, int blocks, Vector256<short>* offsets, int tokenChunks,
        float* output, long outputStride)
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;   // per token: the eight ggml lanes
        for (int i = 0; i < blocks; i++, offsets += Q6KChunks)
        {
            var b = (BlockQ6_K*)w + i;
            var y0 = (BlockQ8_K*)x + i;
            var y1 = (BlockQ8_K*)(x + xStride) + i;
            var y2 = (BlockQ8_K*)(x + 2 * xStride) + i;
            var y3 = (BlockQ8_K*)(x + 3 * xStride) + i;
            var scales = Avx2.ConvertToVector256Int16(Vector128.Load(b->Scales));   // 16 × int16
            Vector256<int> sum0 = default, sum1 = default, sum2 = default, sum3 = default;
            Q6KHalfTokens4(b, y0, y1, y2, y3, offsets, tokenChunks, scales, 0, ref sum0, ref sum1, ref sum2, ref sum3);
            Q6KHalfTokens4(b, y0, y1, y2, y3, offsets, tokenChunks, scales, 1, ref sum0, ref sum1, ref sum2, ref sum3);
            float halfD = Fp16Bits.ToSingle(b->D);
            acc0 = GgmlLanes.FusedMultiplyAdd(y0->D * halfD, sum0, acc0);
            acc1 = GgmlLanes.FusedMultiplyAdd(y1->D * halfD, sum1, acc1);
            acc2 = GgmlLanes.FusedMultiplyAdd(y2->D * halfD, sum2, acc2);
            acc3 = GgmlLanes.FusedMultiplyAdd(y3->D * halfD, sum3, acc3);
        }
        output[0] = GgmlLanes.HorizontalSum8(acc0);
        output[outputStride] = GgmlLanes.HorizontalSum8(acc1);
        output[2 * outputStride] = GgmlLanes.HorizontalSum8(acc2);
        output[3 * outputStride] = GgmlLanes.HorizontalSum8(acc3);
    }

    /// <summary>Half h (a constant) of one Q6_K super-block × four Q8_K blocks, added to the four tokens' integer lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6KHalfTokens4(BlockQ6_K* b, BlockQ8_K* y0, BlockQ8_K* y1, BlockQ8_K* y2, BlockQ8_K* y3, Vector256<short>* offsets,
        int tokenChunks, Vector256<short> scales, int h, ref Vector256<int> sum0, ref Vector256<int> sum1, ref Vector256<int> sum2, ref Vector256<int> sum3)
    {
        var ql0 = Vector256.Load(b->Ql + 64 * h);
        var ql1 = Vector256.Load(b->Ql + 64 * h + 32);
        var qh = Vector256.Load(b->Qh + 32 * h).AsUInt16();
        Q6KChunkTokens4(Q6KQuants(ql0, ql1, qh, 0), KSimd.PairScales(scales, 4 * h), 128 * h, y0, y1, y2, y3, offsets + 4 * h, tokenChunks, ref sum0, ref sum1, ref sum2, ref sum3);
        Q6KChunkTokens4(Q6KQuants(ql0, ql1, qh, 1), KSimd.PairScales(scales, 4 * h + 1), 128 * h + 32, y0, y1, y2, y3, offsets + 4 * h + 1, tokenChunks, ref sum0, ref sum1, ref sum2, ref sum3);
        Q6KChunkTokens4(Q6KQuants(ql0, ql1, qh, 2), KSimd.PairScales(scales, 4 * h + 2), 128 * h + 64, y0, y1, y2, y3, offsets + 4 * h + 2, tokenChunks, ref sum0, ref sum1, ref sum2, ref sum3);
        Q6KChunkTokens4(Q6KQuants(ql0, ql1, qh, 3), KSimd.PairScales(scales, 4 * h + 3), 128 * h + 96, y0, y1, y2, y3, offsets + 4 * h + 3, tokenChunks, ref sum0, ref sum1, ref sum2, ref sum3);
    }

    /// <summary>One chunk's quants and pair scales × the four tokens' activation quants at offset <paramref name="at"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6KChunkTokens4(Vector256<byte> quants, Vector256<short> pairScales, int at, BlockQ8_K* y0, BlockQ8_K* y1, BlockQ8_K* y2,
        BlockQ8_K* y3, Vector256<short>* offsets, int tokenChunks, ref Vector256<int> sum0, ref Vector256<int> sum1, ref Vector256<int> sum2,
        ref Vector256<int> sum3)
    {
        sum0 += Q6KChunkDot(quants, y0->Qs + at, offsets[0], pairScales);
        sum1 += Q6KChunkDot(quants, y1->Qs + at, offsets[tokenChunks], pairScales);
        sum2 += Q6KChunkDot(quants, y2->Qs + at, offsets[2 * tokenChunks], pairScales);
        sum3 += Q6KChunkDot(quants, y3->Qs + at, offsets[3 * tokenChunks], pairScales);
    }
}
