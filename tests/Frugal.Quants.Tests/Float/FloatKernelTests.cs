using Frugal.Numerics;
using Frugal.Quants.Float;
using static Frugal.Quants.Tests.Block32.KernelTestSupport;

namespace Frugal.Quants.Tests.Float;

public unsafe class FloatKernelTests
{
    // Lengths around every vector width and unroll step, so each scalar tail length occurs.
    private static readonly int[] Lengths = [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 256, 257, 1000];

    public static TheoryData<GgmlType, SimdLevel> TypesAndLevels()
    {
        var data = new TheoryData<GgmlType, SimdLevel>();
        foreach (var type in FloatTypes)
            foreach (var level in Levels) data.Add(type, level);
        return data;
    }

    [Theory]
    [MemberData(nameof(TypesAndLevels))]
    public void Dot_matches_reference_on_ragged_lengths(GgmlType type, SimdLevel level)
    {
        var rng = new Random(100 + (int)type * 10 + (int)level);
        var dot = Dot(type, level);
        foreach (int n in Lengths)
        {
            byte[] w = Encode(type, RandomFloats(n, rng)), x = Encode(type, RandomFloats(n, rng));
            var (expected, magnitude) = ReferenceDot(type, w, type, x, n);
            float actual;
            fixed (byte* wp = w, xp = x) actual = dot(wp, xp, n);
            double tolerance = 2e-6 * Math.Sqrt(n + 1) * magnitude + 1e-30;
            Assert.True(Math.Abs(actual - expected) <= tolerance,
                $"{type} {level} n={n}: got {actual}, expected {expected} (|diff| {Math.Abs(actual - expected):g3} > {tolerance:g3})");
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndLevels))]
    public void Dot_of_small_integers_is_exact(GgmlType type, SimdLevel level)
    {
        // Small integers are exact in every format and every partial sum, so any order must give the exact answer;
        // a misplaced lane or a dropped tail element would not.
        foreach (int n in Lengths)
        {
            var wf = new float[n];
            var xf = new float[n];
            long expected = 0;
            for (int i = 0; i < n; i++)
            {
                wf[i] = i % 7 - 3;
                xf[i] = i % 5 - 2 + (i == n - 1 ? 10 : 0);
                expected += (long)wf[i] * (long)xf[i];
            }
            byte[] w = Encode(type, wf), x = Encode(type, xf);
            fixed (byte* wp = w, xp = x) Assert.Equal(expected, (long)Dot(type, level)(wp, xp, n));
        }
    }

    [Fact]
    public void Dispatcher_and_table_agree_with_the_level_kernels()
    {
        var rng = new Random(5);
        foreach (var type in FloatTypes)
        {
            int n = 333;
            var kernels = QuantKernels.For(type);
            Assert.Equal(type, kernels.VecDotType);
            byte[] w = Encode(type, RandomFloats(n, rng)), x = Encode(type, RandomFloats(n, rng));
            fixed (byte* wp = w, xp = x) Assert.Equal(Dot(type, Simd.Level)(wp, xp, n), kernels.VecDot(wp, xp, n));
        }
    }

    [Fact]
    public void F32_round_trip_is_exact()
    {
        var values = RandomFloats(77, new Random(1));
        Assert.Equal(values, Decode(GgmlType.F32, Encode(GgmlType.F32, values), values.Length));
    }

    [Theory]
    [InlineData(GgmlType.F16, 11)]   // 10 stored mantissa bits + round to nearest: relative error ≤ 2^-11
    [InlineData(GgmlType.BF16, 8)]   // 7 stored mantissa bits: ≤ 2^-8
    public void Half_round_trip_error_is_half_an_ulp(GgmlType type, int bits)
    {
        var rng = new Random(2);
        var values = new float[1000];
        for (int i = 0; i < values.Length; i++) values[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-12, 12)));
        var decoded = Decode(type, Encode(type, values), values.Length);
        for (int i = 0; i < values.Length; i++)
            // fp16 subnormals (below 2^-14) have a fixed spacing of 2^-24: half of it is the absolute floor.
            Assert.True(Math.Abs(decoded[i] - values[i]) <= Math.Abs(values[i]) * Math.Pow(2, -bits) + (type == GgmlType.F16 ? Math.Pow(2, -25) : 0),
                $"{type}: {values[i]} → {decoded[i]}");
    }

    [Fact]
    public void F16_and_BF16_quantize_like_the_scalar_conversions()
    {
        var values = RandomFloats(100, new Random(3));
        byte[] f16 = Encode(GgmlType.F16, values), bf16 = Encode(GgmlType.BF16, values);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal(Fp16Bits.FromSingle(values[i]), BitConverter.ToUInt16(f16, 2 * i));
            Assert.Equal(Bf16Bits.FromSingle(values[i]), BitConverter.ToUInt16(bf16, 2 * i));
        }
    }

    [Fact]
    public void Negative_lengths_and_null_rows_are_rejected()
    {
        var buffer = new byte[16];
        fixed (byte* p = buffer)
        {
            nint a = (nint)p;
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => F16.Dot256((byte*)a, (byte*)a, -1));
            Assert.Contains("F16", e.Message);
            Assert.Throws<ArgumentOutOfRangeException>(() => F32.Dequantize((byte*)a, (float*)a, -4));
            Assert.Throws<ArgumentNullException>(() => BF16.Dot512(null, (byte*)a, 4));
            Assert.Equal(0f, F32.Dot128(null, null, 0));
        }
    }
}
