// Q8_0: 32 values per 34-byte block, symmetric 8-bit. Used both as a weight type and as the activation
// (vec-dot) type of Q4_0, Q5_0 and Q8_0 weights.
//
//   byte 0      2                                          34
//        +------+------------------------------------------+
//        |  d   |  qs[32]   int8 quants                    |
//        +------+------------------------------------------+
//   value[k] = qs[k] · d          (d: fp16 scale)
//
// Two quantizers, because llama.cpp has two:
//   QuantizeReference  quantize_row_q8_0_ref, used to write model files: d = amax/127, id = 1/d,
//                      q = round-half-away-from-zero(x · id).
//   Quantize           ggml-cpu's x86 quantize_row_q8_0, used for activations at run time:
//                      d = amax/127, id = 127/amax (0 when amax = 0), q = round-half-to-even(x · id).
// Matching the run-time one bit for bit is what lets our logits match llama.cpp's.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Frugal.Numerics;
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

/// <summary>One Q8_0 block: fp16 scale then 32 int8 quants (34 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ8_0
{
    public const int Size = 34;

    /// <summary>Scale, fp16 bits.</summary>
    public ushort D;

    /// <summary>Quants in element order.</summary>
    public fixed sbyte Qs[32];
}

/// <summary>Kernels for Q8_0 rows; activations are Q8_0 too.</summary>
public static unsafe class Q8_0
{
    private const string Name = "Q8_0";

    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ8_0*)src;
        for (int b = 0; b < blocks; b++, block++, dst += 32)
        {
            float d = Fp16Bits.ToSingle(block->D);
            for (int k = 0; k < 32; k++) dst[k] = block->Qs[k] * d;
        }
    }

    /// <summary>Byte-exact port of llama.cpp's quantize_row_q8_0_ref (how model files are written).</summary>
    public static void QuantizeReference(float* src, byte* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ8_0*)dst;
        for (int b = 0; b < blocks; b++, block++, src += 32)
        {
            float amax = 0;
            for (int k = 0; k < 32; k++)
            {
                float a = MathF.Abs(src[k]);
                if (a > amax) amax = a;
            }
            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            block->D = Fp16Bits.FromSingle(d);
            for (int k = 0; k < 32; k++) block->Qs[k] = (sbyte)MathF.Round(src[k] * id, MidpointRounding.AwayFromZero);
        }
    }

    /// <summary>Activation quantizer, bit-exact with ggml-cpu's x86 quantize_row_q8_0 (vectorized where possible).</summary>
    public static void Quantize(float* src, byte* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ8_0*)dst;
        for (int b = 0; b < blocks; b++, block++, src += 32)
            block->D = Fp16Bits.FromSingle(ActivationQuant.Block(src, block->Qs, out _));
    }

    /// <summary>Scalar reference of <see cref="Quantize"/>; produces the same bytes.</summary>
    public static void QuantizeScalar(float* src, byte* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ8_0*)dst;
        for (int b = 0; b < blocks; b++, block++, src += 32)
            block->D = Fp16Bits.FromSingle(ActivationQuant.BlockScalar(src, block->Qs, out _));
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
    /// Reference, in ggml's order (ggml_vec_dot_q8_0_q8_0, AVX2): eight float lanes, block by block
    /// acc[l] = fma(d_w·d_x, Σ_(k=4l..4l+3) q_w[k]·q_x[k], acc[l]); then hsum_float_8.
    /// </summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ8_0* wb = (BlockQ8_0*)w;
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

    /// <summary>The block's 32 integer weights in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DecodeQuants(BlockQ8_0* block, int* weights)
    {
        for (int k = 0; k < 32; k++) weights[k] = block->Qs[k];
    }

    /// <summary>One block per step as two 16-byte halves: lanes 0–3 (elements 0..15) and lanes 4–7 (elements 16..31).</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ8_0* wb = (BlockQ8_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        Vector128<float> accLow = default, accHigh = default;
        for (int b = 0; b < blocks; b++)
        {
            sbyte* wq = wb[b].Qs, xq = xb[b].Qs;
            var sumsLow = Int8Dot.MultiplyAddQuads(Vector128<int>.Zero, Vector128.Load(wq), Vector128.Load(xq));
            var sumsHigh = Int8Dot.MultiplyAddQuads(Vector128<int>.Zero, Vector128.Load(wq + 16), Vector128.Load(xq + 16));
            float d = BlockLanes.Scale(wb[b].D, xb[b].D);
            accLow = BlockLanes.Accumulate(accLow, d, sumsLow);
            accHigh = BlockLanes.Accumulate(accHigh, d, sumsHigh);
        }
        return BlockLanes.Finish(accLow, accHigh);
    }

    /// <summary>The block's eight int32 lane sums (lane l: elements 4l..4l+3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> LaneSums256(BlockQ8_0* w, BlockQ8_0* x) =>
        Int8Dot.MultiplyAddQuads(Vector256<int>.Zero, Vector256.Load(w->Qs), Vector256.Load(x->Qs));

    /// <summary>One block per step, ggml's own shape.</summary>
    public static float Dot256(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ8_0* wb = (BlockQ8_0*)w;
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
        BlockQ8_0* wb = (BlockQ8_0*)w;
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
    private static Vector512<int> LaneSums512(BlockQ8_0* w, BlockQ8_0* x)
    {
        var wq = Vector512.Create(Vector256.Load(w[0].Qs), Vector256.Load(w[1].Qs));
        var xq = Vector512.Create(Vector256.Load(x[0].Qs), Vector256.Load(x[1].Qs));
        return Int8Dot.MultiplyAddQuads(Vector512<int>.Zero, wq, xq);
    }
}

/// <summary>
/// The per-block activation quantization shared by Q8_0 and Q8_1 (ggml-cpu's x86 path):
/// amax = max |x|, d = amax / 127, id = amax ≠ 0 ? 127 / amax : 0, q = round-half-to-even(x · id).
/// Returns d (unrounded float) and the sum of the quants.
/// </summary>
internal static unsafe class ActivationQuant
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Block(float* x, sbyte* q, out int quantSum) =>
        Vector256.IsHardwareAccelerated ? Block256(x, q, out quantSum) : BlockScalar(x, q, out quantSum);

    public static float BlockScalar(float* x, sbyte* q, out int quantSum)
    {
        float amax = 0;
        for (int k = 0; k < 32; k++)
        {
            float a = MathF.Abs(x[k]);
            if (a > amax) amax = a;
        }
        float d = amax / 127f;
        float id = amax != 0 ? 127f / amax : 0f;
        int sum = 0;
        for (int k = 0; k < 32; k++)
        {
            int value = (int)MathF.Round(x[k] * id); // MathF.Round rounds half to even, like _mm256_round_ps(_MM_ROUND_NEAREST)
            q[k] = (sbyte)value;
            sum += value;
        }
        quantSum = sum;
        return d;
    }

    private static float Block256(float* x, sbyte* q, out int quantSum)
    {
        var v0 = Vector256.Load(x);
        var v1 = Vector256.Load(x + 8);
        var v2 = Vector256.Load(x + 16);
        var v3 = Vector256.Load(x + 24);
        var max8 = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        var max4 = Vector128.Max(max8.GetLower(), max8.GetUpper());
        float amax = MathF.Max(MathF.Max(max4.GetElement(0), max4.GetElement(1)), MathF.Max(max4.GetElement(2), max4.GetElement(3)));

        float d = amax / 127f;
        var id = Vector256.Create(amax != 0 ? 127f / amax : 0f);
        var i0 = Vector256.ConvertToInt32(Vector256.Round(v0 * id));
        var i1 = Vector256.ConvertToInt32(Vector256.Round(v1 * id));
        var i2 = Vector256.ConvertToInt32(Vector256.Round(v2 * id));
        var i3 = Vector256.ConvertToInt32(Vector256.Round(v3 * id));
        // |q| ≤ 127, so the truncating narrows are exact; they keep element order.
        Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).Store(q);
        quantSum = Vector256.Sum(i0 + i1 + i2 + i3);
        return d;
    }
}
