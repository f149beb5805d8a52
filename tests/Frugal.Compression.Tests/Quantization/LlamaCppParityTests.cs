using Frugal.Compression.Quantization;
using Frugal.Gguf;
using Frugal.Quants;
using Frugal.TestSupport;
using Xunit.Abstractions;

namespace Frugal.Compression.Tests.Quantization;

/// <summary>
/// Our quantizer against llama.cpp's on the same numbers: ../shared/models/synth-llama-tok512-F32.gguf quantized
/// with --pure, compared with the synth-llama-tok512-TYPE.gguf files llama-quantize made from it.
/// </summary>
public class LlamaCppParityTests(ITestOutputHelper output)
{
    private const string Source = "synth-llama-tok512-F32.gguf";

    private static string QuantizeSource(string type, TempDirectory directory)
    {
        string path = directory.File($"ours-{type}.gguf");
        ModelQuantizer.Quantize(SharedData.Model(Source), path, new QuantizeOptions { Preset = QuantizationPreset.Parse(type), Pure = true, Threads = 2 });
        return path;
    }

    [SharedTheory]
    [InlineData("Q8_0")]
    [InlineData("Q4_0")]
    [InlineData("Q4_1")]
    [InlineData("Q5_0")]
    [InlineData("Q5_1")]
    public void Block32_tensors_equal_llama_cpp_byte_for_byte(string type)
    {
        using var directory = new TempDirectory();
        using var ours = GgufFile.Open(QuantizeSource(type, directory));
        using var theirs = GgufFile.Open(SharedData.Model($"synth-llama-tok512-{type}.gguf"));
        Assert.Equal(theirs.Tensors.Select(t => t.Name), ours.Tensors.Select(t => t.Name)); // llama.cpp's order too
        foreach (var expected in theirs.Tensors)
        {
            var actual = ours.GetTensor(expected.Name);
            Assert.Equal(expected.Type, actual.Type);
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.True(expected.ByteSize == actual.ByteSize && theirs.TensorBytes(expected).SequenceEqual(ours.TensorBytes(actual)),
                $"{type}: tensor {expected.Name} differs from llama.cpp's");
        }
        Assert.Equal(theirs.GetUInt32("general.file_type"), ours.GetUInt32("general.file_type"));
        Assert.Equal(theirs.GetUInt32("general.quantization_version"), ours.GetUInt32("general.quantization_version"));
    }

    /// <summary>
    /// K-quants: per tensor, the RMS error against the F32 source may be at most 2% above llama.cpp's. (Our files are in
    /// fact byte-identical, so the two errors are equal; the table is printed to the test log.)
    /// </summary>
    [SharedTheory]
    [InlineData("Q2_K")]
    [InlineData("Q3_K")]
    [InlineData("Q4_K")]
    [InlineData("Q5_K")]
    [InlineData("Q6_K")]
    public void K_quant_error_is_at_most_two_percent_above_llama_cpp(string type)
    {
        using var directory = new TempDirectory();
        using var source = GgufFile.Open(SharedData.Model(Source));
        using var ours = GgufFile.Open(QuantizeSource(type, directory));
        using var theirs = GgufFile.Open(SharedData.Model($"synth-llama-tok512-{type}.gguf"));
        foreach (var reference in source.Tensors.Where(t => t.Rank == 2))
        {
            var original = Floats(source, reference);
            double theirError = WeightQuantizerTests.Rms(original, Floats(theirs, theirs.GetTensor(reference.Name)));
            double ourError = WeightQuantizerTests.Rms(original, Floats(ours, ours.GetTensor(reference.Name)));
            output.WriteLine($"{type} {reference.Name,-26} RMS error ours {ourError:E4}  llama.cpp {theirError:E4}  ratio {ourError / theirError:F4}");
            Assert.True(ourError <= theirError * 1.02, $"{type} {reference.Name}: RMS error {ourError:E4} is more than 2% above llama.cpp's {theirError:E4}");
        }
    }

    /// <summary>Files made here load in Frugal and give llama.cpp's recorded logits for the same quantized model.</summary>
    [SharedTheory]
    [InlineData("Q8_0")]
    [InlineData("Q4_0")]
    public void Quantized_files_reproduce_llama_cpp_reference_logits(string type)
    {
        using var directory = new TempDirectory();
        string path = QuantizeSource(type, directory);
        var reference = ReferenceLogits.Load($"synth-llama-tok512-{type}.story.json");
        using var model = Frugal.Models.Model.Load(path, new Frugal.Models.ModelLoadOptions { Threads = 2 });
        using var session = model.CreateSession(reference.Tokens.Length);
        var logits = new float[reference.Tokens.Length * session.VocabSize];
        session.EvaluateAll(reference.Tokens, logits);
        // The engine's tolerance for quantized models in its own conformance suite.
        double worst = reference.WorstDifference(logits, session.VocabSize);
        output.WriteLine($"{type}: worst |Δ logit| vs llama.cpp {worst:F5}");
        Assert.True(worst <= 0.1, $"{type}: a logit differs from llama.cpp's by {worst:F5}");
    }

    private static float[] Floats(GgufFile file, GgufTensorInfo tensor)
    {
        var values = new float[tensor.ElementCount];
        WeightQuantizer.Dequantize(tensor.Type, file.TensorBytes(tensor), values);
        return values;
    }
}
