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
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

using Driver = Block32Dot<Q5_1Weights, BlockQ5_1, BlockQ8_1>;

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
    internal const string Name = "Q5_1";

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
            Block32Args.Range(src, out float min, out float max);
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
    public static float Dot(byte* w, byte* x, int n) => Driver.Dot(w, x, n);

    /// <summary>Reference in ggml's order (ggml_vec_dot_q5_1_q8_1, AVX2); see <see cref="Block32Dot{TKernel, TWeight, TActivation}.DotScalar"/>.</summary>
    public static float DotScalar(byte* w, byte* x, int n) => Driver.DotScalar(w, x, n);

    public static float Dot128(byte* w, byte* x, int n) => Driver.Dot128(w, x, n);

    public static float Dot256(byte* w, byte* x, int n) => Driver.Dot256(w, x, n);

    public static float Dot512(byte* w, byte* x, int n) => Driver.Dot512(w, x, n);
}

/// <summary>Q5_1 blocks in a dot with Q8_1 activations: quants are nibble | fifth bit (0..31), plus the m_w·s_x minimum term.</summary>
internal readonly unsafe struct Q5_1Weights : IBlock32Weights<BlockQ5_1, BlockQ8_1>
{
    public static string Name => Q5_1.Name;
    public static bool SignedQuants => false;
    public static bool HasMinimum => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(BlockQ5_1* w, BlockQ8_1* x) => BlockLanes.Scale(w->D, x->D);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float AddMinimum(float summs, BlockQ5_1* w, BlockQ8_1* x) => BlockLanes.AddMinimum(summs, w->M, x->S);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static sbyte* ActivationQuants(BlockQ8_1* x) => x->Qs;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(BlockQ5_1* block, int* weights)
    {
        uint qh = Unsafe.ReadUnaligned<uint>(block->Qh);
        for (int j = 0; j < 16; j++)
        {
            weights[j] = (block->Qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
            weights[j + 16] = (block->Qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<byte> Low, Vector128<byte> High) Quants128(BlockQ5_1* block)
    {
        var (low, high) = Unpack.Nibbles128(block->Qs);
        uint qh = Unsafe.ReadUnaligned<uint>(block->Qh);
        return (low | Unpack.FifthBitsLow128(qh), high | Unpack.FifthBitsHigh128(qh));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants256(BlockQ5_1* block) =>
        Unpack.Nibbles256(block->Qs) | Unpack.FifthBits256(Unsafe.ReadUnaligned<uint>(block->Qh));
}
