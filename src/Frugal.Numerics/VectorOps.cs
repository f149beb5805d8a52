using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Frugal.Numerics;

/// <summary>
/// Element-wise and reduction kernels of the forward pass. Each has a plain scalar reference
/// (<see cref="ScalarOps"/>) and a vector path that takes the widest width <see cref="Simd.Level"/> allows,
/// always ending in a scalar tail.
/// </summary>
public static unsafe class VectorOps
{
    /// <summary>dst[i] = x[i] * scale * weight[i] (the second half of RMS norm).</summary>
    public static void ScaleMultiply(float* x, float scale, float* weight, float* dst, int n)
    {
        int i = 0;
        if (Simd.Use512)
        {
            var s = Vector512.Create(scale);
            for (; i <= n - 16; i += 16) Vector512.Store(Vector512.Load(x + i) * s * Vector512.Load(weight + i), dst + i);
        }
        else if (Simd.Use256)
        {
            var s = Vector256.Create(scale);
            for (; i <= n - 8; i += 8) Vector256.Store(Vector256.Load(x + i) * s * Vector256.Load(weight + i), dst + i);
        }
        else if (Simd.Use128)
        {
            var s = Vector128.Create(scale);
            for (; i <= n - 4; i += 4) Vector128.Store(Vector128.Load(x + i) * s * Vector128.Load(weight + i), dst + i);
        }
        for (; i < n; i++) dst[i] = x[i] * scale * weight[i];
    }

    /// <summary>
    /// RMS norm as ggml computes it: squares summed in double in index order, mean rounded to float,
    /// scale = 1 / sqrtf(mean + eps), then x·scale and (a separate op) ·weight. The sum stays sequential on
    /// purpose: any other order changes the last bit of the scale, and the next Q8 quantization sees it.
    /// x [n], weight [n], dst [n] (may alias x).
    /// </summary>
    public static void RmsNorm(float* x, float* weight, float* dst, int n, float eps)
    {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += x[i] * x[i];
        float mean = (float)(sum / n);
        ScaleMultiply(x, 1.0f / MathF.Sqrt(mean + eps), weight, dst, n);
    }

    /// <summary>dst[i] += x[i].</summary>
    public static void AddInPlace(float* dst, float* x, int n)
    {
        int i = 0;
        if (Simd.Use512) for (; i <= n - 16; i += 16) Vector512.Store(Vector512.Load(dst + i) + Vector512.Load(x + i), dst + i);
        else if (Simd.Use256) for (; i <= n - 8; i += 8) Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(x + i), dst + i);
        else if (Simd.Use128) for (; i <= n - 4; i += 4) Vector128.Store(Vector128.Load(dst + i) + Vector128.Load(x + i), dst + i);
        for (; i < n; i++) dst[i] += x[i];
    }

    /// <summary>acc[i] = fma(x[i], a, acc[i]): one rounding per element, the same at every vector width.</summary>
    public static void FusedMultiplyAdd(float* x, float a, float* acc, int n)
    {
        int i = 0;
        if (Simd.Use512)
        {
            var va = Vector512.Create(a);
            for (; i <= n - 16; i += 16) Vector512.Store(Vector512.FusedMultiplyAdd(Vector512.Load(x + i), va, Vector512.Load(acc + i)), acc + i);
        }
        else if (Simd.Use256)
        {
            var va = Vector256.Create(a);
            for (; i <= n - 8; i += 8) Vector256.Store(Vector256.FusedMultiplyAdd(Vector256.Load(x + i), va, Vector256.Load(acc + i)), acc + i);
        }
        for (; i < n; i++) acc[i] = MathF.FusedMultiplyAdd(x[i], a, acc[i]);
    }

    /// <summary>
    /// In-place softmax over n floats, bit-exact with ggml-cpu's AVX2 soft_max: exponentials in chunks of 8 with
    /// <see cref="GgmlExp"/> (libm's expf for a tail), each chunk's sum folded in ggml's order and added in double,
    /// then every value scaled by (float)(1 / sum).
    /// </summary>
    public static void Softmax(float* x, int n)
    {
        float max = Max(x, n);
        double sum = 0;
        int chunked = n & ~7;
        for (int i = 0; i < chunked; i += 8)
        {
            if (Simd.Use256)
            {
                var values = GgmlExp.Exp(Vector256.Load(x + i) - Vector256.Create(max));
                values.Store(x + i);
                sum += SumLikeGgml(values);
            }
            else
            {
                for (int l = 0; l < 8; l++) x[i + l] = GgmlExp.Exp(x[i + l] - max);
                sum += SumLikeGgml(x + i);
            }
        }
        for (int i = chunked; i < n; i++)
        {
            float e = MathF.Exp(x[i] - max);
            x[i] = e;
            sum += e;
        }
        Scale(x, (float)(1.0 / sum), n);
    }

    /// <summary>
    /// The largest of x [n] (-∞ for none), NaN if any is NaN, +0 over -0: MathF.Max's answer, eight at a time
    /// (Vector256.Max has the same IEEE 754:2019 maximum semantics, and the maximum does not depend on the order).
    /// </summary>
    public static float Max(float* x, int n)
    {
        float max = float.NegativeInfinity;
        int i = 0;
        if (Simd.Use256 && n >= 8)
        {
            var lanes = Vector256.Load(x);
            for (i = 8; i <= n - 8; i += 8) lanes = Vector256.Max(lanes, Vector256.Load(x + i));
            for (int l = 0; l < 8; l++) max = MathF.Max(max, lanes.GetElement(l));
        }
        for (; i < n; i++) max = MathF.Max(max, x[i]);
        return max;
    }

    /// <summary>ggml's 8-lane horizontal sum in softmax: (hi + lo) → pairs → ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SumLikeGgml(Vector256<float> v)
    {
        var quad = v.GetUpper() + v.GetLower();
        return (quad[0] + quad[2]) + (quad[1] + quad[3]);
    }

    private static float SumLikeGgml(float* v)
    {
        float q0 = v[4] + v[0], q1 = v[5] + v[1], q2 = v[6] + v[2], q3 = v[7] + v[3];
        return (q0 + q2) + (q1 + q3);
    }

    /// <summary>x[i] *= s.</summary>
    public static void Scale(float* x, float s, int n)
    {
        int i = 0;
        if (Simd.Use512) { var v = Vector512.Create(s); for (; i <= n - 16; i += 16) Vector512.Store(Vector512.Load(x + i) * v, x + i); }
        else if (Simd.Use256) { var v = Vector256.Create(s); for (; i <= n - 8; i += 8) Vector256.Store(Vector256.Load(x + i) * v, x + i); }
        else if (Simd.Use128) { var v = Vector128.Create(s); for (; i <= n - 4; i += 4) Vector128.Store(Vector128.Load(x + i) * v, x + i); }
        for (; i < n; i++) x[i] *= s;
    }

    /// <summary>
    /// SwiGLU: gate[i] = silu(gate[i]) · up[i], with silu(x) = x / (1 + e^-x) computed as ggml-cpu's AVX2
    /// ggml_vec_silu_f32 does (its own exponential in chunks of 8, libm's for a tail), then the product.
    /// </summary>
    public static void SwiGlu(float* gate, float* up, int n)
    {
        int i = 0;
        if (Simd.Use256)
        {
            var one = Vector256.Create(1.0f);
            for (; i <= n - 8; i += 8)
            {
                var g = Vector256.Load(gate + i);
                var silu = g / (one + GgmlExp.Exp(Vector256<float>.Zero - g));
                (silu * Vector256.Load(up + i)).Store(gate + i);
            }
        }
        else
        {
            for (; i <= n - 8; i += 8)
            {
                for (int l = i; l < i + 8; l++)
                {
                    float g = gate[l];
                    gate[l] = g / (1.0f + GgmlExp.Exp(0.0f - g)) * up[l];
                }
            }
        }
        for (; i < n; i++) gate[i] = ScalarOps.Silu(gate[i]) * up[i];
    }

    /// <summary>Converts n floats to IEEE half (round to nearest even).</summary>
    public static void ToHalf(float* src, Half* dst, int n)
    {
        if (Simd.Use128) System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(new ReadOnlySpan<float>(src, n), new Span<Half>(dst, n));
        else for (int i = 0; i < n; i++) dst[i] = (Half)src[i];
    }

    /// <summary>Converts n halves to floats.</summary>
    public static void ToSingle(Half* src, float* dst, int n)
    {
        if (Simd.Use128) System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(src, n), new Span<float>(dst, n));
        else for (int i = 0; i < n; i++) dst[i] = (float)src[i];
    }
}
