using Frugal.Gguf;
using Frugal.TestSupport;
using static Frugal.Quants.Tests.Block32.KernelTestSupport;

namespace Frugal.Quants.Tests.Block32;

/// <summary>
/// Our reference quantizers against llama.cpp's: synth-llama-tok512-F32.gguf is the source that llama.cpp
/// quantized (with --pure, no importance matrix, so through quantize_row_*_ref) into
/// synth-llama-tok512-TYPE.gguf. Quantizing each source tensor ourselves must give the same bytes, block for block.
/// </summary>
public unsafe class LlamaCppQuantizerConformanceTests
{
    [SharedTheory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q8_0)]
    public void Quantizing_the_F32_source_reproduces_llama_cpp_bytes(GgmlType type)
    {
        using var source = GgufFile.Open(SharedData.Model("synth-llama-tok512-F32.gguf"));
        using var quantized = GgufFile.Open(SharedData.Model($"synth-llama-tok512-{GgmlTypes.Name(type)}.gguf"));
        var quantize = ReferenceQuantizer(type);
        int blockBytes = GgmlTypes.Info(type).BlockBytes;

        int compared = 0;
        foreach (var expected in quantized.Tensors.Where(t => t.Type == type))
        {
            var original = source.GetTensor(expected.Name);
            Assert.Equal(GgmlType.F32, original.Type);
            Assert.Equal(original.ElementCount, expected.ElementCount);

            var ours = new byte[expected.ByteSize];
            fixed (byte* dst = ours) quantize((float*)source.TensorData(original), dst, checked((int)original.ElementCount));

            var theirs = quantized.TensorBytes(expected);
            if (!theirs.SequenceEqual(ours))
            {
                int at = theirs.CommonPrefixLength(ours) / blockBytes * blockBytes;
                Assert.Fail($"{expected.Name}: block {at / blockBytes} differs: llama.cpp {Convert.ToHexString(theirs.Slice(at, blockBytes))}, " +
                            $"ours {Convert.ToHexString(ours.AsSpan(at, blockBytes))}");
            }
            compared++;
        }
        // --pure quantizes every matrix (embedding and output included); only the norm vectors stay F32.
        Assert.True(compared >= 9, $"only {compared} {type} tensors found");
    }
}
