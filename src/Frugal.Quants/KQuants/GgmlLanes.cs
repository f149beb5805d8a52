using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Frugal.Quants.KQuants;

/// <summary>
/// The float arithmetic of ggml-cpu's AVX2 K-quant dots (ggml_vec_dot_q2_K_q8_K … q6_K_q8_K, build 4748), which
/// every level of our kernels reproduces so that all of them return ggml's bits.
/// <para>
/// Why the order matters: llama.cpp's reference logits come from those kernels, and on chaotic random-weight models a
/// one-ulp difference in a dot flips a later Q8 rounding and moves the logits by tenths. Integer sums are exact
/// whatever their order, so only the float steps are pinned down here:
/// </para>
/// <list type="bullet">
/// <item>Eight float accumulator lanes. Per super-block, int32 lane l (l = 0..7) holds the integer Σ scale·q·y over the
/// elements 4l … 4l+3 of every 32-quant chunk (the layout pmaddubsw + pmaddwd leave in a 256-bit register); it is
/// converted to float (round to nearest even) and added with one FMA: acc[l] = fma(d·dy, lane[l], acc[l]).</item>
/// <item>d = dy·fp16(d) and dmin = −dy·fp16(dmin), single float products.</item>
/// <item>At the end, hsum_float_8: ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)).</item>
/// </list>
/// The scalar kernels build the same integer lanes element by element (<see cref="AddLanes16"/>,
/// <see cref="AddLanes32"/>) and use <see cref="MathF.FusedMultiplyAdd"/>; the vector kernels use
/// <see cref="Vector256.FusedMultiplyAdd(Vector256{float}, Vector256{float}, Vector256{float})"/>, which is fused on
/// every machine (never MultiplyAddEstimate, never Vector256.Sum, whose order is unspecified).
/// </summary>
internal static unsafe class GgmlLanes
{
    /// <summary>Float accumulator lanes of the AVX2 kernels (one __m256).</summary>
    public const int Count = 8;

    /// <summary>ggml's hsum_float_8: high half + low half, then (s0 + s2) + (s1 + s3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalSum8(Vector256<float> acc)
    {
        var halves = acc.GetUpper() + acc.GetLower();
        return (halves.GetElement(0) + halves.GetElement(2)) + (halves.GetElement(1) + halves.GetElement(3));
    }

    /// <summary><see cref="HorizontalSum8(Vector256{float})"/> over eight floats in memory (the scalar kernels).</summary>
    public static float HorizontalSum8(float* acc) =>
        ((acc[4] + acc[0]) + (acc[6] + acc[2])) + ((acc[5] + acc[1]) + (acc[7] + acc[3]));

    /// <summary>The 4-lane sum of Q4_K's min accumulator: movehl + add, then movehdup + add_ss = (m0 + m2) + (m1 + m3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalSum4(Vector128<float> acc) =>
        (acc.GetElement(0) + acc.GetElement(2)) + (acc.GetElement(1) + acc.GetElement(3));

    public static float HorizontalSum4(float* acc) => (acc[0] + acc[2]) + (acc[1] + acc[3]);

    /// <summary>acc[l] = fma(scale, (float)lanes[l], acc[l]) for <paramref name="count"/> lanes: _mm256_fmadd_ps(set1(scale), cvtepi32_ps(lanes), acc).</summary>
    public static void FusedMultiplyAdd(float* acc, float scale, int* lanes, int count)
    {
        for (int l = 0; l < count; l++) acc[l] = MathF.FusedMultiplyAdd(scale, lanes[l], acc[l]);
    }

    /// <summary>acc + scale·(float)lanes, each lane rounded once (vfmadd…ps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FusedMultiplyAdd(float scale, Vector256<int> lanes, Vector256<float> acc) =>
        Vector256.FusedMultiplyAdd(Vector256.Create(scale), Vector256.ConvertToSingle(lanes), acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> FusedMultiplyAdd(float scale, Vector128<int> lanes, Vector128<float> acc) =>
        Vector128.FusedMultiplyAdd(Vector128.Create(scale), Vector128.ConvertToSingle(lanes), acc);

    /// <summary>
    /// lanes[l] += Σ over the 32-quant chunks c and e = 4l … 4l+3 of scales[sub-block]·q·y, for 256 quants in
    /// 16-quant sub-blocks (Q2_K, Q3_K, Q6_K): element 32c + e belongs to sub-block 2c + e / 16.
    /// </summary>
    public static void AddLanes16(sbyte* q, int* scales, sbyte* y, int* lanes)
    {
        for (int e = 0; e < KQuant.SuperBlock; e++) lanes[(e & 31) >> 2] += scales[e >> 4] * (q[e] * y[e]);
    }

    /// <summary>As <see cref="AddLanes16"/> for 32-quant sub-blocks (Q4_K, Q5_K): element 32c + e belongs to sub-block c.</summary>
    public static void AddLanes32(sbyte* q, int* scales, sbyte* y, int* lanes)
    {
        for (int e = 0; e < KQuant.SuperBlock; e++) lanes[(e & 31) >> 2] += scales[e >> 5] * (q[e] * y[e]);
    }
}
