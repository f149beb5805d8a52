namespace Frugal.Numerics;

/// <summary>How rotary position embedding pairs up the dimensions of a head.</summary>
public enum RopeStyle
{
    /// <summary>Adjacent pairs (x[2i], x[2i+1]): llama, mistral (ggml mode 0).</summary>
    Normal = 0,

    /// <summary>Split halves (x[i], x[i + d/2]): GPT-NeoX, qwen2 (ggml mode 2).</summary>
    Neox = 2,
}

/// <summary>
/// Rotary position embedding. The angle of pair i at position p is p · freqScale · base^(-2i/d) / factor[i],
/// computed by the same repeated multiplication ggml uses so the results agree to the last bits.
/// </summary>
public static unsafe class Rope
{
    /// <summary>
    /// Fills cos/sin tables for one position: cos [rotaryDims/2], sin [rotaryDims/2].
    /// <paramref name="freqFactors"/> [rotaryDims/2] or null (llama 3 long-context scaling).
    /// </summary>
    public static void Angles(int position, int rotaryDims, float freqBase, float freqScale, float* freqFactors, float* cos, float* sin)
    {
        float thetaScale = MathF.Pow(freqBase, -2.0f / rotaryDims);
        float theta = position;
        for (int i = 0; i < rotaryDims / 2; i++)
        {
            float factor = freqFactors != null ? freqFactors[i] : 1.0f;
            float angle = freqScale * (theta / factor);
            cos[i] = MathF.Cos(angle);
            sin[i] = MathF.Sin(angle);
            theta *= thetaScale;
        }
    }

    /// <summary>
    /// Rotates the first rotaryDims dimensions of each of <paramref name="heads"/> heads. x [heads, headDim].
    /// The first product of each output is fused (FMA), as gcc compiles ggml's rope: bit-exact with llama.cpp.
    /// </summary>
    public static void Apply(float* x, int heads, int headDim, int rotaryDims, RopeStyle style, float* cos, float* sin)
    {
        int half = rotaryDims / 2;
        for (int h = 0; h < heads; h++)
        {
            float* v = x + h * headDim;
            if (style == RopeStyle.Normal)
            {
                for (int i = 0; i < half; i++)
                {
                    float a = v[2 * i], b = v[2 * i + 1];
                    v[2 * i] = MathF.FusedMultiplyAdd(a, cos[i], -(b * sin[i]));
                    v[2 * i + 1] = MathF.FusedMultiplyAdd(a, sin[i], b * cos[i]);
                }
            }
            else
            {
                for (int i = 0; i < half; i++)
                {
                    float a = v[i], b = v[i + half];
                    v[i] = MathF.FusedMultiplyAdd(a, cos[i], -(b * sin[i]));
                    v[i + half] = MathF.FusedMultiplyAdd(a, sin[i], b * cos[i]);
                }
            }
        }
    }
}
