using Frugal.Quants.Block32;
using Frugal.Quants.Float;
using static Frugal.Quants.Tests.KernelTestSupport;

namespace Frugal.Quants.Tests.Block32;

/// <summary>
/// Q8_0 / Q8_1 activation quantization as ggml-cpu does it on x86: d = amax/127, id = 127/amax,
/// round half to even; Q8_1 also stores s = fp16(d · Σq) with the unrounded d.
/// </summary>
public unsafe class ActivationQuantizerTests
{
    private static byte[] Run(QuantizeKernel quantize, GgmlType type, float[] values)
    {
        var bytes = new byte[RowBytes(type, values.Length)];
        fixed (float* src = values)
        fixed (byte* dst = bytes) quantize(src, dst, values.Length);
        return bytes;
    }

    private static float[] TieBlock()
    {
        // amax = 127 → d = 1, id = 1: the other values are exact ties or near them.
        var block = new float[32];
        block[0] = 127f; block[1] = 2.5f; block[2] = -2.5f; block[3] = 3.5f; block[4] = 0.5f; block[5] = -0.49f; block[6] = -127f;
        return block;
    }

    [Fact]
    public void Q8_0_rounds_ties_to_even()
    {
        byte[] expected = [0x00, 0x3C, 127, 2, unchecked((byte)-2), 4, 0, 0, unchecked((byte)-127), .. new byte[25]];
        Assert.Equal(expected, Run(Q8_0.Quantize, GgmlType.Q8_0, TieBlock()));
        Assert.Equal(expected, Run(Q8_0.QuantizeScalar, GgmlType.Q8_0, TieBlock()));
    }

    [Fact]
    public void Q8_0_uses_127_over_amax_as_the_inverse_scale()
    {
        // amax = 1: d = 1/127 (fp16 0x2008), id = 127 exactly; 0.5 → 63.5 → 64 (even), −0.25 → −31.75 → −32.
        var block = new float[32];
        block[0] = 1f; block[1] = 0.5f; block[2] = -0.25f;
        byte[] expected = [0x08, 0x20, 127, 64, unchecked((byte)-32), .. new byte[29]];
        Assert.Equal(expected, Run(Q8_0.Quantize, GgmlType.Q8_0, block));
        Assert.Equal(expected, Run(Q8_0.QuantizeScalar, GgmlType.Q8_0, block));
    }

    [Fact]
    public void Q8_1_stores_the_scaled_quant_sum()
    {
        // Same quants as the Q8_0 tie block; Σq = 127 + 2 − 2 + 4 + 0 + 0 − 127 = 4, s = 1 · 4 = 4 (fp16 0x4400).
        byte[] expected = [0x00, 0x3C, 0x00, 0x44, 127, 2, unchecked((byte)-2), 4, 0, 0, unchecked((byte)-127), .. new byte[25]];
        Assert.Equal(expected, Run(Q8_1.Quantize, GgmlType.Q8_1, TieBlock()));
        Assert.Equal(expected, Run(Q8_1.QuantizeScalar, GgmlType.Q8_1, TieBlock()));
    }

    [Fact]
    public void Q8_1_sum_uses_the_unrounded_scale()
    {
        // amax = 1, all 32 values 1: q = 127 each, Σq = 4064, d = 1/127 in float; s = fp16(4064/127 = 32.0000…)
        // = 32 (0x5000). With the fp16-rounded d (0.0078735) it would be 31.998 → 0x4FFF.
        var block = Enumerable.Repeat(1f, 32).ToArray();
        var bytes = Run(Q8_1.Quantize, GgmlType.Q8_1, block);
        Assert.Equal(0x2008, BitConverter.ToUInt16(bytes, 0));
        Assert.Equal(0x5000, BitConverter.ToUInt16(bytes, 2));
        Assert.All(bytes[4..], q => Assert.Equal(127, q));
    }

    [Fact]
    public void All_zero_blocks_give_zero_scale_sum_and_quants()
    {
        Assert.All(Run(Q8_0.Quantize, GgmlType.Q8_0, new float[64]), b => Assert.Equal(0, b));
        Assert.All(Run(Q8_1.Quantize, GgmlType.Q8_1, new float[64]), b => Assert.Equal(0, b));
        Assert.All(Run(Q8_1.QuantizeScalar, GgmlType.Q8_1, new float[64]), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Vector_and_scalar_quantizers_agree_byte_for_byte()
    {
        var rng = new Random(11);
        var values = RandomFloats(256 * 32, rng);
        // Exact ties: block 1 holds multiples of 0.5 with amax 127.
        for (int k = 0; k < 32; k++) values[32 + k] = k == 0 ? 127 : (rng.Next(-254, 255) / 2f);
        Assert.Equal(Run(Q8_0.QuantizeScalar, GgmlType.Q8_0, values), Run(Q8_0.Quantize, GgmlType.Q8_0, values));
        Assert.Equal(Run(Q8_1.QuantizeScalar, GgmlType.Q8_1, values), Run(Q8_1.Quantize, GgmlType.Q8_1, values));
    }

    [Fact]
    public void Activation_round_trip_is_within_half_a_step()
    {
        var rng = new Random(12);
        var values = RandomFloats(64 * 32, rng);
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q8_1 })
        {
            var decoded = Decode(type, Encode(type, values), values.Length);
            for (int b = 0; b < values.Length / 32; b++)
            {
                float amax = 0;
                for (int k = 0; k < 32; k++) amax = Math.Max(amax, Math.Abs(values[b * 32 + k]));
                double budget = amax / 127 * (0.5 + 127.0 / 1024);
                for (int k = 0; k < 32; k++)
                    Assert.True(Math.Abs(decoded[b * 32 + k] - values[b * 32 + k]) <= budget, $"{type} block {b} element {k}");
            }
        }
    }

    [Fact]
    public void Block_scales_are_fp16_of_amax_over_127()
    {
        var rng = new Random(13);
        var values = RandomFloats(8 * 32, rng);
        var bytes = Run(Q8_0.Quantize, GgmlType.Q8_0, values);
        for (int b = 0; b < 8; b++)
        {
            float amax = 0;
            for (int k = 0; k < 32; k++) amax = Math.Max(amax, Math.Abs(values[b * 32 + k]));
            Assert.Equal(Fp16Bits.FromSingle(amax / 127f), BitConverter.ToUInt16(bytes, b * 34));
        }
    }
}
