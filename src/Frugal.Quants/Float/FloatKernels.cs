// Kernels for the unquantized element types F32, F16 and BF16.
//
// Row layouts (n elements, any n ≥ 0, no blocks, little-endian):
//   F32   n × 4 bytes   IEEE binary32
//   F16   n × 2 bytes   IEEE binary16 bits            (see Fp16Bits)
//   BF16  n × 2 bytes   upper 16 bits of a binary32   (see Bf16Bits)
//
// As in ggml-cpu, each type is its own vec-dot type: activations are converted once to F16 (or BF16) and
// every F16 (or BF16) weight row is dotted against them. Every dot reproduces ggml-cpu's AVX2+FMA kernel bit
// for bit (see GgmlOrder.cs for why): the scalar reference (DotScalar) and the 128/256/512-bit versions run
// the same lanes in the same order, so all levels return the same bits. The vector versions use only portable
// Vector128/256/512 operations (FusedMultiplyAdd is always fused, in software where the hardware lacks FMA),
// so each runs correctly on any hardware; Dot picks the width Simd.Level allows.
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Frugal.Numerics;

namespace Frugal.Quants.Float;

/// <summary>Argument checks shared by the float kernels (cheap, once per row).</summary>
internal static unsafe class FloatArgs
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Check(int n, void* a, void* b, string typeName)
    {
        if (n < 0 || (n > 0 && (a == null || b == null))) Throw(n, typeName);
    }

    [DoesNotReturn]
    private static void Throw(int n, string typeName) =>
        throw (n < 0
            ? new ArgumentOutOfRangeException(nameof(n), n, $"{typeName} kernel: element count must be non-negative, got {n}")
            : new ArgumentNullException(null, $"{typeName} kernel: null row pointer for {n} elements"));
}

/// <summary>
/// F32 rows: 4 bytes per element; activations stay F32. The dot is bit-identical with ggml-cpu's
/// ggml_vec_dot_f32 (AVX2+FMA) at every level:
///   main part (n rounded down to 32): four 8-lane accumulators, acc_j[l] = fma(x[i+8j+l], y[i+8j+l], acc_j[l]);
///   reduce: GGML_F32x8_REDUCE (<see cref="GgmlOrder.CombineFour"/>, then <see cref="GgmlOrder.HorizontalAddSum8"/>);
///   leftovers, in float, in element order: gcc vectorised ggml's `sumf += x[i]*y[i]` tail, so the first
///   (leftover count rounded down to 4) products are rounded and then added, and the last (count mod 4) are fused.
/// </summary>
public static unsafe class F32
{
    private const string Name = "F32";

    /// <summary>Copies n floats (F32 needs no conversion).</summary>
    public static void Dequantize(byte* src, float* dst, int n)
    {
        FloatArgs.Check(n, src, dst, Name);
        Buffer.MemoryCopy(src, dst, (long)n * sizeof(float), (long)n * sizeof(float));
    }

    /// <summary>Copies n floats (F32 needs no conversion).</summary>
    public static void Quantize(float* src, byte* dst, int n)
    {
        FloatArgs.Check(n, src, dst, Name);
        Buffer.MemoryCopy(src, dst, (long)n * sizeof(float), (long)n * sizeof(float));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(byte* w, byte* x, int n)
    {
        if (Simd.Use512) return Dot512(w, x, n);
        if (Simd.Use256) return Dot256(w, x, n);
        if (Simd.Use128) return Dot128(w, x, n);
        return DotScalar(w, x, n);
    }

    /// <summary>ggml_vec_dot_f32 on float rows, same bits for any n ≥ 0 (at the level Simd.Level allows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DotSingle(float* x, float* y, int n) => Dot((byte*)x, (byte*)y, n);

    /// <summary>Reference: the 32 accumulator lanes one by one, each with a fused multiply-add.</summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, Name);
        float* a = (float*)w, b = (float*)x;
        float* acc = stackalloc float[32];
        for (int k = 0; k < 32; k++) acc[k] = 0;
        int main = n & ~31;
        for (int i = 0; i < main; i += 32)
            for (int k = 0; k < 32; k++) acc[k] = MathF.FusedMultiplyAdd(a[i + k], b[i + k], acc[k]);
        return Finish(acc, a, b, main, n);
    }

    /// <summary>Each 8-lane accumulator as two 4-lane halves.</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, Name);
        float* a = (float*)w, b = (float*)x;
        Vector128<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default,
                         acc4 = default, acc5 = default, acc6 = default, acc7 = default;
        int main = n & ~31;
        for (int i = 0; i < main; i += 32)
        {
            acc0 = Vector128.FusedMultiplyAdd(Vector128.Load(a + i), Vector128.Load(b + i), acc0);
            acc1 = Vector128.FusedMultiplyAdd(Vector128.Load(a + i + 4), Vector128.Load(b + i + 4), acc1);
            acc2 = Vector128.FusedMultiplyAdd(Vector128.Load(a + i + 8), Vector128.Load(b + i + 8), acc2);
            acc3 = Vector128.FusedMultiplyAdd(Vector128.Load(a + i + 12), Vector128.Load(b + i + 12), acc3);
            acc4 = Vector128.FusedMultiplyAdd(Vector128.Load(a + i + 16), Vector128.Load(b + i + 16), acc4);
            acc5 = Vector128.FusedMultiplyAdd(Vector128.Load(a + i + 20), Vector128.Load(b + i + 20), acc5);
            acc6 = Vector128.FusedMultiplyAdd(Vector128.Load(a + i + 24), Vector128.Load(b + i + 24), acc6);
            acc7 = Vector128.FusedMultiplyAdd(Vector128.Load(a + i + 28), Vector128.Load(b + i + 28), acc7);
        }
        float* acc = stackalloc float[32];
        acc0.Store(acc); acc1.Store(acc + 4); acc2.Store(acc + 8); acc3.Store(acc + 12);
        acc4.Store(acc + 16); acc5.Store(acc + 20); acc6.Store(acc + 24); acc7.Store(acc + 28);
        return Finish(acc, a, b, main, n);
    }

    /// <summary>ggml's own shape: four 256-bit accumulators.</summary>
    public static float Dot256(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, Name);
        float* a = (float*)w, b = (float*)x;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int main = n & ~31;
        for (int i = 0; i < main; i += 32)
        {
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), acc1);
            acc2 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 16), Vector256.Load(b + i + 16), acc2);
            acc3 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 24), Vector256.Load(b + i + 24), acc3);
        }
        float* acc = stackalloc float[32];
        acc0.Store(acc); acc1.Store(acc + 8); acc2.Store(acc + 16); acc3.Store(acc + 24);
        return Finish(acc, a, b, main, n);
    }

    /// <summary>Two 512-bit accumulators, each holding two of ggml's 8-lane accumulators side by side.</summary>
    public static float Dot512(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, Name);
        float* a = (float*)w, b = (float*)x;
        Vector512<float> acc01 = default, acc23 = default;
        int main = n & ~31;
        for (int i = 0; i < main; i += 32)
        {
            acc01 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), acc01);
            acc23 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), acc23);
        }
        float* acc = stackalloc float[32];
        acc01.Store(acc); acc23.Store(acc + 16);
        return Finish(acc, a, b, main, n);
    }

    /// <summary>Reduce the four accumulators (32 floats) and add the leftovers a[start..n) · b[start..n) as ggml's binary does.</summary>
    private static float Finish(float* accumulators, float* a, float* b, int start, int n)
    {
        float* lanes = stackalloc float[8];
        GgmlOrder.CombineFour(accumulators, lanes);
        float sum = GgmlOrder.HorizontalAddSum8(lanes);
        int roundedThenAdded = start + ((n - start) & ~3);
        int i = start;
        for (; i < roundedThenAdded; i++) sum += a[i] * b[i];
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(a[i], b[i], sum);
        return sum;
    }
}

/// <summary>
/// F16 rows: 2 bytes per element (IEEE half bits); activations are converted to F16. The dot is bit-identical
/// with ggml-cpu's ggml_vec_dot_f16 (AVX2+FMA+F16C) at every level: the main part as in <see cref="F32"/>
/// (values widened exactly to float), reduced by GGML_F32x8_REDUCE into a double, then each leftover product
/// rounded to float and added in double; the double is rounded to float at the end.
/// </summary>
public static unsafe class F16
{
    public static void Dequantize(byte* src, float* dst, int n) => HalfKernels<Fp16Format>.Dequantize(src, dst, n);

    /// <summary>float → fp16 as ggml_fp32_to_fp16_row does it: round to nearest-even, any NaN → 0x7E00 with its sign.</summary>
    public static void Quantize(float* src, byte* dst, int n) => HalfKernels<Fp16Format>.Quantize(src, dst, n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(byte* w, byte* x, int n) => HalfKernels<Fp16Format>.Dot(w, x, n);

    /// <summary>
    /// ggml_vec_dot_f16 on half-precision rows (attention's K·q and V·p), same bits for any n ≥ 0
    /// (at the level Simd.Level allows).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DotHalf(Half* x, Half* y, int n) => HalfKernels<Fp16Format>.Dot((byte*)x, (byte*)y, n);

    public static float DotScalar(byte* w, byte* x, int n) => HalfKernels<Fp16Format>.DotScalar(w, x, n);
    public static float Dot128(byte* w, byte* x, int n) => HalfKernels<Fp16Format>.Dot128(w, x, n);
    public static float Dot256(byte* w, byte* x, int n) => HalfKernels<Fp16Format>.Dot256(w, x, n);
    public static float Dot512(byte* w, byte* x, int n) => HalfKernels<Fp16Format>.Dot512(w, x, n);
}

/// <summary>
/// BF16 rows: 2 bytes per element (upper half of a float); activations are converted to BF16. The dot is
/// bit-identical with ggml-cpu's ggml_vec_dot_bf16 (AVX2 branch) at every level: four 8-lane accumulators
/// over 32 elements per step with fused multiply-adds (gcc contracts its _mm256_add_ps(_mm256_mul_ps(..)) into
/// vfmadd), combined as (c1+c3)+(c2+c4), summed in hsum_float_8 order, added to a double 0.0 (so −0 becomes +0),
/// then each leftover product rounded to float and added in double; the double is rounded to float at the end.
/// </summary>
public static unsafe class BF16
{
    public static void Dequantize(byte* src, float* dst, int n) => HalfKernels<Bf16Format>.Dequantize(src, dst, n);

    /// <summary>float → bf16 as ggml does it: round to nearest-even, NaN kept quiet.</summary>
    public static void Quantize(float* src, byte* dst, int n) => HalfKernels<Bf16Format>.Quantize(src, dst, n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(byte* w, byte* x, int n) => HalfKernels<Bf16Format>.Dot(w, x, n);

    public static float DotScalar(byte* w, byte* x, int n) => HalfKernels<Bf16Format>.DotScalar(w, x, n);
    public static float Dot128(byte* w, byte* x, int n) => HalfKernels<Bf16Format>.Dot128(w, x, n);
    public static float Dot256(byte* w, byte* x, int n) => HalfKernels<Bf16Format>.Dot256(w, x, n);
    public static float Dot512(byte* w, byte* x, int n) => HalfKernels<Bf16Format>.Dot512(w, x, n);
}

/// <summary>A 16-bit float format: how one value, and a vector of values held in uint lanes, widens to float.</summary>
internal unsafe interface IHalfFormat
{
    static abstract string Name { get; }
    static abstract float ToSingle(ushort bits);
    static abstract ushort FromSingle(float value);
    static abstract Vector128<float> ToSingle(Vector128<uint> bits);
    static abstract Vector256<float> ToSingle(Vector256<uint> bits);
    static abstract Vector512<float> ToSingle(Vector512<uint> bits);

    /// <summary>The double that ggml's dot of this format starts its leftover loop from, given the four accumulators (32 floats).</summary>
    static abstract double ReduceAccumulators(float* accumulators);
}

internal readonly unsafe struct Fp16Format : IHalfFormat
{
    public static string Name => "F16";
    public static float ToSingle(ushort bits) => Fp16Bits.ToSingle(bits);
    public static ushort FromSingle(float value) => Fp16Bits.FromSingle(value);
    public static Vector128<float> ToSingle(Vector128<uint> bits) => Fp16Bits.ToSingle(bits);
    public static Vector256<float> ToSingle(Vector256<uint> bits) => Fp16Bits.ToSingle(bits);
    public static Vector512<float> ToSingle(Vector512<uint> bits) => Fp16Bits.ToSingle(bits);

    /// <summary>ggml_vec_dot_f16: GGML_F16_VEC_REDUCE(sumf, sum) assigns the float result to the double sumf.</summary>
    public static double ReduceAccumulators(float* accumulators)
    {
        float* lanes = stackalloc float[8];
        GgmlOrder.CombineFour(accumulators, lanes);
        return GgmlOrder.HorizontalAddSum8(lanes);
    }
}

internal readonly unsafe struct Bf16Format : IHalfFormat
{
    public static string Name => "BF16";
    public static float ToSingle(ushort bits) => Bf16Bits.ToSingle(bits);
    public static ushort FromSingle(float value) => Bf16Bits.FromSingle(value);
    public static Vector128<float> ToSingle(Vector128<uint> bits) => Bf16Bits.ToSingle(bits);
    public static Vector256<float> ToSingle(Vector256<uint> bits) => Bf16Bits.ToSingle(bits);
    public static Vector512<float> ToSingle(Vector512<uint> bits) => Bf16Bits.ToSingle(bits);

    /// <summary>ggml_vec_dot_bf16: `sumf += (ggml_float)hsum` with sumf = 0.0, so a −0 sum becomes +0.</summary>
    public static double ReduceAccumulators(float* accumulators)
    {
        float* lanes = stackalloc float[8];
        GgmlOrder.CombineFour(accumulators, lanes);
        double sum = 0.0;
        sum += GgmlOrder.HorizontalSum8(lanes);
        return sum;
    }
}

/// <summary>
/// The F16 and BF16 kernels, written once over the format (a struct type argument, so the JIT compiles a
/// specialised copy per format). Both ggml dots share the main loop: 32 elements per step into four 8-lane
/// accumulators (element i+8j+l into lane l of accumulator j) with fused multiply-adds; they differ in the
/// reduction (<see cref="IHalfFormat.ReduceAccumulators"/>). Leftovers are added in double as ggml does.
/// Vector loops load 16-bit lanes, widen them to uint and convert exactly to float.
/// </summary>
internal static unsafe class HalfKernels<TFormat> where TFormat : struct, IHalfFormat
{
    public static void Dequantize(byte* src, float* dst, int n)
    {
        FloatArgs.Check(n, src, dst, TFormat.Name);
        ushort* s = (ushort*)src;
        for (int i = 0; i < n; i++) dst[i] = TFormat.ToSingle(s[i]);
    }

    public static void Quantize(float* src, byte* dst, int n)
    {
        FloatArgs.Check(n, src, dst, TFormat.Name);
        ushort* d = (ushort*)dst;
        for (int i = 0; i < n; i++) d[i] = TFormat.FromSingle(src[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(byte* w, byte* x, int n)
    {
        if (Simd.Use512) return Dot512(w, x, n);
        if (Simd.Use256) return Dot256(w, x, n);
        if (Simd.Use128) return Dot128(w, x, n);
        return DotScalar(w, x, n);
    }

    /// <summary>Reference: the 32 accumulator lanes one by one, each with a fused multiply-add.</summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, TFormat.Name);
        ushort* a = (ushort*)w, b = (ushort*)x;
        float* acc = stackalloc float[32];
        for (int k = 0; k < 32; k++) acc[k] = 0;
        int main = n & ~31;
        for (int i = 0; i < main; i += 32)
            for (int k = 0; k < 32; k++) acc[k] = MathF.FusedMultiplyAdd(TFormat.ToSingle(a[i + k]), TFormat.ToSingle(b[i + k]), acc[k]);
        return Finish(acc, a, b, main, n);
    }

    /// <summary>Each 8-lane accumulator as two 4-lane halves; one 8-element load widens into both halves.</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, TFormat.Name);
        ushort* a = (ushort*)w, b = (ushort*)x;
        Vector128<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default,
                         acc4 = default, acc5 = default, acc6 = default, acc7 = default;
        int main = n & ~31;
        for (int i = 0; i < main; i += 32)
        {
            Step128(a + i, b + i, ref acc0, ref acc1);
            Step128(a + i + 8, b + i + 8, ref acc2, ref acc3);
            Step128(a + i + 16, b + i + 16, ref acc4, ref acc5);
            Step128(a + i + 24, b + i + 24, ref acc6, ref acc7);
        }
        float* acc = stackalloc float[32];
        acc0.Store(acc); acc1.Store(acc + 4); acc2.Store(acc + 8); acc3.Store(acc + 12);
        acc4.Store(acc + 16); acc5.Store(acc + 20); acc6.Store(acc + 24); acc7.Store(acc + 28);
        return Finish(acc, a, b, main, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step128(ushort* a, ushort* b, ref Vector128<float> accLow, ref Vector128<float> accHigh)
    {
        var (aLow, aHigh) = Vector128.Widen(Vector128.Load(a));
        var (bLow, bHigh) = Vector128.Widen(Vector128.Load(b));
        accLow = Vector128.FusedMultiplyAdd(TFormat.ToSingle(aLow), TFormat.ToSingle(bLow), accLow);
        accHigh = Vector128.FusedMultiplyAdd(TFormat.ToSingle(aHigh), TFormat.ToSingle(bHigh), accHigh);
    }

    /// <summary>ggml's own shape: four 256-bit accumulators; one 16-element load widens into two of them.</summary>
    public static float Dot256(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, TFormat.Name);
        ushort* a = (ushort*)w, b = (ushort*)x;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int main = n & ~31;
        for (int i = 0; i < main; i += 32)
        {
            Step256(a + i, b + i, ref acc0, ref acc1);
            Step256(a + i + 16, b + i + 16, ref acc2, ref acc3);
        }
        float* acc = stackalloc float[32];
        acc0.Store(acc); acc1.Store(acc + 8); acc2.Store(acc + 16); acc3.Store(acc + 24);
        return Finish(acc, a, b, main, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step256(ushort* a, ushort* b, ref Vector256<float> accLow, ref Vector256<float> accHigh)
    {
        var (aLow, aHigh) = Vector256.Widen(Vector256.Load(a));
        var (bLow, bHigh) = Vector256.Widen(Vector256.Load(b));
        accLow = Vector256.FusedMultiplyAdd(TFormat.ToSingle(aLow), TFormat.ToSingle(bLow), accLow);
        accHigh = Vector256.FusedMultiplyAdd(TFormat.ToSingle(aHigh), TFormat.ToSingle(bHigh), accHigh);
    }

    /// <summary>Two 512-bit accumulators, each holding two of ggml's 8-lane accumulators side by side.</summary>
    public static float Dot512(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, TFormat.Name);
        ushort* a = (ushort*)w, b = (ushort*)x;
        Vector512<float> acc01 = default, acc23 = default;
        int main = n & ~31;
        for (int i = 0; i < main; i += 32)
        {
            var (aLow, aHigh) = Vector512.Widen(Vector512.Load(a + i));
            var (bLow, bHigh) = Vector512.Widen(Vector512.Load(b + i));
            acc01 = Vector512.FusedMultiplyAdd(TFormat.ToSingle(aLow), TFormat.ToSingle(bLow), acc01);
            acc23 = Vector512.FusedMultiplyAdd(TFormat.ToSingle(aHigh), TFormat.ToSingle(bHigh), acc23);
        }
        float* acc = stackalloc float[32];
        acc01.Store(acc); acc23.Store(acc + 16);
        return Finish(acc, a, b, main, n);
    }

    /// <summary>Reduce the four accumulators as the format's ggml dot does, then add each leftover product (rounded to float) in double.</summary>
    private static float Finish(float* accumulators, ushort* a, ushort* b, int start, int n)
    {
        double sum = TFormat.ReduceAccumulators(accumulators);
        for (int i = start; i < n; i++) sum += (double)(TFormat.ToSingle(a[i]) * TFormat.ToSingle(b[i]));
        return (float)sum;
    }
}
