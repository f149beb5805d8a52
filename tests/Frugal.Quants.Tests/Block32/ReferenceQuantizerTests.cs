using Frugal.Quants.Float;
using static Frugal.Quants.Tests.KernelTestSupport;

namespace Frugal.Quants.Tests.Block32;

/// <summary>
/// The reference quantizers (ports of llama.cpp's quantize_row_*_ref) on blocks whose bytes are worked out
/// by hand, and their quantize → dequantize error on random data. (The byte-for-byte comparison with
/// llama.cpp's own quantized GGUF files needs the GGUF reader and lands with it.)
/// </summary>
public unsafe class ReferenceQuantizerTests
{
    private static byte[] Quantize(GgmlType type, float[] block) => EncodeWeights(type, block);

    private static float[] Block(params (int Index, float Value)[] set)
    {
        var block = new float[32];
        foreach (var (index, value) in set) block[index] = value;
        return block;
    }

    [Fact]
    public void Q4_0_maps_the_extreme_to_zero_and_clamps_its_mirror()
    {
        // max = −4 (largest magnitude, negative): d = −4/−8 = 0.5, id = 2, q = trunc(x·2 + 8.5) capped at 15.
        //   −4 → 0;  4 → 16 → 15;  1.25 → 11;  0.2 → 8;  −1.3 → 5;  3.9 → 16 → 15;  −3.76 → 0;  0 → 8
        var bytes = Quantize(GgmlType.Q4_0, Block((0, -4f), (1, 4f), (2, 1.25f), (3, 0.2f), (4, -1.3f), (16, 3.9f), (17, -3.76f)));
        byte[] expected = [0x00, 0x38, 0xF0, 0x0F, 0x8B, 0x88, 0x85, .. Enumerable.Repeat((byte)0x88, 11)];
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void Q4_1_spans_min_to_max_in_15_steps()
    {
        // min = −1, max = 2: d = 0.2 (fp16 0x3266), m = −1 (0xBC00), id = 5, q = min(15, trunc((x + 1)·5 + 0.5)).
        //   −1 → 0;  2 → 15;  0.55 → 8;  1.33 → 12;  0 → 5
        var bytes = Quantize(GgmlType.Q4_1, Block((0, -1f), (1, 2f), (2, 0.55f), (3, 1.33f), (16, 2f), (17, -1f)));
        byte[] expected = [0x66, 0x32, 0x00, 0xBC, 0xF0, 0x0F, 0x58, 0x5C, .. Enumerable.Repeat((byte)0x55, 12)];
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void Q5_0_splits_five_bit_quants_into_nibbles_and_qh()
    {
        // max = −8: d = 0.5, id = 2, q = min(31, trunc(x·2 + 16.5)).
        //   −8 → 0;  8 → 31;  1.2 → 18;  −3.1 → 10;  0 → 16;  7.9 → 31 (k = 16);  −7.8 → 0 (k = 17)
        // qh: every quant ≥ 16 except k = 0, 3, 17 → 0xFFFDFFF6
        var bytes = Quantize(GgmlType.Q5_0, Block((0, -8f), (1, 8f), (2, 1.2f), (3, -3.1f), (16, 7.9f), (17, -7.8f)));
        byte[] expected = [0x00, 0x38, 0xF6, 0xFF, 0xFD, 0xFF, 0xF0, 0x0F, 0x02, 0x0A, .. new byte[12]];
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void Q5_1_spans_min_to_max_in_31_steps()
    {
        // min = −1, max = 2.1: d = 3.1/31 ≈ 0.1 (fp16 0x2E66), m = −1, id ≈ 10, q = trunc((x + 1)·id + 0.5).
        //   −1 → 0;  2.1 → 31;  0.04 → 10;  0.66 → 17;  0 → 10;  2.1 → 31 (k = 16);  −1 → 0 (k = 17)
        // qh: quants ≥ 16 at k = 1, 3, 16 → 0x0001000A
        var bytes = Quantize(GgmlType.Q5_1, Block((0, -1f), (1, 2.1f), (2, 0.04f), (3, 0.66f), (16, 2.1f), (17, -1f)));
        byte[] expected = [0x66, 0x2E, 0x00, 0xBC, 0x0A, 0x00, 0x01, 0x00, 0xF0, 0x0F, 0xAA, 0xA1, .. Enumerable.Repeat((byte)0xAA, 12)];
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void Q8_0_reference_rounds_half_away_from_zero()
    {
        // amax = 127: d = 1, id = 1; roundf: 2.5 → 3, −2.5 → −3, 3.5 → 4, 0.5 → 1, −0.49 → 0
        var bytes = Quantize(GgmlType.Q8_0, Block((0, 127f), (1, 2.5f), (2, -2.5f), (3, 3.5f), (4, 0.5f), (5, -0.49f), (6, -127f)));
        byte[] expected = [0x00, 0x3C, 127, 3, unchecked((byte)-3), 4, 1, 0, unchecked((byte)-127), .. new byte[25]];
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q8_0)]
    public void All_zero_blocks_quantize_to_zero_scale_and_dequantize_to_zero(GgmlType type)
    {
        var bytes = Quantize(type, new float[64]);
        Assert.All(Decode(type, bytes, 64), v => Assert.Equal(0f, Math.Abs(v)));
        // llama.cpp divides the signed extreme by −8 / −16, so Q4_0 and Q5_0 store d = −0 (fp16 0x8000).
        ushort zeroScale = type is GgmlType.Q4_0 or GgmlType.Q5_0 ? (ushort)0x8000 : (ushort)0;
        Assert.Equal(zeroScale, BitConverter.ToUInt16(bytes, 0));
    }

    /// <summary>
    /// Largest |x − dequant(quant(x))| allowed in a block: half a step of rounding (a full step where the
    /// format clamps the mirror of its extreme: Q4_0, Q5_0), plus what fp16 rounding of d and m can add.
    /// </summary>
    private static double ErrorBudget(GgmlType type, ReadOnlySpan<float> block)
    {
        double amax = 0, min = double.MaxValue, max = double.MinValue;
        foreach (float v in block)
        {
            amax = Math.Max(amax, Math.Abs(v));
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        const double fp16 = 1.0 / 1024; // relative fp16 rounding, generously
        return type switch
        {
            GgmlType.Q4_0 => amax / 8 * (1 + 8 * fp16),
            GgmlType.Q5_0 => amax / 16 * (1 + 16 * fp16),
            GgmlType.Q8_0 => amax / 127 * (0.5 + 127 * fp16),
            GgmlType.Q4_1 => (max - min) / 15 * (0.5 + 15 * fp16) + Math.Abs(min) * fp16,
            GgmlType.Q5_1 => (max - min) / 31 * (0.5 + 31 * fp16) + Math.Abs(min) * fp16,
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        } + 1e-12;
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q8_0)]
    public void Round_trip_error_stays_within_the_format_budget(GgmlType type)
    {
        var rng = new Random(300 + (int)type);
        int n = 64 * 32;
        var values = RandomFloats(n, rng);
        for (int k = 0; k < 32; k++) values[k] = 0.75f;          // a constant block (d = 0 for the _1 formats)
        for (int k = 32; k < 64; k++) values[k] = k - 40;        // an integer ramp with a positive extreme
        var decoded = Decode(type, Quantize(type, values), n);
        double total = 0, budgetTotal = 0;
        for (int b = 0; b < n / 32; b++)
        {
            var block = values.AsSpan(b * 32, 32);
            double budget = ErrorBudget(type, block);
            for (int k = 0; k < 32; k++)
            {
                double error = Math.Abs(decoded[b * 32 + k] - block[k]);
                Assert.True(error <= budget, $"{type} block {b} element {k}: {block[k]} → {decoded[b * 32 + k]}, error {error:g3} > {budget:g3}");
                total += error;
                budgetTotal += budget;
            }
        }
        // On average rounding costs about a quarter step, far below the worst case.
        Assert.True(total < 0.6 * budgetTotal, $"{type}: mean error {total / n:g3} is not well below the worst-case budget {budgetTotal / n:g3}");
    }

    [Fact]
    public void Fp16_scales_round_to_nearest_even()
    {
        // d = 1/127 is stored as fp16 0x2008 (0.0078735…), the nearest half.
        var bytes = Quantize(GgmlType.Q8_0, Block((0, 1f)));
        Assert.Equal(0x2008, BitConverter.ToUInt16(bytes, 0));
        Assert.Equal(0x2008, Fp16Bits.FromSingle(1f / 127));
    }
}
