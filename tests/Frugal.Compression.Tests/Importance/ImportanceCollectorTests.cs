using Frugal.Compression.Importance;
using Frugal.Compression.Quantization;
using Frugal.Compression.Tests.Quantization;
using Frugal.Gguf;
using Frugal.Models;
using Frugal.Quants;
using Frugal.TestSupport;
using Xunit.Abstractions;

namespace Frugal.Compression.Tests.Importance;

/// <summary>An importance matrix collected on stories260K with the children's stories in Data/calibration.txt.</summary>
public class ImportanceCollectorTests(ITestOutputHelper output)
{
    private const int Context = 64;
    private const int Chunks = 3;

    private static string CalibrationText => TestData.CalibrationText;

    private static ImportanceMatrix CollectStories(Model model) =>
        ImportanceMatrixBuilder.Collect(model, CalibrationText, new ImportanceOptions { ContextSize = Context, MaxChunks = Chunks, Dataset = "calibration.txt" });

    [SharedFact]
    public void Every_layer_matrix_is_collected_once_per_batch()
    {
        using var model = Model.Load(SharedData.Model("stories260K.gguf"), new ModelLoadOptions { Threads = 2 });
        var matrix = CollectStories(model);
        var config = model.Config;
        Assert.Equal(config.Layers * 7, matrix.Entries.Count); // q, k, v, output, gate, up, down; no embedding, no output
        Assert.All(matrix.Entries.Values, e =>
        {
            Assert.StartsWith("blk.", e.Name);
            Assert.Equal(Chunks, e.CallCount);
            Assert.Equal(e.Name.Contains("ffn_down") ? config.FeedForwardDim : config.EmbeddingDim, e.Columns);
            Assert.All(e.StoredValues, v => Assert.True(v > 0 && float.IsFinite(v)));
        });
        Assert.Equal(Chunks, matrix.ChunkCount);
        Assert.Equal("calibration.txt", matrix.Dataset);

        using var directory = new TempDirectory();
        ImportanceMatrixFile.Write(matrix, directory.File("stories.imatrix"));
        var read = ImportanceMatrixFile.Read(directory.File("stories.imatrix"));
        Assert.Equal(matrix.Entries.Keys.Order(), read.Entries.Keys.Order());
        foreach (var entry in matrix.Entries.Values) Assert.Equal(entry.StoredValues, read.Entries[entry.Name].StoredValues);
    }

    /// <summary>
    /// The input of layer 0's q/k/v projections is rmsnorm(embedding) · attn_norm: computed here in double straight from
    /// the file's weights for the same tokens (the text with BOS, each chunk starting with BOS instead of its first token).
    /// </summary>
    [SharedFact]
    public void Values_equal_a_direct_computation_for_layer_0_attention_input()
    {
        using var model = Model.Load(SharedData.Model("stories260K.gguf"), new ModelLoadOptions { Threads = 2 });
        var matrix = CollectStories(model);

        var file = model.File;
        int dim = model.Config.EmbeddingDim;
        float eps = file.GetFloat32("llama.attention.layer_norm_rms_epsilon");
        var embedding = Floats(file, "token_embd.weight");
        var norm = Floats(file, "blk.0.attn_norm.weight");
        int[] tokens = model.Tokenizer.Encode(CalibrationText, addSpecial: true);
        var sums = new double[dim];
        int count = 0;
        for (int c = 0; c < Chunks; c++)
        {
            for (int t = 0; t < Context; t++)
            {
                int token = t == 0 ? model.Tokenizer.BosId : tokens[c * Context + t];
                var x = embedding.AsSpan(token * dim, dim);
                double meanSquare = 0;
                foreach (float v in x) meanSquare += (double)v * v;
                double scale = 1 / Math.Sqrt(meanSquare / dim + eps);
                for (int j = 0; j < dim; j++) sums[j] += Math.Pow(x[j] * scale * norm[j], 2);
                count++;
            }
        }
        foreach (string name in new[] { "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight" })
        {
            float[] collected = matrix.Entries[name].MeanSquares();
            for (int j = 0; j < dim; j++)
            {
                double expected = sums[j] / count;
                Assert.True(Math.Abs(collected[j] - expected) <= 1e-4 * expected + 1e-9,
                    $"{name} column {j}: collected {collected[j]:G7}, direct {expected:G7}");
            }
        }
    }

    /// <summary>Quantizing stories260K's matrices with its importance matrix lowers the error that matrix weighs.</summary>
    [SharedFact]
    public void Weighted_quantization_lowers_the_importance_weighted_error()
    {
        using var model = Model.Load(SharedData.Model("stories260K.gguf"), new ModelLoadOptions { Threads = 2 });
        var matrix = CollectStories(model);
        double plainTotal = 0, weightedTotal = 0;
        int better = 0;
        foreach (var entry in matrix.Entries.Values)
        {
            var tensor = model.File.GetTensor(entry.Name);
            var weights = Floats(model.File, entry.Name);
            int columns = (int)tensor.Shape[0];
            // 64 columns fit Q4_0's blocks of 32; ffn_down's 172 do not fit any block, so it is left out.
            if (columns % 32 != 0) continue;
            float[] importance = entry.MeanSquares();
            double plain = WeightedError(weights, columns, [], importance);
            double weighted = WeightedError(weights, columns, importance, importance);
            output.WriteLine($"{entry.Name,-26} Σ imp·err²: plain {plain:E4}  weighted {weighted:E4}");
            plainTotal += plain;
            weightedTotal += weighted;
            if (weighted < plain) better++;
        }
        Assert.True(weightedTotal < 0.9 * plainTotal, $"weighted total {weightedTotal:E4} is not clearly below plain {plainTotal:E4}");
        Assert.True(better >= matrix.Entries.Count * 5 / 7 * 9 / 10, $"only {better} matrices improved");
    }

    [SharedFact]
    public void The_output_matrix_is_collected_only_when_asked()
    {
        using var model = Model.Load(SharedData.Model("synth-llama-tok512-F32.gguf"), new ModelLoadOptions { Threads = 2 });
        var options = new ImportanceOptions { ContextSize = 32, MaxChunks = 1 };
        Assert.DoesNotContain("output.weight", ImportanceMatrixBuilder.Collect(model, CalibrationText, options).Entries.Keys);
        var withOutput = ImportanceMatrixBuilder.Collect(model, CalibrationText, options with { IncludeOutput = true });
        Assert.Equal(model.Config.EmbeddingDim, withOutput.Entries["output.weight"].Columns);
    }

    [SharedFact]
    public void Too_short_a_text_is_refused_with_the_numbers()
    {
        using var model = Model.Load(SharedData.Model("stories260K.gguf"), new ModelLoadOptions { Threads = 1 });
        var error = Assert.Throws<ArgumentException>(() => ImportanceMatrixBuilder.Collect(model, "Once upon a time.", new ImportanceOptions { ContextSize = 512 }));
        Assert.Contains("fewer than one chunk of 512", error.Message);
    }

    private static double WeightedError(float[] weights, int columns, float[] importanceUsed, float[] importanceMeasured)
    {
        var packed = new byte[weights.Length / columns * GgmlTypes.Info(GgmlType.Q4_0).RowBytes(columns)];
        WeightQuantizer.QuantizeRows(GgmlType.Q4_0, weights, packed, columns, importanceUsed);
        var back = new float[weights.Length];
        WeightQuantizer.Dequantize(GgmlType.Q4_0, packed, back);
        double sum = 0;
        for (int i = 0; i < weights.Length; i++) sum += importanceMeasured[i % columns] * Math.Pow(weights[i] - back[i], 2);
        return sum;
    }

    private static float[] Floats(GgufFile file, string name)
    {
        var tensor = file.GetTensor(name);
        var values = new float[tensor.ElementCount];
        WeightQuantizer.Dequantize(tensor.Type, file.TensorBytes(tensor), values);
        return values;
    }
}
