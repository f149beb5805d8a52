using Frugal.TestSupport;
using Xunit.Abstractions;

namespace Frugal.Models.Tests.Conformance;

/// <summary>
/// Every ../shared/reference file: our tokenization of the prompt equals llama.cpp's, and teacher-forced on
/// prompt + greedy tokens our logits match llama.cpp's top-5 at every position (0.02 for F32/F16 models,
/// 0.1 for quantized ones; mean within a third of that; same top-1 where llama.cpp's lead is clear).
/// Runs under whatever FRUGAL_SIMD forces, so CI repeats it for every vector width.
/// </summary>
public sealed class LlamaCppConformanceTests(ITestOutputHelper output)
{
    [SharedTheory]
    [MemberData(nameof(ReferenceCase.All), MemberType = typeof(ReferenceCase))]
    public void Prompt_tokenization_matches_llama_cpp(string referenceFile)
    {
        var reference = ReferenceCase.Load(referenceFile);
        var model = ModelCache.Get(reference.ModelPath);
        int[] tokens = model.Tokenizer.Encode(reference.Prompt, addSpecial: true, parseSpecial: true);
        Assert.Equal(reference.PromptTokens, tokens);
    }

    [SharedTheory]
    [MemberData(nameof(ReferenceCase.All), MemberType = typeof(ReferenceCase))]
    public void Teacher_forced_logits_match_llama_cpp(string referenceFile)
    {
        var reference = ReferenceCase.Load(referenceFile);
        var model = ModelCache.Get(reference.ModelPath);
        int[] tokens = reference.AllTokens;
        Assert.Equal(tokens.Length, reference.Positions.Length);

        using var session = model.CreateSession(tokens.Length);
        var logits = new float[tokens.Length * session.VocabSize];
        session.EvaluateAll(tokens, logits);

        float tolerance = reference.IsFullPrecision ? 0.02f : 0.1f;
        var problems = LogitComparison.Compare(reference, PlatformAnchor.For(referenceFile), logits, session.VocabSize, tolerance, out string summary);
        output.WriteLine(summary);
        Assert.True(problems.Count == 0, $"{referenceFile}:\n" + string.Join("\n", problems));
    }
}
