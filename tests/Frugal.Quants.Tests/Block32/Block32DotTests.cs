using Frugal.Numerics;
using Frugal.Quants.Block32;
using static Frugal.Quants.Tests.KernelTestSupport;

namespace Frugal.Quants.Tests.Block32;

/// <summary>Every block dot, at every SIMD level, against the dequantize-and-dot-in-double reference.</summary>
public unsafe class Block32DotTests
{
    private static readonly int[] BlockCounts = [1, 2, 3, 5, 8, 17];

    public static TheoryData<GgmlType, SimdLevel> TypesAndLevels()
    {
        var data = new TheoryData<GgmlType, SimdLevel>();
        foreach (var type in BlockWeightTypes)
            foreach (var level in Levels) data.Add(type, level);
        return data;
    }

    private static void AssertClose(double expected, double magnitude, float actual, string what)
    {
        double tolerance = 1e-5 * magnitude + 1e-6;
        Assert.True(Math.Abs(actual - expected) <= tolerance,
            $"{what}: got {actual}, expected {expected} (|diff| {Math.Abs(actual - expected):g3} > {tolerance:g3})");
    }

    [Theory]
    [MemberData(nameof(TypesAndLevels))]
    public void Dot_of_quantized_rows_matches_reference(GgmlType type, SimdLevel level)
    {
        var rng = new Random(1000 + (int)type * 10 + (int)level);
        var activationType = QuantKernels.For(type).VecDotType;
        var dot = Dot(type, level);
        foreach (int blocks in BlockCounts)
        {
            int n = blocks * 32;
            byte[] w = EncodeWeights(type, RandomFloats(n, rng));
            byte[] x = Encode(activationType, RandomFloats(n, rng));
            var (expected, magnitude) = ReferenceDot(type, w, activationType, x, n);
            fixed (byte* wp = w, xp = x) AssertClose(expected, magnitude, dot(wp, xp, n), $"{type} {level} n={n}");
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndLevels))]
    public void Dot_of_random_block_bytes_matches_reference(GgmlType type, SimdLevel level)
    {
        // Raw random bytes reach every nibble / fifth-bit / sign pattern, not only what a quantizer emits.
        var rng = new Random(2000 + (int)type * 10 + (int)level);
        var activationType = QuantKernels.For(type).VecDotType;
        var dot = Dot(type, level);
        foreach (int blocks in BlockCounts)
        {
            int n = blocks * 32;
            byte[] w = RandomBlocks(type, blocks, rng);
            byte[] x = Encode(activationType, RandomFloats(n, rng));
            var (expected, magnitude) = ReferenceDot(type, w, activationType, x, n);
            fixed (byte* wp = w, xp = x) AssertClose(expected, magnitude, dot(wp, xp, n), $"{type} {level} n={n}");
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndLevels))]
    public void Dot_of_extreme_quants_is_exact(GgmlType type, SimdLevel level)
    {
        // All weight quants at their largest magnitude and activations at ±127: the int8 paths must neither
        // saturate nor lose a sign. Scales of 1 (and minimum 0) make the exact answer an integer.
        int blocks = 3, n = blocks * 32;
        var activationType = QuantKernels.For(type).VecDotType;
        int weightBlock = GgmlTypes.Info(type).BlockBytes;
        var w = new byte[weightBlock * blocks];
        for (int b = 0; b < blocks; b++)
        {
            int at = b * weightBlock;
            WriteHalf(w, at, 1f);
            int quantsAt = type switch { GgmlType.Q4_1 => at + 4, GgmlType.Q5_0 => at + 6, GgmlType.Q5_1 => at + 8, _ => at + 2 };
            // Q4_0/Q5_0: nibble 0 (and fifth bit 0) is the most negative weight; Q4_1/Q5_1: 0xF.. the largest; Q8_0: −127.
            byte fill = type switch { GgmlType.Q4_1 or GgmlType.Q5_1 => 0xFF, GgmlType.Q8_0 => 0x81, _ => 0x00 };
            for (int k = quantsAt; k < at + weightBlock; k++) w[k] = fill;
            if (type == GgmlType.Q5_1) for (int k = at + 4; k < at + 8; k++) w[k] = 0xFF;
        }
        var xf = new float[n];
        for (int i = 0; i < n; i++) xf[i] = i % 3 == 0 ? -127 : 127;
        byte[] x = Encode(activationType, xf);
        var (expected, _) = ReferenceDot(type, w, activationType, x, n);
        fixed (byte* wp = w, xp = x) Assert.Equal(expected, Dot(type, level)(wp, xp, n));
    }

    [Theory]
    [MemberData(nameof(TypesAndLevels))]
    public void Dot_of_zero_blocks_is_zero(GgmlType type, SimdLevel level)
    {
        var activationType = QuantKernels.For(type).VecDotType;
        byte[] w = new byte[RowBytes(type, 64)], x = new byte[RowBytes(activationType, 64)];
        fixed (byte* wp = w, xp = x)
        {
            Assert.Equal(0f, Dot(type, level)(wp, xp, 64));
            Assert.Equal(0f, Dot(type, level)(wp, xp, 0));
        }
    }

    [Fact]
    public void Dispatcher_and_table_agree_with_the_level_kernels()
    {
        var rng = new Random(7);
        foreach (var type in BlockWeightTypes)
        {
            int n = 7 * 32;
            var kernels = QuantKernels.For(type);
            byte[] w = EncodeWeights(type, RandomFloats(n, rng));
            byte[] x = Encode(kernels.VecDotType, RandomFloats(n, rng));
            fixed (byte* wp = w, xp = x)
            {
                float expected = Dot(type, Simd.Level)(wp, xp, n);
                Assert.Equal(expected, kernels.VecDot(wp, xp, n));
            }
        }
    }

    [Theory]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(-32)]
    public void Ragged_or_negative_lengths_are_rejected_with_a_clear_message(int n)
    {
        var w = new byte[64];
        var x = new byte[72];
        fixed (byte* wp = w, xp = x)
        {
            nint wa = (nint)wp, xa = (nint)xp; // fixed locals cannot be captured by the lambdas
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => Q4_0.Dot256((byte*)wa, (byte*)xa, n));
            Assert.Contains("Q4_0", e.Message);
            Assert.Contains($"n = {n}", e.Message);
            Assert.Throws<ArgumentOutOfRangeException>(() => Q5_1.DotScalar((byte*)wa, (byte*)xa, n));
            Assert.Throws<ArgumentOutOfRangeException>(() => Q8_0.Dot512((byte*)wa, (byte*)xa, n));
            Assert.Throws<ArgumentOutOfRangeException>(() => Q4_0.Dequantize((byte*)wa, (float*)xa, n));
        }
    }

    [Fact]
    public void Null_rows_are_rejected()
    {
        var x = new byte[36];
        fixed (byte* xp = x)
        {
            nint xa = (nint)xp;
            var e = Assert.Throws<ArgumentNullException>(() => Q4_1.Dot128(null, (byte*)xa, 32));
            Assert.Contains("Q4_1", e.Message);
        }
    }
}
