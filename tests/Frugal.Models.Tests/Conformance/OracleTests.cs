using Frugal.Models.Transformer;
using Frugal.TestSupport;

namespace Frugal.Models.Tests.Conformance;

/// <summary>
/// The fast batched forward pass against the plain scalar oracle (<see cref="ReferenceTransformer"/>), and the
/// oracle itself against llama.cpp on the full-precision models.
/// </summary>
public sealed class OracleTests
{
    // The oracle keeps activations in F32 and its KV cache in F32; the fast path quantizes activations as llama.cpp
    // does (Q8_0 / Q8_1 / Q8_K / F16) and keeps K and V in half precision. The budgets cover that rounding, and are
    // an order of magnitude below what a structural mistake (a wrong head, RoPE pair or norm) produces.
    public static IEnumerable<object[]> Models() =>
    [
        ["stories260K.gguf", 0.03f],
        ["synth-llama-tok512-F32.gguf", 0.03f],
        ["synth-qwen2-gpt2-F16.gguf", 0.06f],
        ["synth-llama-tok512-Q8_0.gguf", 0.25f],
        ["synth-llama-tok512-Q4_0.gguf", 0.25f],
        ["synth-llama-tok512-Q4_1.gguf", 0.25f],
        ["synth-llama-tok512-Q5_0.gguf", 0.25f],
        ["synth-llama-tok512-Q5_1.gguf", 0.25f],
        ["synth-llama-tok512-Q2_K.gguf", 0.3f],
        ["synth-llama-tok512-Q3_K.gguf", 0.25f],
        ["synth-llama-tok512-Q4_K.gguf", 0.25f],
        ["synth-llama-tok512-Q5_K.gguf", 0.25f],
        ["synth-llama-tok512-Q6_K.gguf", 0.25f],
    ];

    [SharedTheory]
    [MemberData(nameof(Models))]
    public void Fast_forward_matches_the_scalar_oracle(string modelFile, float tolerance)
    {
        var model = ModelCache.Get(SharedData.Model(modelFile));
        int[] tokens = model.Tokenizer.Encode("Once upon a time, a little bird sang in the big green tree.", addSpecial: true);
        int vocab = model.Config.VocabSize;

        using var session = model.CreateSession(tokens.Length);
        var fast = new float[tokens.Length * vocab];
        session.EvaluateAll(tokens, fast);

        var oracle = new ReferenceTransformer(model.Binding, tokens.Length);
        double worst = 0, sum = 0;
        for (int p = 0; p < tokens.Length; p++)
        {
            float[] expected = oracle.Forward(tokens[p], p);
            for (int i = 0; i < vocab; i++)
            {
                double diff = Math.Abs(expected[i] - fast[p * vocab + i]);
                worst = Math.Max(worst, diff);
                sum += diff;
            }
        }
        double mean = sum / (tokens.Length * vocab);
        Assert.True(worst <= tolerance && mean <= tolerance / 5,
            $"{modelFile}: |fast - oracle| worst {worst:F5} (budget {tolerance}), mean {mean:F5} (budget {tolerance / 5})");
    }

    [SharedTheory]
    [InlineData("stories260K.short.json")]
    [InlineData("synth-llama-tok512-F32.story.json")]
    [InlineData("synth-llama-spm-F16.short.json")]
    [InlineData("synth-qwen2-gpt2-F16.short.json")]
    public void Scalar_oracle_matches_llama_cpp(string referenceFile)
    {
        var reference = ReferenceCase.Load(referenceFile);
        var model = ModelCache.Get(reference.ModelPath);
        int[] tokens = reference.AllTokens;
        int vocab = model.Config.VocabSize;
        var oracle = new ReferenceTransformer(model.Binding, tokens.Length);
        var logits = new float[tokens.Length * vocab];
        for (int p = 0; p < tokens.Length; p++) oracle.Forward(tokens[p], p).CopyTo(logits, p * vocab);
        var problems = LogitComparison.Compare(reference, logits, vocab, 0.02f);
        Assert.True(problems.Count == 0, $"{referenceFile}:\n" + string.Join("\n", problems));
    }
}
