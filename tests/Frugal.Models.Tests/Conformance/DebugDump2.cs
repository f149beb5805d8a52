using Frugal.Models.Transformer;
using Frugal.TestSupport;
using Xunit.Abstractions;
namespace Frugal.Models.Tests.Conformance;
public sealed class DebugDump2(ITestOutputHelper output)
{
    [SharedTheory]
    [InlineData("synth-llama-spm-Q4_0.short.json")]
    [InlineData("synth-qwen2-gpt2-Q8_0.short.json")]
    [InlineData("synth-qwen2-gpt2-F16.short.json")]
    [InlineData("synth-llama-tok512-Q4_1.story.json")]
    public void DumpOracle(string f)
    {
        var reference = ReferenceCase.Load(f);
        var model = ModelCache.Get(reference.ModelPath);
        int[] tokens = reference.AllTokens;
        int vocab = model.Config.VocabSize;
        var oracle = new ReferenceTransformer(model.Binding, tokens.Length);
        var logits = new float[tokens.Length * vocab];
        for (int p = 0; p < tokens.Length; p++) oracle.Forward(tokens[p], p).CopyTo(logits, p * vocab);
        LogitComparison.Compare(reference, logits, vocab, 0.1f, out string summary);
        var sb = new System.Text.StringBuilder(summary + "\n");
        for (int p = 0; p < tokens.Length; p++)
        {
            var e = reference.Positions[p];
            double worst = 0;
            for (int k = 0; k < e.Ids.Length; k++) worst = Math.Max(worst, Math.Abs(logits[p * vocab + e.Ids[k]] - e.Logits[k]));
            sb.Append($"{p}:{worst:F4} ");
        }
        output.WriteLine(sb.ToString());
    }
}
