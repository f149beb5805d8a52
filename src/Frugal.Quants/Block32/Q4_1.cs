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
// activation block. As in ggml-cpu's AVX2 kernel, the first part goes through the eight float lanes
// (see Block32Common.cs) and the m_w·s_x terms are summed apart, then added after the horizontal sum.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

using Driver = Block32Dot<Q4_1Weights, BlockQ4_1, BlockQ8_1>;

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
    internal const string Name = "Q4_1";

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
            Block32Args.Range(src, out float min, out float max);
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
    public static float Dot(byte* w, byte* x, int n) => Driver.Dot(w, x, n);

    /// <summary>Reference in ggml's order (ggml_vec_dot_q4_1_q8_1, AVX2); see <see cref="Block32Dot{TKernel, TWeight, TActivation}.DotScalar"/>.</summary>
    public static float DotScalar(byte* w, byte* x, int n) => Driver.DotScalar(w, x, n);

    public static float Dot128(byte* w, byte* x, int n) => Driver.Dot128(w, x, n);

    public static float Dot256(byte* w, byte* x, int n) => Driver.Dot256(w, x, n);

    public static float Dot512(byte* w, byte* x, int n) => Driver.Dot512(w, x, n);
}

/// <summary>Q4_1 blocks in a dot with Q8_1 activations: quants are the nibbles 0..15, plus the m_w·s_x minimum term.</summary>
internal readonly unsafe struct Q4_1Weights : IBlock32Weights<BlockQ4_1, BlockQ8_1>
{
    public static string Name => Q4_1.Name;
    public static bool SignedQuants => false;
    public static bool HasMinimum => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(BlockQ4_1* w, BlockQ8_1* x) => BlockLanes.Scale(w->D, x->D);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float AddMinimum(float summs, BlockQ4_1* w, BlockQ8_1* x) => BlockLanes.AddMinimum(summs, w->M, x->S);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static sbyte* ActivationQuants(BlockQ8_1* x) => x->Qs;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(BlockQ4_1* block, int* weights)
    {
        for (int j = 0; j < 16; j++)
        {
            weights[j] = block->Qs[j] & 0x0F;
            weights[j + 16] = block->Qs[j] >> 4;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<byte> Low, Vector128<byte> High) Quants128(BlockQ4_1* block) => Unpack.Nibbles128(block->Qs);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants256(BlockQ4_1* block) => Unpack.Nibbles256(block->Qs);
}
