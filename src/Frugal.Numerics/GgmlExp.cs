using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Frugal.Numerics;

/// <summary>
/// The exponential ggml-cpu uses inside softmax and SiLU on AVX2 machines (its <c>ggml_v_expf</c>, adapted from
/// Arm's optimized routines: max error ~1.5 ulp). We reproduce it bit for bit, not libm's expf, because
/// attention weights and SwiGLU outputs feed re-quantization: a 1-ulp difference there flips Q8 roundings and
/// moves the logits of the reference models visibly. <see cref="Exp(float)"/> is the scalar reference;
/// <see cref="Exp(Vector256{float})"/> is the same arithmetic eight lanes at a time.
/// </summary>
public static class GgmlExp
{
    private static readonly float Shifter = BitConverter.Int32BitsToSingle(0x4b400000);   // 0x1.8p23: round-to-integer shifter
    private static readonly float InvLn2 = BitConverter.Int32BitsToSingle(0x3fb8aa3b);    // 0x1.715476p+0
    private static readonly float Ln2Low = BitConverter.Int32BitsToSingle(0x35bfbe8e);    // 0x1.7f7d1cp-20
    private static readonly float Ln2High = BitConverter.Int32BitsToSingle(0x3f317200);   // 0x1.62e4p-1
    private static readonly float C5 = BitConverter.Int32BitsToSingle(0x3c072010);        // 0x1.0e4020p-7
    private static readonly float C4 = BitConverter.Int32BitsToSingle(0x3d2b9f17);        // 0x1.573e2ep-5
    private static readonly float C3 = BitConverter.Int32BitsToSingle(0x3e2aaf33);        // 0x1.555e66p-3
    private static readonly float C2 = BitConverter.Int32BitsToSingle(0x3efffedb);        // 0x1.fffdb6p-2
    private static readonly float C1 = BitConverter.Int32BitsToSingle(0x3f7ffff6);        // 0x1.ffffecp-1

    /// <summary>e^x exactly as one lane of ggml's AVX2 ggml_v_expf computes it.</summary>
    public static float Exp(float x)
    {
        // x = n·ln2 + b with n an integer (z holds n in its low mantissa bits), |b| ≤ ln2/2.
        float z = MathF.FusedMultiplyAdd(x, InvLn2, Shifter);
        float n = z - Shifter;
        float b = MathF.FusedMultiplyAdd(-n, Ln2Low, MathF.FusedMultiplyAdd(-n, Ln2High, x));
        int e = BitConverter.SingleToInt32Bits(z) << 23;
        float k = BitConverter.Int32BitsToSingle(e + 0x3f800000); // 2^n
        float u = b * b;
        // e^b - 1 ≈ polynomial in b, evaluated as ggml does.
        float j = MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(C5, b, C4), u, MathF.FusedMultiplyAdd(C3, b, C2)),
            u,
            C1 * b);
        if (!(MathF.Abs(n) > 126)) return MathF.FusedMultiplyAdd(j, k, k);

        // Large |n|: scale in two steps so 2^n neither overflows nor underflows early.
        int g = n <= 0 ? unchecked((int)0x82000000) : 0;
        float s1 = BitConverter.Int32BitsToSingle(g + 0x7f000000);
        float s2 = BitConverter.Int32BitsToSingle(e - g);
        if (MathF.Abs(n) > 192) return s1 * s1;
        return MathF.FusedMultiplyAdd(s2, j, s2) * s1;
    }

    /// <summary>Eight lanes of <see cref="Exp(float)"/> (needs AVX2 and FMA; falls back per lane otherwise).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        if (!Fma.IsSupported || !Avx2.IsSupported) return PerLane(x);
        var z = Fma.MultiplyAdd(x, Vector256.Create(InvLn2), Vector256.Create(Shifter));
        var n = z - Vector256.Create(Shifter);
        var b = Fma.MultiplyAddNegated(n, Vector256.Create(Ln2Low), Fma.MultiplyAddNegated(n, Vector256.Create(Ln2High), x));
        var e = Avx2.ShiftLeftLogical(z.AsInt32(), 23);
        var k = (e + Vector256.Create(0x3f800000)).AsSingle();
        var absN = Vector256.Abs(n);
        var u = b * b;
        var j = Fma.MultiplyAdd(
            Fma.MultiplyAdd(Fma.MultiplyAdd(Vector256.Create(C5), b, Vector256.Create(C4)), u,
                Fma.MultiplyAdd(Vector256.Create(C3), b, Vector256.Create(C2))),
            u,
            Vector256.Create(C1) * b);
        var result = Fma.MultiplyAdd(j, k, k);
        var outside = Vector256.GreaterThan(absN, Vector256.Create(126f));
        if (outside == Vector256<float>.Zero) return result;

        // Some lane has |n| > 126 (x beyond about ±87, or the -inf of a mask): 2^n is applied in two steps, as in
        // the scalar Exp, for all lanes, and those lanes take it. A softmax row with a wide range of scores hits this
        // on many chunks, so it stays vectorized (it was one scalar call per lane).
        var g = Vector256.LessThanOrEqual(n, Vector256<float>.Zero).AsInt32() & Vector256.Create(unchecked((int)0x82000000));
        var s1 = (g + Vector256.Create(0x7f000000)).AsSingle();
        var s2 = (e - g).AsSingle();
        var scaled = Vector256.ConditionalSelect(Vector256.GreaterThan(absN, Vector256.Create(192f)), s1 * s1, Fma.MultiplyAdd(s2, j, s2) * s1);
        return Vector256.ConditionalSelect(outside, scaled, result);
    }

    private static Vector256<float> PerLane(Vector256<float> x)
    {
        Span<float> lanes = stackalloc float[8];
        x.CopyTo(lanes);
        for (int i = 0; i < 8; i++) lanes[i] = Exp(lanes[i]);
        return Vector256.Create<float>(lanes);
    }
}
