namespace Frugal.Numerics;

/// <summary>Plain scalar references for <see cref="VectorOps"/>: the oracle every vector path is tested against.</summary>
public static class ScalarOps
{
    public static double Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += (double)x[i] * y[i];
        return sum;
    }

    /// <summary>RMS norm with a double-precision sum of float squares, as ggml computes it.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> dst, float eps)
    {
        double sum = 0;
        foreach (float v in x) sum += v * v;
        float scale = 1.0f / MathF.Sqrt((float)(sum / x.Length) + eps);
        for (int i = 0; i < x.Length; i++) dst[i] = x[i] * scale * weight[i];
    }

    public static void Softmax(Span<float> x)
    {
        float max = float.NegativeInfinity;
        foreach (float v in x) max = MathF.Max(max, v);
        double sum = 0;
        for (int i = 0; i < x.Length; i++) { x[i] = MathF.Exp(x[i] - max); sum += x[i]; }
        for (int i = 0; i < x.Length; i++) x[i] = (float)(x[i] / sum);
    }

    public static float Silu(float x) => x / (1.0f + MathF.Exp(-x));
}
