using Frugal.Compression.Evaluation;
using Frugal.Compression.Tests.Quantization;
using Frugal.Models;
using Frugal.TestSupport;
using Xunit.Abstractions;

namespace Frugal.Compression.Tests.Evaluation;

/// <summary>Perplexity and KL of stories260K on Data/stories.txt (children's stories written for these tests).</summary>
public class PerplexityEvaluatorTests(ITestOutputHelper output)
{
    internal const int Context = 128;

    /// <summary>8 chunks (504 scored tokens) keep each evaluation well under a second on a loaded machine.</summary>
    internal const int Chunks = 8;

    internal static string Stories => File.ReadAllText(TestData.Path("stories.txt"));

    internal static Model LoadStories(string? path = null) =>
        Model.Load(path ?? SharedData.Model("stories260K.gguf"), new ModelLoadOptions { Threads = 2 });

    [SharedFact]
    public void Stories260K_models_the_stories_well_and_reproducibly()
    {
        using var model = LoadStories();
        var options = new PerplexityOptions { ContextSize = Context, MaxChunks = Chunks };
        var first = PerplexityEvaluator.Evaluate(model, Stories, options);
        var second = PerplexityEvaluator.Evaluate(model, Stories, options);
        output.WriteLine($"PPL {first.Perplexity:F4} ± {first.PerplexityError:F4} over {first.TokensScored} tokens in {first.Chunks} chunks");

        Assert.Equal(first, second);
        Assert.True(model.Tokenizer.Encode(Stories).Length >= 20 * Context, "the test text should hold at least 20 chunks");
        int chunks = Chunks;
        Assert.Equal(chunks, first.Chunks);
        // Scored: logits after positions 64…126 predict tokens 65…127 of each chunk.
        Assert.Equal(chunks * (Context - 1 - Context / 2), first.TokensScored);
        // A 512-token vocabulary model trained on TinyStories: far below uniform guessing (512), well above 1.
        Assert.InRange(first.Perplexity, 1.5, 20);
        Assert.Equal(first.Perplexity * first.NegativeLogLikelihood.StandardError, first.PerplexityError, 12);
        Assert.InRange(first.PerplexityError, 1e-6, first.Perplexity * 0.2);
    }

    [SharedFact]
    public void Perplexity_matches_a_direct_computation_of_one_chunk()
    {
        using var model = LoadStories();
        var result = PerplexityEvaluator.Evaluate(model, Stories, new PerplexityOptions { ContextSize = Context, MaxChunks = 1 });

        // Independently: feed the chunk one token at a time and score the second half with float softmax sums.
        int[] chunk = model.Tokenizer.Encode(Stories)[..Context];
        chunk[0] = model.Tokenizer.BosId;
        using var session = model.CreateSession(Context);
        double nll = 0;
        int count = 0;
        for (int i = 0; i < Context - 1; i++)
        {
            var logits = session.Evaluate(chunk.AsSpan(i, 1)).ToArray();
            if (i < Context / 2) continue;
            double max = logits.Max();
            double sum = logits.Sum(l => Math.Exp(l - max));
            nll += -(logits[chunk[i + 1]] - max - Math.Log(sum));
            count++;
        }
        Assert.Equal(count, result.TokensScored);
        Assert.Equal(Math.Exp(nll / count), result.Perplexity, 4);
    }

    [SharedFact]
    public void A_model_compared_with_itself_has_zero_divergence_and_full_agreement()
    {
        using var model = LoadStories();
        using var same = LoadStories();
        var result = PerplexityEvaluator.Compare(model, same, Stories, new PerplexityOptions { ContextSize = Context, MaxChunks = Chunks });
        Assert.Equal(0.0, result.KlDivergence.Mean, 12);
        Assert.Equal(0.0, result.KlDivergenceMax, 12);
        Assert.Equal(1.0, result.TopTokenAgreement);
        Assert.Equal(0.0, result.LogPerplexityRatio.Mean, 12);
        Assert.Equal(result.Base.Perplexity, result.Model.Perplexity);
    }

    [SharedFact]
    public void A_different_model_with_the_same_vocabulary_diverges()
    {
        // synth-llama-tok512 shares stories260K's 512-token tokenizer but has random weights.
        using var model = LoadStories();
        using var random = LoadStories(SharedData.Model("synth-llama-tok512-F32.gguf"));
        var result = PerplexityEvaluator.Compare(model, random, Stories, new PerplexityOptions { ContextSize = Context, MaxChunks = 2 });
        output.WriteLine($"KL {result.KlDivergence.Mean:F4}, top-1 {result.TopTokenAgreement:P1}, ln ratio {result.LogPerplexityRatio.Mean:F4}");
        Assert.True(result.KlDivergence.Mean > 0.5);
        Assert.True(result.KlDivergence99 <= result.KlDivergenceMax);
        Assert.True(result.TopTokenAgreement < 0.5);
        Assert.Equal(Math.Log(result.Model.Perplexity / result.Base.Perplexity), result.LogPerplexityRatio.Mean, 9);
    }

    [SharedFact]
    public void Models_with_different_tokenizers_are_refused()
    {
        using var model = LoadStories();
        using var other = LoadStories(SharedData.Model("synth-qwen2-gpt2-F16.gguf"));
        var error = Assert.Throws<ArgumentException>(() => PerplexityEvaluator.Compare(model, other, Stories, new PerplexityOptions { ContextSize = Context }));
        Assert.Contains("same tokenizer", error.Message);
    }

    [SharedFact]
    public void A_text_shorter_than_one_chunk_is_refused()
    {
        using var model = LoadStories();
        var error = Assert.Throws<ArgumentException>(() => PerplexityEvaluator.Evaluate(model, "Once upon a time", new PerplexityOptions { ContextSize = Context }));
        Assert.Contains("fewer than one chunk", error.Message);
    }
}
