// Q4_0: 32 weights per 18-byte block, symmetric 4-bit; activations are Q8_0.
//
//   byte 0      2                                 18
//        +------+---------------------------------+
//        |  d   |  qs[16]                         |
//        +------+---------------------------------+
//   qs[j] = q[j] | q[j + 16] << 4        q in 0..15
//   weight[k] = (q[k] − 8) · d           (d: fp16 scale)
//
// The reference quantizer (llama.cpp's quantize_row_q4_0_ref) takes the signed value of largest magnitude,
// max, and sets d = max / −8, so that value maps to q = 0 exactly and the opposite extreme clamps at 15.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Frugal.Numerics;
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

/// <summary>One Q4_0 block: fp16 scale then 16 bytes of packed nibbles (18 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ4_0
{
    public const int Size = 18;

    /// <summary>Scale, fp16 bits.</summary>
    public ushort D;

    /// <summary>Low nibbles: quants 0..15; high nibbles: quants 16..31.</summary>
    public fixed byte Qs[16];
}

/// <summary>Kernels for Q4_0 weight rows (activations in Q8_0).</summary>
public static unsafe class Q4_0
{
    private const string Name = "Q4_0";

    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ4_0*)src;
        for (int b = 0; b < blocks; b++, block++, dst += 32)
        {
            float d = Fp16Bits.ToSingle(block->D);
            for (int j = 0; j < 16; j++)
            {
                dst[j] = ((block->Qs[j] & 0x0F) - 8) * d;
                dst[j + 16] = ((block->Qs[j] >> 4) - 8) * d;
            }
        }
    }

    /// <summary>Byte-exact port of llama.cpp's quantize_row_q4_0_ref (how model files are written).</summary>
    public static void QuantizeReference(float* src, byte* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ4_0*)dst;
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
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            block->D = Fp16Bits.FromSingle(d);
            for (int j = 0; j < 16; j++)
            {
                // C's (int8_t) cast truncates toward zero; the +8.5 makes that a rounding.
                int q0 = Math.Min(15, (int)(sbyte)(src[j] * id + 8.5f));
                int q1 = Math.Min(15, (int)(sbyte)(src[j + 16] * id + 8.5f));
                block->Qs[j] = (byte)(q0 | q1 << 4);
            }
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
    /// Reference, in ggml's order (ggml_vec_dot_q4_0_q8_0, AVX2): eight float lanes, block by block
    /// acc[l] = fma(d_w·d_x, Σ_(k=4l..4l+3) q_w[k]·q_x[k], acc[l]); then hsum_float_8.
    /// </summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ4_0* wb = (BlockQ4_0*)w;
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

    /// <summary>The block's 32 integer weights in element order: nibble − 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DecodeQuants(BlockQ4_0* block, int* weights)
    {
        for (int j = 0; j < 16; j++)
        {
            weights[j] = (block->Qs[j] & 0x0F) - 8;
            weights[j + 16] = (block->Qs[j] >> 4) - 8;
        }
    }

    /// <summary>One block per step as two 16-byte halves: lanes 0–3 (elements 0..15) and lanes 4–7 (elements 16..31).</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ4_0* wb = (BlockQ4_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        Vector128<float> accLow = default, accHigh = default;
        for (int b = 0; b < blocks; b++)
        {
            var (low, high) = Unpack.Nibbles128(wb[b].Qs);
            var eight = Vector128.Create((byte)8);
            sbyte* xq = xb[b].Qs;
            var sumsLow = Int8Dot.MultiplyAddQuads(Vector128<int>.Zero, (low - eight).AsSByte(), Vector128.Load(xq));
            var sumsHigh = Int8Dot.MultiplyAddQuads(Vector128<int>.Zero, (high - eight).AsSByte(), Vector128.Load(xq + 16));
            float d = BlockLanes.Scale(wb[b].D, xb[b].D);
            accLow = BlockLanes.Accumulate(accLow, d, sumsLow);
            accHigh = BlockLanes.Accumulate(accHigh, d, sumsHigh);
        }
        return BlockLanes.Finish(accLow, accHigh);
    }

    /// <summary>The block's eight int32 lane sums (lane l: elements 4l..4l+3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> LaneSums256(BlockQ4_0* w, BlockQ8_0* x) =>
        Int8Dot.MultiplyAddQuads(Vector256<int>.Zero, (Unpack.Nibbles256(w->Qs) - Vector256.Create((byte)8)).AsSByte(), Vector256.Load(x->Qs));

    /// <summary>One block per step, ggml's own shape.</summary>
    public static float Dot256(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ4_0* wb = (BlockQ4_0*)w;
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
        BlockQ4_0* wb = (BlockQ4_0*)w;
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
    private static Vector512<int> LaneSums512(BlockQ4_0* w, BlockQ8_0* x)
    {
        var wq = (Vector512.Create(Unpack.Nibbles256(w[0].Qs), Unpack.Nibbles256(w[1].Qs)) - Vector512.Create((byte)8)).AsSByte();
        var xq = Vector512.Create(Vector256.Load(x[0].Qs), Vector256.Load(x[1].Qs));
        return Int8Dot.MultiplyAddQuads(Vector512<int>.Zero, wq, xq);
    }
}
