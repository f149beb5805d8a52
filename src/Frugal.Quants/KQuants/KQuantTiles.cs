// Tile kernels (see Tiles/DotTile.cs) for Q4_K and Q6_K weights × Q8_K activations.
//
// Prefill: one weight row meets four activation rows per sweep, so each super-block's quants are unpacked
// (nibbles split, Q6_K's high bits merged, scales widened) once for four tokens. Each (row, token) dot keeps its own
// integer lanes and float accumulators and the exact steps of the one-row AVX2 kernel (Q4K.Dot256, Q6K.Dot256), so
// its bits are unchanged. Tokens left over (fewer than four) and single-token decode take the one-row kernel.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Quants.Tiles;

namespace Frugal.Quants.KQuants;

internal static unsafe class KQuantTiles
{
    public static void Q4KTile(in DotTile tile) => Run(tile, "Q4_K", &Q4K.Dot, &Q4KRowTokens4);

    public static void Q6KTile(in DotTile tile) => Run(tile, "Q6_K", &Q6K.Dot, &Q6KRowTokens4);

    /// <summary>Groups of four tokens through <paramref name="rowTokens4"/>, the rest one dot at a time.</summary>
    private static void Run(in DotTile tile, string name, delegate*<byte*, byte*, int, float> dot,
        delegate*<byte*, byte*, long, int, float*, long, void> rowTokens4)
    {
        int blocks = TileKernels.Blocks(tile, KQuant.SuperBlock, name);
        int tokens4 = TileKernels.Use256 ? tile.Tokens & ~3 : 0;
        for (int r = 0; r < tile.Rows; r++)
        {
            byte* row = tile.Weights + r * tile.WeightStride;
            for (int t = 0; t < tokens4; t += 4)
            {
                rowTokens4(row, tile.Activations + t * tile.ActivationStride, tile.ActivationStride, blocks,
                    tile.Output + t * tile.OutputStride + r, tile.OutputStride);
            }
            for (int t = tokens4; t < tile.Tokens; t++)
            {
                tile.Output[t * tile.OutputStride + r] = dot(row, tile.Activations + t * tile.ActivationStride, tile.Cols);
            }
        }
    }

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

    /// <summary>One Q6_K row × four Q8_K rows: output[t·outputStride] for t = 0..3, each exactly <see cref="Q6K.Dot256"/>.</summary>
    private static void Q6KRowTokens4(byte* w, byte* x, long xStride, int blocks, float* output, long outputStride)
    {
        var acc = stackalloc Vector256<float>[4];      // per token: the eight ggml lanes
        for (int t = 0; t < 4; t++) acc[t] = Vector256<float>.Zero;
        var nibble = Vector256.Create((byte)0x0F);
        var twoBits = Vector256.Create((ushort)0x0303);
        var offset = Vector256.Create((byte)32);
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ6_K*)w + i;
            var y0 = (BlockQ8_K*)x + i;
            var y1 = (BlockQ8_K*)(x + xStride) + i;
            var y2 = (BlockQ8_K*)(x + 2 * xStride) + i;
            var y3 = (BlockQ8_K*)(x + 3 * xStride) + i;
            var scales = Avx2.ConvertToVector256Int16(Vector128.Load(b->Scales));   // 16 × int16
            Vector256<int> sum0 = default, sum1 = default, sum2 = default, sum3 = default;
            for (int h = 0; h < 2; h++)
            {
                var low0 = Vector256.Load(b->Ql + 64 * h);
                var low1 = Vector256.Load(b->Ql + 64 * h + 32);
                var high = Vector256.Load(b->Qh + 32 * h).AsUInt16();
                for (int e = 0; e < 4; e++)
                {
                    var bytes = e % 2 == 0 ? low0 : low1;
                    var lowBits = e < 2 ? bytes & nibble : (bytes.AsUInt16() >>> 4).AsByte() & nibble;
                    var quants = lowBits | (((high >>> (2 * e)) & twoBits) << 4).AsByte();
                    var pairScales = KSimd.PairScales(scales, 4 * h + e);
                    int at = 128 * h + 32 * e;
                    sum0 += KSimd.Scale(KSimd.MulAddOffset(quants, offset, Vector256.Load(y0->Qs + at)), pairScales);
                    sum1 += KSimd.Scale(KSimd.MulAddOffset(quants, offset, Vector256.Load(y1->Qs + at)), pairScales);
                    sum2 += KSimd.Scale(KSimd.MulAddOffset(quants, offset, Vector256.Load(y2->Qs + at)), pairScales);
                    sum3 += KSimd.Scale(KSimd.MulAddOffset(quants, offset, Vector256.Load(y3->Qs + at)), pairScales);
                }
            }
            float halfD = KQuant.HalfToFloat(b->D);
            acc[0] = GgmlLanes.FusedMultiplyAdd(y0->D * halfD, sum0, acc[0]);
            acc[1] = GgmlLanes.FusedMultiplyAdd(y1->D * halfD, sum1, acc[1]);
            acc[2] = GgmlLanes.FusedMultiplyAdd(y2->D * halfD, sum2, acc[2]);
            acc[3] = GgmlLanes.FusedMultiplyAdd(y3->D * halfD, sum3, acc[3]);
        }
        for (int t = 0; t < 4; t++) output[t * outputStride] = GgmlLanes.HorizontalSum8(acc[t]);
    }
}
