namespace Frugal.Compression.Quantization;

/// <summary>
/// The importance-weighted scale searches of llama.cpp's quantizers (ggml-quants.c: make_qx_quants with weights,
/// make_qkx3_quants, make_qp_quants), step for step in single precision and in C's evaluation order, so that files
/// quantized here with an importance matrix match the blocks llama.cpp writes from the same numbers.
/// Every weight array is required: these are the paths llama.cpp takes when it has an importance matrix.
/// </summary>
internal static unsafe class WeightedFitting
{
    /// <summary>Below this largest magnitude a group counts as all zero (ggml's GROUP_MAX_EPS).</summary>
    public const float GroupMaxEps = 1e-15f;

    /// <summary>
    /// ggml's nearest_int: adding 1.5·2²³ leaves the value rounded half-to-even in the low mantissa bits.
    /// Valid for |value| ≤ 4194303, which the callers' clamps and scales guarantee.
    /// </summary>
    public static int NearestInt(float value)
    {
        float shifted = value + 12582912f;
        return (BitConverter.SingleToInt32Bits(shifted) & 0x007fffff) - 0x00400000;
    }

    /// <summary>Σ x² / n over a whole row or super-block, summed left to right as ggml does.</summary>
    public static float MeanSquare(float* x, int n)
    {
        float sum = 0;
        for (int i = 0; i < n; i++) sum += x[i] * x[i];
        return sum / n;
    }

    /// <summary>
    /// Symmetric weighted fit x ≈ scale·(L − nmax), L ∈ 0..2·nmax−1 (make_qx_quants, rmse_type 1, with weights):
    /// start from the inverse scale −nmax/max, solve the weighted least squares, then try 18 nearby inverse scales and
    /// keep the one whose fit explains most of Σw·x². Writes the biased levels; returns the scale.
    /// </summary>
    public static float MakeQxQuants(int n, int nmax, float* x, sbyte* levels, float* weights)
    {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        if (amax < GroupMaxEps)
        {
            for (int i = 0; i < n; i++) levels[i] = 0;
            return 0f;
        }

        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
            levels[i] = (sbyte)(l + nmax);
            float w = weights[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
                float w = weights[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++) levels[i] = (sbyte)(nmax + Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>
    /// Asymmetric weighted fit x ≈ scale·L + min with L ∈ 0..nmax and min ≤ 0 (make_qkx3_quants): start from the
    /// min/max range, then try nstep+1 inverse scales (rmin + rdelta·k + nmax)/(max − min), solving the weighted
    /// least squares for scale and min each time, and keep the lowest weighted squared (or absolute) error.
    /// Returns the scale; <paramref name="negatedMin"/> gets −min (≥ 0), the value the K-quants store.
    /// </summary>
    public static float MakeQkx3Quants(int n, int nmax, float* x, float* weights, byte* levels, out float negatedMin,
        byte* scratch, float rmin, float rdelta, int nstep, bool useMad)
    {
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max <= min)
        {
            for (int i = 0; i < n; i++) levels[i] = 0;
            negatedMin = -min;
            return 0f;
        }

        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = NearestInt(iscale * (x[i] - min));
            levels[i] = (byte)Math.Clamp(l, 0, nmax);
            float diff = scale * levels[i] + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1)
        {
            negatedMin = -min;
            return scale;
        }
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
                scratch[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float error = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * scratch[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    error += weights[i] * diff;
                }
                if (error < bestError)
                {
                    for (int i = 0; i < n; i++) levels[i] = scratch[i];
                    bestError = error;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        negatedMin = -min;
        return scale;
    }

    /// <summary>
    /// Weighted fit of non-negative values x ≈ scale·L with L ∈ 0..nmax (make_qp_quants), used for the super-block
    /// scales and mins of Q2_K/Q4_K/Q5_K: pick the best of 9 inverse scales, then up to five passes moving single
    /// levels while the weighted fit improves. Returns the scale. Levels are bytes as in ggml (a negative value
    /// wraps, exactly as its uint8_t does).
    /// </summary>
    public static float MakeQpQuants(int n, int nmax, float* x, byte* levels, float* weights)
    {
        float max = 0;
        for (int i = 0; i < n; i++) max = Math.Max(max, x[i]);
        if (max == 0)
        {
            for (int i = 0; i < n; i++) levels[i] = 0;
            return 0f;
        }

        float iscale = nmax / max;
        for (int i = 0; i < n; i++) levels[i] = unchecked((byte)NearestInt(iscale * x[i]));
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            float diff = x[i] - scale * levels[i];
            bestError += weights[i] * diff * diff;
        }
        for (int step = -4; step <= 4; step++)
        {
            if (step == 0) continue;
            float trialInverse = (0.1f * step + nmax) / max;
            float trialScale = 1 / trialInverse;
            float error = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Min(nmax, NearestInt(trialInverse * x[i]));
                float diff = x[i] - trialScale * l;
                error += weights[i] * diff * diff;
            }
            if (error < bestError)
            {
                bestError = error;
                iscale = trialInverse;
            }
        }

        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Min(nmax, NearestInt(iscale * x[i]));
            levels[i] = unchecked((byte)l);
            float w = weights[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int pass = 0; pass < 5; pass++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = weights[i];
                float slx = sumlx - w * x[i] * levels[i];
                float sl2 = suml2 - w * levels[i] * levels[i];
                if (slx > 0 && sl2 > 0)
                {
                    int newL = Math.Min(nmax, NearestInt(x[i] * sl2 / slx));
                    if (newL != levels[i])
                    {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            levels[i] = unchecked((byte)newL);
                            sumlx = slx;
                            suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        return sumlx / suml2;
    }
}
