using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Frugal.Gguf;
using Frugal.Models.Tokenization;
using Frugal.TestSupport;

namespace Frugal.Models.Tests.Tokenization;

/// <summary>
/// llama.cpp's tokenization of the reference prompts (BOS as the model asks, special tokens parsed) and the bytes
/// of its greedy continuations, for every reference/*.json and its model.
/// </summary>
public sealed class ReferencePromptTests
{
    private static readonly ConcurrentDictionary<string, Tokenizer> Tokenizers = new();

    public static TheoryData<string> ReferenceFiles()
    {
        var data = new TheoryData<string>();
        if (!SharedData.Available) { data.Add("(shared data missing)"); return data; }
        foreach (string path in Directory.GetFiles(SharedData.Path("reference"), "*.json").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(path));
        return data;
    }

    [SharedTheory]
    [MemberData(nameof(ReferenceFiles))]
    public void PromptTokensMatchLlamaCpp(string referenceFile)
    {
        Reference reference = Reference.Load(referenceFile);
        Tokenizer tokenizer = TokenizerFor(reference.ModelFile);
        Assert.True(reference.AddBos, "the references are made with add_bos");
        int[] actual = tokenizer.Encode(reference.Prompt, addSpecial: true, parseSpecial: true);
        Assert.Equal(reference.PromptTokens, actual);
    }

    [SharedTheory]
    [MemberData(nameof(ReferenceFiles))]
    public void GreedyTokensDecodeToLlamaCppPieces(string referenceFile)
    {
        Reference reference = Reference.Load(referenceFile);
        Tokenizer tokenizer = TokenizerFor(reference.ModelFile);
        Assert.Equal(reference.GreedyTokens.Length, reference.GreedyPieces.Length);

        for (int i = 0; i < reference.GreedyTokens.Length; i++)
            Assert.True(tokenizer.TokenBytes(reference.GreedyTokens[i]).AsSpan().SequenceEqual(reference.GreedyPieces[i]),
                $"token #{i} ({reference.GreedyTokens[i]}): expected {Convert.ToHexString(reference.GreedyPieces[i])}, got {Convert.ToHexString(tokenizer.TokenBytes(reference.GreedyTokens[i]))}");

        string expectedText = Encoding.UTF8.GetString(reference.GreedyPieces.SelectMany(p => p).ToArray());
        Assert.Equal(expectedText, tokenizer.Decode(reference.GreedyTokens));

        var streaming = new StreamingDetokenizer(tokenizer);
        var streamed = new StringBuilder();
        foreach (int id in reference.GreedyTokens) streamed.Append(streaming.Push(id));
        streamed.Append(streaming.Flush());
        Assert.Equal(expectedText, streamed.ToString());
    }

    private static Tokenizer TokenizerFor(string modelFile) =>
        Tokenizers.GetOrAdd(modelFile, name =>
        {
            using GgufFile file = GgufFile.Open(SharedData.Model(name));
            return Tokenizer.FromGguf(file);
        });

    private sealed record Reference(string ModelFile, string Prompt, bool AddBos, int[] PromptTokens, int[] GreedyTokens, byte[][] GreedyPieces)
    {
        public static Reference Load(string referenceFile)
        {
            using JsonDocument json = JsonDocument.Parse(File.ReadAllBytes(SharedData.Path("reference", referenceFile)));
            JsonElement root = json.RootElement;
            return new Reference(
                Path.GetFileName(root.GetProperty("model").GetString()!),
                root.GetProperty("prompt").GetString()!,
                root.GetProperty("add_bos").GetBoolean(),
                root.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                root.GetProperty("greedy_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                root.GetProperty("greedy_pieces_hex").EnumerateArray().Select(e => Convert.FromHexString(e.GetString()!)).ToArray());
        }
    }
}
