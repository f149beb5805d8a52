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
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

using Driver = Block32Dot<Q8_0Weights, BlockQ8_0, BlockQ8_0>;

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
    internal const string Name = "Q8_0";

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
    public static void Quantize(float* src, byte* dst, int n) => QuantizeRow(src, dst, n, vectorized: true);

    /// <summary>Scalar reference of <see cref="Quantize"/>; produces the same bytes.</summary>
    public static void QuantizeScalar(float* src, byte* dst, int n) => QuantizeRow(src, dst, n, vectorized: false);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuantizeRow(float* src, byte* dst, int n, bool vectorized)
    {
        int blocks = Block32Args.Blocks(n, src, dst, Name);
        var block = (BlockQ8_0*)dst;
        for (int b = 0; b < blocks; b++, block++, src += 32)
        {
            float d = vectorized ? ActivationQuant.Block(src, block->Qs, out _) : ActivationQuant.BlockScalar(src, block->Qs, out _);
            block->D = Fp16Bits.FromSingle(d);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(byte* w, byte* x, int n) => Driver.Dot(w, x, n);

    /// <summary>Reference in ggml's order (ggml_vec_dot_q8_0_q8_0, AVX2); see <see cref="Block32Dot{TKernel, TWeight, TActivation}.DotScalar"/>.</summary>
    public static float DotScalar(byte* w, byte* x, int n) => Driver.DotScalar(w, x, n);

    public static float Dot128(byte* w, byte* x, int n) => Driver.Dot128(w, x, n);

    public static float Dot256(byte* w, byte* x, int n) => Driver.Dot256(w, x, n);

    public static float Dot512(byte* w, byte* x, int n) => Driver.Dot512(w, x, n);
}

/// <summary>Q8_0 blocks in a dot with Q8_0 activations: the quants are stored as they are (int8).</summary>
internal readonly unsafe struct Q8_0Weights : IBlock32Weights<BlockQ8_0, BlockQ8_0>
{
    public static string Name => Q8_0.Name;
    public static bool SignedQuants => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(BlockQ8_0* w, BlockQ8_0* x) => BlockLanes.Scale(w->D, x->D);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static sbyte* ActivationQuants(BlockQ8_0* x) => x->Qs;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(BlockQ8_0* block, int* weights)
    {
        for (int k = 0; k < 32; k++) weights[k] = block->Qs[k];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<byte> Low, Vector128<byte> High) Quants128(BlockQ8_0* block) =>
        (Vector128.Load((byte*)block->Qs), Vector128.Load((byte*)block->Qs + 16));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants256(BlockQ8_0* block) => Vector256.Load((byte*)block->Qs);
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
