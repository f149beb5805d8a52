using System.Diagnostics;
using System.Text.Json;
using Frugal.Gguf;
using Frugal.Models.Tokenization;
using Frugal.TestSupport;
using Xunit.Abstractions;

namespace Frugal.Models.Tests.Tokenization;

/// <summary>
/// Budgets: building a 32k–100k vocabulary well under 200 ms, encoding a ~100-token paragraph well under 1 ms after
/// warm-up. The asserted limits are several times looser than the targets because test machines are shared.
/// </summary>
public sealed class TokenizerPerformanceTests(ITestOutputHelper output)
{
    [SharedTheory]
    [InlineData("models", "synth-llama-spm-F16.gguf")]
    [InlineData("models", "synth-qwen2-gpt2-F16.gguf")]
    [InlineData("vocab", "ggml-vocab-deepseek-llm.gguf")]
    public void BuildsAndEncodesWithinBudget(string folder, string fileName)
    {
        using GgufFile file = GgufFile.Open(SharedData.Path(folder, fileName));
        Tokenizer.FromGguf(file); // warm-up: JIT and static tables
        var build = Stopwatch.StartNew();
        Tokenizer tokenizer = Tokenizer.FromGguf(file);
        build.Stop();

        string paragraph = JsonDocument.Parse(File.ReadAllBytes(SharedData.Path("reference", "synth-qwen2-gpt2-F16.long.json")))
            .RootElement.GetProperty("prompt").GetString()!;
        int tokens = 0;
        for (int i = 0; i < 200; i++) tokens = tokenizer.Encode(paragraph).Length;
        const int runs = 500;
        var encode = Stopwatch.StartNew();
        for (int i = 0; i < runs; i++) tokenizer.Encode(paragraph);
        encode.Stop();
        double perEncodeMs = encode.Elapsed.TotalMilliseconds / runs;

        output.WriteLine($"{fileName}: vocab {tokenizer.VocabSize}, build {build.Elapsed.TotalMilliseconds:F1} ms, encode {tokens} tokens {perEncodeMs * 1000:F0} µs");
        Assert.True(build.Elapsed.TotalMilliseconds < 1000, $"building took {build.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(perEncodeMs < 5, $"encoding {tokens} tokens took {perEncodeMs:F2} ms");
    }
}
