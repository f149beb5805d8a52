// Q8_1: 32 values per 36-byte block — the activation (vec-dot) type of Q4_1 and Q5_1 weights.
//
//   byte 0      2      4                                          36
//        +------+------+------------------------------------------+
//        |  d   |  s   |  qs[32]   int8 quants                    |
//        +------+------+------------------------------------------+
//   value[k] = qs[k] · d          (d: fp16 scale)
//   s = fp16(d · Σ qs)            (d here is the float scale before fp16 rounding, as in ggml)
//
// The precomputed s lets a Q4_1/Q5_1 dot add its per-block minimum as m_w · s_x instead of summing
// the activations. Quantization follows ggml-cpu's x86 quantize_row_q8_1 (same rule as Q8_0's Quantize).
// There is no Q8_1 × Q8_1 dot: ggml has none, and no model stores Q8_1 weights.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

/// <summary>One Q8_1 block: fp16 scale, fp16 scaled quant sum, then 32 int8 quants (36 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ8_1
{
    public const int Size = 36;

    /// <summary>Scale, fp16 bits.</summary>
    public ushort D;

    /// <summary>d · Σ qs, fp16 bits.</summary>
    public ushort S;

    /// <summary>Quants in element order.</summary>
    public fixed sbyte Qs[32];
}

/// <summary>Kernels for Q8_1 activation rows.</summary>
public static unsafe class Q8_1
{
    private const string Name = "Q8_1";

    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ8_1*)src;
        for (int b = 0; b < blocks; b++, block++, dst += 32)
        {
            float d = Fp16Bits.ToSingle(block->D);
            for (int k = 0; k < 32; k++) dst[k] = block->Qs[k] * d;
        }
    }

    /// <summary>Activation quantizer, bit-exact with ggml-cpu's x86 quantize_row_q8_1 (vectorized where possible).</summary>
    public static void Quantize(float* src, byte* dst, int n) => QuantizeRow(src, dst, n, vectorized: true);

    /// <summary>Scalar reference of <see cref="Quantize"/>; produces the same bytes.</summary>
    public static void QuantizeScalar(float* src, byte* dst, int n) => QuantizeRow(src, dst, n, vectorized: false);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuantizeRow(float* src, byte* dst, int n, bool vectorized)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ8_1*)dst;
        for (int b = 0; b < blocks; b++, block++, src += 32)
        {
            float d = vectorized
                ? ActivationQuant.Block(src, block->Qs, out int quantSum)
                : ActivationQuant.BlockScalar(src, block->Qs, out quantSum);
            block->D = Fp16Bits.FromSingle(d);
            block->S = Fp16Bits.FromSingle(d * quantSum);
        }
    }
}
