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

    /// <summary>Reference: per block Σ (q_w − 8)·q_x in int, times d_w·d_x, summed in float.</summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        float sum = 0;
        for (int b = 0; b < blocks; b++) sum += BlockDot((BlockQ4_0*)w + b, (BlockQ8_0*)x + b);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float BlockDot(BlockQ4_0* w, BlockQ8_0* x)
    {
        int sum = 0;
        for (int j = 0; j < 16; j++)
        {
            sum += ((w->Qs[j] & 0x0F) - 8) * x->Qs[j];
            sum += ((w->Qs[j] >> 4) - 8) * x->Qs[j + 16];
        }
        return Fp16Bits.ToSingle(w->D) * Fp16Bits.ToSingle(x->D) * sum;
    }

    /// <summary>One block per step: low and high nibbles as two 16-byte halves.</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ4_0* wb = (BlockQ4_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        var eight = Vector128.Create((byte)8);
        var acc = Vector128<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            var (low, high) = Unpack.Nibbles128(wb[b].Qs);
            sbyte* xq = xb[b].Qs;
            var sums = Int8Dot.MultiplyAddQuads(Vector128<int>.Zero, (low - eight).AsSByte(), Vector128.Load(xq));
            sums = Int8Dot.MultiplyAddQuads(sums, (high - eight).AsSByte(), Vector128.Load(xq + 16));
            float d = Fp16Bits.ToSingle(wb[b].D) * Fp16Bits.ToSingle(xb[b].D);
            acc = Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(sums), Vector128.Create(d), acc);
        }
        return Vector128.Sum(acc);
    }

    /// <summary>One block per step.</summary>
    public static float Dot256(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ4_0* wb = (BlockQ4_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        var eight = Vector256.Create((byte)8);
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            var wq = (Unpack.Nibbles256(wb[b].Qs) - eight).AsSByte();
            var sums = Int8Dot.MultiplyAddQuads(Vector256<int>.Zero, wq, Vector256.Load(xb[b].Qs));
            float d = Fp16Bits.ToSingle(wb[b].D) * Fp16Bits.ToSingle(xb[b].D);
            acc = Vector256.MultiplyAddEstimate(Vector256.ConvertToSingle(sums), Vector256.Create(d), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>Two blocks per step (one per 256-bit half); an odd last block goes through the scalar block dot.</summary>
    public static float Dot512(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ4_0* wb = (BlockQ4_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        var eight = Vector512.Create((byte)8);
        var acc = Vector512<float>.Zero;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            var wq = (Vector512.Create(Unpack.Nibbles256(wb[b].Qs), Unpack.Nibbles256(wb[b + 1].Qs)) - eight).AsSByte();
            var xq = Vector512.Create(Vector256.Load(xb[b].Qs), Vector256.Load(xb[b + 1].Qs));
            var sums = Int8Dot.MultiplyAddQuads(Vector512<int>.Zero, wq, xq);
            var d = Vector512.Create(
                Vector256.Create(Fp16Bits.ToSingle(wb[b].D) * Fp16Bits.ToSingle(xb[b].D)),
                Vector256.Create(Fp16Bits.ToSingle(wb[b + 1].D) * Fp16Bits.ToSingle(xb[b + 1].D)));
            acc = Vector512.MultiplyAddEstimate(Vector512.ConvertToSingle(sums), d, acc);
        }
        float sum = Vector512.Sum(acc);
        for (; b < blocks; b++) sum += BlockDot(wb + b, xb + b);
        return sum;
    }
}
