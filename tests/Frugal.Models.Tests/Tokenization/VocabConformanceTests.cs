using System.Text;
using Frugal.Gguf;
using Frugal.Models.Tokenization;
using Frugal.TestSupport;

namespace Frugal.Models.Tests.Tokenization;

/// <summary>
/// llama.cpp's own tokenizer vectors (tests/test-tokenizer-0): for every string of ggml-vocab-NAME.gguf.inp the
/// ids in the matching line of .out, encoded without BOS/EOS and without parsing special tokens.
/// </summary>
public sealed class VocabConformanceTests
{
    [SharedTheory]
    [InlineData("llama-spm")]
    [InlineData("phi-3")]
    [InlineData("gpt-2")]
    [InlineData("starcoder")]
    [InlineData("refact")]
    [InlineData("falcon")]
    [InlineData("mpt")]
    [InlineData("deepseek-llm")]
    [InlineData("deepseek-coder")]
    [InlineData("bert-bge")]
    public void EncodesEveryVectorLikeLlamaCpp(string vocabulary)
    {
        string path = SharedData.Path("vocab", $"ggml-vocab-{vocabulary}.gguf");
        Tokenizer tokenizer;
        using (GgufFile file = GgufFile.Open(path)) tokenizer = Tokenizer.FromGguf(file);
        List<(string Text, int[] Expected)> cases = ReadVectors(path);
        Assert.True(cases.Count > 10, $"only {cases.Count} vectors read from {path}");

        var failures = new StringBuilder();
        foreach ((string text, int[] expected) in cases)
        {
            int[] actual = tokenizer.Encode(text, addSpecial: false, parseSpecial: false);
            if (!actual.AsSpan().SequenceEqual(expected))
                failures.AppendLine($"  {Quote(text)}\n    expected [{string.Join(' ', expected)}]\n    actual   [{string.Join(' ', actual)}]");
        }
        Assert.True(failures.Length == 0, $"{vocabulary}: mismatching strings:\n{failures}");
    }

    /// <summary>
    /// test-tokenizer-0's format: .inp holds the strings separated by "\n__ggml_vocab_test__\n" (the file ends with
    /// one, so no empty string follows it); .out holds one line of space-separated ids per string.
    /// </summary>
    internal static List<(string Text, int[] Expected)> ReadVectors(string vocabPath)
    {
        const string separator = "\n__ggml_vocab_test__\n";
        string input = Encoding.UTF8.GetString(File.ReadAllBytes(vocabPath + ".inp"));
        var texts = new List<string>();
        for (int pos = 0; pos < input.Length;)
        {
            int next = input.IndexOf(separator, pos, StringComparison.Ordinal);
            if (next < 0) { texts.Add(input[pos..]); break; }
            texts.Add(input[pos..next]);
            pos = next + separator.Length;
        }
        string[] lines = File.ReadAllText(vocabPath + ".out").Split('\n');
        if (lines.Length > 0 && lines[^1].Length == 0) lines = lines[..^1]; // text after the last newline is no line
        Assert.Equal(texts.Count, lines.Length);
        return texts.Select((text, i) => (text, lines[i].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())).ToList();
    }

    private static string Quote(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in text)
            sb.Append(c switch { '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", '"' => "\\\"", _ => c.ToString() });
        return sb.Append('"').ToString();
    }
}
