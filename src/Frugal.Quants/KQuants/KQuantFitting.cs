namespace Frugal.Quants.KQuants;

/// <summary>
/// The per-sub-block scale searches of llama.cpp's reference K-quant quantizers (ggml-quants.c, no importance
/// matrix), step for step in single precision so our files quantize as llama.cpp's do.
/// </summary>
internal static unsafe class KQuantFitting
{
    /// <summary>Below this largest magnitude a group counts as all zero (ggml's GROUP_MAX_EPS).</summary>
    public const float GroupMaxEps = 1e-15f;

    /// <summary>
    /// Symmetric fit x ≈ scale·(L − nmax) with L ∈ 0..2·nmax−1 (ggml's make_qx_quants). rmseType 1 weighs
    /// errors by x², 2 by 1, 3 by |x|, otherwise by √|x|; the scale is refined over 18 nearby inverse scales.
    /// <paramref name="weights"/> (may be null) overrides the weighting. Returns the scale.
    /// </summary>
    public static float MakeQxQuants(int n, int nmax, float* x, sbyte* levels, int rmseType, float* weights)
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
        if (rmseType == 0)
        {
            for (int i = 0; i < n; i++) levels[i] = (sbyte)(nmax + Math.Clamp(KQuant.NearestInt(iscale * x[i]), -nmax, nmax - 1));
            return 1 / iscale;
        }
        bool returnEarly = false;
        if (rmseType < 0) { rmseType = -rmseType; returnEarly = true; }

        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(KQuant.NearestInt(iscale * x[i]), -nmax, nmax - 1);
            levels[i] = (sbyte)(l + nmax);
            float w = Weight(i);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        if (returnEarly) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
        float best = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(KQuant.NearestInt(iscale * x[i]), -nmax, nmax - 1);
                float w = Weight(i);
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++) levels[i] = (sbyte)(nmax + Math.Clamp(KQuant.NearestInt(iscale * x[i]), -nmax, nmax - 1));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;

        float Weight(int i) => weights != null ? weights[i]
            : rmseType == 1 ? x[i] * x[i]
            : rmseType == 2 ? 1
            : rmseType == 3 ? MathF.Abs(x[i])
            : MathF.Sqrt(MathF.Abs(x[i]));
    }

    /// <summary>
    /// Symmetric fit for Q3_K (ggml's make_q3_quants): x ≈ scale·(L − nmax), L ∈ 0..2·nmax−1, then with
    /// <paramref name="doRmse"/> up to five passes that move single levels while the x²-weighted fit improves.
    /// </summary>
    public static float MakeQ3Quants(int n, int nmax, float* x, sbyte* levels, bool doRmse)
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
        if (doRmse)
        {
            float sumlx = 0, suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(KQuant.NearestInt(iscale * x[i]), -nmax, nmax - 1);
                levels[i] = (sbyte)l;
                float w = x[i] * x[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            for (int pass = 0; pass < 5; pass++)
            {
                int changed = 0;
                for (int i = 0; i < n; i++)
                {
                    float w = x[i] * x[i];
                    float slx = sumlx - w * x[i] * levels[i];
                    if (slx > 0)
                    {
                        float sl2 = suml2 - w * levels[i] * levels[i];
                        int newL = Math.Clamp(KQuant.NearestInt(x[i] * sl2 / slx), -nmax, nmax - 1);
                        if (newL != levels[i])
                        {
                            slx += w * x[i] * newL;
                            sl2 += w * newL * newL;
                            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2)
                            {
                                levels[i] = (sbyte)newL;
                                sumlx = slx;
                                suml2 = sl2;
                                changed++;
                            }
                        }
                    }
                }
                if (changed == 0) break;
            }
            for (int i = 0; i < n; i++) levels[i] += (sbyte)nmax;
            return sumlx / suml2;
        }
        for (int i = 0; i < n; i++) levels[i] = (sbyte)(nmax + Math.Clamp(KQuant.NearestInt(iscale * x[i]), -nmax, nmax - 1));
        return 1 / iscale;
    }

    /// <summary>
    /// Asymmetric fit x ≈ scale·L − min with L ∈ 0..nmax, weighted (ggml's make_qkx2_quants): start from the
    /// min/max range, then try nstep+1 inverse scales (rmin + rdelta·k + nmax)/(max − min), solving the weighted
    /// least squares for scale and min each time and keeping the best weighted |error| (useMad) or error².
    /// Returns the scale; <paramref name="theMin"/> gets the (non-negative) min to subtract.
    /// </summary>
    public static float MakeQkx2Quants(int n, int nmax, float* x, float* weights, byte* levels, out float theMin,
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
        if (max == min)
        {
            for (int i = 0; i < n; i++) levels[i] = 0;
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestMad = 0;
        for (int i = 0; i < n; i++)
        {
            int l = KQuant.NearestInt(iscale * (x[i] - min));
            levels[i] = (byte)Math.Clamp(l, 0, nmax);
            float diff = scale * levels[i] + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            bestMad += weights[i] * diff;
        }
        if (nstep < 1)
        {
            theMin = -min;
            return scale;
        }
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(KQuant.NearestInt(iscale * (x[i] - min)), 0, nmax);
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
                float mad = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * scratch[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    mad += weights[i] * diff;
                }
                if (mad < bestMad)
                {
                    for (int i = 0; i < n; i++) levels[i] = scratch[i];
                    bestMad = mad;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>
    /// The super-block fit shared by llama.cpp's quantize_row_q4_K_ref and quantize_row_q5_K_ref: a weighted
    /// asymmetric fit (<see cref="MakeQkx2Quants"/>, weights √(mean x²) + |x|) per sub-block of 32, the 8 scales
    /// and 8 mins quantized to 6 bits against their maxima and packed into <paramref name="packedScales"/> (12 bytes,
    /// see <see cref="KQuant.ScaleMinK4"/>), then every weight re-rounded against the quantized scale and min.
    /// Writes <paramref name="d"/>, <paramref name="dMin"/> (fp16 bits), the packed scales and the 256
    /// <paramref name="levels"/> (0..<paramref name="maxLevel"/>, element order); the formats differ only in how
    /// they pack those levels, and in the fit's level count, rmin and step count.
    /// </summary>
    public static void FitScalesMinsK4(float* x, int maxLevel, float rMin, int steps,
        byte* levels, ushort* d, ushort* dMin, byte* packedScales)
    {
        byte* scratch = stackalloc byte[32];
        float* weights = stackalloc float[32];
        float* mins = stackalloc float[8];
        float* scales = stackalloc float[8];

        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += x[32 * j + l] * x[32 * j + l];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(x[32 * j + l]);
            scales[j] = MakeQkx2Quants(32, maxLevel, x + 32 * j, weights, levels + 32 * j, out mins[j], scratch, rMin, 0.1f, steps, false);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }

        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        for (int j = 0; j < 8; j++)
        {
            byte ls = Math.Min((byte)63, (byte)KQuant.NearestInt(invScale * scales[j]));
            byte lm = Math.Min((byte)63, (byte)KQuant.NearestInt(invMin * mins[j]));
            if (j < 4)
            {
                packedScales[j] = ls;
                packedScales[j + 4] = lm;
            }
            else
            {
                packedScales[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packedScales[j - 4] |= (byte)((ls >> 4) << 6);
                packedScales[j] |= (byte)((lm >> 4) << 6);
            }
        }
        *d = KQuant.FloatToHalf(maxScale / 63f);
        *dMin = KQuant.FloatToHalf(maxMin / 63f);

        for (int j = 0; j < 8; j++)
        {
            KQuant.ScaleMinK4(j, packedScales, out byte sc, out byte m);
            float dl = KQuant.HalfToFloat(*d) * sc;
            if (dl == 0) continue;
            float dm = KQuant.HalfToFloat(*dMin) * m;
            for (int l = 0; l < 32; l++)
                levels[32 * j + l] = (byte)Math.Clamp(KQuant.NearestInt((x[32 * j + l] + dm) / dl), 0, maxLevel);
        }
    }
}
