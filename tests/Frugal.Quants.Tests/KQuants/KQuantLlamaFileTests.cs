using Frugal.Gguf;
using Frugal.TestSupport;

namespace Frugal.Quants.Tests.KQuants;

/// <summary>The K-quant layouts against files llama.cpp itself quantized from a known F32 source.</summary>
public unsafe class KQuantLlamaFileTests
{
    /// <summary>
    /// Every tensor of synth-llama-tok512-TYPE.gguf dequantized and compared with the F32 tensor it was made
    /// from. llama.cpp's own error on these random weights is 0.30, 0.151, 0.072, 0.036, 0.018 of the RMS
    /// for Q2_K … Q6_K; a misread layout gives errors of the order of the weights themselves.
    /// </summary>
    [SharedTheory]
    [InlineData(GgmlType.Q2_K, 0.33)]
    [InlineData(GgmlType.Q3_K, 0.17)]
    [InlineData(GgmlType.Q4_K, 0.08)]
    [InlineData(GgmlType.Q5_K, 0.04)]
    [InlineData(GgmlType.Q6_K, 0.02)]
    public void Dequantized_llama_cpp_tensors_match_their_F32_source(GgmlType type, double maxRelativeRms)
    {
        using var quantized = GgufFile.Open(SharedData.Model($"synth-llama-tok512-{GgmlTypes.Name(type)}.gguf"));
        using var source = GgufFile.Open(SharedData.Model("synth-llama-tok512-F32.gguf"));

        int checkedTensors = 0;
        foreach (var tensor in quantized.Tensors)
        {
            if (tensor.Type != type) continue;
            var original = source.GetTensor(tensor.Name);
            Assert.Equal(GgmlType.F32, original.Type);
            Assert.Equal(original.Shape, tensor.Shape);

            int n = checked((int)tensor.ElementCount);
            var values = new float[n];
            fixed (float* dst = values) KQuantFixture.Dequantize(type, quantized.TensorData(tensor), dst, n);

            var expected = (float*)source.TensorData(original);
            double error = 0, energy = 0;
            for (int i = 0; i < n; i++)
            {
                error += (values[i] - expected[i]) * (double)(values[i] - expected[i]);
                energy += expected[i] * (double)expected[i];
            }
            double relativeRms = Math.Sqrt(error / energy);
            Assert.True(relativeRms < maxRelativeRms, $"{tensor.Name}: relative RMS error {relativeRms:F4} ≥ {maxRelativeRms}");
            checkedTensors++;
        }
        Assert.True(checkedTensors >= 7, $"only {checkedTensors} {type} tensors in the file");
    }
}
