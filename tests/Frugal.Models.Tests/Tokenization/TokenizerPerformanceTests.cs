using System.Diagnostics;
using System.Text.Json;
using Frugal.Gguf;
using Frugal.Models.Tokenization;
using Frugal.TestSupport;
using Xunit.Abstractions;

namespace Frugal.Models.Tests.Tokenization;

/// <summary>Timing tests run alone: other tests running beside them would be counted in the process CPU time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "Timing";
}

/// <summary>
/// Budgets: building a 32k–100k vocabulary in under 200 ms, encoding a ~100-token paragraph well under 1 ms after
/// warm-up. Measured as process CPU time, best of several runs, so that a busy machine (waiting for a core) does
/// not count; unoptimised Debug builds get a 5× allowance.
/// </summary>
[Collection(TimingCollection.Name)]
public sealed class TokenizerPerformanceTests(ITestOutputHelper output)
{
#if DEBUG
    private const double Allowance = 5;
#else
    private const double Allowance = 1;
#endif

    [SharedTheory]
    [InlineData("models", "synth-llama-spm-F16.gguf")]
    [InlineData("models", "synth-qwen2-gpt2-F16.gguf")]
    [InlineData("vocab", "ggml-vocab-deepseek-llm.gguf")]
    public void BuildsAndEncodesWithinBudget(string folder, string fileName)
    {
        using GgufFile file = GgufFile.Open(SharedData.Path(folder, fileName));
        Tokenizer tokenizer = Tokenizer.FromGguf(file); // warm-up: JIT and static tables
        double buildMs = BestCpuMilliseconds(() => tokenizer = Tokenizer.FromGguf(file), runs: 3, repetitions: 1);

        string paragraph = JsonDocument.Parse(File.ReadAllBytes(SharedData.Path("reference", "synth-qwen2-gpt2-F16.long.json")))
            .RootElement.GetProperty("prompt").GetString()!;
        int tokens = tokenizer.Encode(paragraph).Length;
        for (int i = 0; i < 300; i++) tokenizer.Encode(paragraph);
        double encodeMs = BestCpuMilliseconds(() => tokenizer.Encode(paragraph), runs: 5, repetitions: 100);

        output.WriteLine($"{fileName}: vocab {tokenizer.VocabSize}, build {buildMs:F1} ms, encode {tokens} tokens {encodeMs * 1000:F0} µs (CPU)");
        Assert.True(buildMs < 200 * Allowance, $"building took {buildMs:F0} ms of CPU");
        Assert.True(encodeMs < 1 * Allowance, $"encoding {tokens} tokens took {encodeMs:F2} ms of CPU");
    }

    private static double BestCpuMilliseconds(Action action, int runs, int repetitions)
    {
        double best = double.MaxValue;
        using var process = Process.GetCurrentProcess();
        for (int run = 0; run < runs; run++)
        {
            process.Refresh();
            TimeSpan start = process.TotalProcessorTime;
            for (int i = 0; i < repetitions; i++) action();
            process.Refresh();
            best = Math.Min(best, (process.TotalProcessorTime - start).TotalMilliseconds / repetitions);
        }
        return best;
    }
}
