using System.Text.Json;
using Frugal.Engine.Sampling;
using Frugal.Models;
using Frugal.TestSupport;

namespace Frugal.Engine.Tests;

/// <summary>The generation loop on the real stories260K model against llama.cpp's greedy continuation.</summary>
public class StoriesGenerationTests
{
    [SharedTheory]
    [InlineData("short")]
    [InlineData("bos")]
    public void Greedy_generation_matches_llama_cpp(string promptId)
    {
        using var reference = JsonDocument.Parse(File.ReadAllText(SharedData.Path("reference", $"stories260K.{promptId}.json")));
        var root = reference.RootElement;
        int[] expectedTokens = root.GetProperty("greedy_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        using var model = Model.Load(SharedData.Model("stories260K.gguf"), new ModelLoadOptions { Threads = 1 });
        using var session = model.CreateSession();
        int[] prompt = model.Tokenizer.Encode(root.GetProperty("prompt").GetString()!, addSpecial: true, parseSpecial: true);
        Assert.Equal(root.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32()), prompt);

        var streamed = new System.Text.StringBuilder();
        var options = new GenerationOptions { MaxTokens = expectedTokens.Length, Sampling = SamplingOptions.Greedy };
        var result = Generator.Generate(session, model.Tokenizer, prompt, options, (_, piece) => streamed.Append(piece));

        Assert.Equal(expectedTokens, result.Tokens);
        Assert.Equal(root.GetProperty("greedy_text").GetString(), result.Text);
        Assert.Equal(result.Text, streamed.ToString());
        Assert.Equal(FinishReasons.Length, result.FinishReason);
        // The prompt and every generated token but the last went through the session.
        Assert.Equal(prompt.Length + expectedTokens.Length - 1, session.Position);
    }

    [SharedFact]
    public void Stops_when_the_model_emits_end_of_sequence()
    {
        using var model = Model.Load(SharedData.Model("stories260K.gguf"), new ModelLoadOptions { Threads = 1 });
        using var session = model.CreateSession(contextSize: 64);
        int eos = model.Tokenizer.EosId;
        // Greedy stories260K never ends a story within its context; a bias that makes EOS win after a few tokens does.
        var sampling = SamplingOptions.Greedy with { LogitBias = new Dictionary<int, float> { [eos] = 100f } };
        var result = Generator.Generate(session, model.Tokenizer, [model.Tokenizer.BosId, 403, 407],
            new GenerationOptions { MaxTokens = 50, Sampling = sampling });
        Assert.Equal(FinishReasons.Stop, result.FinishReason);
        Assert.Empty(result.Tokens);
        Assert.Equal("", result.Text);

        // With stopping turned off, EOS is an ordinary token and generation runs to the budget.
        session.Reset();
        var unstopped = Generator.Generate(session, model.Tokenizer, [model.Tokenizer.BosId],
            new GenerationOptions { MaxTokens = 3, Sampling = sampling, StopAtEndOfGeneration = false });
        Assert.Equal([eos, eos, eos], unstopped.Tokens);
        Assert.Equal(FinishReasons.Length, unstopped.FinishReason);
    }
}
