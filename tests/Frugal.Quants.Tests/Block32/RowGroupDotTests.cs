using Frugal.Quants.Block32;

namespace Frugal.Quants.Tests.Block32;

/// <summary>
/// Q4_0's row-group dot: the order of llama.cpp's repacked kernel (ggml_gemv_q4_0_8x8_q8_0), used for matrices
/// whose row count is a multiple of 8. (End to end, the conformance tests show it reproduces llama.cpp's logits.)
/// </summary>
public sealed unsafe class RowGroupDotTests
{
    private static (byte[] Weights, byte[] Activations) RandomRow(int blocks, int seed)
    {
        var random = new Random(seed);
        var weights = new byte[blocks * BlockQ4_0.Size];
        random.NextBytes(weights);
        var x = new float[blocks * 32];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 4 - 2);
        var activations = new byte[blocks * BlockQ8_0.Size];
        fixed (byte* w = weights)
        fixed (float* px = x)
        fixed (byte* a = activations)
        {
            for (int b = 0; b < blocks; b++) ((BlockQ4_0*)w)[b].D = BitConverter.HalfToUInt16Bits((Half)(0.01 + random.NextDouble() * 0.05));
            Q8_0.Quantize(px, a, x.Length);
        }
        return (weights, activations);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(8, 2)]
    [InlineData(24, 3)]
    [InlineData(160, 4)]
    public void Block_sums_are_scaled_and_accumulated_one_block_at_a_time(int blocks, int seed)
    {
        var (weights, activations) = RandomRow(blocks, seed);
        fixed (byte* w = weights)
        fixed (byte* a = activations)
        {
            // The order itself, written out: exact integer block sums, one fused multiply-add per block.
            float expected = 0;
            var wb = (BlockQ4_0*)w;
            var xb = (BlockQ8_0*)a;
            for (int b = 0; b < blocks; b++)
            {
                int sum = 0;
                for (int j = 0; j < 16; j++)
                {
                    sum += ((wb[b].Qs[j] & 0x0F) - 8) * xb[b].Qs[j];
                    sum += ((wb[b].Qs[j] >> 4) - 8) * xb[b].Qs[j + 16];
                }
                float scale = (float)BitConverter.UInt16BitsToHalf(wb[b].D) * (float)BitConverter.UInt16BitsToHalf(xb[b].D);
                expected = MathF.FusedMultiplyAdd(sum, scale, expected);
            }
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(Q4_0.DotRowGroups(w, a, blocks * 32)));

            // And it is the same sum as the lane-ordered dot, up to float rounding.
            Assert.Equal(Q4_0.DotScalar(w, a, blocks * 32), expected, Math.Abs(expected) * 1e-5 + 1e-4);
        }
    }

    [Fact]
    public void Table_uses_the_row_group_dot_only_for_multiples_of_eight_rows()
    {
        var kernels = QuantKernels.Get(GgmlType.Q4_0);
        Assert.NotEqual(0, (nint)kernels.VecDotRowGroups);
        Assert.Equal((nint)kernels.VecDotRowGroups, (nint)kernels.DotForRows(256));
        Assert.Equal((nint)kernels.VecDot, (nint)kernels.DotForRows(250));
        var q8 = QuantKernels.Get(GgmlType.Q8_0);
        Assert.Equal((nint)q8.VecDot, (nint)q8.DotForRows(256));
    }
}
