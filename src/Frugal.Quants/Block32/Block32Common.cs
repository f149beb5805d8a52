// Shared pieces of the 32-element block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the Q8_1 activations).
//
// Every format stores 32 weights per block; a row of n elements is n / 32 blocks laid end to end with no
// padding, so blocks start at unaligned addresses (18, 20, 22, 24, 34 or 36 bytes apart) and all vector
// loads are unaligned. Scales are fp16 bits. The 4- and 5-bit formats pack two quants per byte:
//   qs[j] low nibble  = quant j        (elements 0..15)
//   qs[j] high nibble = quant j + 16   (elements 16..31)
// and the 5-bit formats keep the fifth bit of quant j in bit j of a little-endian 32-bit qh.
//
// Dot products are bit-identical with ggml-cpu's AVX2+FMA kernels (ggml_vec_dot_q4_0_q8_0 and friends) at every
// level: per block, int8 × int8 products summed in int32 in eight lanes (lane l holds elements 4l..4l+3, as
// vpmaddubsw + vpmaddwd leave them), then each lane accumulated in float as acc[l] = fma(d_w·d_x, lane, acc[l]);
// at the end the eight lanes are summed in hsum_float_8 order (and, for Q4_1/Q5_1, the per-block minimum
// terms, accumulated separately with fused multiply-adds as gcc compiled ggml's `summs += m·s`, are added).
// Integer sums are exact, so only this float order matters; see Float/GgmlOrder.cs.
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Quants.Float;

namespace Frugal.Quants.Block32;

/// <summary>Argument checks shared by the block kernels (cheap, once per row).</summary>
internal static unsafe class Block32Args
{
    public const int BlockSize = 32;

    /// <summary>Number of blocks in n elements; throws a precise message when n is not a whole number of blocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Blocks(int n, void* a, void* b, string typeName)
    {
        if (n < 0 || (n & (BlockSize - 1)) != 0 || (n > 0 && (a == null || b == null))) Throw(n, typeName);
        return n >> 5;
    }

    /// <summary>The signed value of largest magnitude among a block's 32 floats (the first such, as ggml's strict &lt;).</summary>
    public static float LargestMagnitude(float* x)
    {
        float amax = 0, max = 0;
        for (int k = 0; k < BlockSize; k++)
        {
            if (amax < MathF.Abs(x[k]))
            {
                amax = MathF.Abs(x[k]);
                max = x[k];
            }
        }
        return max;
    }

    /// <summary>The least and greatest of a block's 32 floats, as ggml's reference quantizers scan them.</summary>
    public static void Range(float* x, out float min, out float max)
    {
        min = float.MaxValue;
        max = -float.MaxValue;
        for (int k = 0; k < BlockSize; k++)
        {
            if (x[k] < min) min = x[k];
            if (x[k] > max) max = x[k];
        }
    }

    [DoesNotReturn]
    private static void Throw(int n, string typeName) =>
        throw (n < 0 || (n & (BlockSize - 1)) != 0
            ? new ArgumentOutOfRangeException(nameof(n), n,
                $"{typeName} kernel: a row holds whole blocks of {BlockSize} elements, but n = {n} is not a non-negative multiple of {BlockSize}")
            : new ArgumentNullException(null, $"{typeName} kernel: null row pointer for {n} elements"));
}

/// <summary>Vector unpacking of packed 4-bit quants and of the Q5 fifth bits.</summary>
internal static unsafe class Unpack
{
    /// <summary>The 16 bytes of qs split into quants 0..15 (low nibbles) and 16..31 (high nibbles), each 0..15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<byte> Low, Vector128<byte> High) Nibbles128(byte* qs)
    {
        var packed = Vector128.Load(qs);
        var mask = Vector128.Create((byte)0x0F);
        return (packed & mask, (packed >>> 4) & mask);
    }

    /// <summary>All 32 quants of a block in element order, each 0..15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Nibbles256(byte* qs)
    {
        var (low, high) = Nibbles128(qs);
        return Vector256.Create(low, high);
    }

    // FifthBit[v] has byte k = 0x10 when bit k of v is set: eight qh bits become the 0x10 bit of eight quants.
    // (A table keeps this portable and branch-free; ggml's NEON path does the same.)
    private static readonly ulong[] FifthBit = BuildFifthBitTable();

    private static ulong[] BuildFifthBitTable()
    {
        var table = new ulong[256];
        for (int v = 0; v < 256; v++)
        {
            ulong entry = 0;
            for (int k = 0; k < 8; k++)
                if ((v >> k & 1) != 0) entry |= 0x10UL << (8 * k);
            table[v] = entry;
        }
        return table;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Spread(uint eightBits) =>
        Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(FifthBit), (nint)(eightBits & 0xFF));

    /// <summary>0x10 for each of elements 0..15 whose qh bit is set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> FifthBitsLow128(uint qh) => Vector128.Create(Spread(qh), Spread(qh >> 8)).AsByte();

    /// <summary>0x10 for each of elements 16..31 whose qh bit is set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> FifthBitsHigh128(uint qh) => Vector128.Create(Spread(qh >> 16), Spread(qh >> 24)).AsByte();

    /// <summary>0x10 for each of the 32 elements whose qh bit is set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> FifthBits256(uint qh) =>
        Vector256.Create(Spread(qh), Spread(qh >> 8), Spread(qh >> 16), Spread(qh >> 24)).AsByte();
}

/// <summary>
/// Int8 dot-product steps: <c>acc + quads(x, y)</c>, where int32 lane i of quads holds
/// Σ_{k&lt;4} x[4i+k] · y[4i+k]. Each int32 lane only ever sees its own four bytes, so when a 512-bit vector
/// holds two blocks, lanes 0–7 sum block 0 and lanes 8–15 block 1.
/// Paths: AVX-VNNI (vpdpbusd), else SSSE3/AVX2/AVX-512BW (vpmaddubsw + vpmaddwd), else portable
/// 16-bit arithmetic that computes the same lanes. The x86 paths use |x| · sign(y, x) because vpmaddubsw
/// takes one unsigned operand, so y must not be −128 where x is negative; activations are in [−127, 127]
/// by construction (round(x·127/amax)), which is the only way the kernels call these.
/// </summary>
internal static class Int8Dot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> MultiplyAddQuads(Vector128<int> acc, Vector128<sbyte> x, Vector128<sbyte> y)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, Ssse3.Abs(x), Ssse3.Sign(y, x));
        if (Ssse3.IsSupported)
            return acc + Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(Ssse3.Abs(x), Ssse3.Sign(y, x)), Vector128.Create((short)1));
        return acc + PortableQuads(x, y);
    }

    /// <summary>As <see cref="MultiplyAddQuads(Vector128{int}, Vector128{sbyte}, Vector128{sbyte})"/> for x in 0..127 (no sign fix-up needed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> MultiplyAddQuadsUnsigned(Vector128<int> acc, Vector128<byte> x, Vector128<sbyte> y)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, x, y);
        if (Ssse3.IsSupported) return acc + Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(x, y), Vector128.Create((short)1));
        return acc + PortableQuads(x.AsSByte(), y);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MultiplyAddQuads(Vector256<int> acc, Vector256<sbyte> x, Vector256<sbyte> y)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, Avx2.Abs(x), Avx2.Sign(y, x));
        if (Avx2.IsSupported)
            return acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(x), Avx2.Sign(y, x)), Vector256.Create((short)1));
        return acc + PortableQuads(x, y);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MultiplyAddQuadsUnsigned(Vector256<int> acc, Vector256<byte> x, Vector256<sbyte> y)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, x, y);
        if (Avx2.IsSupported) return acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, y), Vector256.Create((short)1));
        return acc + PortableQuads(x.AsSByte(), y);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> MultiplyAddQuads(Vector512<int> acc, Vector512<sbyte> x, Vector512<sbyte> y)
    {
        if (Avx512BW.IsSupported)
        {
            // AVX-512 has no vpsignb: negate y where x < 0 with a mask select instead.
            var signedY = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<sbyte>.Zero), Vector512<sbyte>.Zero - y, y);
            return acc + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(x), signedY), Vector512.Create((short)1));
        }
        return acc + PortableQuads(x, y);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> MultiplyAddQuadsUnsigned(Vector512<int> acc, Vector512<byte> x, Vector512<sbyte> y)
    {
        if (Avx512BW.IsSupported) return acc + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x, y), Vector512.Create((short)1));
        return acc + PortableQuads(x.AsSByte(), y);
    }

    // Portable quads: split each 16-bit lane into its sign-extended even and odd bytes, multiply in 16 bits
    // (|product| ≤ 16,384), add the pair (≤ 32,512 given the −128 rule above), then add the two 16-bit halves
    // of each 32-bit lane, sign-extended. Only in-lane operations, so lane i covers bytes 4i..4i+3.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> PortableQuads(Vector128<sbyte> x, Vector128<sbyte> y)
    {
        Vector128<short> xs = x.AsInt16(), ys = y.AsInt16();
        var pairs = (((xs << 8) >> 8) * ((ys << 8) >> 8) + (xs >> 8) * (ys >> 8)).AsInt32();
        return ((pairs << 16) >> 16) + (pairs >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> PortableQuads(Vector256<sbyte> x, Vector256<sbyte> y)
    {
        Vector256<short> xs = x.AsInt16(), ys = y.AsInt16();
        var pairs = (((xs << 8) >> 8) * ((ys << 8) >> 8) + (xs >> 8) * (ys >> 8)).AsInt32();
        return ((pairs << 16) >> 16) + (pairs >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> PortableQuads(Vector512<sbyte> x, Vector512<sbyte> y)
    {
        Vector512<short> xs = x.AsInt16(), ys = y.AsInt16();
        var pairs = (((xs << 8) >> 8) * ((ys << 8) >> 8) + (xs >> 8) * (ys >> 8)).AsInt32();
        return ((pairs << 16) >> 16) + (pairs >> 16);
    }

    /// <summary>Scalar reference of the same quantity over one 32-byte block: Σ x[k]·y[k].</summary>
    public static unsafe int SumProducts32(sbyte* x, sbyte* y)
    {
        int sum = 0;
        for (int k = 0; k < 32; k++) sum += x[k] * y[k];
        return sum;
    }
}

/// <summary>
/// The float side of ggml's AVX2 block dots: eight float lanes, per block acc[l] = fma(d, (float)laneSum[l], acc[l]),
/// finished in hsum_float_8 order. The scalar helpers are the reference every vector level must equal.
/// </summary>
internal static unsafe class BlockLanes
{
    /// <summary>
    /// Scalar reference of one block step: <paramref name="weights"/> are the block's 32 integer weights in element
    /// order, <paramref name="quants"/> the activation quants; lane l sums elements 4l..4l+3 in int.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Accumulate(float* acc, float d, int* weights, sbyte* quants)
    {
        for (int l = 0; l < 8; l++)
        {
            int k = 4 * l;
            int laneSum = weights[k] * quants[k] + weights[k + 1] * quants[k + 1] + weights[k + 2] * quants[k + 2] + weights[k + 3] * quants[k + 3];
            acc[l] = MathF.FusedMultiplyAdd(d, laneSum, acc[l]);
        }
    }

    /// <summary>One block step on 256-bit vectors: acc = fma(d, float(sums), acc), as _mm256_fmadd_ps(d, q, acc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Accumulate(Vector256<float> acc, float d, Vector256<int> sums) =>
        Vector256.FusedMultiplyAdd(Vector256.Create(d), Vector256.ConvertToSingle(sums), acc);

    /// <summary>One block step on the 128-bit halves of the eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Accumulate(Vector128<float> acc, float d, Vector128<int> sums) =>
        Vector128.FusedMultiplyAdd(Vector128.Create(d), Vector128.ConvertToSingle(sums), acc);

    /// <summary>Two consecutive block steps from a 512-bit vector holding block b's lane sums low and block b+1's high.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AccumulatePair(Vector256<float> acc, float d0, float d1, Vector512<int> sums)
    {
        var values = Vector512.ConvertToSingle(sums);
        acc = Vector256.FusedMultiplyAdd(Vector256.Create(d0), values.GetLower(), acc);
        return Vector256.FusedMultiplyAdd(Vector256.Create(d1), values.GetUpper(), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Finish(float* acc) => GgmlOrder.HorizontalSum8(acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Finish(Vector256<float> acc)
    {
        float* lanes = stackalloc float[8];
        acc.Store(lanes);
        return GgmlOrder.HorizontalSum8(lanes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Finish(Vector128<float> lanes0To3, Vector128<float> lanes4To7)
    {
        float* lanes = stackalloc float[8];
        lanes0To3.Store(lanes);
        lanes4To7.Store(lanes + 4);
        return GgmlOrder.HorizontalSum8(lanes);
    }

    /// <summary>The product of two fp16 scales, in float, as ggml forms every block's d.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(ushort a, ushort b) => Fp16Bits.ToSingle(a) * Fp16Bits.ToSingle(b);

    /// <summary>ggml's `summs += m·s` for the formats with a minimum, which gcc contracted into a fused multiply-add.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float AddMinimum(float summs, ushort m, ushort s) => MathF.FusedMultiplyAdd(Fp16Bits.ToSingle(m), Fp16Bits.ToSingle(s), summs);
}
