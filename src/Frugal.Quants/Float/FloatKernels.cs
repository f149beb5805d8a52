// Kernels for the unquantized element types F32, F16 and BF16.
//
// Row layouts (n elements, any n ≥ 0, no blocks, little-endian):
//   F32   n × 4 bytes   IEEE binary32
//   F16   n × 2 bytes   IEEE binary16 bits            (see Fp16Bits)
//   BF16  n × 2 bytes   upper 16 bits of a binary32   (see Bf16Bits)
//
// As in ggml-cpu, each type is its own vec-dot type: activations are converted once to F16 (or BF16) and
// every F16 (or BF16) weight row is dotted against them, products summed in float. Every dot has a scalar
// reference (DotScalar) and 128/256/512-bit versions that end with a scalar tail for the last n mod width
// elements. The vector versions use only portable Vector128/256/512 operations, so each runs correctly on
// any hardware (a width the machine lacks is emulated, slowly); Dot picks the width Simd.Level allows.
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

/// <summary>F32 rows: 4 bytes per element; activations stay F32.</summary>
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

    /// <summary>Reference: float products summed in double (ggml's scalar path).</summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, Name);
        float* a = (float*)w, b = (float*)x;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += a[i] * b[i];
        return (float)sum;
    }

    public static float Dot128(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, Name);
        float* a = (float*)w, b = (float*)x;
        Vector128<float> acc0 = Vector128<float>.Zero, acc1 = Vector128<float>.Zero;
        int i = 0;
        for (; i <= n - 8; i += 8)
        {
            acc0 = Vector128.MultiplyAddEstimate(Vector128.Load(a + i), Vector128.Load(b + i), acc0);
            acc1 = Vector128.MultiplyAddEstimate(Vector128.Load(a + i + 4), Vector128.Load(b + i + 4), acc1);
        }
        float sum = Vector128.Sum(acc0 + acc1);
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    public static float Dot256(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, Name);
        float* a = (float*)w, b = (float*)x;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        int i = 0;
        for (; i <= n - 16; i += 16)
        {
            acc0 = Vector256.MultiplyAddEstimate(Vector256.Load(a + i), Vector256.Load(b + i), acc0);
            acc1 = Vector256.MultiplyAddEstimate(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), acc1);
        }
        float sum = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    public static float Dot512(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, Name);
        float* a = (float*)w, b = (float*)x;
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        int i = 0;
        for (; i <= n - 32; i += 32)
        {
            acc0 = Vector512.MultiplyAddEstimate(Vector512.Load(a + i), Vector512.Load(b + i), acc0);
            acc1 = Vector512.MultiplyAddEstimate(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), acc1);
        }
        float sum = Vector512.Sum(acc0 + acc1);
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }
}

/// <summary>F16 rows: 2 bytes per element (IEEE half bits); activations are converted to F16.</summary>
public static unsafe class F16
{
    public static void Dequantize(byte* src, float* dst, int n) => HalfKernels<Fp16Format>.Dequantize(src, dst, n);

    /// <summary>float → fp16, round to nearest-even.</summary>
    public static void Quantize(float* src, byte* dst, int n) => HalfKernels<Fp16Format>.Quantize(src, dst, n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(byte* w, byte* x, int n) => HalfKernels<Fp16Format>.Dot(w, x, n);

    public static float DotScalar(byte* w, byte* x, int n) => HalfKernels<Fp16Format>.DotScalar(w, x, n);
    public static float Dot128(byte* w, byte* x, int n) => HalfKernels<Fp16Format>.Dot128(w, x, n);
    public static float Dot256(byte* w, byte* x, int n) => HalfKernels<Fp16Format>.Dot256(w, x, n);
    public static float Dot512(byte* w, byte* x, int n) => HalfKernels<Fp16Format>.Dot512(w, x, n);
}

/// <summary>BF16 rows: 2 bytes per element (upper half of a float); activations are converted to BF16.</summary>
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
internal interface IHalfFormat
{
    static abstract string Name { get; }
    static abstract float ToSingle(ushort bits);
    static abstract ushort FromSingle(float value);
    static abstract Vector128<float> ToSingle(Vector128<uint> bits);
    static abstract Vector256<float> ToSingle(Vector256<uint> bits);
    static abstract Vector512<float> ToSingle(Vector512<uint> bits);
}

internal readonly struct Fp16Format : IHalfFormat
{
    public static string Name => "F16";
    public static float ToSingle(ushort bits) => Fp16Bits.ToSingle(bits);
    public static ushort FromSingle(float value) => Fp16Bits.FromSingle(value);
    public static Vector128<float> ToSingle(Vector128<uint> bits) => Fp16Bits.ToSingle(bits);
    public static Vector256<float> ToSingle(Vector256<uint> bits) => Fp16Bits.ToSingle(bits);
    public static Vector512<float> ToSingle(Vector512<uint> bits) => Fp16Bits.ToSingle(bits);
}

internal readonly struct Bf16Format : IHalfFormat
{
    public static string Name => "BF16";
    public static float ToSingle(ushort bits) => Bf16Bits.ToSingle(bits);
    public static ushort FromSingle(float value) => Bf16Bits.FromSingle(value);
    public static Vector128<float> ToSingle(Vector128<uint> bits) => Bf16Bits.ToSingle(bits);
    public static Vector256<float> ToSingle(Vector256<uint> bits) => Bf16Bits.ToSingle(bits);
    public static Vector512<float> ToSingle(Vector512<uint> bits) => Bf16Bits.ToSingle(bits);
}

/// <summary>
/// The F16 and BF16 kernels, written once over the format (a struct type argument, so the JIT compiles a
/// specialised copy per format). Vector loops load 16-bit lanes, widen them to uint, convert to float and
/// multiply-add into float accumulators.
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

    /// <summary>Reference: each pair widened to float, multiplied in float, summed in double (ggml's scalar path).</summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, TFormat.Name);
        ushort* a = (ushort*)w, b = (ushort*)x;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += TFormat.ToSingle(a[i]) * TFormat.ToSingle(b[i]);
        return (float)sum;
    }

    public static float Dot128(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, TFormat.Name);
        ushort* a = (ushort*)w, b = (ushort*)x;
        Vector128<float> acc0 = Vector128<float>.Zero, acc1 = Vector128<float>.Zero;
        int i = 0;
        for (; i <= n - 8; i += 8)
        {
            var (wLow, wHigh) = Vector128.Widen(Vector128.Load(a + i));
            var (xLow, xHigh) = Vector128.Widen(Vector128.Load(b + i));
            acc0 = Vector128.MultiplyAddEstimate(TFormat.ToSingle(wLow), TFormat.ToSingle(xLow), acc0);
            acc1 = Vector128.MultiplyAddEstimate(TFormat.ToSingle(wHigh), TFormat.ToSingle(xHigh), acc1);
        }
        float sum = Vector128.Sum(acc0 + acc1);
        for (; i < n; i++) sum += TFormat.ToSingle(a[i]) * TFormat.ToSingle(b[i]);
        return sum;
    }

    public static float Dot256(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, TFormat.Name);
        ushort* a = (ushort*)w, b = (ushort*)x;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        int i = 0;
        for (; i <= n - 16; i += 16)
        {
            var (wLow, wHigh) = Vector256.Widen(Vector256.Load(a + i));
            var (xLow, xHigh) = Vector256.Widen(Vector256.Load(b + i));
            acc0 = Vector256.MultiplyAddEstimate(TFormat.ToSingle(wLow), TFormat.ToSingle(xLow), acc0);
            acc1 = Vector256.MultiplyAddEstimate(TFormat.ToSingle(wHigh), TFormat.ToSingle(xHigh), acc1);
        }
        float sum = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++) sum += TFormat.ToSingle(a[i]) * TFormat.ToSingle(b[i]);
        return sum;
    }

    public static float Dot512(byte* w, byte* x, int n)
    {
        FloatArgs.Check(n, w, x, TFormat.Name);
        ushort* a = (ushort*)w, b = (ushort*)x;
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        int i = 0;
        for (; i <= n - 32; i += 32)
        {
            var (wLow, wHigh) = Vector512.Widen(Vector512.Load(a + i));
            var (xLow, xHigh) = Vector512.Widen(Vector512.Load(b + i));
            acc0 = Vector512.MultiplyAddEstimate(TFormat.ToSingle(wLow), TFormat.ToSingle(xLow), acc0);
            acc1 = Vector512.MultiplyAddEstimate(TFormat.ToSingle(wHigh), TFormat.ToSingle(xHigh), acc1);
        }
        float sum = Vector512.Sum(acc0 + acc1);
        for (; i < n; i++) sum += TFormat.ToSingle(a[i]) * TFormat.ToSingle(b[i]);
        return sum;
    }
}
