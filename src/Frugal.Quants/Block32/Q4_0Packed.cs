// Q4_0 matrices repacked at load into interleaved groups of 8 rows, the home layout of the row-group dot
// (llama.cpp does the same on AVX2 with block_q4_0x8; this layout interleaves 4 bytes at a time instead of 8, the
// width of one pmaddwd lane, and keeps the nibbles unsigned).
//
//   plain   row r = [blocks] × BlockQ4_0 (18 bytes), rows RowBytes apart
//   packed  group g = rows 8g..8g+7 = [blocks] × BlockQ4_0x8 (144 bytes), groups 8·RowBytes apart (same total size)
//
//   BlockQ4_0x8, block b of the group's 8 rows:
//     byte 0        16                                                     144
//          +--------+------------------------------------------------------+
//          | d[8]   | qs[4 chunks][8 rows][4 bytes]                        |
//          +--------+------------------------------------------------------+
//     d[i]          = row i's fp16 scale
//     qs[c][i][k]   = row i's qs[4c + k]: low nibble quant 4c + k, high nibble quant 16 + 4c + k (0..15, value q − 8)
//
// One 32-byte load of chunk c holds one int32 lane per row. pmaddubsw against the activation's bytes 4c..4c+3
// broadcast to every lane, then pmaddwd with ones, leaves row i's block sum in lane i: the eight rows' sums add
// down the register with no horizontal reduction, and decode streams each group once from start to end.
//
// Float order: that of Q4_0.DotRowGroups (llama.cpp's ggml_gemv/gemm_q4_0_8x8_q8_0): each block's integer sum
// Σ(q − 8)·x in full, then acc = fma(sum, d_w·d_x, acc). The integer part is exact in any order (see Tile below),
// so every (row, token) result has the row-group dot's bits.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Quants.Float;
using Frugal.Quants.Tiles;

namespace Frugal.Quants.Block32;

/// <summary>Load-time repacking of Q4_0 matrices into groups of 8 rows, and the tile kernels that read it.</summary>
public static unsafe class Q4_0Packed
{
    /// <summary>Rows per interleaved group.</summary>
    public const int GroupRows = RowGroups.Rows;

    /// <summary>Bytes of one BlockQ4_0x8: 8 fp16 scales, then 4 chunks × 8 rows × 4 bytes of nibbles.</summary>
    public const int GroupBlockBytes = GroupRows * BlockQ4_0.Size;

    private const int ScaleBytes = RowGroups.ScaleBytes;
    private const int ChunkBytes = 4 * GroupRows;
    private const int ActivationBlockBytes = BlockQ8_0.Size;
    private const string Name = "Q4_0 packed";

    /// <summary>Largest row (in blocks) whose per-token tables fit the stack buffers; longer rows take the scalar path.</summary>
    private const int MaxStackBlocks = 2048;

    /// <summary>
    /// How far ahead decode prefetches the group stream, in group blocks (24 × 144 bytes ≈ 3.4 KB). On the Zen 3 this
    /// was first tuned on, 12 beat 4 (17.8 → 21 GB/s, 1 thread); on the Zen 4 it runs on now, 24 beats 12 on a matrix
    /// that does not fit L3 (32000×2048, 1 thread: 24.7–25.3 → 26.3–27.9 GB/s; 2 threads unchanged within the noise).
    /// </summary>
    private const int PrefetchBlocks = 24;

    /// <summary>
    /// True when the matrix can be repacked and the packed tile kernel has a vector path at the current SIMD level:
    /// rows a multiple of 8, whole blocks, and every block scale finite (the packed kernel widens the fp16 scales
    /// with a shortcut that is exact for every finite half, see <see cref="RowGroups.WidenScales"/>).
    /// </summary>
    public static bool ShouldPack(byte* plain, int rows, int cols) =>
        TileKernels.Use256 && CanPack(plain, rows, cols);

    /// <summary>True when the matrix's shape and scales allow the packed layout (whatever the SIMD level).</summary>
    public static bool CanPack(byte* plain, int rows, int cols) => RowGroups.CanPack(plain, rows, cols, BlockQ4_0.Size);

    /// <summary>Writes the packed form of a plain [rows, cols] Q4_0 matrix (rows RowBytes(cols) apart) to <paramref name="packed"/> (same size).</summary>
    public static void Pack(byte* plain, byte* packed, int rows, int cols)
    {
        int blocks = CheckShape(plain, packed, rows, cols);
        long rowBytes = (long)blocks * BlockQ4_0.Size;
        for (int g = 0; g < rows / GroupRows; g++)
        {
            byte* source = plain + g * GroupRows * rowBytes;
            byte* target = packed + g * GroupRows * rowBytes;
            for (int b = 0; b < blocks; b++, target += GroupBlockBytes)
            {
                for (int i = 0; i < GroupRows; i++)
                {
                    byte* block = source + i * rowBytes + b * BlockQ4_0.Size;
                    ((ushort*)target)[i] = *(ushort*)block;
                    for (int c = 0; c < 4; c++) *(uint*)(target + ScaleBytes + c * ChunkBytes + 4 * i) = *(uint*)(block + 2 + 4 * c);
                }
            }
        }
    }

    /// <summary>The inverse of <see cref="Pack"/>: the plain matrix back from its packed form.</summary>
    public static void Unpack(byte* packed, byte* plain, int rows, int cols)
    {
        int blocks = CheckShape(packed, plain, rows, cols);
        long rowBytes = (long)blocks * BlockQ4_0.Size;
        for (int g = 0; g < rows / GroupRows; g++)
        {
            byte* source = packed + g * GroupRows * rowBytes;
            byte* target = plain + g * GroupRows * rowBytes;
            for (int b = 0; b < blocks; b++, source += GroupBlockBytes)
            {
                for (int i = 0; i < GroupRows; i++)
                {
                    byte* block = target + i * rowBytes + b * BlockQ4_0.Size;
                    *(ushort*)block = ((ushort*)source)[i];
                    for (int c = 0; c < 4; c++) *(uint*)(block + 2 + 4 * c) = *(uint*)(source + ScaleBytes + c * ChunkBytes + 4 * i);
                }
            }
        }
    }

    private static int CheckShape(byte* from, byte* to, int rows, int cols) => RowGroups.CheckShape(from, to, rows, cols, Name);

    /// <summary>
    /// Reference tile over a packed matrix: tile.Weights is the first group of the tile, groups lie
    /// 8·tile.WeightStride bytes apart, tile.Rows is a multiple of 8. Integer block sums, then
    /// acc = fma(sum, d_w·d_x, acc) block by block: <see cref="Q4_0.DotRowGroups"/>'s order.
    /// </summary>
    public static void TileScalar(in DotTile tile)
    {
        int blocks = CheckTile(tile);
        for (int r = 0; r < tile.Rows; r++)
        {
            byte* group = tile.Weights + (r / GroupRows) * GroupRows * tile.WeightStride;
            int i = r % GroupRows;
            for (int t = 0; t < tile.Tokens; t++)
            {
                byte* x = tile.Activations + t * tile.ActivationStride;
                float acc = 0;
                for (int b = 0; b < blocks; b++)
                {
                    byte* block = group + b * GroupBlockBytes;
                    sbyte* xq = (sbyte*)(x + b * ActivationBlockBytes + 2);
                    int sum = 0;
                    for (int c = 0; c < 4; c++)
                    {
                        for (int k = 0; k < 4; k++)
                        {
                            int packedByte = block[ScaleBytes + c * ChunkBytes + 4 * i + k];
                            sum += ((packedByte & 0x0F) - 8) * xq[4 * c + k] + ((packedByte >> 4) - 8) * xq[16 + 4 * c + k];
                        }
                    }
                    float scale = Fp16Bits.ToSingle(((ushort*)block)[i]) * Fp16Bits.ToSingle(*(ushort*)(x + b * ActivationBlockBytes));
                    acc = MathF.FusedMultiplyAdd(sum, scale, acc);
                }
                tile.Output[t * tile.OutputStride + r] = acc;
            }
        }
    }

    /// <summary>
    /// Tile kernel over a packed matrix (layout as for <see cref="TileScalar"/>), bit-identical with it. Groups of
    /// four tokens take 8 rows × 4 tokens per sweep; the other tokens 8 rows × 1 token. With AVX-512 the groups of
    /// four tokens take two row groups per register (16 rows, one group per 256-bit half), which halves the
    /// instructions per product, and tokens go eight at a time first: every lane still does the same operations in
    /// the same order.
    /// <para>
    /// Integer exactness: the quants enter pmaddubsw unsigned (0..15) and −8 comes back once per block as 8·Σx:
    /// Σ(q − 8)·x = Σq·x − 8·Σx. Each pmaddubsw lane is a pair of products, at most 2·15·128 = 3840 in size; the eight
    /// per block (4 chunks × low and high nibbles) add to at most 30720, inside int16, so plain adds are exact.
    /// </para>
    /// </summary>
    public static void Tile(in DotTile tile)
    {
        int blocks = CheckTile(tile);
        if (!TileKernels.Use256 || blocks > MaxStackBlocks)
        {
            TileScalar(tile);
            return;
        }
        long groupStride = GroupRows * tile.WeightStride;
        int groups = tile.Rows / GroupRows;
        int pairs = TileKernels.Use512 ? groups / 2 : 0;   // groups taken two at a time by the 512-bit kernels
        // With AVX-512 and a whole number of group pairs, tokens go eight at a time (32 registers hold 8 accumulators
        // and 8 sums), so each chunk's nibbles are unpacked once for eight tokens; then in fours, then one by one.
        int tokens8 = pairs > 0 && 2 * pairs == groups ? tile.Tokens & ~7 : 0;
        int tokens4 = tile.Tokens & ~3;
        float* scales = stackalloc float[8 * blocks];   // [block, token of the group]: d_x widened
        int* offsets = stackalloc int[8 * blocks];      // [block, token of the group]: 8·Σx
        for (int t = 0; t < tokens8; t += 8)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            float* output = tile.Output + t * tile.OutputStride;
            for (int k = 0; k < 8; k++) ActivationTables.ForToken(tile, t + k, blocks, scales + k, offsets + k, 8);
            for (int p = 0; p < pairs; p++)
            {
                Rows16Tokens8(tile.Weights + 2 * p * groupStride, groupStride, x, tile.ActivationStride, blocks, scales, offsets,
                    output + 2 * p * GroupRows, tile.OutputStride);
            }
        }
        for (int t = tokens8; t < tokens4; t += 4)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            float* output = tile.Output + t * tile.OutputStride;
            for (int k = 0; k < 4; k++) ActivationTables.ForToken(tile, t + k, blocks, scales + k, offsets + k, 4);
            for (int p = 0; p < pairs; p++)
            {
                Rows16Tokens4(tile.Weights + 2 * p * groupStride, groupStride, x, tile.ActivationStride, blocks, scales, offsets,
                    output + 2 * p * GroupRows, tile.OutputStride);
            }
            for (int g = 2 * pairs; g < groups; g++)
            {
                Rows8Tokens4(tile.Weights + g * groupStride, x, tile.ActivationStride, blocks, scales, offsets,
                    output + g * GroupRows, tile.OutputStride);
            }
        }
        for (int t = tokens4; t < tile.Tokens; t++)
        {
            byte* x = tile.Activations + t * tile.ActivationStride;
            float* output = tile.Output + t * tile.OutputStride;
            ActivationTables.ForToken(tile, t, blocks, scales, offsets, 1);
            // 8 rows at a time even with AVX-512: a 16-row version of this streaming loop ran at half the speed here.
            for (int g = 0; g < groups; g++) Rows8(tile.Weights + g * groupStride, x, scales, offsets, blocks, output + g * GroupRows);
        }
    }

    private static int CheckTile(in DotTile tile) => RowGroups.CheckTile(tile, Name);

    /// <summary>
    /// One group × one token: lane i of the accumulator is row i; writes output[0..7]. The group is read once,
    /// front to back; the prefetch keeps <see cref="PrefetchBlocks"/> blocks of the stream in flight ahead of the loads.
    /// </summary>
    private static void Rows8(byte* group, byte* x, float* scales, int* offsets, int blocks, float* output)
    {
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++, group += GroupBlockBytes, x += ActivationBlockBytes)
        {
            Sse.Prefetch0(group + PrefetchBlocks * GroupBlockBytes);
            Sse.Prefetch0(group + PrefetchBlocks * GroupBlockBytes + 64);
            Sse.Prefetch0(group + PrefetchBlocks * GroupBlockBytes + 128);
            sbyte* xq = (sbyte*)x + 2;
            var sums16 = ChunkProducts(group, 0, xq) + ChunkProducts(group, 1, xq) + ChunkProducts(group, 2, xq) + ChunkProducts(group, 3, xq);
            acc = Accumulate(acc, sums16, offsets[b], RowGroups.WidenScales(group), scales[b]);
        }
        acc.Store(output);
    }

    /// <summary>
    /// One group × four tokens (xStride bytes apart): one float accumulator per token, lane i = row i; writes
    /// output[t·outputStride + 0..7]. Each chunk's nibbles are unpacked once for the four tokens.
    /// </summary>
    private static void Rows8Tokens4(byte* group, byte* x, long xStride, int blocks, float* scales, int* offsets,
        float* output, long outputStride)
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        sbyte* x0 = (sbyte*)x + 2, x1 = x0 + xStride, x2 = x0 + 2 * xStride, x3 = x0 + 3 * xStride;
        for (int b = 0; b < blocks; b++, group += GroupBlockBytes)
        {
            int xOffset = b * ActivationBlockBytes;
            // The four chunks written out: the JIT keeps a loop over them, with its index arithmetic, otherwise.
            var (low, high) = Nibbles(group, 0);
            var s0 = PairProducts(low, high, x0 + xOffset, 0);
            var s1 = PairProducts(low, high, x1 + xOffset, 0);
            var s2 = PairProducts(low, high, x2 + xOffset, 0);
            var s3 = PairProducts(low, high, x3 + xOffset, 0);
            (low, high) = Nibbles(group, 1);
            s0 += PairProducts(low, high, x0 + xOffset, 1);
            s1 += PairProducts(low, high, x1 + xOffset, 1);
            s2 += PairProducts(low, high, x2 + xOffset, 1);
            s3 += PairProducts(low, high, x3 + xOffset, 1);
            (low, high) = Nibbles(group, 2);
            s0 += PairProducts(low, high, x0 + xOffset, 2);
            s1 += PairProducts(low, high, x1 + xOffset, 2);
            s2 += PairProducts(low, high, x2 + xOffset, 2);
            s3 += PairProducts(low, high, x3 + xOffset, 2);
            (low, high) = Nibbles(group, 3);
            s0 += PairProducts(low, high, x0 + xOffset, 3);
            s1 += PairProducts(low, high, x1 + xOffset, 3);
            s2 += PairProducts(low, high, x2 + xOffset, 3);
            s3 += PairProducts(low, high, x3 + xOffset, 3);
            var dw = RowGroups.WidenScales(group);
            float* dx = scales + 4 * b;
            int* offset = offsets + 4 * b;
            acc0 = Accumulate(acc0, s0, offset[0], dw, dx[0]);
            acc1 = Accumulate(acc1, s1, offset[1], dw, dx[1]);
            acc2 = Accumulate(acc2, s2, offset[2], dw, dx[2]);
            acc3 = Accumulate(acc3, s3, offset[3], dw, dx[3]);
        }
        acc0.Store(output);
        acc1.Store(output + outputStride);
        acc2.Store(output + 2 * outputStride);
        acc3.Store(output + 3 * outputStride);
    }

    /// <summary>
    /// <see cref="Rows8Tokens4"/> for two consecutive groups (groupStride bytes apart) in 512-bit registers: lanes
    /// 0..7 are the first group's rows, 8..15 the second's; writes output[t·outputStride + 0..15].
    /// </summary>
    private static void Rows16Tokens4(byte* group, long groupStride, byte* x, long xStride, int blocks, float* scales, int* offsets,
        float* output, long outputStride)
    {
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        byte* second = group + groupStride;
        sbyte* x0 = (sbyte*)x + 2, x1 = x0 + xStride, x2 = x0 + 2 * xStride, x3 = x0 + 3 * xStride;
        for (int b = 0; b < blocks; b++, group += GroupBlockBytes, second += GroupBlockBytes)
        {
            int xOffset = b * ActivationBlockBytes;
            var (low, high) = Nibbles(group, second, 0);
            var s0 = PairProducts(low, high, x0 + xOffset, 0);
            var s1 = PairProducts(low, high, x1 + xOffset, 0);
            var s2 = PairProducts(low, high, x2 + xOffset, 0);
            var s3 = PairProducts(low, high, x3 + xOffset, 0);
            (low, high) = Nibbles(group, second, 1);
            s0 += PairProducts(low, high, x0 + xOffset, 1);
            s1 += PairProducts(low, high, x1 + xOffset, 1);
            s2 += PairProducts(low, high, x2 + xOffset, 1);
            s3 += PairProducts(low, high, x3 + xOffset, 1);
            (low, high) = Nibbles(group, second, 2);
            s0 += PairProducts(low, high, x0 + xOffset, 2);
            s1 += PairProducts(low, high, x1 + xOffset, 2);
            s2 += PairProducts(low, high, x2 + xOffset, 2);
            s3 += PairProducts(low, high, x3 + xOffset, 2);
            (low, high) = Nibbles(group, second, 3);
            s0 += PairProducts(low, high, x0 + xOffset, 3);
            s1 += PairProducts(low, high, x1 + xOffset, 3);
            s2 += PairProducts(low, high, x2 + xOffset, 3);
            s3 += PairProducts(low, high, x3 + xOffset, 3);
            var dw = RowGroups.WidenScales(group, second);
            float* dx = scales + 4 * b;
            int* offset = offsets + 4 * b;
            acc0 = Accumulate(acc0, s0, offset[0], dw, dx[0]);
            acc1 = Accumulate(acc1, s1, offset[1], dw, dx[1]);
            acc2 = Accumulate(acc2, s2, offset[2], dw, dx[2]);
            acc3 = Accumulate(acc3, s3, offset[3], dw, dx[3]);
        }
        acc0.Store(output);
        acc1.Store(output + outputStride);
        acc2.Store(output + 2 * outputStride);
        acc3.Store(output + 3 * outputStride);
    }

    /// <summary>
    /// <see cref="Rows16Tokens4"/> for eight tokens (xStride bytes apart): each chunk's nibbles serve eight tokens;
    /// writes output[t·outputStride + 0..15] for t = 0..7. Every lane does the 256-bit kernel's operations, in its order.
    /// </summary>
    private static void Rows16Tokens8(byte* group, long groupStride, byte* x, long xStride, int blocks, float* scales, int* offsets,
        float* output, long outputStride)
    {
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector512<float> acc4 = default, acc5 = default, acc6 = default, acc7 = default;
        byte* second = group + groupStride;
        sbyte* x0 = (sbyte*)x + 2, x1 = x0 + xStride, x2 = x0 + 2 * xStride, x3 = x0 + 3 * xStride;
        sbyte* x4 = x0 + 4 * xStride, x5 = x0 + 5 * xStride, x6 = x0 + 6 * xStride, x7 = x0 + 7 * xStride;
        for (int b = 0; b < blocks; b++, group += GroupBlockBytes, second += GroupBlockBytes)
        {
            int xOffset = b * ActivationBlockBytes;
            var (low, high) = Nibbles(group, second, 0);
            var s0 = PairProducts(low, high, x0 + xOffset, 0);
            var s1 = PairProducts(low, high, x1 + xOffset, 0);
            var s2 = PairProducts(low, high, x2 + xOffset, 0);
            var s3 = PairProducts(low, high, x3 + xOffset, 0);
            var s4 = PairProducts(low, high, x4 + xOffset, 0);
            var s5 = PairProducts(low, high, x5 + xOffset, 0);
            var s6 = PairProducts(low, high, x6 + xOffset, 0);
            var s7 = PairProducts(low, high, x7 + xOffset, 0);
            (low, high) = Nibbles(group, second, 1);
            s0 += PairProducts(low, high, x0 + xOffset, 1);
            s1 += PairProducts(low, high, x1 + xOffset, 1);
            s2 += PairProducts(low, high, x2 + xOffset, 1);
            s3 += PairProducts(low, high, x3 + xOffset, 1);
            s4 += PairProducts(low, high, x4 + xOffset, 1);
            s5 += PairProducts(low, high, x5 + xOffset, 1);
            s6 += PairProducts(low, high, x6 + xOffset, 1);
            s7 += PairProducts(low, high, x7 + xOffset, 1);
            (low, high) = Nibbles(group, second, 2);
            s0 += PairProducts(low, high, x0 + xOffset, 2);
            s1 += PairProducts(low, high, x1 + xOffset, 2);
            s2 += PairProducts(low, high, x2 + xOffset, 2);
            s3 += PairProducts(low, high, x3 + xOffset, 2);
            s4 += PairProducts(low, high, x4 + xOffset, 2);
            s5 += PairProducts(low, high, x5 + xOffset, 2);
            s6 += PairProducts(low, high, x6 + xOffset, 2);
            s7 += PairProducts(low, high, x7 + xOffset, 2);
            (low, high) = Nibbles(group, second, 3);
            s0 += PairProducts(low, high, x0 + xOffset, 3);
            s1 += PairProducts(low, high, x1 + xOffset, 3);
            s2 += PairProducts(low, high, x2 + xOffset, 3);
            s3 += PairProducts(low, high, x3 + xOffset, 3);
            s4 += PairProducts(low, high, x4 + xOffset, 3);
            s5 += PairProducts(low, high, x5 + xOffset, 3);
            s6 += PairProducts(low, high, x6 + xOffset, 3);
            s7 += PairProducts(low, high, x7 + xOffset, 3);
            var dw = RowGroups.WidenScales(group, second);
            float* dx = scales + 8 * b;
            int* offset = offsets + 8 * b;
            acc0 = Accumulate(acc0, s0, offset[0], dw, dx[0]);
            acc1 = Accumulate(acc1, s1, offset[1], dw, dx[1]);
            acc2 = Accumulate(acc2, s2, offset[2], dw, dx[2]);
            acc3 = Accumulate(acc3, s3, offset[3], dw, dx[3]);
            acc4 = Accumulate(acc4, s4, offset[4], dw, dx[4]);
            acc5 = Accumulate(acc5, s5, offset[5], dw, dx[5]);
            acc6 = Accumulate(acc6, s6, offset[6], dw, dx[6]);
            acc7 = Accumulate(acc7, s7, offset[7], dw, dx[7]);
        }
        acc0.Store(output);
        acc1.Store(output + outputStride);
        acc2.Store(output + 2 * outputStride);
        acc3.Store(output + 3 * outputStride);
        acc4.Store(output + 4 * outputStride);
        acc5.Store(output + 5 * outputStride);
        acc6.Store(output + 6 * outputStride);
        acc7.Store(output + 7 * outputStride);
    }

    /// <summary>One block's step of a row's dot: acc = fma(Σ pair sums − 8·Σx, d_w·d_x, acc), lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Accumulate(Vector256<float> acc, Vector256<short> pairSums, int offset, Vector256<float> dw, float dx) =>
        Vector256.FusedMultiplyAdd(
            Vector256.ConvertToSingle(Avx2.MultiplyAddAdjacent(pairSums, Vector256.Create((short)1)) - Vector256.Create(offset)),
            dw * Vector256.Create(dx), acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Accumulate(Vector512<float> acc, Vector512<short> pairSums, int offset, Vector512<float> dw, float dx) =>
        Vector512.FusedMultiplyAdd(
            Vector512.ConvertToSingle(Avx512BW.MultiplyAddAdjacent(pairSums, Vector512.Create((short)1)) - Vector512.Create(offset)),
            dw * Vector512.Create(dx), acc);

    /// <summary>Chunk c of a BlockQ4_0x8 as quants 0..15: Low = elements 4c..4c+3 of each row, High = elements 16+4c..16+4c+3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<byte> Low, Vector256<byte> High) Nibbles(byte* groupBlock, int c)
    {
        var packed = Vector256.Load(groupBlock + ScaleBytes + c * ChunkBytes);
        var mask = Vector256.Create((byte)0x0F);
        return (packed & mask, (packed.AsUInt16() >> 4).AsByte() & mask);
    }

    /// <summary>int16 pair sums of chunk c against one token's activation quants xq (the block's 32 int8 values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> PairProducts(Vector256<byte> low, Vector256<byte> high, sbyte* xq, int c) =>
        Avx2.MultiplyAddAdjacent(low, Vector256.Create(*(int*)(xq + 4 * c)).AsSByte()) +
        Avx2.MultiplyAddAdjacent(high, Vector256.Create(*(int*)(xq + 16 + 4 * c)).AsSByte());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> ChunkProducts(byte* groupBlock, int c, sbyte* xq)
    {
        var (low, high) = Nibbles(groupBlock, c);
        return PairProducts(low, high, xq, c);
    }

    /// <summary><see cref="Nibbles(byte*, int)"/> of two groups' blocks: the first in lanes 0..7, the second in 8..15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<byte> Low, Vector512<byte> High) Nibbles(byte* first, byte* second, int c)
    {
        // One 64-byte load and one 32-byte insert, every byte inside the two blocks: chunks 0..2 load from the first
        // block (this chunk and the next) and insert the second's chunk above; chunk 3 loads the second block's last
        // two chunks and inserts the first's chunk below. (Vector512.Create(lower, upper) goes through a stack slot,
        // and a broadcast-then-insert form is miscompiled by the .NET 10.0.12 JIT.)
        int offset = ScaleBytes + c * ChunkBytes;
        var packed = c < 3
            ? Avx512F.InsertVector256(Vector512.Load(first + offset), Vector256.Load(second + offset), 1)
            : Avx512F.InsertVector256(Vector512.Load(second + offset - ChunkBytes), Vector256.Load(first + offset), 0);
        var mask = Vector512.Create((byte)0x0F);
        return (packed & mask, (packed.AsUInt16() >> 4).AsByte() & mask);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> PairProducts(Vector512<byte> low, Vector512<byte> high, sbyte* xq, int c) =>
        Avx512BW.MultiplyAddAdjacent(low, Vector512.Create(*(int*)(xq + 4 * c)).AsSByte()) +
        Avx512BW.MultiplyAddAdjacent(high, Vector512.Create(*(int*)(xq + 16 + 4 * c)).AsSByte());
}
