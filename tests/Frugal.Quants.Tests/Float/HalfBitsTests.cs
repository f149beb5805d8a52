using System.Runtime.Intrinsics;
using Frugal.Quants.Float;

namespace Frugal.Quants.Tests.Float;

public class HalfBitsTests
{
    private static void AssertSameFloat(float expected, float actual, int bits)
    {
        if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"0x{bits:X4}: expected NaN, got {actual}");
        else Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
            $"0x{bits:X4}: expected {expected} (0x{BitConverter.SingleToUInt32Bits(expected):X8}), got {actual} (0x{BitConverter.SingleToUInt32Bits(actual):X8})");
    }

    [Fact]
    public void Scalar_fp16_widening_matches_the_runtime_conversion_for_every_pattern()
    {
        for (int bits = 0; bits < 65536; bits++)
        {
            float expected = Fp16Bits.ToSingleReference((ushort)bits), actual = Fp16Bits.ToSingle((ushort)bits);
            Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
                $"0x{bits:X4}: expected 0x{BitConverter.SingleToUInt32Bits(expected):X8}, got 0x{BitConverter.SingleToUInt32Bits(actual):X8}");
        }
    }

    [Fact]
    public void Vector_fp16_widening_matches_scalar_for_every_pattern()
    {
        for (int start = 0; start < 65536; start += 16)
        {
            var lanes = new uint[16];
            for (int k = 0; k < 16; k++) lanes[k] = (uint)(start + k);
            var v128 = Fp16Bits.ToSingle(Vector128.Create(lanes.AsSpan(0, 4)));
            var v256 = Fp16Bits.ToSingle(Vector256.Create(lanes.AsSpan(0, 8)));
            var v512 = Fp16Bits.ToSingle(Vector512.Create(lanes));
            for (int k = 0; k < 16; k++)
            {
                float expected = Fp16Bits.ToSingle((ushort)(start + k));
                if (k < 4) AssertSameFloat(expected, v128[k], start + k);
                if (k < 8) AssertSameFloat(expected, v256[k], start + k);
                AssertSameFloat(expected, v512[k], start + k);
            }
        }
    }

    [Theory]
    [InlineData(0x3C00, 1f)]
    [InlineData(0xC000, -2f)]
    [InlineData(0x7BFF, 65504f)]
    [InlineData(0x0001, 5.9604645e-8f)]      // smallest subnormal, 2^-24
    [InlineData(0x0400, 6.1035156e-5f)]      // smallest normal, 2^-14
    [InlineData(0x8000, -0f)]
    [InlineData(0x7C00, float.PositiveInfinity)]
    public void Fp16_known_values(int bits, float value)
    {
        AssertSameFloat(value, Fp16Bits.ToSingle((ushort)bits), bits);
        Assert.Equal((ushort)bits, Fp16Bits.FromSingle(value));
    }

    [Theory]
    [InlineData(1f + 1f / 2048, 0x3C00)]      // tie between 1 and 1 + 2^-10 → even mantissa (1)
    [InlineData(1f + 3f / 2048, 0x3C02)]      // tie between mantissa 1 and 2 → even (2)
    [InlineData(1f + 1.5f / 2048, 0x3C01)]    // above the tie → up
    [InlineData(65520f, 0x7C00)]              // tie between 65504 and 65536 → even, which overflows to inf
    [InlineData(65519f, 0x7BFF)]
    public void Fp16_narrowing_rounds_to_nearest_even(float value, int bits) =>
        Assert.Equal((ushort)bits, Fp16Bits.FromSingle(value));

    [Theory]
    [InlineData(0x3F800000u, 0x3F80)]         // 1
    [InlineData(0x3F808000u, 0x3F80)]         // tie, lsb 0 → down
    [InlineData(0x3F818000u, 0x3F82)]         // tie, lsb 1 → up
    [InlineData(0x3F808001u, 0x3F81)]         // above the tie → up
    [InlineData(0x7F7FFFFFu, 0x7F80)]         // float max rounds to inf
    [InlineData(0xFF800000u, 0xFF80)]         // −inf stays −inf
    [InlineData(0x7F800001u, 0x7FC0)]         // signalling NaN is made quiet, not rounded into inf
    [InlineData(0xFFC00000u, 0xFFC0)]         // quiet NaN keeps its sign
    [InlineData(0x00000001u, 0x0000)]         // tiny subnormal rounds to zero
    public void Bf16_narrowing_matches_ggml(uint floatBits, int bf16Bits) =>
        Assert.Equal((ushort)bf16Bits, Bf16Bits.FromSingle(BitConverter.UInt32BitsToSingle(floatBits)));

    [Fact]
    public void Bf16_widening_is_the_upper_half()
    {
        Assert.Equal(1f, Bf16Bits.ToSingle(0x3F80));
        Assert.Equal(-2.5f, Bf16Bits.ToSingle(0xC020));
        var v = Bf16Bits.ToSingle(Vector256.Create(0x3F80u, 0xC020, 0, 0x8000, 0x7F80, 0x4049, 1, 0xFFFF));
        for (int k = 0; k < 8; k++)
        {
            ushort bits = (ushort)new uint[] { 0x3F80u, 0xC020, 0, 0x8000, 0x7F80, 0x4049, 1, 0xFFFF }[k];
            AssertSameFloat(Bf16Bits.ToSingle(bits), v[k], bits);
        }
    }
}
