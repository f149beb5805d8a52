// Q5_1: 32 weights per 24-byte block, 5-bit with a minimum; activations are Q8_1.
//
//   byte 0      2      4              8                                 24
//        +------+------+--------------+---------------------------------+
//        |  d   |  m   |  qh (u32 LE) |  qs[16]                         |
//        +------+------+--------------+---------------------------------+
//   q[k] = nibble k of qs (qs[j] = low q[j] | high q[j + 16]) | (bit k of qh) << 4,  q in 0..31
//   weight[k] = q[k] · d + m             (d, m: fp16)
//
// Dot with a Q8_1 row, per block: d_w·d_x·Σ q_w·q_x + m_w·s_x, where s_x = d_x·Σ q_x is stored in the
// activation block. As in ggml-cpu's AVX2 kernel, the first part goes through the eight float lanes
// (see Block32Common.cs) and the m_w·s_x terms are summed apart, then added after the horizontal sum.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Frugal.Numerics;
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

/// <summary>One Q5_1 block: fp16 scale, fp16 minimum, 32 fifth bits, then 16 bytes of packed nibbles (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ5_1
{
    public const int Size = 24;

    /// <summary>Scale, fp16 bits.</summary>
    public ushort D;

    /// <summary>Minimum (offset), fp16 bits.</summary>
    public ushort M;

    /// <summary>Little-endian uint32: bit k is the fifth bit (0x10) of quant k.</summary>
    public fixed byte Qh[4];

    /// <summary>Low nibbles: quants 0..15; high nibbles: quants 16..31 (four low bits each).</summary>
    public fixed byte Qs[16];
}

/// <summary>Kernels for Q5_1 weight rows (activations in Q8_1).</summary>
public static unsafe class Q5_1
{
    private const string Name = "Q5_1";

    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ5_1*)src;
        for (int b = 0; b < blocks; b++, block++, dst += 32)
        {
            float d = Fp16Bits.ToSingle(block->D);
            float m = Fp16Bits.ToSingle(block->M);
            uint qh = Unsafe.ReadUnaligned<uint>(block->Qh);
            for (int j = 0; j < 16; j++)
            {
                int q0 = (block->Qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
                int q1 = (block->Qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
                dst[j] = q0 * d + m;
                dst[j + 16] = q1 * d + m;
            }
        }
    }

    /// <summary>Byte-exact port of llama.cpp's quantize_row_q5_1_ref (how model files are written).</summary>
    public static void QuantizeReference(float* src, byte* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ5_1*)dst;
        for (int b = 0; b < blocks; b++, block++, src += 32)
        {
            float min = float.MaxValue, max = -float.MaxValue;
            for (int k = 0; k < 32; k++)
            {
                if (src[k] < min) min = src[k];
                if (src[k] > max) max = src[k];
            }
            float d = (max - min) / 31;
            float id = d != 0 ? 1.0f / d : 0.0f;
            block->D = Fp16Bits.FromSingle(d);
            block->M = Fp16Bits.FromSingle(min);
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                // No clamp here in llama.cpp: (x − min)·id ≤ 31 (up to rounding), so +0.5 truncates to ≤ 31.
                int q0 = (byte)((src[j] - min) * id + 0.5f);
                int q1 = (byte)((src[j + 16] - min) * id + 0.5f);
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
    /// Reference, in ggml's order (ggml_vec_dot_q5_1_q8_1, AVX2): eight float lanes, block by block
    /// acc[l] = fma(d_w·d_x, Σ_(k=4l..4l+3) q_w[k]·q_x[k], acc[l]); then hsum_float_8 plus the minimum terms.
    /// </summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ5_1* wb = (BlockQ5_1*)w;
        BlockQ8_1* xb = (BlockQ8_1*)x;
        float* acc = stackalloc float[8];
        for (int l = 0; l < 8; l++) acc[l] = 0;
        int* weights = stackalloc int[32];
        float summs = 0;
        for (int b = 0; b < blocks; b++)
        {
            DecodeQuants(wb + b, weights);
            BlockLanes.Accumulate(acc, BlockLanes.Scale(wb[b].D, xb[b].D), weights, xb[b].Qs);
            summs = BlockLanes.AddMinimum(summs, wb[b].M, xb[b].S);
        }
        return BlockLanes.Finish(acc) + summs;
    }

    /// <summary>The block's 32 integer weights in element order: 5-bit quants 0..31.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DecodeQuants(BlockQ5_1* block, int* weights)
    {
        uint qh = Unsafe.ReadUnaligned<uint>(block->Qh);
        for (int j = 0; j < 16; j++)
        {
            weights[j] = ((block->Qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4);
            weights[j + 16] = ((block->Qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4);
        }
    }

    /// <summary>One block per step as two 16-byte halves: lanes 0–3 (elements 0..15) and lanes 4–7 (elements 16..31).</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ5_1* wb = (BlockQ5_1*)w;
        BlockQ8_1* xb = (BlockQ8_1*)x;
        Vector128<float> accLow = default, accHigh = default;
        float summs = 0;
        for (int b = 0; b < blocks; b++)
        {
            var (low, high) = Unpack.Nibbles128(wb[b].Qs);
            uint qh = Unsafe.ReadUnaligned<uint>(wb[b].Qh);
            sbyte* xq = xb[b].Qs;
            var sumsLow = Int8Dot.MultiplyAddQuadsUnsigned(Vector128<int>.Zero, low | Unpack.FifthBitsLow128(qh), Vector128.Load(xq));
            var sumsHigh = Int8Dot.MultiplyAddQuadsUnsigned(Vector128<int>.Zero, high | Unpack.FifthBitsHigh128(qh), Vector128.Load(xq + 16));
            float d = BlockLanes.Scale(wb[b].D, xb[b].D);
            accLow = BlockLanes.Accumulate(accLow, d, sumsLow);
            accHigh = BlockLanes.Accumulate(accHigh, d, sumsHigh);
            summs = BlockLanes.AddMinimum(summs, wb[b].M, xb[b].S);
        }
        return BlockLanes.Finish(accLow, accHigh) + summs;
    }

    /// <summary>The block's eight int32 lane sums (lane l: elements 4l..4l+3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> LaneSums256(BlockQ5_1* w, BlockQ8_1* x) =>
        Int8Dot.MultiplyAddQuadsUnsigned(Vector256<int>.Zero, Quants256(w), Vector256.Load(x->Qs));

    /// <summary>One block per step, ggml's own shape.</summary>
    public static float Dot256(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ5_1* wb = (BlockQ5_1*)w;
        BlockQ8_1* xb = (BlockQ8_1*)x;
        var acc = Vector256<float>.Zero;
        float summs = 0;
        for (int b = 0; b < blocks; b++)
        {
            acc = BlockLanes.Accumulate(acc, BlockLanes.Scale(wb[b].D, xb[b].D), LaneSums256(wb + b, xb + b));
            summs = BlockLanes.AddMinimum(summs, wb[b].M, xb[b].S);
        }
        return BlockLanes.Finish(acc) + summs;
    }

    /// <summary>
    /// Integer work for two blocks per step (one per 256-bit half); the float accumulation stays one block at a
    /// time in eight lanes, as ggml's order requires. An odd last block takes the 256-bit step.
    /// </summary>
    public static float Dot512(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ5_1* wb = (BlockQ5_1*)w;
        BlockQ8_1* xb = (BlockQ8_1*)x;
        var acc = Vector256<float>.Zero;
        float summs = 0;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            var sums = LaneSums512(wb + b, xb + b);
            acc = BlockLanes.AccumulatePair(acc, BlockLanes.Scale(wb[b].D, xb[b].D), BlockLanes.Scale(wb[b + 1].D, xb[b + 1].D), sums);
            summs = BlockLanes.AddMinimum(summs, wb[b].M, xb[b].S);
            summs = BlockLanes.AddMinimum(summs, wb[b + 1].M, xb[b + 1].S);
        }
        for (; b < blocks; b++)
        {
            acc = BlockLanes.Accumulate(acc, BlockLanes.Scale(wb[b].D, xb[b].D), LaneSums256(wb + b, xb + b));
            summs = BlockLanes.AddMinimum(summs, wb[b].M, xb[b].S);
        }
        return BlockLanes.Finish(acc) + summs;
    }

    /// <summary>Lane sums of blocks w[0] (low half) and w[1] (high half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> LaneSums512(BlockQ5_1* w, BlockQ8_1* x)
    {
        var wq = Vector512.Create(Quants256(w), Quants256(w + 1));
        var xq = Vector512.Create(Vector256.Load(x[0].Qs), Vector256.Load(x[1].Qs));
        return Int8Dot.MultiplyAddQuadsUnsigned(Vector512<int>.Zero, wq, xq);
    }

    /// <summary>The block's 32 quants (0..31) in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Quants256(BlockQ5_1* block) =>
        Unpack.Nibbles256(block->Qs) | Unpack.FifthBits256(Unsafe.ReadUnaligned<uint>(block->Qh));
}
