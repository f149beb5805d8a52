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

    /// <summary>Reference: per block Σ (q_w − 16)·q_x in int, times d_w·d_x, summed in float.</summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        float sum = 0;
        for (int b = 0; b < blocks; b++) sum += BlockDot((BlockQ5_0*)w + b, (BlockQ8_0*)x + b);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float BlockDot(BlockQ5_0* w, BlockQ8_0* x)
    {
        uint qh = Unsafe.ReadUnaligned<uint>(w->Qh);
        int sum = 0;
        for (int j = 0; j < 16; j++)
        {
            int q0 = (w->Qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
            int q1 = (w->Qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            sum += (q0 - 16) * x->Qs[j] + (q1 - 16) * x->Qs[j + 16];
        }
        return Fp16Bits.ToSingle(w->D) * Fp16Bits.ToSingle(x->D) * sum;
    }

    /// <summary>One block per step, as two 16-byte halves.</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ5_0* wb = (BlockQ5_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        var sixteen = Vector128.Create((byte)16);
        var acc = Vector128<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            var (low, high) = Unpack.Nibbles128(wb[b].Qs);
            uint qh = Unsafe.ReadUnaligned<uint>(wb[b].Qh);
            var q0 = ((low | Unpack.FifthBitsLow128(qh)) - sixteen).AsSByte();
            var q1 = ((high | Unpack.FifthBitsHigh128(qh)) - sixteen).AsSByte();
            sbyte* xq = xb[b].Qs;
            var sums = Int8Dot.MultiplyAddQuads(Vector128<int>.Zero, q0, Vector128.Load(xq));
            sums = Int8Dot.MultiplyAddQuads(sums, q1, Vector128.Load(xq + 16));
            float d = Fp16Bits.ToSingle(wb[b].D) * Fp16Bits.ToSingle(xb[b].D);
            acc = Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(sums), Vector128.Create(d), acc);
        }
        return Vector128.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Quants256(BlockQ5_0* block) =>
        ((Unpack.Nibbles256(block->Qs) | Unpack.FifthBits256(Unsafe.ReadUnaligned<uint>(block->Qh))) - Vector256.Create((byte)16)).AsSByte();

    /// <summary>One block per step.</summary>
    public static float Dot256(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ5_0* wb = (BlockQ5_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            var sums = Int8Dot.MultiplyAddQuads(Vector256<int>.Zero, Quants256(wb + b), Vector256.Load(xb[b].Qs));
            float d = Fp16Bits.ToSingle(wb[b].D) * Fp16Bits.ToSingle(xb[b].D);
            acc = Vector256.MultiplyAddEstimate(Vector256.ConvertToSingle(sums), Vector256.Create(d), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>Two blocks per step (one per 256-bit half); an odd last block goes through the scalar block dot.</summary>
    public static float Dot512(byte* w, byte* x, int n)
    {
        int blocks = Block32Args.Blocks(n, w, x, Name);
        BlockQ5_0* wb = (BlockQ5_0*)w;
        BlockQ8_0* xb = (BlockQ8_0*)x;
        var acc = Vector512<float>.Zero;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            var wq = Vector512.Create(Quants256(wb + b), Quants256(wb + b + 1));
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
