namespace Frugal.Numerics.Tests;

/// <summary>Each vector kernel against its scalar reference, on ragged lengths (scalar tails included).</summary>
public sealed unsafe class VectorOpsTests
{
    private static float[] Random(int n, int seed, float scale = 1)
    {
        var random = new Random(seed);
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float)(random.NextDouble() * 2 - 1) * scale;
        return values;
    }

    public static IEnumerable<object[]> Lengths() => new[] { 1, 3, 4, 7, 8, 15, 16, 17, 31, 64, 100, 257, 2048 }.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Lengths))]
    public void RmsNorm_matches_reference(int n)
    {
        float[] x = Random(n, 3, 5), w = Random(n, 4), expected = new float[n], actual = new float[n];
        ScalarOps.RmsNorm(x, w, expected, 1e-5f);
        fixed (float* px = x, pw = w, pa = actual) VectorOps.RmsNorm(px, pw, pa, n, 1e-5f);
        for (int i = 0; i < n; i++) Assert.Equal(expected[i], actual[i], 1e-5f);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Softmax_matches_reference(int n)
    {
        float[] expected = Random(n, 5, 10), actual = (float[])expected.Clone();
        ScalarOps.Softmax(expected);
        fixed (float* pa = actual) VectorOps.Softmax(pa, n);
        for (int i = 0; i < n; i++) Assert.Equal(expected[i], actual[i], 1e-6f);
        Assert.Equal(1.0, actual.Sum(), 1e-4);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Max_is_MathF_Max_over_the_values_with_NaN_and_signed_zeros(int n)
    {
        float[] values = Random(n, 9, 3);
        float Expected() => values.Aggregate(float.NegativeInfinity, MathF.Max);
        float Actual() { fixed (float* p = values) return VectorOps.Max(p, n); }
        Assert.Equal(Expected(), Actual());
        Array.Fill(values, -0.0f);
        values[n / 2] = 0.0f;   // +0 beats -0 wherever it sits
        Assert.Equal(BitConverter.SingleToInt32Bits(Expected()), BitConverter.SingleToInt32Bits(Actual()));
        Array.Fill(values, float.NegativeInfinity);
        Assert.Equal(float.NegativeInfinity, Actual());
        values[n - 1] = float.NaN;   // in the vector part or the tail, NaN wins as in MathF.Max
        Assert.True(float.IsNaN(Actual()));
        values[n - 1] = 1;
        values[0] = float.NaN;
        Assert.True(float.IsNaN(Actual()));
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Elementwise_kernels_match_reference(int n)
    {
        float[] a = Random(n, 6), b = Random(n, 7);
        float[] add = (float[])a.Clone(), fused = (float[])a.Clone(), scaled = (float[])a.Clone(), gate = (float[])a.Clone();
        fixed (float* pAdd = add, pFused = fused, pScaled = scaled, pGate = gate, pb = b)
        {
            VectorOps.AddInPlace(pAdd, pb, n);
            VectorOps.FusedMultiplyAdd(pb, 0.5f, pFused, n);
            VectorOps.Scale(pScaled, 3f, n);
            VectorOps.SwiGlu(pGate, pb, n);
        }
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(a[i] + b[i], add[i], 1e-6f);
            Assert.Equal(MathF.FusedMultiplyAdd(b[i], 0.5f, a[i]), fused[i]);
            Assert.Equal(a[i] * 3f, scaled[i], 1e-6f);
            Assert.Equal(ScalarOps.Silu(a[i]) * b[i], gate[i], 1e-6f);
        }
    }

    [Fact]
    public void Half_round_trip_matches_scalar_conversion()
    {
        float[] x = Random(37, 8, 100);
        var halves = new Half[37];
        var back = new float[37];
        fixed (float* px = x, pb = back)
        fixed (Half* ph = halves)
        {
            VectorOps.ToHalf(px, ph, 37);
            VectorOps.ToSingle(ph, pb, 37);
        }
        for (int i = 0; i < x.Length; i++) Assert.Equal((float)(Half)x[i], back[i]);
    }

    [Fact]
    public void Forced_level_caps_the_hardware_level()
    {
        Assert.Equal(SimdLevel.Scalar, Simd.Cap(SimdLevel.V512, "scalar"));
        Assert.Equal(SimdLevel.V128, Simd.Cap(SimdLevel.V512, "128"));
        Assert.Equal(SimdLevel.V256, Simd.Cap(SimdLevel.V256, "512"));
        Assert.Equal(SimdLevel.V512, Simd.Cap(SimdLevel.V512, null));
        Assert.Throws<InvalidOperationException>(() => Simd.Cap(SimdLevel.V512, "fast"));
    }
}
