using Frugal.TestSupport;
using Xunit.Abstractions;
namespace Frugal.Models.Tests.Conformance;
public sealed class DebugDump(ITestOutputHelper output)
{
    [SharedTheory]
    [InlineData("synth-llama-spm-Q4_0.short.json")]
    [InlineData("synth-qwen2-gpt2-Q8_0.short.json")]
    [InlineData("synth-qwen2-gpt2-F16.short.json")]
    [InlineData("synth-llama-tok512-Q4_1.story.json")]
    public void Dump(string f)
    {
        var reference = ReferenceCase.Load(f);
        var model = ModelCache.Get(reference.ModelPath);
        int[] tokens = reference.AllTokens;
        using var session = model.CreateSession(tokens.Length);
        var logits = new float[tokens.Length * session.VocabSize];
        session.EvaluateAll(tokens, logits);
        var sb = new System.Text.StringBuilder(f + "\n");
        for (int p = 0; p < tokens.Length; p++)
        {
            var e = reference.Positions[p];
            double worst = 0;
            for (int k = 0; k < e.Ids.Length; k++) worst = Math.Max(worst, Math.Abs(logits[p * session.VocabSize + e.Ids[k]] - e.Logits[k]));
            sb.Append($"{p}:{worst:F4} ");
        }
        foreach (var t in model.File.Tensors.Take(14)) sb.Append($"\n{t.Name} {t.Type}");
        output.WriteLine(sb.ToString());
    }
}
