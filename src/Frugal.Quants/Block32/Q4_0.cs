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
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

using Driver = Block32Dot<Q4_0Weights, BlockQ4_0, BlockQ8_0>;

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
    internal const string Name = "Q4_0";

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
            float max = Block32Args.LargestMagnitude(src);
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
    public static float Dot(byte* w, byte* x, int n) => Driver.Dot(w, x, n);

    /// <summary>
    /// The order of ggml_gemv_q4_0_8x8_q8_0, which llama.cpp uses on AVX2 for Q4_0 matrices whose row count is a
    /// multiple of 8 (it repacks them at load): see <see cref="Block32Dot{TKernel, TWeight, TActivation}.DotBlockOrder"/>.
    /// </summary>
    public static float DotRowGroups(byte* w, byte* x, int n) => Driver.DotBlockOrder(w, x, n);

    /// <summary>Reference in ggml's order (ggml_vec_dot_q4_0_q8_0, AVX2); see <see cref="Block32Dot{TKernel, TWeight, TActivation}.DotScalar"/>.</summary>
    public static float DotScalar(byte* w, byte* x, int n) => Driver.DotScalar(w, x, n);

    public static float Dot128(byte* w, byte* x, int n) => Driver.Dot128(w, x, n);

    public static float Dot256(byte* w, byte* x, int n) => Driver.Dot256(w, x, n);

    public static float Dot512(byte* w, byte* x, int n) => Driver.Dot512(w, x, n);
}

/// <summary>Q4_0 blocks in a dot with Q8_0 activations: quants are nibble − 8 (−8..7).</summary>
internal readonly unsafe struct Q4_0Weights : IBlock32Weights<BlockQ4_0, BlockQ8_0>
{
    public static string Name => Q4_0.Name;
    public static bool SignedQuants => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(BlockQ4_0* w, BlockQ8_0* x) => BlockLanes.Scale(w->D, x->D);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static sbyte* ActivationQuants(BlockQ8_0* x) => x->Qs;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(BlockQ4_0* block, int* weights)
    {
        for (int j = 0; j < 16; j++)
        {
            weights[j] = (block->Qs[j] & 0x0F) - 8;
            weights[j + 16] = (block->Qs[j] >> 4) - 8;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<byte> Low, Vector128<byte> High) Quants128(BlockQ4_0* block)
    {
        var (low, high) = Unpack.Nibbles128(block->Qs);
        var eight = Vector128.Create((byte)8);
        return (low - eight, high - eight);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants256(BlockQ4_0* block) => Unpack.Nibbles256(block->Qs) - Vector256.Create((byte)8);
}
