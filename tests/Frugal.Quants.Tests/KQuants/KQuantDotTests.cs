using Frugal.Quants.KQuants;

namespace Frugal.Quants.Tests.KQuants;

/// <summary>Every dot kernel of every K-quant type against a float reference, and the levels against each other.</summary>
public unsafe class KQuantDotTests
{
    public static TheoryData<GgmlType, string, int> TypeLevelBlocks()
    {
        var data = new TheoryData<GgmlType, string, int>();
        foreach (var type in KQuantFixture.WeightTypes)
        foreach (var level in KQuantFixture.Levels())
        foreach (int blocks in new[] { 1, 2, 7 })
            data.Add(type, level, blocks);
        return data;
    }

    public static TheoryData<GgmlType, string> TypeLevels()
    {
        var data = new TheoryData<GgmlType, string>();
        foreach (var type in KQuantFixture.WeightTypes)
        foreach (var level in KQuantFixture.Levels())
            data.Add(type, level);
        return data;
    }

    [Theory]
    [MemberData(nameof(TypeLevelBlocks))]
    public void Dot_matches_dequantized_double_dot(GgmlType type, string level, int blocks)
    {
        var random = new Random(1000 * (int)type + 10 * blocks + level.Length);
        int n = 256 * blocks;
        for (int trial = 0; trial < 5; trial++)
        {
            byte[] w = KQuantFixture.RandomWeights(type, blocks, random);
            byte[] x = KQuantFixture.RandomActivations(blocks, random);
            float[] wf = KQuantFixture.Dequantized(type, w, n);
            float[] xf = KQuantFixture.Dequantized(GgmlType.Q8_K, x, n);

            double expected = 0, magnitude = 0;
            for (int i = 0; i < n; i++)
            {
                expected += (double)wf[i] * xf[i];
                magnitude += Math.Abs((double)wf[i] * xf[i]);
            }
            float actual = KQuantFixture.Dot(type, level, w, x, n);

            // Both sides round only at float precision: allow a few float ulps of the summed magnitudes.
            Assert.True(Math.Abs(actual - expected) <= 2e-6 * magnitude,
                $"{type} {level} blocks={blocks} trial={trial}: {actual} vs {expected} (magnitude {magnitude})");
        }
    }

    [Theory]
    [MemberData(nameof(TypeLevelBlocks))]
    public void Every_level_returns_exactly_the_scalar_sum(GgmlType type, string level, int blocks)
    {
        var random = new Random(7 + 100 * (int)type + blocks);
        int n = 256 * blocks;
        for (int trial = 0; trial < 5; trial++)
        {
            byte[] w = KQuantFixture.RandomWeights(type, blocks, random);
            byte[] x = KQuantFixture.RandomActivations(blocks, random);
            Assert.Equal(KQuantFixture.Dot(type, "scalar", w, x, n), KQuantFixture.Dot(type, level, w, x, n));
        }
    }

    /// <summary>
    /// Every quant at its largest (all bits set) against activations at ±127: the int16 pair sums of the
    /// vector kernels come closest to saturation here, and the integer sums are compared exactly.
    /// </summary>
    [Theory]
    [MemberData(nameof(TypeLevels))]
    public void Extreme_quants_do_not_saturate(GgmlType type, string level)
    {
        const int blocks = 2;
        int n = 256 * blocks;
        byte[] w = KQuantFixture.RandomWeights(type, blocks, new Random(3));
        int bytesPerBlock = KQuantFixture.BlockBytes(type);
        for (int i = 0; i < blocks; i++)
        {
            // Everything but the fp16 scale fields saturated.
            var halves = type switch
            {
                GgmlType.Q2_K => new[] { 80, 81, 82, 83 },
                GgmlType.Q3_K => [108, 109],
                GgmlType.Q4_K or GgmlType.Q5_K => [0, 1, 2, 3],
                _ => [208, 209],
            };
            for (int k = 0; k < bytesPerBlock; k++)
                if (!halves.Contains(k)) w[i * bytesPerBlock + k] = type == GgmlType.Q6_K && k >= 192 ? (byte)0x80 : (byte)0xFF;
        }
        var floats = new float[n];
        for (int i = 0; i < n; i++) floats[i] = i % 3 == 0 ? -1f : 1f;
        byte[] x = KQuantFixture.QuantizeQ8K(floats);

        float[] wf = KQuantFixture.Dequantized(type, w, n);
        float[] xf = KQuantFixture.Dequantized(GgmlType.Q8_K, x, n);
        double expected = 0, magnitude = 0;
        for (int i = 0; i < n; i++) { expected += (double)wf[i] * xf[i]; magnitude += Math.Abs((double)wf[i] * xf[i]); }

        float actual = KQuantFixture.Dot(type, level, w, x, n);
        Assert.True(Math.Abs(actual - expected) <= 2e-6 * magnitude, $"{type} {level}: {actual} vs {expected}");
        Assert.Equal(KQuantFixture.Dot(type, "scalar", w, x, n), actual);
    }

    [Theory]
    [MemberData(nameof(TypeLevels))]
    public void Zero_activations_give_zero(GgmlType type, string level)
    {
        byte[] w = KQuantFixture.RandomWeights(type, 3, new Random(5));
        byte[] x = KQuantFixture.QuantizeQ8K(new float[768]);
        Assert.Equal(0f, KQuantFixture.Dot(type, level, w, x, 768));
    }

    [Theory]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void Registered_kernels_dot_against_Q8_K(GgmlType type)
    {
        Assert.True(QuantKernels.Supports(type));
        var kernels = QuantKernels.For(type);
        Assert.Equal(type, kernels.Type);
        Assert.Equal(GgmlType.Q8_K, kernels.VecDotType);
        Assert.True(kernels.Dequantize != null);

        var random = new Random(11);
        byte[] w = KQuantFixture.RandomWeights(type, 4, random);
        byte[] x = KQuantFixture.RandomActivations(4, random);
        fixed (byte* pw = w)
        fixed (byte* px = x)
        {
            Assert.Equal(KQuantFixture.Dot(type, "dispatch", pw, px, 1024), kernels.VecDot(pw, px, 1024));
            Assert.Equal(KQuantFixture.Dot(type, "scalar", pw, px, 1024), kernels.VecDot(pw, px, 1024));
        }
    }

    [Theory]
    [InlineData(GgmlType.Q2_K, 255)]
    [InlineData(GgmlType.Q3_K, 100)]
    [InlineData(GgmlType.Q4_K, 257)]
    [InlineData(GgmlType.Q5_K, -256)]
    [InlineData(GgmlType.Q6_K, 384)]
    public void Lengths_that_are_not_whole_super_blocks_are_refused(GgmlType type, int n)
    {
        byte[] w = new byte[4096];
        byte[] x = new byte[4096];
        foreach (var level in KQuantFixture.Levels())
        {
            var error = Assert.Throws<ArgumentException>(() => KQuantFixture.Dot(type, level, w, x, n));
            Assert.Contains(GgmlTypes.Name(type), error.Message);
            Assert.Contains("256", error.Message);
        }
        if (n > 0) Assert.Throws<ArgumentException>(() => KQuantFixture.Dequantized(type, w, n));
    }
}
