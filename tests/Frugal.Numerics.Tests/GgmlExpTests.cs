using System.Runtime.Intrinsics;

namespace Frugal.Numerics.Tests;

public sealed unsafe class GgmlExpTests
{
    private static float[] Golden(uint[] bits) => bits.Select(BitConverter.UInt32BitsToSingle).ToArray();

    [Fact]
    public void Softmax_is_bit_exact_with_ggml()
    {
        float[] x = Golden(GgmlGolden.Input);
        fixed (float* p = x) VectorOps.Softmax(p, x.Length);
        Assert.Equal(GgmlGolden.Softmax, x.Select(BitConverter.SingleToUInt32Bits).ToArray());
    }

    [Fact]
    public void Silu_is_bit_exact_with_ggml()
    {
        float[] gate = Golden(GgmlGolden.Input);
        float[] ones = Enumerable.Repeat(1.0f, gate.Length).ToArray();
        fixed (float* g = gate, u = ones) VectorOps.SwiGlu(g, u, gate.Length);
        Assert.Equal(GgmlGolden.Silu, gate.Select(BitConverter.SingleToUInt32Bits).ToArray());
    }

    [Fact]
    public void Vector_exp_equals_scalar_exp_bit_for_bit()
    {
        var random = new Random(7);
        var values = new float[8];
        float[] special = [float.NegativeInfinity, float.PositiveInfinity, float.NaN, -0f, 0f, -87.5f, 88.8f, -133.2f, 133.2f];
        for (int round = 0; round < 40_000; round++)
        {
            // Mostly ordinary arguments with some lanes past |n| > 126 and |n| > 192 (the two-step scaling, done in
            // vectors for those lanes), and now and then infinities, NaN and zeros among them.
            for (int i = 0; i < 8; i++)
                values[i] = random.Next(16) == 0 ? special[random.Next(special.Length)] : (float)(random.NextDouble() * (round % 2 == 0 ? 60 : 400) - (round % 2 == 0 ? 30 : 200));
            var vector = GgmlExp.Exp(Vector256.Create(values));
            for (int i = 0; i < 8; i++)
            {
                float expected = GgmlExp.Exp(values[i]);
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(vector[i]) || (float.IsNaN(expected) && float.IsNaN(vector[i])),
                    $"exp({values[i]:R}): scalar {expected:R}, vector {vector[i]:R}");
            }
        }
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(1f)]
    [InlineData(-1f)]
    [InlineData(10.5f)]
    [InlineData(-30f)]
    [InlineData(80f)]
    [InlineData(-95f)]
    public void Exp_is_within_two_ulps_of_the_true_value(float x)
    {
        float expected = (float)Math.Exp(x);
        float actual = GgmlExp.Exp(x);
        Assert.True(Math.Abs(BitConverter.SingleToInt32Bits(expected) - BitConverter.SingleToInt32Bits(actual)) <= 2, $"exp({x}) = {actual}, expected {expected}");
    }

    [Fact]
    public void Exp_saturates_like_ggml()
    {
        Assert.Equal(0f, GgmlExp.Exp(float.NegativeInfinity));
        Assert.Equal(0f, GgmlExp.Exp(-200f));
        Assert.Equal(float.PositiveInfinity, GgmlExp.Exp(200f));
        Assert.Equal(1f, GgmlExp.Exp(0f));
    }
}
