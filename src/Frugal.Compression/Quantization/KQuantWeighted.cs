using Frugal.Quants.Float;
using Frugal.Quants.KQuants;

namespace Frugal.Compression.Quantization;

/// <summary>
/// Importance-weighted K-quant quantizers (llama.cpp's quantize_row_q2_K_impl … quantize_row_q6_K_impl with
/// quant_weights). The block layouts are those of <see cref="BlockQ2_K"/> … <see cref="BlockQ6_K"/>; what changes
/// with an importance matrix is the scale search: each sub-block's fit weighs element j by
/// importance[j]·√(σ² + x[j]²) (Q6_K: by importance[j] alone), and the super-block's scales and mins are themselves
/// fitted weighted by the sub-blocks' total weight. Each method quantizes one row of n elements (a multiple of 256).
/// </summary>
internal static unsafe class KQuantWeighted
{
    private const int SuperBlock = 256;

    /// <summary>Q2_K: 16 sub-blocks of 16, levels 0..3, 4-bit scales and mins.</summary>
    public static void QuantizeQ2_K(float* x, byte* dst, int n, float* importance)
    {
        byte* levels = stackalloc byte[SuperBlock];
        byte* scratch = stackalloc byte[16];
        byte* scaleLevels = stackalloc byte[16];
        byte* minLevels = stackalloc byte[16];
        float* mins = stackalloc float[16];
        float* scales = stackalloc float[16];
        float* subBlockWeight = stackalloc float[16];
        float* weights = stackalloc float[16];

        for (int i = 0; i < n / SuperBlock; i++, x += SuperBlock)
        {
            var y = (BlockQ2_K*)dst + i;
            float* qw = importance + SuperBlock * i;
            float sigma2 = WeightedFitting.MeanSquare(x, SuperBlock);
            for (int j = 0; j < 16; j++)
            {
                for (int l = 0; l < 16; l++) weights[l] = qw[16 * j + l] * MathF.Sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
                float sum = 0;
                for (int l = 0; l < 16; l++) sum += weights[l];
                subBlockWeight[j] = sum;
                scales[j] = WeightedFitting.MakeQkx3Quants(16, 3, x + 16 * j, weights, levels + 16 * j, out mins[j], scratch, -0.9f, 0.05f, 36, false);
            }

            float dm = WeightedFitting.MakeQpQuants(16, 15, scales, scaleLevels, subBlockWeight);
            float mm = WeightedFitting.MakeQpQuants(16, 15, mins, minLevels, subBlockWeight);
            y->D = Fp16Bits.FromSingle(dm);
            y->DMin = Fp16Bits.FromSingle(mm);
            dm = Fp16Bits.ToSingle(y->D);
            mm = Fp16Bits.ToSingle(y->DMin);
            for (int j = 0; j < 16; j++) y->Scales[j] = (byte)(scaleLevels[j] | (minLevels[j] << 4));

            // Re-round every weight against the scale and min as stored.
            for (int j = 0; j < 16; j++)
            {
                float d = dm * (y->Scales[j] & 0xF);
                if (d == 0) continue;
                float m = mm * (y->Scales[j] >> 4);
                for (int l = 0; l < 16; l++)
                    levels[16 * j + l] = (byte)Math.Clamp(WeightedFitting.NearestInt((x[16 * j + l] + m) / d), 0, 3);
            }
            PackTwoBit(levels, y->Qs);
        }
    }

    /// <summary>Q3_K: 16 sub-blocks of 16, levels −4..3, 6-bit signed scales (no mins).</summary>
    public static void QuantizeQ3_K(float* x, byte* dst, int n, float* importance)
    {
        sbyte* levels = stackalloc sbyte[SuperBlock];
        float* scales = stackalloc float[16];
        float* weights = stackalloc float[16];
        float* subBlockWeight = stackalloc float[16];
        sbyte* scaleLevels = stackalloc sbyte[16];

        for (int i = 0; i < n / SuperBlock; i++, x += SuperBlock)
        {
            var y = (BlockQ3_K*)dst + i;
            float* qw = importance + SuperBlock * i;
            float sigma2 = TwiceMeanSquare(x);
            for (int j = 0; j < 16; j++)
            {
                for (int l = 0; l < 16; l++) weights[l] = qw[16 * j + l] * MathF.Sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
                float sum = 0;
                for (int l = 0; l < 16; l++) sum += weights[l];
                subBlockWeight[j] = sum;
                scales[j] = WeightedFitting.MakeQxQuants(16, 4, x + 16 * j, levels + 16 * j, weights);
            }

            // 16 six-bit scales (biased by 32): low 4 bits in byte j (j < 8) or the high nibble of byte j − 8,
            // high 2 bits in bits 2(j/4).. of byte 8 + j%4.
            new Span<byte>(y->Scales, 12).Clear();
            float dBlock = WeightedFitting.MakeQxQuants(16, 32, scales, scaleLevels, subBlockWeight);
            for (int j = 0; j < 16; j++)
            {
                int l = scaleLevels[j];
                if (j < 8) y->Scales[j] = (byte)(l & 0xF);
                else y->Scales[j - 8] |= (byte)((l & 0xF) << 4);
                l >>= 4;
                y->Scales[j % 4 + 8] |= (byte)(l << (2 * (j / 4)));
            }
            y->D = Fp16Bits.FromSingle(dBlock);

            float superScale = Fp16Bits.ToSingle(y->D);
            for (int j = 0; j < 16; j++)
            {
                int low4 = j < 8 ? y->Scales[j] & 0xF : y->Scales[j - 8] >> 4;
                int scale = (sbyte)(low4 | (((y->Scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
                float d = superScale * scale;
                if (d == 0) continue;
                for (int l = 0; l < 16; l++)
                    levels[16 * j + l] = (sbyte)(Math.Clamp(WeightedFitting.NearestInt(x[16 * j + l] / d), -4, 3) + 4);
            }

            // Third bit of element 32k + m (m < 32) goes to bit k of hmask[m]; the low two bits as in Q2_K.
            new Span<byte>(y->HMask, 32).Clear();
            for (int j = 0; j < SuperBlock; j++)
            {
                if (levels[j] > 3)
                {
                    y->HMask[j % 32] |= (byte)(1 << (j / 32));
                    levels[j] -= 4;
                }
            }
            PackTwoBit((byte*)levels, y->Qs);
        }
    }

    /// <summary>Q4_K: 8 sub-blocks of 32, levels 0..15, 6-bit scales and mins against fp16 d and dmin.</summary>
    public static void QuantizeQ4_K(float* x, byte* dst, int n, float* importance)
    {
        byte* levels = stackalloc byte[SuperBlock];
        for (int i = 0; i < n / SuperBlock; i++, x += SuperBlock)
        {
            var y = (BlockQ4_K*)dst + i;
            FitScalesAndMins(x, importance + SuperBlock * i, 15, levels, &y->D, &y->DMin, y->Scales, clampLevelsTo63: false);
            // Chunk c of 32 bytes: element 64c + l in the low nibble, 64c + 32 + l in the high one.
            for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                y->Qs[32 * c + l] = (byte)(levels[64 * c + l] | (levels[64 * c + 32 + l] << 4));
        }
    }

    /// <summary>Q5_K: as Q4_K with levels 0..31; the fifth bit of chunk c goes to bits 2c and 2c+1 of qh.</summary>
    public static void QuantizeQ5_K(float* x, byte* dst, int n, float* importance)
    {
        byte* levels = stackalloc byte[SuperBlock];
        for (int i = 0; i < n / SuperBlock; i++, x += SuperBlock)
        {
            var y = (BlockQ5_K*)dst + i;
            FitScalesAndMins(x, importance + SuperBlock * i, 31, levels, &y->D, &y->DMin, y->Scales, clampLevelsTo63: true);
            new Span<byte>(y->Qh, 32).Clear();
            for (int c = 0; c < 4; c++)
            {
                byte lowBit = (byte)(1 << (2 * c)), highBit = (byte)(2 << (2 * c));
                for (int l = 0; l < 32; l++)
                {
                    int first = levels[64 * c + l], second = levels[64 * c + 32 + l];
                    if (first > 15) { first -= 16; y->Qh[l] |= lowBit; }
                    if (second > 15) { second -= 16; y->Qh[l] |= highBit; }
                    y->Qs[32 * c + l] = (byte)(first | (second << 4));
                }
            }
        }
    }

    /// <summary>Q6_K: 16 sub-blocks of 16, levels −32..31, signed 8-bit scales; the fit weighs by importance alone.</summary>
    public static void QuantizeQ6_K(float* x, byte* dst, int n, float* importance)
    {
        sbyte* levels = stackalloc sbyte[SuperBlock];
        float* scales = stackalloc float[16];
        for (int i = 0; i < n / SuperBlock; i++, x += SuperBlock)
        {
            var y = (BlockQ6_K*)dst + i;
            float* qw = importance + SuperBlock * i;
            float maxScale = 0, maxAbsScale = 0;
            for (int j = 0; j < 16; j++)
            {
                scales[j] = WeightedFitting.MakeQxQuants(16, 32, x + 16 * j, levels + 16 * j, qw + 16 * j);
                float absScale = MathF.Abs(scales[j]);
                if (absScale > maxAbsScale) { maxAbsScale = absScale; maxScale = scales[j]; }
            }
            if (maxAbsScale < WeightedFitting.GroupMaxEps)
            {
                new Span<byte>(y, sizeof(BlockQ6_K)).Clear();
                continue;
            }

            float iscale = -128f / maxScale;
            y->D = Fp16Bits.FromSingle(1 / iscale);
            for (int j = 0; j < 16; j++) y->Scales[j] = (sbyte)Math.Min(127, WeightedFitting.NearestInt(iscale * scales[j]));
            float superScale = Fp16Bits.ToSingle(y->D);
            for (int j = 0; j < 16; j++)
            {
                float d = superScale * y->Scales[j];
                if (d == 0) continue;
                for (int l = 0; l < 16; l++)
                    levels[16 * j + l] = (sbyte)(Math.Clamp(WeightedFitting.NearestInt(x[16 * j + l] / d), -32, 31) + 32);
            }

            // Half h (128 elements): ql[64h + l] holds elements 128h + l (low nibble) and 128h + 64 + l (high);
            // qh[32h + l] holds the top two bits of elements 128h + 32e + l in bits 2e..2e+1.
            for (int h = 0; h < 2; h++)
            {
                sbyte* L = levels + 128 * h;
                byte* ql = y->Ql + 64 * h;
                byte* qh = y->Qh + 32 * h;
                for (int l = 0; l < 32; l++)
                {
                    ql[l] = (byte)((L[l] & 0xF) | ((L[l + 64] & 0xF) << 4));
                    ql[l + 32] = (byte)((L[l + 32] & 0xF) | ((L[l + 96] & 0xF) << 4));
                    qh[l] = (byte)((L[l] >> 4) | ((L[l + 32] >> 4) << 2) | ((L[l + 64] >> 4) << 4) | ((L[l + 96] >> 4) << 6));
                }
            }
        }
    }

    /// <summary>2·Σx²/256 over one super-block: the σ² of Q3_K, Q4_K and Q5_K.</summary>
    private static float TwiceMeanSquare(float* x)
    {
        float sum = 0;
        for (int l = 0; l < SuperBlock; l++) sum += x[l] * x[l];
        return 2 * sum / SuperBlock;
    }

    /// <summary>
    /// The shared part of Q4_K and Q5_K: a weighted asymmetric fit per sub-block of 32, the 8 scales and 8 mins
    /// fitted to 6 bits (weighted by each sub-block's total weight), packed into the 12 scale bytes, then every
    /// element re-rounded to 0..<paramref name="nmax"/> against the scale and min as stored.
    /// Packed layout (12 bytes): bytes 0-3 scale 0-3 (+ top bits of scale 4-7 in bits 6-7), bytes 4-7 min 0-3
    /// (+ top bits of min 4-7), bytes 8-11 low nibble = low 4 bits of scale 4-7, high nibble = of min 4-7.
    /// </summary>
    private static void FitScalesAndMins(float* x, float* qw, int nmax, byte* levels, ushort* d, ushort* dmin, byte* packed, bool clampLevelsTo63)
    {
        byte* scratch = stackalloc byte[32];
        byte* scaleLevels = stackalloc byte[8];
        byte* minLevels = stackalloc byte[8];
        float* weights = stackalloc float[32];
        float* subBlockWeight = stackalloc float[8];
        float* mins = stackalloc float[8];
        float* scales = stackalloc float[8];

        float sigma2 = TwiceMeanSquare(x);
        for (int j = 0; j < 8; j++)
        {
            for (int l = 0; l < 32; l++) weights[l] = qw[32 * j + l] * MathF.Sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
            float sum = 0;
            for (int l = 0; l < 32; l++) sum += weights[l];
            subBlockWeight[j] = sum;
            scales[j] = WeightedFitting.MakeQkx3Quants(32, nmax, x + 32 * j, weights, levels + 32 * j, out mins[j], scratch, -0.9f, 0.05f, 36, false);
        }

        float dBlock = WeightedFitting.MakeQpQuants(8, 63, scales, scaleLevels, subBlockWeight);
        float mBlock = WeightedFitting.MakeQpQuants(8, 63, mins, minLevels, subBlockWeight);
        for (int j = 0; j < 8; j++)
        {
            // Q5_K clamps the levels to 63 here and Q4_K does not; they differ only where a degenerate fit
            // left a negative level (wrapped to a byte above 127), which is kept as ggml keeps it.
            byte ls = clampLevelsTo63 ? Math.Min((byte)63, scaleLevels[j]) : scaleLevels[j];
            byte lm = clampLevelsTo63 ? Math.Min((byte)63, minLevels[j]) : minLevels[j];
            if (j < 4)
            {
                packed[j] = ls;
                packed[j + 4] = lm;
            }
            else
            {
                packed[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte)((ls >> 4) << 6);
                packed[j] |= (byte)((lm >> 4) << 6);
            }
        }
        *d = Fp16Bits.FromSingle(dBlock);
        *dmin = Fp16Bits.FromSingle(mBlock);

        float superScale = Fp16Bits.ToSingle(*d), superMin = Fp16Bits.ToSingle(*dmin);
        for (int j = 0; j < 8; j++)
        {
            ScaleAndMin(j, packed, out int scale, out int min);
            float sd = superScale * scale;
            if (sd == 0) continue;
            float sm = superMin * min;
            for (int l = 0; l < 32; l++)
                levels[32 * j + l] = (byte)Math.Clamp(WeightedFitting.NearestInt((x[32 * j + l] + sm) / sd), 0, nmax);
        }
    }

    /// <summary>Six-bit scale and min of sub-block j from the 12 packed bytes of Q4_K / Q5_K (ggml's get_scale_min_k4).</summary>
    private static void ScaleAndMin(int j, byte* packed, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = packed[j] & 63;
            min = packed[j + 4] & 63;
        }
        else
        {
            scale = (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4);
            min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
        }
    }

    /// <summary>Q2_K/Q3_K low bits: byte 32h + l holds elements 128h + l, +32, +64, +96 in bit pairs 0, 2, 4, 6.</summary>
    private static void PackTwoBit(byte* levels, byte* qs)
    {
        for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++)
        {
            byte* L = levels + 128 * h + l;
            qs[32 * h + l] = (byte)(L[0] | (L[32] << 2) | (L[64] << 4) | (L[96] << 6));
        }
    }
}
