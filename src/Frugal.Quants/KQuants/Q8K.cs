namespace Frugal.Quants.KQuants;

/// <summary>
/// Q8_K activations (<see cref="BlockQ8_K"/>): every K-quant dot takes its activations in this form.
/// Quantized exactly as llama.cpp's quantize_row_q8_K (ggml-cpu uses the reference on x86 as well).
/// </summary>
public static unsafe class Q8K
{
    /// <summary>
    /// Quantizes n floats (a multiple of 256) into n/256 Q8_K blocks: the element of largest magnitude
    /// (first one on ties) maps to −127, so d = max/−127 keeps its sign; bsums are the sums of each 16 quants.
    /// </summary>
    public static void Quantize(float* src, byte* dst, int n)
    {
        int blocks = KQuant.SuperBlocks(n, "Q8_K");
        for (int i = 0; i < blocks; i++)
        {
            float* x = src + i * KQuant.SuperBlock;
            var y = (BlockQ8_K*)dst + i;

            float max = 0, amax = 0;
            for (int j = 0; j < KQuant.SuperBlock; j++)
            {
                float ax = MathF.Abs(x[j]);
                if (ax > amax) { amax = ax; max = x[j]; }
            }
            if (amax == 0)
            {
                y->D = 0;
                new Span<byte>(y->Qs, KQuant.SuperBlock).Clear();
                new Span<short>(y->BSums, 16).Clear(); // llama.cpp leaves them stale; they sum zeros anyway
                continue;
            }

            float iscale = -127f / max;
            for (int j = 0; j < KQuant.SuperBlock; j++)
            {
                y->Qs[j] = (sbyte)Math.Min(127, KQuant.NearestInt(iscale * x[j]));
            }
            for (int g = 0; g < 16; g++)
            {
                int sum = 0;
                for (int l = 0; l < 16; l++) sum += y->Qs[16 * g + l];
                y->BSums[g] = (short)sum;
            }
            y->D = 1 / iscale;
        }
    }

    /// <summary>x = d·q for n elements.</summary>
    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = KQuant.SuperBlocks(n, "Q8_K");
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ8_K*)src + i;
            for (int j = 0; j < KQuant.SuperBlock; j++) *dst++ = b->D * b->Qs[j];
        }
    }
}
