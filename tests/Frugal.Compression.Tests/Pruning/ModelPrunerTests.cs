using Frugal.Compression.Evaluation;
using Frugal.Compression.Pruning;
using Frugal.Compression.Tests.Evaluation;
using Frugal.Compression.Tests.Quantization;
using Frugal.Gguf;
using Frugal.Models;
using Frugal.Quants;
using Frugal.TestSupport;
using Xunit.Abstractions;

namespace Frugal.Compression.Tests.Pruning;

/// <summary>
/// Pruning stories260K (dim 64, 5 layers, FFN 172, F32): calibrated on the first half of Data/stories.txt, measured
/// on the second half, so the importance scores never see the evaluation text.
/// </summary>
public class ModelPrunerTests(ITestOutputHelper output)
{
    private const int Context = PerplexityEvaluatorTests.Context;

    private static readonly string[] StoryParagraphs = PerplexityEvaluatorTests.Stories.Split("\n\n");
    private static string CalibrationText => string.Join("\n\n", StoryParagraphs[..(StoryParagraphs.Length / 2)]);
    private static string EvaluationText => string.Join("\n\n", StoryParagraphs[(StoryParagraphs.Length / 2)..]);

    private static string Stories260K => SharedData.Model("stories260K.gguf");

    private static FfnPruneOptions Ffn(double ratio, PruneMethod method = PruneMethod.Importance, int seed = 0) =>
        new() { Ratio = ratio, Method = method, Seed = seed, ContextSize = Context, MaxChunks = 6, Threads = 2 };

    private static double Perplexity(string path)
    {
        using var model = PerplexityEvaluatorTests.LoadStories(path);
        return PerplexityEvaluator.Evaluate(model, EvaluationText, new PerplexityOptions { ContextSize = Context, MaxChunks = PerplexityEvaluatorTests.Chunks }).Perplexity;
    }

    private static double PrunedPerplexity(TempDirectory directory, FfnPruneOptions options)
    {
        string path = directory.File($"ffn-{options.Method}-{options.Ratio}-{options.Seed}.gguf");
        ModelPruner.PruneFeedForward(Stories260K, path, CalibrationText, options);
        return Perplexity(path);
    }

    [SharedFact]
    public void Ffn_pruning_writes_a_model_that_loads_and_runs()
    {
        using var directory = new TempDirectory();
        string path = directory.File("pruned.gguf");
        var result = ModelPruner.PruneFeedForward(Stories260K, path, CalibrationText, Ffn(0.25));
        Assert.Equal(172, result.OriginalFeedForward);
        Assert.Equal(129, result.NewFeedForward); // 172 − round(43)
        Assert.All(result.RemovedNeurons, r => Assert.Equal(43, r.Length));
        Assert.Empty(result.Notes);
        Assert.True(result.OutputBytes < result.InputBytes);

        using (var file = GgufFile.Open(path))
        {
            Assert.Equal(129u, file.GetUInt32("llama.feed_forward_length"));
            Assert.Equal([64L, 129], file.GetTensor("blk.0.ffn_gate.weight").Shape);
            Assert.Equal([64L, 129], file.GetTensor("blk.4.ffn_up.weight").Shape);
            Assert.Equal([129L, 64], file.GetTensor("blk.2.ffn_down.weight").Shape);
            Assert.Equal(GgmlType.F32, file.GetTensor("blk.2.ffn_down.weight").Type);
        }
        using var model = PerplexityEvaluatorTests.LoadStories(path);
        Assert.Equal(129, model.Config.FeedForwardDim);
        using var session = model.CreateSession(32);
        var logits = session.Evaluate(model.Tokenizer.Encode("Once upon a time"));
        Assert.All(logits.ToArray(), l => Assert.True(float.IsFinite(l)));
    }

    [SharedFact]
    public void Pruned_weights_are_the_kept_rows_and_columns_of_the_original()
    {
        using var directory = new TempDirectory();
        string path = directory.File("pruned.gguf");
        var result = ModelPruner.PruneFeedForward(Stories260K, path, CalibrationText, Ffn(0.10, PruneMethod.Random, seed: 3));
        using var original = GgufFile.Open(Stories260K);
        using var pruned = GgufFile.Open(path);
        int ffn = 172, kept = result.NewFeedForward;
        var keptNeurons = Enumerable.Range(0, ffn).Except(result.RemovedNeurons[1]).ToArray();
        Assert.Equal(kept, keptNeurons.Length);
        var gate = Floats(original, "blk.1.ffn_gate.weight");
        var newGate = Floats(pruned, "blk.1.ffn_gate.weight");
        var down = Floats(original, "blk.1.ffn_down.weight");
        var newDown = Floats(pruned, "blk.1.ffn_down.weight");
        for (int k = 0; k < kept; k++)
        {
            int j = keptNeurons[k];
            Assert.Equal(gate.AsSpan(j * 64, 64).ToArray(), newGate.AsSpan(k * 64, 64).ToArray());
            for (int r = 0; r < 64; r++) Assert.Equal(down[r * ffn + j], newDown[r * kept + k]);
        }
        // Untouched tensors come through byte for byte.
        Assert.True(original.TensorBytes(original.GetTensor("blk.1.attn_q.weight")).SequenceEqual(pruned.TensorBytes(pruned.GetTensor("blk.1.attn_q.weight"))));
    }

    private static float[] Floats(GgufFile file, string name) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(file.TensorBytes(file.GetTensor(name))).ToArray();

    [SharedFact]
    public void Perplexity_rises_as_more_ffn_neurons_are_removed()
    {
        using var directory = new TempDirectory();
        var perplexities = new List<double> { Perplexity(Stories260K) };
        foreach (double ratio in new[] { 0.10, 0.25, 0.50 }) perplexities.Add(PrunedPerplexity(directory, Ffn(ratio)));
        output.WriteLine("PPL at 0/10/25/50 %: " + string.Join(", ", perplexities.Select(p => p.ToString("F3"))));
        for (int i = 1; i < perplexities.Count; i++) Assert.True(perplexities[i] > perplexities[i - 1], $"PPL did not rise: {string.Join(", ", perplexities)}");
    }

    [SharedFact]
    public void Importance_pruning_hurts_less_than_removing_random_neurons()
    {
        using var directory = new TempDirectory();
        double importance = PrunedPerplexity(directory, Ffn(0.10));
        // Averaged over three seeds so one lucky draw cannot decide it.
        double random = new[] { 1, 2, 3 }.Average(seed => PrunedPerplexity(directory, Ffn(0.10, PruneMethod.Random, seed)));
        output.WriteLine($"10 %: importance PPL {importance:F3}, random PPL (mean of 3 seeds) {random:F3}");
        Assert.True(importance < random, $"importance {importance} should beat random {random}");
    }

    [SharedFact]
    public void Random_pruning_is_reproducible_with_its_seed()
    {
        using var directory = new TempDirectory();
        var a = ModelPruner.PruneFeedForward(Stories260K, directory.File("a.gguf"), null, Ffn(0.1, PruneMethod.Random, 7));
        var b = ModelPruner.PruneFeedForward(Stories260K, directory.File("b.gguf"), null, Ffn(0.1, PruneMethod.Random, 7));
        var c = ModelPruner.PruneFeedForward(Stories260K, directory.File("c.gguf"), null, Ffn(0.1, PruneMethod.Random, 8));
        Assert.Equal(a.RemovedNeurons, b.RemovedNeurons);
        Assert.NotEqual(a.RemovedNeurons, c.RemovedNeurons);
        Assert.True(File.ReadAllBytes(directory.File("a.gguf")).AsSpan().SequenceEqual(File.ReadAllBytes(directory.File("b.gguf"))));
    }

    [SharedFact]
    public void Quantized_ffn_keeps_whole_blocks_and_its_type()
    {
        // synth-llama-tok512-Q4_0: FFN 512, every matrix Q4_0 (blocks of 32).
        using var directory = new TempDirectory();
        string path = directory.File("q4.gguf");
        var result = ModelPruner.PruneFeedForward(SharedData.Model("synth-llama-tok512-Q4_0.gguf"), path, CalibrationText, Ffn(0.10));
        Assert.Equal(448, result.NewFeedForward);
        Assert.Single(result.Notes);
        using (var file = GgufFile.Open(path))
        {
            Assert.Equal(GgmlType.Q4_0, file.GetTensor("blk.0.ffn_down.weight").Type);
            Assert.Equal([448L, 256], file.GetTensor("blk.0.ffn_down.weight").Shape);
            Assert.Equal(GgmlType.Q4_0, file.GetTensor("blk.0.ffn_up.weight").Type);
        }
        using var model = PerplexityEvaluatorTests.LoadStories(path);
        using var session = model.CreateSession(16);
        Assert.All(session.Evaluate([1, 2, 3]).ToArray(), l => Assert.True(float.IsFinite(l)));
    }

    [SharedFact]
    public void Layer_removal_drops_the_most_similar_blocks_and_renumbers_the_rest()
    {
        using var directory = new TempDirectory();
        string path = directory.File("layers.gguf");
        var result = ModelPruner.RemoveLayers(Stories260K, path, CalibrationText, new LayerPruneOptions { Count = 2, ContextSize = Context, MaxChunks = 6, Threads = 2 });
        output.WriteLine("similarity: " + string.Join(", ", result.Similarity.Select(s => s.ToString("F4"))) + $"; removed {string.Join(",", result.RemovedLayers)}");
        Assert.Equal(5, result.Similarity.Count);
        Assert.All(result.Similarity, s => Assert.InRange(s, -1.0, 1.0));
        Assert.Equal(2, result.RemovedLayers.Count);
        double weakestRemoved = result.RemovedLayers.Min(l => result.Similarity[l]);
        Assert.All(Enumerable.Range(0, 5).Except(result.RemovedLayers), l => Assert.True(result.Similarity[l] <= weakestRemoved));

        using var original = GgufFile.Open(Stories260K);
        using var file = GgufFile.Open(path);
        Assert.Equal(3u, file.GetUInt32("llama.block_count"));
        Assert.Equal(original.Tensors.Count - 2 * 9, file.Tensors.Count);
        int[] kept = Enumerable.Range(0, 5).Except(result.RemovedLayers).ToArray();
        for (int l = 0; l < 3; l++)
        {
            var bytes = file.TensorBytes(file.GetTensor($"blk.{l}.attn_k.weight"));
            Assert.True(bytes.SequenceEqual(original.TensorBytes(original.GetTensor($"blk.{kept[l]}.attn_k.weight"))));
        }
        Assert.Null(file.FindTensor("blk.3.attn_k.weight"));
        using var model = PerplexityEvaluatorTests.LoadStories(path);
        Assert.Equal(3, model.Config.Layers);
    }

    [SharedFact]
    public void Perplexity_rises_as_layers_are_removed()
    {
        using var directory = new TempDirectory();
        var perplexities = new List<double> { Perplexity(Stories260K) };
        for (int count = 1; count <= 3; count++)
        {
            string path = directory.File($"layers-{count}.gguf");
            ModelPruner.RemoveLayers(Stories260K, path, CalibrationText, new LayerPruneOptions { Count = count, ContextSize = Context, MaxChunks = 6, Threads = 2 });
            perplexities.Add(Perplexity(path));
        }
        output.WriteLine("PPL with 0/1/2/3 layers removed: " + string.Join(", ", perplexities.Select(p => p.ToString("F3"))));
        for (int i = 1; i < perplexities.Count; i++) Assert.True(perplexities[i] > perplexities[i - 1], $"PPL did not rise: {string.Join(", ", perplexities)}");
    }

    [SharedTheory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.5)]
    [InlineData(double.NaN)]
    public void Ratios_outside_zero_to_one_are_refused_before_anything_is_written(double ratio)
    {
        using var directory = new TempDirectory();
        string path = directory.File("out.gguf");
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ModelPruner.PruneFeedForward(Stories260K, path, CalibrationText, Ffn(ratio)));
        Assert.Contains("between 0 and 1", error.Message);
        Assert.Empty(Directory.GetFiles(directory.Path));
    }

    [SharedTheory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(9)]
    public void Layer_counts_outside_one_to_block_count_minus_one_are_refused(int count)
    {
        using var directory = new TempDirectory();
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelPruner.RemoveLayers(Stories260K, directory.File("out.gguf"), CalibrationText, new LayerPruneOptions { Count = count }));
        Assert.Empty(Directory.GetFiles(directory.Path));
    }

    [SharedFact]
    public void Importance_pruning_without_text_and_bad_paths_are_refused()
    {
        using var directory = new TempDirectory();
        Assert.Contains("--text", Assert.Throws<ArgumentException>(() => ModelPruner.PruneFeedForward(Stories260K, directory.File("o.gguf"), null, Ffn(0.1))).Message);
        Assert.Throws<FileNotFoundException>(() => ModelPruner.PruneFeedForward(directory.File("missing.gguf"), directory.File("o.gguf"), null, Ffn(0.1, PruneMethod.Random)));
        Assert.Contains("input model", Assert.Throws<ArgumentException>(() => ModelPruner.PruneFeedForward(Stories260K, Stories260K, null, Ffn(0.1, PruneMethod.Random))).Message);
        Assert.Empty(Directory.GetFiles(directory.Path));
    }
}
