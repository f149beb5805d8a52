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
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

using Driver = Block32Dot<Q5_0Weights, BlockQ5_0, BlockQ8_0>;

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
    internal const string Name = "Q5_0";

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
            float max = Block32Args.LargestMagnitude(src);
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
    public static float Dot(byte* w, byte* x, int n) => Driver.Dot(w, x, n);

    /// <summary>Reference in ggml's order (ggml_vec_dot_q5_0_q8_0, AVX2); see <see cref="Block32Dot{TKernel, TWeight, TActivation}.DotScalar"/>.</summary>
    public static float DotScalar(byte* w, byte* x, int n) => Driver.DotScalar(w, x, n);

    public static float Dot128(byte* w, byte* x, int n) => Driver.Dot128(w, x, n);

    public static float Dot256(byte* w, byte* x, int n) => Driver.Dot256(w, x, n);

    public static float Dot512(byte* w, byte* x, int n) => Driver.Dot512(w, x, n);
}

/// <summary>Q5_0 blocks in a dot with Q8_0 activations: quants are (nibble | fifth bit) − 16 (−16..15).</summary>
internal readonly unsafe struct Q5_0Weights : IBlock32Weights<BlockQ5_0, BlockQ8_0>
{
    public static string Name => Q5_0.Name;
    public static bool SignedQuants => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(BlockQ5_0* w, BlockQ8_0* x) => BlockLanes.Scale(w->D, x->D);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static sbyte* ActivationQuants(BlockQ8_0* x) => x->Qs;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(BlockQ5_0* block, int* weights)
    {
        uint qh = Unsafe.ReadUnaligned<uint>(block->Qh);
        for (int j = 0; j < 16; j++)
        {
            weights[j] = ((block->Qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4) - 16;
            weights[j + 16] = ((block->Qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<byte> Low, Vector128<byte> High) Quants128(BlockQ5_0* block)
    {
        var (low, high) = Unpack.Nibbles128(block->Qs);
        uint qh = Unsafe.ReadUnaligned<uint>(block->Qh);
        var sixteen = Vector128.Create((byte)16);
        return ((low | Unpack.FifthBitsLow128(qh)) - sixteen, (high | Unpack.FifthBitsHigh128(qh)) - sixteen);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants256(BlockQ5_0* block) =>
        (Unpack.Nibbles256(block->Qs) | Unpack.FifthBits256(Unsafe.ReadUnaligned<uint>(block->Qh))) - Vector256.Create((byte)16);
}
