using Frugal.Quants.KQuants;

namespace Frugal.Quants.Tests.KQuants;

public unsafe class Q8KTests
{
    [Fact]
    public void Quantizes_like_llama_cpp_with_a_negative_maximum()
    {
        var x = new float[256];
        x[0] = -4f;     // largest magnitude, negative: iscale = −127 / −4 = 31.75
        x[1] = 2f;      // 63.5 rounds half to even: 64
        x[2] = 1f;      // 31.75 → 32
        x[3] = -1f;     // → −32
        x[4] = 0.5f;    // 15.875 → 16
        x[17] = 3f;     // 95.25 → 95 (second group of 16)
        x[255] = -0.1f; // −3.175 → −3

        BlockQ8_K block;
        fixed (float* src = x) Q8K.Quantize(src, (byte*)&block, 256);

        Assert.Equal(1f / 31.75f, block.D);
        Assert.Equal(-127, block.Qs[0]);
        Assert.Equal(64, block.Qs[1]);
        Assert.Equal(32, block.Qs[2]);
        Assert.Equal(-32, block.Qs[3]);
        Assert.Equal(16, block.Qs[4]);
        Assert.Equal(0, block.Qs[5]);
        Assert.Equal(95, block.Qs[17]);
        Assert.Equal(-3, block.Qs[255]);
        Assert.Equal(-127 + 64 + 32 - 32 + 16, block.BSums[0]);
        Assert.Equal(95, block.BSums[1]);
        for (int g = 2; g < 15; g++) Assert.Equal(0, block.BSums[g]);
        Assert.Equal(-3, block.BSums[15]);
    }

    [Fact]
    public void A_positive_maximum_gives_a_negative_scale()
    {
        var x = new float[256];
        x[0] = 4f;   // iscale = −31.75: the maximum maps to −127 and d < 0
        x[1] = -2f;  // 63.5 → 64
        x[2] = 2f;   // −63.5 → −64
        BlockQ8_K block;
        fixed (float* src = x) Q8K.Quantize(src, (byte*)&block, 256);

        Assert.Equal(-1f / 31.75f, block.D);
        Assert.Equal(-127, block.Qs[0]);
        Assert.Equal(64, block.Qs[1]);
        Assert.Equal(-64, block.Qs[2]);
        Assert.Equal(-127, block.BSums[0]);
    }

    [Fact]
    public void All_zero_block_has_zero_scale_quants_and_sums()
    {
        var x = new float[512];
        x[300] = 1f; // only the second block is non-zero
        var bytes = new byte[2 * sizeof(BlockQ8_K)];
        new Random(1).NextBytes(bytes); // stale contents must be overwritten
        fixed (float* src = x)
        fixed (byte* dst = bytes)
        {
            Q8K.Quantize(src, dst, 512);
            var zero = (BlockQ8_K*)dst;
            Assert.Equal(0f, zero->D);
            for (int j = 0; j < 256; j++) Assert.Equal(0, zero->Qs[j]);
            for (int g = 0; g < 16; g++) Assert.Equal(0, zero->BSums[g]);
            Assert.Equal(-127, zero[1].Qs[44]);
        }
    }

    [Fact]
    public void Round_trip_error_is_at_most_half_a_step()
    {
        var random = new Random(4);
        var x = new float[256 * 3];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1) * (i / 256 + 1);
        byte[] q = KQuantFixture.QuantizeQ8K(x);
        float[] back = KQuantFixture.Dequantized(GgmlType.Q8_K, q, x.Length);
        fixed (byte* p = q)
        {
            for (int i = 0; i < x.Length; i++)
            {
                var block = (BlockQ8_K*)p + i / 256;
                Assert.True(Math.Abs(back[i] - x[i]) <= 0.5001 * Math.Abs(block->D), $"element {i}");
                if (i % 16 == 0)
                {
                    int sum = 0;
                    for (int l = 0; l < 16; l++) sum += block->Qs[i % 256 + l];
                    Assert.Equal(sum, block->BSums[i % 256 / 16]);
                }
            }
        }
    }

    [Fact]
    public void Registered_as_the_activation_type()
    {
        var kernels = QuantKernels.Get(GgmlType.Q8_K);
        Assert.Equal(GgmlType.Q8_K, kernels.Type);
        Assert.True(kernels.Quantize != null);
        Assert.True(kernels.Dequantize != null);
        Assert.Throws<ArgumentException>(() => KQuantFixture.QuantizeQ8K(new float[100]));
    }
}
