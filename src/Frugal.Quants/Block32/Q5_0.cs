// Q5_0: 32 weights per 22-byte block, symmetric 5-bit; activations are Q8_0.
//
//   byte 0      2              6                                 22
//        +------+--------------+---------------------------------+
//        |  d   |  qh (u32 LE) |  qs[16]                         |
//        +------+--------------+---------------------------------+
//   q[k] = nibble k of qs (as in Q4_0: qs[j] = low q[j] | high q[j + 16]) | (bit k of qh) << 4,  q in 0..31
//   weight[k] = (q[k] − 16) · d          (d: fp16 scale)
//
// The reference quantizer (quantize_row_q5_0_ref) sets d = max / −16 where max is the signed value of
// largest magnitude, like Q4_0 with one more bit.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Frugal.Numerics;
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

/// <summary>One Q5_0 block: fp16 scale, 32 fifth bits, then 16 bytes of packed low nibbles (22 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ5_0
{
    public const int Size = 22;

    /// <summary>Scale, fp16 bits.</summary>
    public ushort D;

    /// <summary>Little-endian uint32: bit k is the fifth bit (0x10) of quant k.</summary>
    public fixed byte Qh[4];

    /// <summary>Low nibbles: quants 0..15; high nibbles: quants 16..31 (four low bits each).</summary>
    public fixed byte Qs[16];
}

/// <summary>Kernels for Q5_0 weight rows (activations in Q8_0).</summary>
public static unsafe class Q5_0
{
    private const string Name = "Q5_0";

    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ5_0*)src;
        for (int b = 0; b < blocks; b++, block++, dst += 32)
        {
            float d = Fp16Bits.ToSingle(block->D);
            uint qh = Unsafe.ReadUnaligned<uint>(block->Qh);
            for (int j = 0; j < 16; j++)
            {
                int q0 = (block->Qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
                int q1 = (block->Qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
                dst[j] = (q0 - 16) * d;
                dst[j + 16] = (q1 - 16) * d;
            }
        }
    }

    /// <summary>Byte-exact port of llama.cpp's quantize_row_q5_0_ref (how model files are written).</summary>
    public static void QuantizeReference(float* src, byte* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ5_0*)dst;
        for (int b = 0; b < blocks; b++, block++, src += 32)
        {
            float amax = 0, max = 0;
            for (int k = 0; k < 32; k++)
            {
                if (amax < MathF.Abs(src[k]))
                {
                    amax = MathF.Abs(src[k]);
                    max = src[k];
                }
            }
            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            block->D = Fp16Bits.FromSingle(d);
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                int q0 = Math.Min(31, (int)(sbyte)(src[j] * id + 16.5f));
                int q1 = Math.Min(31, (int)(sbyte)(src[j + 16] * id + 16.5f));
                block->Qs[j] = (byte)((q0 & 0x0F) | (q1 & 0x0F) << 4);
                qh |= (uint)(q0 >> 4 & 1) << j;
                qh |= (uint)(q1 >> 4 & 1) << (j + 16);
            }
            Unsafe.WriteUnaligned(block->Qh, qh);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(byte* w, byte* x, int n)
    {
        if (Simd.Use512) return Dot512(w, x, n);
        if (Simd.Use256) return Dot256(w, x, n);
        if (Simd.Use128) return Dot128(w, x, n);
        return DotScalar(w, x, n);
    }

    /// <summary>
    /// Reference, in ggml's order (ggml_vec_dot_q5_0_q8_0, AVX2): eight float lanes, block by block
    /// acc[l] = fma(d_w·d_x, Σ_(k=4l..4l+3) q_w[k]·q_x[k], acc[l]); then hsum_float_8.
    /// </summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ5_0* wb = (BlockQ5_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        float* acc = stackalloc float[8];
        for (int l = 0; l < 8; l++) acc[l] = 0;
        int* weights = stackalloc int[32];
        for (int b = 0; b < blocks; b++)
        {
            DecodeQuants(wb + b, weights);
            BlockLanes.Accumulate(acc, BlockLanes.Scale(wb[b].D, xb[b].D), weights, xb[b].Qs);
        }
        return BlockLanes.Finish(acc);
    }

    /// <summary>The block's 32 integer weights in element order: 5-bit quant − 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DecodeQuants(BlockQ5_0* block, int* weights)
    {
        uint qh = Unsafe.ReadUnaligned<uint>(block->Qh);
        for (int j = 0; j < 16; j++)
        {
            weights[j] = ((block->Qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4) - 16;
            weights[j + 16] = ((block->Qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
        }
    }

    /// <summary>One block per step as two 16-byte halves: lanes 0–3 (elements 0..15) and lanes 4–7 (elements 16..31).</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ5_0* wb = (BlockQ5_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        Vector128<float> accLow = default, accHigh = default;
        for (int b = 0; b < blocks; b++)
        {
            var (low, high) = Unpack.Nibbles128(wb[b].Qs);
            uint qh = Unsafe.ReadUnaligned<uint>(wb[b].Qh);
            var sixteen = Vector128.Create((byte)16);
            var q0 = ((low | Unpack.FifthBitsLow128(qh)) - sixteen).AsSByte();
            var q1 = ((high | Unpack.FifthBitsHigh128(qh)) - sixteen).AsSByte();
            sbyte* xq = xb[b].Qs;
            var sumsLow = Int8Dot.MultiplyAddQuads(Vector128<int>.Zero, q0, Vector128.Load(xq));
            var sumsHigh = Int8Dot.MultiplyAddQuads(Vector128<int>.Zero, q1, Vector128.Load(xq + 16));
            float d = BlockLanes.Scale(wb[b].D, xb[b].D);
            accLow = BlockLanes.Accumulate(accLow, d, sumsLow);
            accHigh = BlockLanes.Accumulate(accHigh, d, sumsHigh);
        }
        return BlockLanes.Finish(accLow, accHigh);
    }

    /// <summary>The block's eight int32 lane sums (lane l: elements 4l..4l+3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> LaneSums256(BlockQ5_0* w, BlockQ8_0* x) =>
        Int8Dot.MultiplyAddQuads(Vector256<int>.Zero, Quants256(w), Vector256.Load(x->Qs));

    /// <summary>One block per step, ggml's own shape.</summary>
    public static float Dot256(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ5_0* wb = (BlockQ5_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            acc = BlockLanes.Accumulate(acc, BlockLanes.Scale(wb[b].D, xb[b].D), LaneSums256(wb + b, xb + b));
        }
        return BlockLanes.Finish(acc);
    }

    /// <summary>
    /// Integer work for two blocks per step (one per 256-bit half); the float accumulation stays one block at a
    /// time in eight lanes, as ggml's order requires. An odd last block takes the 256-bit step.
    /// </summary>
    public static float Dot512(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ5_0* wb = (BlockQ5_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        var acc = Vector256<float>.Zero;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            var sums = LaneSums512(wb + b, xb + b);
            acc = BlockLanes.AccumulatePair(acc, BlockLanes.Scale(wb[b].D, xb[b].D), BlockLanes.Scale(wb[b + 1].D, xb[b + 1].D), sums);
        }
        for (; b < blocks; b++)
        {
            acc = BlockLanes.Accumulate(acc, BlockLanes.Scale(wb[b].D, xb[b].D), LaneSums256(wb + b, xb + b));
        }
        return BlockLanes.Finish(acc);
    }

    /// <summary>Lane sums of blocks w[0] (low half) and w[1] (high half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> LaneSums512(BlockQ5_0* w, BlockQ8_0* x)
    {
        var wq = Vector512.Create(Quants256(w), Quants256(w + 1));
        var xq = Vector512.Create(Vector256.Load(x[0].Qs), Vector256.Load(x[1].Qs));
        return Int8Dot.MultiplyAddQuads(Vector512<int>.Zero, wq, xq);
    }

    /// <summary>The block's 32 signed weights q − 16 (−16..15) in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Quants256(BlockQ5_0* block) =>
        ((Unpack.Nibbles256(block->Qs) | Unpack.FifthBits256(Unsafe.ReadUnaligned<uint>(block->Qh))) - Vector256.Create((byte)16)).AsSByte();
}
