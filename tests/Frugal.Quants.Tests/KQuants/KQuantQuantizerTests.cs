using Frugal.Gguf;
using Frugal.Quants.KQuants;
using Frugal.TestSupport;

namespace Frugal.Quants.Tests.KQuants;

/// <summary>The reference quantizers against llama.cpp's output and against their own round-trip error.</summary>
public unsafe class KQuantQuantizerTests
{
    private static void Quantize(GgmlType type, float* src, byte* dst, int n)
    {
        switch (type)
        {
            case GgmlType.Q2_K: Q2K.QuantizeReference(src, dst, n); break;
            case GgmlType.Q3_K: Q3K.QuantizeReference(src, dst, n); break;
            case GgmlType.Q4_K: Q4K.QuantizeReference(src, dst, n); break;
            case GgmlType.Q5_K: Q5K.QuantizeReference(src, dst, n); break;
            case GgmlType.Q6_K: Q6K.QuantizeReference(src, dst, n); break;
            default: throw new ArgumentOutOfRangeException(nameof(type));
        }
    }

    /// <summary>
    /// Every super-block of every tensor of synth-llama-tok512-TYPE.gguf (made by llama.cpp with --pure and no
    /// importance matrix) equals, byte for byte, what our reference quantizer makes of the F32 source.
    /// </summary>
    [SharedTheory]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void Quantizes_the_F32_source_as_llama_cpp_did(GgmlType type)
    {
        using var quantized = GgufFile.Open(SharedData.Model($"synth-llama-tok512-{GgmlTypes.Name(type)}.gguf"));
        using var source = GgufFile.Open(SharedData.Model("synth-llama-tok512-F32.gguf"));
        int blockBytes = GgmlTypes.Info(type).BlockBytes;

        long blocks = 0, identical = 0;
        foreach (var tensor in quantized.Tensors)
        {
            if (tensor.Type != type) continue;
            int n = checked((int)tensor.ElementCount);
            var ours = new byte[tensor.ByteSize];
            fixed (byte* dst = ours) Quantize(type, (float*)source.TensorData(source.GetTensor(tensor.Name)), dst, n);
            var theirs = quantized.TensorBytes(tensor);
            for (int b = 0; b < n / 256; b++)
            {
                blocks++;
                if (theirs.Slice(b * blockBytes, blockBytes).SequenceEqual(ours.AsSpan(b * blockBytes, blockBytes))) identical++;
            }
        }
        Assert.True(blocks >= 3200, $"only {blocks} {type} blocks in the file");
        Assert.True(identical == blocks, $"{type}: {blocks - identical} of {blocks} blocks differ from llama.cpp's");
    }

    /// <summary>Relative RMS round-trip error on Gaussian weights, a little above what llama.cpp reaches.</summary>
    [Theory]
    [InlineData(GgmlType.Q2_K, 0.33)]
    [InlineData(GgmlType.Q3_K, 0.17)]
    [InlineData(GgmlType.Q4_K, 0.08)]
    [InlineData(GgmlType.Q5_K, 0.04)]
    [InlineData(GgmlType.Q6_K, 0.02)]
    public void Round_trip_error_is_small(GgmlType type, double maxRelativeRms)
    {
        const int n = 256 * 16;
        var random = new Random(17);
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (float)(0.02 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));

        var q = new byte[n / 256 * GgmlTypes.Info(type).BlockBytes];
        fixed (float* src = x) fixed (byte* dst = q) Quantize(type, src, dst, n);
        float[] back = KQuantFixture.Dequantized(type, q, n);

        double error = 0, energy = 0;
        for (int i = 0; i < n; i++)
        {
            error += (back[i] - x[i]) * (double)(back[i] - x[i]);
            energy += x[i] * (double)x[i];
        }
        double relativeRms = Math.Sqrt(error / energy);
        Assert.True(relativeRms < maxRelativeRms, $"{type}: relative RMS error {relativeRms:F4}");
    }

    /// <summary>All-zero super-blocks, a zero sub-block inside a live one, and a constant block stay exact.</summary>
    [Theory]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void Zeros_stay_zero(GgmlType type)
    {
        var x = new float[3 * 256];
        for (int i = 256; i < 512; i++) x[i] = i % 7 - 3;   // second block live …
        for (int i = 256; i < 288; i++) x[i] = 0;           // … but its first 32 weights zero
        var q = new byte[3 * GgmlTypes.Info(type).BlockBytes];
        new Random(9).NextBytes(q);   // stale contents must not leak through
        fixed (float* src = x) fixed (byte* dst = q) Quantize(type, src, dst, x.Length);
        float[] back = KQuantFixture.Dequantized(type, q, x.Length);

        for (int i = 0; i < 256; i++) Assert.Equal(0f, back[i]);
        for (int i = 512; i < 768; i++) Assert.Equal(0f, back[i]);
        for (int i = 256; i < 288; i++) Assert.True(Math.Abs(back[i]) < 0.1f, $"{type} weight {i} = {back[i]}");
    }

    [Theory]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void Registered_as_the_type_quantizer(GgmlType type)
    {
        var kernels = QuantKernels.For(type);
        var x = new float[256];
        for (int i = 0; i < 256; i++) x[i] = MathF.Sin(i);
        var viaTable = new byte[GgmlTypes.Info(type).BlockBytes];
        var direct = new byte[viaTable.Length];
        fixed (float* src = x)
        fixed (byte* a = viaTable)
        fixed (byte* b = direct)
        {
            kernels.Quantize(src, a, 256);
            Quantize(type, src, b, 256);
        }
        Assert.Equal(direct, viaTable);
        Assert.Throws<ArgumentException>(() => { fixed (float* src = x) fixed (byte* a = viaTable) Quantize(type, src, a, 100); });
    }
}
