// Q4_1: 32 weights per 20-byte block, 4-bit with a minimum; activations are Q8_1.
//
//   byte 0      2      4                                 20
//        +------+------+---------------------------------+
//        |  d   |  m   |  qs[16]                         |
//        +------+------+---------------------------------+
//   qs[j] = q[j] | q[j + 16] << 4        q in 0..15
//   weight[k] = q[k] · d + m             (d, m: fp16)
//
// Dot with a Q8_1 row, per block: d_w·d_x·Σ q_w·q_x + m_w·s_x, where s_x = d_x·Σ q_x is stored in the
// activation block, exactly as ggml-cpu computes it.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Frugal.Numerics;
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

/// <summary>One Q4_1 block: fp16 scale, fp16 minimum, then 16 bytes of packed nibbles (20 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ4_1
{
    public const int Size = 20;

    /// <summary>Scale, fp16 bits.</summary>
    public ushort D;

    /// <summary>Minimum (offset), fp16 bits.</summary>
    public ushort M;

    /// <summary>Low nibbles: quants 0..15; high nibbles: quants 16..31.</summary>
    public fixed byte Qs[16];
}

/// <summary>Kernels for Q4_1 weight rows (activations in Q8_1).</summary>
public static unsafe class Q4_1
{
    private const string Name = "Q4_1";

    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ4_1*)src;
        for (int b = 0; b < blocks; b++, block++, dst += 32)
        {
            float d = Fp16Bits.ToSingle(block->D);
            float m = Fp16Bits.ToSingle(block->M);
            for (int j = 0; j < 16; j++)
            {
                dst[j] = (block->Qs[j] & 0x0F) * d + m;
                dst[j + 16] = (block->Qs[j] >> 4) * d + m;
            }
        }
    }

    /// <summary>Byte-exact port of llama.cpp's quantize_row_q4_1_ref (how model files are written).</summary>
    public static void QuantizeReference(float* src, byte* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ4_1*)dst;
        for (int b = 0; b < blocks; b++, block++, src += 32)
        {
            float min = float.MaxValue, max = -float.MaxValue;
            for (int k = 0; k < 32; k++)
            {
                if (src[k] < min) min = src[k];
                if (src[k] > max) max = src[k];
            }
            float d = (max - min) / 15;
            float id = d != 0 ? 1.0f / d : 0.0f;
            block->D = Fp16Bits.FromSingle(d);
            block->M = Fp16Bits.FromSingle(min);
            for (int j = 0; j < 16; j++)
            {
                int q0 = Math.Min(15, (int)(sbyte)((src[j] - min) * id + 0.5f));
                int q1 = Math.Min(15, (int)(sbyte)((src[j + 16] - min) * id + 0.5f));
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

    /// <summary>Reference: per block d_w·d_x·Σ q_w·q_x (int sum) + m_w·s_x, summed in float.</summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        float sum = 0;
        for (int b = 0; b < blocks; b++) sum += BlockDot((BlockQ4_1*)w + b, (BlockQ8_1*)x + b);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float BlockDot(BlockQ4_1* w, BlockQ8_1* x)
    {
        int sum = 0;
        for (int j = 0; j < 16; j++)
        {
            sum += (w->Qs[j] & 0x0F) * x->Qs[j];
            sum += (w->Qs[j] >> 4) * x->Qs[j + 16];
        }
        return Fp16Bits.ToSingle(w->D) * Fp16Bits.ToSingle(x->D) * sum + MinimumTerm(w, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float MinimumTerm(BlockQ4_1* w, BlockQ8_1* x) => Fp16Bits.ToSingle(w->M) * Fp16Bits.ToSingle(x->S);

    /// <summary>One block per step: low and high nibbles as two 16-byte halves.</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ4_1* wb = (BlockQ4_1*)w;
        BlockQ8_1* xb = (BlockQ8_1*)x;
        var acc = Vector128<float>.Zero;
        float minimums = 0;
        for (int b = 0; b < blocks; b++)
        {
            var (low, high) = Unpack.Nibbles128(wb[b].Qs);
            sbyte* xq = xb[b].Qs;
            var sums = Int8Dot.MultiplyAddQuadsUnsigned(Vector128<int>.Zero, low, Vector128.Load(xq));
            sums = Int8Dot.MultiplyAddQuadsUnsigned(sums, high, Vector128.Load(xq + 16));
            float d = Fp16Bits.ToSingle(wb[b].D) * Fp16Bits.ToSingle(xb[b].D);
            acc = Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(sums), Vector128.Create(d), acc);
            minimums += MinimumTerm(wb + b, xb + b);
        }
        return Vector128.Sum(acc) + minimums;
    }

    /// <summary>One block per step.</summary>
    public static float Dot256(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ4_1* wb = (BlockQ4_1*)w;
        BlockQ8_1* xb = (BlockQ8_1*)x;
        var acc = Vector256<float>.Zero;
        float minimums = 0;
        for (int b = 0; b < blocks; b++)
        {
            var sums = Int8Dot.MultiplyAddQuadsUnsigned(Vector256<int>.Zero, Unpack.Nibbles256(wb[b].Qs), Vector256.Load(xb[b].Qs));
            float d = Fp16Bits.ToSingle(wb[b].D) * Fp16Bits.ToSingle(xb[b].D);
            acc = Vector256.MultiplyAddEstimate(Vector256.ConvertToSingle(sums), Vector256.Create(d), acc);
            minimums += MinimumTerm(wb + b, xb + b);
        }
        return Vector256.Sum(acc) + minimums;
    }

    /// <summary>Two blocks per step (one per 256-bit half); an odd last block goes through the scalar block dot.</summary>
    public static float Dot512(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ4_1* wb = (BlockQ4_1*)w;
        BlockQ8_1* xb = (BlockQ8_1*)x;
        var acc = Vector512<float>.Zero;
        float minimums = 0;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            var wq = Vector512.Create(Unpack.Nibbles256(wb[b].Qs), Unpack.Nibbles256(wb[b + 1].Qs));
            var xq = Vector512.Create(Vector256.Load(xb[b].Qs), Vector256.Load(xb[b + 1].Qs));
            var sums = Int8Dot.MultiplyAddQuadsUnsigned(Vector512<int>.Zero, wq, xq);
            var d = Vector512.Create(
                Vector256.Create(Fp16Bits.ToSingle(wb[b].D) * Fp16Bits.ToSingle(xb[b].D)),
                Vector256.Create(Fp16Bits.ToSingle(wb[b + 1].D) * Fp16Bits.ToSingle(xb[b + 1].D)));
            acc = Vector512.MultiplyAddEstimate(Vector512.ConvertToSingle(sums), d, acc);
            minimums += MinimumTerm(wb + b, xb + b) + MinimumTerm(wb + b + 1, xb + b + 1);
        }
        float sum = Vector512.Sum(acc) + minimums;
        for (; b < blocks; b++) sum += BlockDot(wb + b, xb + b);
        return sum;
    }
}
