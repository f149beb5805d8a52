using Frugal.Compression.Quantization;
using Frugal.Quants;

namespace Frugal.Compression.Tests.Quantization;

/// <summary>
/// The row quantizers: byte-exact with llama.cpp's ggml_quantize_chunk (with and without importance weights) on
/// deterministic data, and within a per-type error budget on random data.
/// </summary>
public class WeightQuantizerTests
{
    private const int Rows = 4;
    private const int Columns = 512;

    /// <summary>
    /// The same data as the C program that produced the hashes below: a 64-bit LCG whose top 24 bits give
    /// u ∈ [0, 1); weights x = 2u − 1, every 37th multiplied by 8 (outliers); then importance 0.05 + 10·u².
    /// </summary>
    private static (float[] Weights, float[] Importance) GoldenData()
    {
        ulong state = 12345;
        float NextUnit()
        {
            state = unchecked(state * 6364136223846793005UL + 1442695040888963407UL);
            return (float)(state >> 40) / 16777216.0f;
        }
        var x = new float[Rows * Columns];
        for (int i = 0; i < x.Length; i++)
        {
            float v = NextUnit() * 2 - 1;
            if (i % 37 == 0) v *= 8;
            x[i] = v;
        }
        var importance = new float[Columns];
        for (int j = 0; j < Columns; j++)
        {
            float u = NextUnit();
            importance[j] = 0.05f + 10 * u * u;
        }
        return (x, importance);
    }

    private static ulong Fnv1a(ReadOnlySpan<byte> bytes)
    {
        ulong hash = 1469598103934665603UL;
        foreach (byte b in bytes) hash = unchecked((hash ^ b) * 1099511628211UL);
        return hash;
    }

    /// <summary>
    /// FNV-1a hashes of llama.cpp's (build 4748) ggml_quantize_chunk output for <see cref="GoldenData"/>, 4 rows of 512,
    /// with the importance weights and without (a C program linked against libggml-base computed them).
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, 0x972B50708ED47356UL, 0x972B50708ED47356UL)]
    [InlineData(GgmlType.F16, 0xA1BBAE9038B7A511UL, 0xA1BBAE9038B7A511UL)]
    [InlineData(GgmlType.BF16, 0x8E59FF4C1BCA2B5DUL, 0x8E59FF4C1BCA2B5DUL)]
    [InlineData(GgmlType.Q4_0, 0xD223CE7D7AE0113EUL, 0x5A3FE0F13A779D7BUL)]
    [InlineData(GgmlType.Q4_1, 0x3D6CF04F96242FA3UL, 0x44FE1F5817B39B18UL)]
    [InlineData(GgmlType.Q5_0, 0x8C5EA73ACFCA6C25UL, 0xB0A581E33141310DUL)]
    [InlineData(GgmlType.Q5_1, 0x8C1F32594517D8EEUL, 0x986CDFA5844B04CAUL)]
    [InlineData(GgmlType.Q2_K, 0x52062DBE6E36C581UL, 0x93402C3F78A82A2EUL)]
    [InlineData(GgmlType.Q3_K, 0xB5BC9ADF03C54AC6UL, 0xE7D655E3B30CB75FUL)]
    [InlineData(GgmlType.Q4_K, 0xA99D73CD71CCB565UL, 0xA510CFD7E8791E8DUL)]
    [InlineData(GgmlType.Q5_K, 0x80B3C00FDA32CFC1UL, 0x8F6532B0B97EA94CUL)]
    [InlineData(GgmlType.Q6_K, 0x65F56AD72C14E0BCUL, 0x803BE3067F99C2F2UL)]
    public void Output_equals_llama_cpp_with_and_without_importance(GgmlType type, ulong weightedHash, ulong plainHash)
    {
        var (x, importance) = GoldenData();
        var output = new byte[Rows * GgmlTypes.Info(type).RowBytes(Columns)];

        WeightQuantizer.QuantizeRows(type, x, output, Columns, importance, threads: 2);
        Assert.Equal(weightedHash, Fnv1a(output));

        WeightQuantizer.QuantizeRows(type, x, output, Columns, ReadOnlySpan<float>.Empty, threads: 2);
        Assert.Equal(plainHash, Fnv1a(output));
    }

    /// <summary>Root-mean-square error / RMS of the data allowed per type (Gaussian data, no outliers).</summary>
    [Theory]
    [InlineData(GgmlType.F32, 0.0)]
    [InlineData(GgmlType.F16, 0.0005)]
    [InlineData(GgmlType.BF16, 0.004)]
    [InlineData(GgmlType.Q8_0, 0.006)]
    [InlineData(GgmlType.Q6_K, 0.02)]
    [InlineData(GgmlType.Q5_1, 0.04)]
    [InlineData(GgmlType.Q5_0, 0.045)]
    [InlineData(GgmlType.Q5_K, 0.04)]
    [InlineData(GgmlType.Q4_1, 0.08)]
    [InlineData(GgmlType.Q4_0, 0.09)]
    [InlineData(GgmlType.Q4_K, 0.08)]
    [InlineData(GgmlType.Q3_K, 0.18)]
    [InlineData(GgmlType.Q2_K, 0.35)]
    public void Round_trip_error_is_within_the_type_budget(GgmlType type, double budget)
    {
        var random = new Random(7);
        int rows = 8, columns = 1024;
        var x = new float[rows * columns];
        for (int i = 0; i < x.Length; i++) x[i] = (float)Gaussian(random);

        foreach (bool weighted in new[] { false, true })
        {
            var importance = weighted ? Enumerable.Range(0, columns).Select(_ => (float)(0.1 + random.NextDouble())).ToArray() : [];
            var packed = new byte[rows * GgmlTypes.Info(type).RowBytes(columns)];
            WeightQuantizer.QuantizeRows(type, x, packed, columns, importance);
            var back = new float[x.Length];
            WeightQuantizer.Dequantize(type, packed, back);
            double relative = Rms(x, back) / Math.Sqrt(x.Average(v => (double)v * v));
            Assert.True(relative <= budget, $"{type} (importance: {weighted}): relative RMS error {relative:F5} > {budget}");
            if (type != GgmlType.F32) Assert.True(relative > 0, $"{type}: a lossy type reproduced random data exactly");
        }
    }

    /// <summary>The point of the importance matrix: the error it weighs goes down where it says columns matter.</summary>
    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void Importance_weights_lower_the_weighted_error(GgmlType type)
    {
        var random = new Random(11);
        int rows = 16, columns = 512;
        var x = new float[rows * columns];
        for (int i = 0; i < x.Length; i++) x[i] = (float)Gaussian(random);
        // A few columns matter far more than the rest, as in real activations.
        var importance = Enumerable.Range(0, columns).Select(j => j % 16 == 3 ? 50f : (float)(0.05 + 0.1 * random.NextDouble())).ToArray();

        double plain = WeightedError(type, x, columns, [], importance);
        double weighted = WeightedError(type, x, columns, importance, importance);
        Assert.True(weighted < plain, $"{type}: importance-weighted error {weighted:G5} is not below the unweighted quantizer's {plain:G5}");
    }

    [Fact]
    public void Bad_arguments_are_refused_with_precise_messages()
    {
        var x = new float[100];
        var error = Assert.Throws<ArgumentException>(() => WeightQuantizer.QuantizeRows(GgmlType.Q4_K, x, new byte[1000], 100, []));
        Assert.Contains("multiple of 256", error.Message);
        error = Assert.Throws<ArgumentException>(() => WeightQuantizer.QuantizeRows(GgmlType.Q4_0, new float[64], new byte[10], 32, []));
        Assert.Contains("need 36 bytes", error.Message);
        error = Assert.Throws<ArgumentException>(() => WeightQuantizer.QuantizeRows(GgmlType.Q4_0, new float[64], new byte[36], 32, new float[5]));
        Assert.Contains("importance", error.Message);
        Assert.Throws<NotSupportedException>(() => WeightQuantizer.QuantizeRows(GgmlType.IQ4_NL, new float[64], new byte[36], 32, []));
    }

    private static double WeightedError(GgmlType type, float[] x, int columns, float[] importanceUsed, float[] importanceMeasured)
    {
        var packed = new byte[x.Length / columns * GgmlTypes.Info(type).RowBytes(columns)];
        WeightQuantizer.QuantizeRows(type, x, packed, columns, importanceUsed);
        var back = new float[x.Length];
        WeightQuantizer.Dequantize(type, packed, back);
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += importanceMeasured[i % columns] * Math.Pow(x[i] - back[i], 2);
        return sum;
    }

    internal static double Rms(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += Math.Pow(a[i] - (double)b[i], 2);
        return Math.Sqrt(sum / a.Length);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
