// Q8_0 matrices repacked at load into groups of 8 rows, so that decode reads one group front to back and widens
// a block's eight row scales with one vector conversion, where the plain layout has eight row streams and one
// scalar conversion per row and block. The arithmetic is unchanged: every (row, token) result is
// ggml_vec_dot_q8_0_q8_0's lane order (Q8_0Tiles.cs), bit for bit, as on the plain rows.
//
//   plain   row r = [blocks] × BlockQ8_0 (34 bytes), rows RowBytes apart
//   packed  group g = rows 8g..8g+7 = [blocks / 4] runs of 4 blocks (1088 bytes), groups 8·RowBytes apart
//           (same total size; packing needs blocks a multiple of 4, i.e. 128 columns)
//
//   run of blocks 4s..4s+3:
//     byte 0        64                   320                  576                  832                 1088
//          +--------+--------------------+--------------------+--------------------+--------------------+
//          | d[4][8]| qs block 4s        | qs block 4s+1      | qs block 4s+2      | qs block 4s+3      |
//          +--------+--------------------+--------------------+--------------------+--------------------+
//     d[j][i]        = row i's fp16 scale of block 4s + j (16 bytes per block: one vector widening)
//     qs block: [8 rows][32] int8 quants in element order (256 bytes)
// A run is 17 whole cache lines, so when a group starts on a line (as NativeBuffer copies and 128-column rows
// make it) each pair of rows (2k, 2k+1) of a block fills exactly one line: the 2-row prefill kernel reads whole
// lines, and decode still streams each group front to back.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Quants.Float;
using Frugal.Quants.Tiles;

namespace Frugal.Quants.Block32;

/// <summary>Load-time repacking of Q8_0 matrices into groups of 8 rows, and the tile kernels that read it.</summary>
public static unsafe class Q8_0Packed
{
    /// <summary>Bytes of one block's quants for the group's 8 rows.</summary>
    public const int QuantBlockBytes = RowGroups.Rows * QuantBytes;

    /// <summary>Blocks per run (log2): scales of 4 blocks fill one 64-byte line.</summary>
    public const int RunShift = 2;

    /// <summary>Bytes of one run of 4 blocks: a line of scales, then 4 × 256 bytes of quants.</summary>
    public const int RunBytes = RunScaleBytes + (QuantBlockBytes << RunShift);

    /// <summary>Bytes of a run's scales (4 blocks × 8 rows × fp16).</summary>
    public const int RunScaleBytes = RowGroups.ScaleBytes << RunShift;

    private const int BlockBytes = BlockQ8_0.Size;
    private const int QuantBytes = 32;
    private const string Name = "Q8_0 packed";

    /// <summary>
    /// Fewest tokens for which the 2-row × 4-token block pays here: it reads each row pair's lines out of the group
    /// stream, which costs more while the group comes from memory than it saves; with fewer tokens each token streams
    /// the group in order (the decode kernel), and the later tokens find it in cache.
    /// </summary>
    private const int MinTokensForPairs = 20;

    /// <summary>Longest row (in blocks) whose activation scales fit the stack; longer rows take the scalar path.</summary>
    private const int MaxStackBlocks = 4096;

    /// <summary>
    /// Decode prefetch distance in runs (6 × 1088 bytes ≈ 6.4 KB ahead). On the Zen 4 with weights on huge pages, GEMV
    /// of a 65536×2048 matrix (1 thread, alternating): 27.6–28.7 GB/s at 2 runs, 28.7–29.8 at 6.
    /// </summary>
    private const int PrefetchRuns = 6;

    /// <summary>True when the matrix can be repacked and the packed tile kernel has a vector path at the current SIMD level.</summary>
    public static bool ShouldPack(byte* plain, int rows, int cols) => TileKernels.Use256 && CanPack(plain, rows, cols);

    /// <summary>True when the matrix's shape and scales allow the packed layout (whatever the SIMD level).</summary>
    public static bool CanPack(byte* plain, int rows, int cols) =>
        cols % (32 << RunShift) == 0 && RowGroups.CanPack(plain, rows, cols, BlockBytes);

    /// <summary>Writes the packed form of a plain [rows, cols] Q8_0 matrix to <paramref name="packed"/> (same size).</summary>
    public static void Pack(byte* plain, byte* packed, int rows, int cols) => Copy(plain, packed, rows, cols, toPacked: true);

    /// <summary>The inverse of <see cref="Pack"/>: the plain matrix back from its packed form.</summary>
    public static void Unpack(byte* packed, byte* plain, int rows, int cols) => Copy(packed, plain, rows, cols, toPacked: false);

    private static void Copy(byte* from, byte* to, int rows, int cols, bool toPacked)
    {
        int blocks = RowGroups.CheckShape(from, to, rows, cols, Name);
        if (blocks % (1 << RunShift) != 0) throw new ArgumentException($"{Name}: {cols} columns is not a whole number of {32 << RunShift}-column runs");
        long rowBytes = (long)blocks * BlockBytes;
        for (int g = 0; g < rows / RowGroups.Rows; g++)
        {
            byte* plainGroup = (toPacked ? from : to) + g * RowGroups.Rows * rowBytes;
            byte* packedGroup = (toPacked ? to : from) + g * RowGroups.Rows * rowBytes;
            for (int b = 0; b < blocks; b++)
            {
                for (int i = 0; i < RowGroups.Rows; i++)
                {
                    byte* block = plainGroup + i * rowBytes + b * BlockBytes;
                    byte* scale = ScaleOf(packedGroup, b, i), quants = QuantsOf(packedGroup, b, i);
                    if (toPacked)
                    {
                        *(ushort*)scale = *(ushort*)block;
                        Buffer.MemoryCopy(block + 2, quants, QuantBytes, QuantBytes);
                    }
                    else
                    {
                        *(ushort*)block = *(ushort*)scale;
                        Buffer.MemoryCopy(quants, block + 2, QuantBytes, QuantBytes);
                    }
                }
            }
        }
    }

    /// <summary>Row i's fp16 scale of block b in a packed group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static byte* ScaleOf(byte* group, int b, int i) =>
        group + (long)(b >> RunShift) * RunBytes + (b & ((1 << RunShift) - 1)) * RowGroups.ScaleBytes + 2 * i;

    /// <summary>Row i's 32 quants of block b in a packed group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static byte* QuantsOf(byte* group, int b, int i) =>
        group + (long)(b >> RunShift) * RunBytes + RunScaleBytes + (b & ((1 << RunShift) - 1)) * QuantBlockBytes + QuantBytes * i;

    /// <summary>
    /// Reference tile over a packed matrix: tile.Weights is the first group of the tile, groups lie
    /// 8·tile.WeightStride bytes apart, tile.Rows is a multiple of 8. Each (row, token) in ggml's scalar lane order
    /// (<see cref="Q8_0.DotScalar"/>), reading the packed layout.
    /// </summary>
    public static void TileScalar(in DotTile tile)
    {
        int blocks = RowGroups.CheckTile(tile, Name);
        float* acc = stackalloc float[8];
        int* weights = stackalloc int[32];
        for (int r = 0; r < tile.Rows; r++)
        {
            byte* group = tile.Weights + (r / RowGroups.Rows) * RowGroups.Rows * tile.WeightStride;
            int i = r % RowGroups.Rows;
            for (int t = 0; t < tile.Tokens; t++)
            {
                var x = (BlockQ8_0*)(tile.Activations + t * tile.ActivationStride);
                for (int l = 0; l < 8; l++) acc[l] = 0;
                for (int b = 0; b < blocks; b++)
                {
                    sbyte* quants = (sbyte*)QuantsOf(group, b, i);
                    for (int k = 0; k < 32; k++) weights[k] = quants[k];
                    BlockLanes.Accumulate(acc, BlockLanes.Scale(*(ushort*)ScaleOf(group, b, i), x[b].D), weights, x[b].Qs);
                }
                tile.Output[t * tile.OutputStride + r] = BlockLanes.Finish(acc);
            }
        }
    }

    /// <summary>
    /// Tile kernel over a packed matrix (layout as for <see cref="TileScalar"/>), bit-identical with it. From
    /// <see cref="MinTokensForPairs"/> tokens on, groups of four tokens take the 2-row × 4-token register block of the
    /// plain kernel; the other tokens take 8 rows × 2 tokens (AVX-512: 32 registers) or 8 rows × 1 token.
    /// </summary>
    public static void Tile(in DotTile tile)
    {
        int blocks = RowGroups.CheckTile(tile, Name);
        if (!TileKernels.Use256 || blocks > MaxStackBlocks)
        {
            TileScalar(tile);
            return;
        }
        int tokens4 = blocks <= Q8_0Tiles.MaxBlocks && tile.Tokens >= MinTokensForPairs ? tile.Tokens & ~3 : 0;
        if (tokens4 > 0) Q8_0Tiles.TokenGroups(tile, tile.Rows, tokens4, blocks, packed: true);
        long groupStride = RowGroups.Rows * tile.WeightStride;
        float* scales = stackalloc float[2 * blocks];   // d_x widened, per block: [token of the pair][block]
        // With AVX-512's 32 registers, tokens go two at a time: each row's |w| serves both, and the group streams once per pair.
        int pairsEnd = TileKernels.Use512 ? tokens4 + ((tile.Tokens - tokens4) & ~1) : tokens4;
        for (int t = tokens4; t < pairsEnd; t += 2)
        {
            byte* x0 = tile.Activations + t * tile.ActivationStride, x1 = x0 + tile.ActivationStride;
            for (int b = 0; b < blocks; b++)
            {
                scales[b] = Fp16Bits.ToSingle(*(ushort*)(x0 + b * BlockBytes));
                scales[blocks + b] = Fp16Bits.ToSingle(*(ushort*)(x1 + b * BlockBytes));
            }
            for (int g = 0; g < tile.Rows / RowGroups.Rows; g++)
            {
                Rows8Tokens2(tile.Weights + g * groupStride, x0, x1, scales, scales + blocks, blocks,
                    tile.Output + t * tile.OutputStride + g * RowGroups.Rows, tile.OutputStride);
            }
        }
        for (int t = pairsEnd; t < tile.Tokens; t++)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            for (int b = 0; b < blocks; b++) scales[b] = Fp16Bits.ToSingle(*(ushort*)(x + b * BlockBytes));
            bool wide = TileKernels.Use512;
            for (int g = 0; g < tile.Rows / RowGroups.Rows; g++)
            {
                if (wide) Rows8Wide(tile.Weights + g * groupStride, x, scales, blocks, tile.Output + t * tile.OutputStride + g * RowGroups.Rows);
                else Rows8(tile.Weights + g * groupStride, x, scales, blocks, tile.Output + t * tile.OutputStride + g * RowGroups.Rows);
            }
        }
    }

    /// <summary>
    /// One group × one token, each row in its own eight float lanes; writes output[0..7]. The group is read once,
    /// front to back, with <see cref="PrefetchRuns"/> runs of the stream in flight ahead of the loads.
    /// </summary>
    private static void Rows8(byte* group, byte* x, float* scales, int blocks, float* output)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        var ones = Vector256.Create((short)1);
        float* d = stackalloc float[8];   // the block's d_w·d_x, row by row
        for (int b = 0; b < blocks; b++, x += BlockBytes)
        {
            int j = b & ((1 << RunShift) - 1);
            byte* run = group + (long)(b >> RunShift) * RunBytes;
            byte* quants = run + RunScaleBytes + j * QuantBlockBytes;
            byte* ahead = quants + PrefetchRuns * RunBytes;
            Sse.Prefetch0(ahead);
            Sse.Prefetch0(ahead + 64);
            Sse.Prefetch0(ahead + 128);
            Sse.Prefetch0(ahead + 192);
            Sse.Prefetch0(run + PrefetchRuns * RunBytes);   // the run's line of scales
            var xq = Vector256.Load((sbyte*)x + 2);
            (RowGroups.WidenScales(run + j * RowGroups.ScaleBytes) * Vector256.Create(scales[b])).Store(d);
            a0 = Vector256.FusedMultiplyAdd(Vector256.Create(d[0]), Lanes(quants, xq, ones), a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Create(d[1]), Lanes(quants + QuantBytes, xq, ones), a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.Create(d[2]), Lanes(quants + 2 * QuantBytes, xq, ones), a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.Create(d[3]), Lanes(quants + 3 * QuantBytes, xq, ones), a3);
            a4 = Vector256.FusedMultiplyAdd(Vector256.Create(d[4]), Lanes(quants + 4 * QuantBytes, xq, ones), a4);
            a5 = Vector256.FusedMultiplyAdd(Vector256.Create(d[5]), Lanes(quants + 5 * QuantBytes, xq, ones), a5);
            a6 = Vector256.FusedMultiplyAdd(Vector256.Create(d[6]), Lanes(quants + 6 * QuantBytes, xq, ones), a6);
            a7 = Vector256.FusedMultiplyAdd(Vector256.Create(d[7]), Lanes(quants + 7 * QuantBytes, xq, ones), a7);
        }
        output[0] = BlockLanes.Finish(a0);
        output[1] = BlockLanes.Finish(a1);
        output[2] = BlockLanes.Finish(a2);
        output[3] = BlockLanes.Finish(a3);
        output[4] = BlockLanes.Finish(a4);
        output[5] = BlockLanes.Finish(a5);
        output[6] = BlockLanes.Finish(a6);
        output[7] = BlockLanes.Finish(a7);
    }

    /// <summary>
    /// <see cref="Rows8"/> in 512-bit registers: each zmm holds a pair of rows (2p, 2p+1), whose quants lie side by side
    /// in the block, so one load, one absolute value, one sign select and one multiply chain serve two rows (half the
    /// instructions of <see cref="Rows8"/>). AVX-512 has no vpsignb: x signed like w is selected between x and -x (both
    /// per block) by w's sign; where w is 0, |w| is 0 too, so the products are ggml's. No software prefetch: in
    /// alternating runs of tinyllama Q8_0 decode on the Zen 4 (1 thread), this loop did 20.1–23.0 tok/s without it and
    /// 16.5–21.2 with <see cref="PrefetchRuns"/> runs ahead (docs/PERFORMANCE.md, seventh pass).
    /// </summary>
    private static void Rows8Wide(byte* group, byte* x, float* scales, int blocks, float* output)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;   // lanes 0..7: row 2p, lanes 8..15: row 2p+1
        var ones = Vector512.Create((short)1);
        var pair0 = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        var pair1 = pair0 + Vector512.Create(2);
        var pair2 = pair0 + Vector512.Create(4);
        var pair3 = pair0 + Vector512.Create(6);
        for (int b = 0; b < blocks; b++, x += BlockBytes)
        {
            int j = b & ((1 << RunShift) - 1);
            byte* run = group + (long)(b >> RunShift) * RunBytes;
            byte* quants = run + RunScaleBytes + j * QuantBlockBytes;
            var xq = Vector256.Load((sbyte*)x + 2);
            var x2 = Avx512F.InsertVector256(xq.ToVector512Unsafe(), xq, 1);
            var negated = Vector512<sbyte>.Zero - x2;
            var d = (RowGroups.WidenScales(run + j * RowGroups.ScaleBytes) * Vector256.Create(scales[b])).ToVector512Unsafe();
            a0 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(d, pair0), PairLanes(quants, x2, negated, ones), a0);
            a1 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(d, pair1), PairLanes(quants + 2 * QuantBytes, x2, negated, ones), a1);
            a2 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(d, pair2), PairLanes(quants + 4 * QuantBytes, x2, negated, ones), a2);
            a3 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(d, pair3), PairLanes(quants + 6 * QuantBytes, x2, negated, ones), a3);
        }
        output[0] = BlockLanes.Finish(a0.GetLower());
        output[1] = BlockLanes.Finish(a0.GetUpper());
        output[2] = BlockLanes.Finish(a1.GetLower());
        output[3] = BlockLanes.Finish(a1.GetUpper());
        output[4] = BlockLanes.Finish(a2.GetLower());
        output[5] = BlockLanes.Finish(a2.GetUpper());
        output[6] = BlockLanes.Finish(a3.GetLower());
        output[7] = BlockLanes.Finish(a3.GetUpper());
    }

    /// <summary>Two rows' eight int32 lane sums w·x of a block (64 quants from <paramref name="quants"/>), as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairLanes(byte* quants, Vector512<sbyte> x, Vector512<sbyte> negated, Vector512<short> ones)
    {
        var w = Vector512.Load((sbyte*)quants);
        var signed = Vector512.ConditionalSelect(Vector512.LessThan(w, Vector512<sbyte>.Zero), negated, x);
        return Vector512.ConvertToSingle(Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Vector512.Abs(w).AsByte(), signed), ones));
    }

    /// <summary>
    /// <see cref="Rows8"/> for two tokens (x0, x1 with their widened scales): each row's quants are loaded and made
    /// absolute once for both; writes output[0..7] and output[outputStride + 0..7].
    /// </summary>
    private static void Rows8Tokens2(byte* group, byte* x0, byte* x1, float* scales0, float* scales1, int blocks, float* output, long outputStride)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        var ones = Vector256.Create((short)1);
        float* d = stackalloc float[16];   // the block's d_w·d_x, row by row: token 0, then token 1
        for (int b = 0; b < blocks; b++, x0 += BlockBytes, x1 += BlockBytes)
        {
            int j = b & ((1 << RunShift) - 1);
            byte* run = group + (long)(b >> RunShift) * RunBytes;
            byte* quants = run + RunScaleBytes + j * QuantBlockBytes;
            byte* ahead = quants + PrefetchRuns * RunBytes;
            Sse.Prefetch0(ahead);
            Sse.Prefetch0(ahead + 64);
            Sse.Prefetch0(ahead + 128);
            Sse.Prefetch0(ahead + 192);
            Sse.Prefetch0(run + PrefetchRuns * RunBytes);
            var xq0 = Vector256.Load((sbyte*)x0 + 2);
            var xq1 = Vector256.Load((sbyte*)x1 + 2);
            var dw = RowGroups.WidenScales(run + j * RowGroups.ScaleBytes);
            (dw * Vector256.Create(scales0[b])).Store(d);
            (dw * Vector256.Create(scales1[b])).Store(d + 8);
            var w = Vector256.Load((sbyte*)quants);
            var abs = Avx2.Abs(w);
            a0 = Vector256.FusedMultiplyAdd(Vector256.Create(d[0]), SignedLanes(abs, Avx2.Sign(xq0, w), ones), a0);
            c0 = Vector256.FusedMultiplyAdd(Vector256.Create(d[8]), SignedLanes(abs, Avx2.Sign(xq1, w), ones), c0);
            w = Vector256.Load((sbyte*)quants + QuantBytes);
            abs = Avx2.Abs(w);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Create(d[1]), SignedLanes(abs, Avx2.Sign(xq0, w), ones), a1);
            c1 = Vector256.FusedMultiplyAdd(Vector256.Create(d[9]), SignedLanes(abs, Avx2.Sign(xq1, w), ones), c1);
            w = Vector256.Load((sbyte*)quants + 2 * QuantBytes);
            abs = Avx2.Abs(w);
            a2 = Vector256.FusedMultiplyAdd(Vector256.Create(d[2]), SignedLanes(abs, Avx2.Sign(xq0, w), ones), a2);
            c2 = Vector256.FusedMultiplyAdd(Vector256.Create(d[10]), SignedLanes(abs, Avx2.Sign(xq1, w), ones), c2);
            w = Vector256.Load((sbyte*)quants + 3 * QuantBytes);
            abs = Avx2.Abs(w);
            a3 = Vector256.FusedMultiplyAdd(Vector256.Create(d[3]), SignedLanes(abs, Avx2.Sign(xq0, w), ones), a3);
            c3 = Vector256.FusedMultiplyAdd(Vector256.Create(d[11]), SignedLanes(abs, Avx2.Sign(xq1, w), ones), c3);
            w = Vector256.Load((sbyte*)quants + 4 * QuantBytes);
            abs = Avx2.Abs(w);
            a4 = Vector256.FusedMultiplyAdd(Vector256.Create(d[4]), SignedLanes(abs, Avx2.Sign(xq0, w), ones), a4);
            c4 = Vector256.FusedMultiplyAdd(Vector256.Create(d[12]), SignedLanes(abs, Avx2.Sign(xq1, w), ones), c4);
            w = Vector256.Load((sbyte*)quants + 5 * QuantBytes);
            abs = Avx2.Abs(w);
            a5 = Vector256.FusedMultiplyAdd(Vector256.Create(d[5]), SignedLanes(abs, Avx2.Sign(xq0, w), ones), a5);
            c5 = Vector256.FusedMultiplyAdd(Vector256.Create(d[13]), SignedLanes(abs, Avx2.Sign(xq1, w), ones), c5);
            w = Vector256.Load((sbyte*)quants + 6 * QuantBytes);
            abs = Avx2.Abs(w);
            a6 = Vector256.FusedMultiplyAdd(Vector256.Create(d[6]), SignedLanes(abs, Avx2.Sign(xq0, w), ones), a6);
            c6 = Vector256.FusedMultiplyAdd(Vector256.Create(d[14]), SignedLanes(abs, Avx2.Sign(xq1, w), ones), c6);
            w = Vector256.Load((sbyte*)quants + 7 * QuantBytes);
            abs = Avx2.Abs(w);
            a7 = Vector256.FusedMultiplyAdd(Vector256.Create(d[7]), SignedLanes(abs, Avx2.Sign(xq0, w), ones), a7);
            c7 = Vector256.FusedMultiplyAdd(Vector256.Create(d[15]), SignedLanes(abs, Avx2.Sign(xq1, w), ones), c7);
        }
        output[0] = BlockLanes.Finish(a0);
        output[1] = BlockLanes.Finish(a1);
        output[2] = BlockLanes.Finish(a2);
        output[3] = BlockLanes.Finish(a3);
        output[4] = BlockLanes.Finish(a4);
        output[5] = BlockLanes.Finish(a5);
        output[6] = BlockLanes.Finish(a6);
        output[7] = BlockLanes.Finish(a7);
        float* second = output + outputStride;
        second[0] = BlockLanes.Finish(c0);
        second[1] = BlockLanes.Finish(c1);
        second[2] = BlockLanes.Finish(c2);
        second[3] = BlockLanes.Finish(c3);
        second[4] = BlockLanes.Finish(c4);
        second[5] = BlockLanes.Finish(c5);
        second[6] = BlockLanes.Finish(c6);
        second[7] = BlockLanes.Finish(c7);
    }

    /// <summary>The eight int32 lane sums of |w|·(x signed like w) = w·x, as floats (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> SignedLanes(Vector256<byte> absWeights, Vector256<sbyte> signedActivations, Vector256<short> ones) =>
        Vector256.ConvertToSingle(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(absWeights, signedActivations), ones));

    /// <summary>One row's eight int32 lane sums w·x of a block (|w|·(x signed like w)), as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lanes(byte* quants, Vector256<sbyte> xq, Vector256<short> ones)
    {
        var w = Vector256.Load((sbyte*)quants);
        return Vector256.ConvertToSingle(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(w), Avx2.Sign(xq, w)), ones));
    }
}
