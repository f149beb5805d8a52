using Frugal.Gguf;
using Frugal.Models.Synthesis;
using Frugal.Models.Transformer;
using Frugal.Quants;
using Frugal.TestSupport;

namespace Frugal.Models.Tests.Synthesis;

/// <summary>Synthesized tiny models: written, loaded by Frugal, evaluated; activations in a realistic range.</summary>
public sealed class ModelSynthesizerTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("frugal-synth-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>stories260K's 512-token vocabulary keeps the embedding small, so these tests take milliseconds.</summary>
    private static string SmallVocabulary => SharedData.Model("stories260K.gguf");

    private string Synthesize(ModelShape shape, WeightFormat format, ulong seed = 7, string? vocabulary = null)
    {
        string path = Path.Combine(_directory, $"{shape.Name}-{format}-{seed}.gguf");
        var result = ModelSynthesizer.Write(shape, format, vocabulary ?? SmallVocabulary, path, seed);
        Assert.Equal(path, result.Path);
        Assert.Equal(new FileInfo(path).Length, result.FileBytes);
        return path;
    }

    public static TheoryData<string, WeightFormat> EveryShapeAndFormat()
    {
        var data = new TheoryData<string, WeightFormat>();
        foreach (var shape in new[] { ModelShapes.TestTiny, ModelShapes.TestTinyQwen2 })
        foreach (var format in QuantizationMix.All)
            data.Add(shape.Name, format);
        return data;
    }

    [SharedTheory]
    [MemberData(nameof(EveryShapeAndFormat))]
    public void Tiny_model_loads_and_evaluates_to_finite_logits(string shapeName, WeightFormat format)
    {
        var shape = ModelShapes.Get(shapeName);
        string path = Synthesize(shape, format);
        var plan = SynthesisPlan.Create(shape, format, 512);

        using (var file = GgufFile.Open(path))
        {
            Assert.Equal(plan.Tensors.Select(t => (t.Name, t.Type)), file.Tensors.Select(t => (t.Name, t.Type)));
            Assert.Equal(QuantizationMix.FileType(format), file.GetUInt32("general.file_type"));
            using var vocabulary = GgufFile.Open(SmallVocabulary);
            Assert.Equal(vocabulary.GetArray("tokenizer.ggml.tokens"), file.GetArray("tokenizer.ggml.tokens"));
            Assert.Equal(vocabulary.GetString("tokenizer.ggml.model"), file.GetString("tokenizer.ggml.model"));
        }

        using var model = Model.Load(path, new ModelLoadOptions { Threads = 1 });
        Assert.Equal(shape.Architecture, model.Config.Architecture);
        Assert.Equal(shape.Layers, model.Config.Layers);
        Assert.Equal(shape.TiedOutput, model.Config.TiedOutput);
        using var session = model.CreateSession(64);
        var logits = session.Evaluate(model.Tokenizer.Encode("Once upon a time", addSpecial: true, parseSpecial: false)).ToArray();
        Assert.All(logits, value => Assert.True(float.IsFinite(value)));
        Assert.True(StandardDeviation(logits) > 0.3, $"logits are nearly constant (std {StandardDeviation(logits)})");
    }

    /// <summary>Records the RMS of the residual stream entering every layer and leaving the last.</summary>
    private sealed unsafe class StreamRms : ForwardObserver
    {
        public readonly List<(int Layer, double Rms)> Seen = [];

        public override void LayerInput(int layer, float* x, int tokens, int dim)
        {
            for (int t = 0; t < tokens; t++)
            {
                double sum = 0;
                for (int i = 0; i < dim; i++) sum += (double)x[t * dim + i] * x[t * dim + i];
                Seen.Add((layer, Math.Sqrt(sum / dim)));
            }
        }
    }

    [SharedFact]
    public void Activations_stay_in_a_realistic_range_through_the_layers()
    {
        // A deeper tiny model than test-tiny, so growth over depth would show; Q8_0 is close to the drawn values.
        var deep = ModelShapes.TestTiny with { Name = "deep-tiny", Layers = 10 };
        using var model = Model.Load(Synthesize(deep, WeightFormat.Q8_0), new ModelLoadOptions { Threads = 1 });
        using var session = model.CreateSession(64);
        var observer = new StreamRms();
        session.Observer = observer;
        int[] tokens = Enumerable.Range(0, 16).Select(i => (i * 37 + 5) % 512).ToArray();
        float[] logits = new float[tokens.Length * model.Config.VocabSize];
        session.EvaluateAll(tokens, logits);

        // The embedding enters at about 1/√dim; each layer adds O(1/√(2·layers)) per residual branch.
        var byLayer = observer.Seen.GroupBy(s => s.Layer).OrderBy(g => g.Key).Select(g => g.Max(s => s.Rms)).ToArray();
        Assert.Equal(deep.Layers + 1, byLayer.Length);
        Assert.All(byLayer, rms => Assert.InRange(rms, 0.02, 4.0));
        Assert.All(observer.Seen.Where(s => s.Layer == deep.Layers), s => Assert.InRange(s.Rms, 0.2, 4.0));

        Assert.All(logits, value => Assert.True(float.IsFinite(value)));
        for (int t = 0; t < tokens.Length; t++)
        {
            var row = logits.AsSpan(t * model.Config.VocabSize, model.Config.VocabSize).ToArray();
            double deviation = StandardDeviation(row);
            Assert.InRange(deviation, 0.3, 5.0);
            // Not degenerate: the best token is not a certainty and the top tokens differ from position to position.
            double top = Softmax(row).Max();
            Assert.True(top < 0.9, $"position {t}: one token takes {top:P0} of the probability");
        }
        var argmaxes = Enumerable.Range(0, tokens.Length)
            .Select(t => Array.IndexOf(logits, logits.AsSpan(t * 512, 512).ToArray().Max(), t * 512)).Distinct().Count();
        Assert.True(argmaxes > tokens.Length / 3, $"only {argmaxes} distinct greedy tokens over {tokens.Length} positions");
    }

    [SharedFact]
    public void Same_seed_writes_the_same_bytes_and_another_seed_other_weights()
    {
        string first = Synthesize(ModelShapes.TestTinyQwen2, WeightFormat.Q4_K_M, seed: 1);
        string again = Path.Combine(_directory, "again.gguf");
        ModelSynthesizer.Write(ModelShapes.TestTinyQwen2, WeightFormat.Q4_K_M, SmallVocabulary, again, seed: 1);
        string other = Synthesize(ModelShapes.TestTinyQwen2, WeightFormat.Q4_K_M, seed: 2);
        Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(again));
        Assert.NotEqual(File.ReadAllBytes(first), File.ReadAllBytes(other));
        Assert.Equal(new FileInfo(first).Length, new FileInfo(other).Length);
        // No scratch files are left beside the output.
        Assert.Equal(3, Directory.GetFileSystemEntries(_directory).Length);
    }

    [SharedFact]
    public unsafe void Quantized_weights_are_the_reference_quantization_of_the_seeded_values()
    {
        string path = Synthesize(ModelShapes.TestTiny, WeightFormat.Q4_K_M, seed: 3);
        var plan = SynthesisPlan.Create(ModelShapes.TestTiny, WeightFormat.Q4_K_M, 512);
        using var file = GgufFile.Open(path);
        foreach (string name in new[] { "blk.1.ffn_down.weight", "blk.0.attn_q.weight", "blk.0.attn_norm.weight" })
        {
            var planned = plan.Tensors.Single(t => t.Name == name);
            var stored = file.GetTensor(name);
            var kernels = QuantKernels.Get(planned.Type);
            int cols = (int)planned.Cols;
            long rowBytes = GgmlTypes.Info(planned.Type).RowBytes(cols);
            var values = new float[cols];
            var expected = new byte[rowBytes];
            foreach (long row in new[] { 0L, planned.Rows - 1 })
            {
                ModelSynthesizer.GenerateRow(planned, 3, row, values);
                fixed (float* source = values)
                fixed (byte* destination = expected)
                    kernels.Quantize(source, destination, cols);
                Assert.Equal(expected, file.TensorBytes(stored).Slice((int)(row * rowBytes), (int)rowBytes).ToArray());
            }
        }
        // Normal weights have the planned spread (within sampling error over 256 × 512 values).
        var query = plan.Tensors.Single(t => t.Name == "blk.0.attn_q.weight");
        var all = new List<float>();
        var rowValues = new float[query.Cols];
        for (long row = 0; row < query.Rows; row++)
        {
            ModelSynthesizer.GenerateRow(query, 3, row, rowValues);
            all.AddRange(rowValues);
        }
        Assert.InRange(StandardDeviation(all.ToArray()), query.Init.StandardDeviation * 0.98, query.Init.StandardDeviation * 1.02);
        Assert.InRange(all.Average(), -0.01 * query.Init.StandardDeviation, 0.01 * query.Init.StandardDeviation);
    }

    [SharedFact]
    public void A_file_without_a_vocabulary_is_refused_and_nothing_is_written()
    {
        string vocabulary = Path.Combine(_directory, "no-vocab.gguf");
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("llama"));
        writer.WriteTo(vocabulary);
        string output = Path.Combine(_directory, "out.gguf");
        var error = Assert.Throws<ArgumentException>(() => ModelSynthesizer.Write(ModelShapes.TestTiny, WeightFormat.Q8_0, vocabulary, output));
        Assert.Contains("tokenizer.ggml.tokens", error.Message);
        Assert.Equal(new[] { vocabulary }, Directory.GetFileSystemEntries(_directory));
    }

    [Fact]
    public void A_missing_output_directory_is_refused_before_any_work()
    {
        string output = Path.Combine(_directory, "no-such-dir", "out.gguf");
        var error = Assert.Throws<DirectoryNotFoundException>(() =>
            ModelSynthesizer.Write(ModelShapes.TestTiny, WeightFormat.Q8_0, "/nonexistent/vocab.gguf", output));
        Assert.Contains("does not exist", error.Message);
    }

    private static double StandardDeviation(float[] values)
    {
        double mean = values.Average(v => (double)v);
        return Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
    }

    private static double[] Softmax(float[] logits)
    {
        double max = logits.Max();
        double[] e = logits.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }
}
