using System.Runtime.Intrinsics.X86;
using Frugal.Quants.KQuants;

namespace Frugal.Quants.Tests.KQuants;

/// <summary>The kernels of one K-quant weight type, reached by name so theories can range over types and levels.</summary>
internal static unsafe class KQuantFixture
{
    public static readonly GgmlType[] WeightTypes = [GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

    /// <summary>
    /// Kernel levels this machine can run. "512e" is the 512-bit kernel body with its AVX-512 steps composed
    /// from AVX2 halves: it checks the 512-bit data movement where the hardware lacks AVX-512.
    /// </summary>
    public static IEnumerable<string> Levels()
    {
        yield return "scalar";
        if (Ssse3.IsSupported) yield return "128";
        if (Avx2.IsSupported) yield return "256";
        if (Avx512BW.IsSupported) yield return "512";
        else if (Avx2.IsSupported) yield return "512e";
    }

    public static int BlockBytes(GgmlType type) => GgmlTypes.Info(type).BlockBytes;

    public static void Dequantize(GgmlType type, byte* src, float* dst, int n)
    {
        switch (type)
        {
            case GgmlType.Q2_K: Q2K.Dequantize(src, dst, n); break;
            case GgmlType.Q3_K: Q3K.Dequantize(src, dst, n); break;
            case GgmlType.Q4_K: Q4K.Dequantize(src, dst, n); break;
            case GgmlType.Q5_K: Q5K.Dequantize(src, dst, n); break;
            case GgmlType.Q6_K: Q6K.Dequantize(src, dst, n); break;
            case GgmlType.Q8_K: Q8K.Dequantize(src, dst, n); break;
            default: throw new ArgumentOutOfRangeException(nameof(type));
        }
    }

    public static float Dot(GgmlType type, string level, byte* w, byte* x, int n) => (type, level) switch
    {
        (GgmlType.Q2_K, "scalar") => Q2K.DotScalar(w, x, n),
        (GgmlType.Q2_K, "128") => Q2K.Dot128(w, x, n),
        (GgmlType.Q2_K, "256") => Q2K.Dot256(w, x, n),
        (GgmlType.Q2_K, "512") => Q2K.Dot512(w, x, n),
        (GgmlType.Q2_K, "512e") => Q2K.Dot512Body(w, x, n),
        (GgmlType.Q2_K, "dispatch") => Q2K.Dot(w, x, n),
        (GgmlType.Q3_K, "scalar") => Q3K.DotScalar(w, x, n),
        (GgmlType.Q3_K, "128") => Q3K.Dot128(w, x, n),
        (GgmlType.Q3_K, "256") => Q3K.Dot256(w, x, n),
        (GgmlType.Q3_K, "512") => Q3K.Dot512(w, x, n),
        (GgmlType.Q3_K, "512e") => Q3K.Dot512Body(w, x, n),
        (GgmlType.Q3_K, "dispatch") => Q3K.Dot(w, x, n),
        (GgmlType.Q4_K, "scalar") => Q4K.DotScalar(w, x, n),
        (GgmlType.Q4_K, "128") => Q4K.Dot128(w, x, n),
        (GgmlType.Q4_K, "256") => Q4K.Dot256(w, x, n),
        (GgmlType.Q4_K, "512") => Q4K.Dot512(w, x, n),
        (GgmlType.Q4_K, "512e") => Q4K.Dot512Body(w, x, n),
        (GgmlType.Q4_K, "dispatch") => Q4K.Dot(w, x, n),
        (GgmlType.Q5_K, "scalar") => Q5K.DotScalar(w, x, n),
        (GgmlType.Q5_K, "128") => Q5K.Dot128(w, x, n),
        (GgmlType.Q5_K, "256") => Q5K.Dot256(w, x, n),
        (GgmlType.Q5_K, "512") => Q5K.Dot512(w, x, n),
        (GgmlType.Q5_K, "512e") => Q5K.Dot512Body(w, x, n),
        (GgmlType.Q5_K, "dispatch") => Q5K.Dot(w, x, n),
        (GgmlType.Q6_K, "scalar") => Q6K.DotScalar(w, x, n),
        (GgmlType.Q6_K, "128") => Q6K.Dot128(w, x, n),
        (GgmlType.Q6_K, "256") => Q6K.Dot256(w, x, n),
        (GgmlType.Q6_K, "512") => Q6K.Dot512(w, x, n),
        (GgmlType.Q6_K, "512e") => Q6K.Dot512Body(w, x, n),
        (GgmlType.Q6_K, "dispatch") => Q6K.Dot(w, x, n),
        _ => throw new ArgumentOutOfRangeException(nameof(level), $"{type}/{level}"),
    };

    /// <summary>
    /// Random super-blocks: every byte random (quants, scales, mins, high bits), then d (and dmin) set to
    /// sane half floats in [0.5, 2)·10⁻³ so the sums stay well inside float range.
    /// </summary>
    public static byte[] RandomWeights(GgmlType type, int blocks, Random random)
    {
        int bytesPerBlock = BlockBytes(type);
        var data = new byte[blocks * bytesPerBlock];
        random.NextBytes(data);
        fixed (byte* p = data)
        {
            for (int i = 0; i < blocks; i++)
            {
                byte* block = p + i * bytesPerBlock;
                ushort d = Half(random), dmin = Half(random);
                switch (type)
                {
                    case GgmlType.Q2_K: ((BlockQ2_K*)block)->D = d; ((BlockQ2_K*)block)->DMin = dmin; break;
                    case GgmlType.Q3_K: ((BlockQ3_K*)block)->D = d; break;
                    case GgmlType.Q4_K: ((BlockQ4_K*)block)->D = d; ((BlockQ4_K*)block)->DMin = dmin; break;
                    case GgmlType.Q5_K: ((BlockQ5_K*)block)->D = d; ((BlockQ5_K*)block)->DMin = dmin; break;
                    case GgmlType.Q6_K: ((BlockQ6_K*)block)->D = d; break;
                    default: throw new ArgumentOutOfRangeException(nameof(type));
                }
            }
        }
        return data;

        static ushort Half(Random random) =>
            BitConverter.HalfToUInt16Bits((Half)((0.5 + 1.5 * random.NextDouble()) * 1e-3));
    }

    /// <summary>Random activations (roughly normal, a different magnitude per super-block) quantized to Q8_K.</summary>
    public static byte[] RandomActivations(int blocks, Random random)
    {
        var floats = new float[blocks * 256];
        for (int i = 0; i < floats.Length; i++)
        {
            double magnitude = Math.Pow(10, (i / 256) % 3 - 1);
            floats[i] = (float)(magnitude * (random.NextDouble() + random.NextDouble() + random.NextDouble() - 1.5));
        }
        return QuantizeQ8K(floats);
    }

    public static byte[] QuantizeQ8K(float[] floats)
    {
        var q8 = new byte[floats.Length / 256 * BlockBytes(GgmlType.Q8_K)];
        fixed (float* src = floats)
        fixed (byte* dst = q8)
            Q8K.Quantize(src, dst, floats.Length);
        return q8;
    }

    public static float[] Dequantized(GgmlType type, byte[] data, int n)
    {
        var result = new float[n];
        fixed (byte* src = data)
        fixed (float* dst = result)
            Dequantize(type, src, dst, n);
        return result;
    }

    public static float Dot(GgmlType type, string level, byte[] w, byte[] x, int n)
    {
        fixed (byte* pw = w)
        fixed (byte* px = x)
            return Dot(type, level, pw, px, n);
    }
}
