using Frugal.TestSupport;

namespace Frugal.Models.Tests.Conformance;

/// <summary>The real trained model: greedy decoding reproduces llama.cpp's tokens exactly.</summary>
public sealed class StoriesGenerationTests
{
    [SharedTheory]
    [InlineData("stories260K.bos.json")]
    [InlineData("stories260K.short.json")]
    [InlineData("stories260K.story.json")]
    public void Greedy_generation_reproduces_llama_cpp(string referenceFile)
    {
        var reference = ReferenceCase.Load(referenceFile);
        var model = ModelCache.Get(reference.ModelPath);
        using var session = model.CreateSession(256);

        var logits = session.Evaluate(reference.PromptTokens);
        var generated = new List<int>();
        for (int i = 0; i < reference.GreedyTokens.Length; i++)
        {
            int next = LogitComparison.ArgMax(logits);
            generated.Add(next);
            logits = session.Evaluate([next]);
        }
        Assert.Equal(reference.GreedyTokens, generated);
    }

    [SharedFact]
    public void Greedy_text_from_bos_is_the_lily_story()
    {
        var model = ModelCache.Get(SharedData.Model("stories260K.gguf"));
        using var session = model.CreateSession(128);
        var logits = session.Evaluate([model.Tokenizer.BosId]);
        var tokens = new List<int>();
        for (int i = 0; i < 40; i++)
        {
            int next = LogitComparison.ArgMax(logits);
            tokens.Add(next);
            logits = session.Evaluate([next]);
        }
        string text = model.Tokenizer.Decode(tokens.ToArray());
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", text.TrimStart());
    }
}
