using System.Text.Json;
using Frugal.TestSupport;

namespace Frugal.Models.Tests.Conformance;

/// <summary>One ../shared/reference file: what llama.cpp computed for a model and a prompt.</summary>
public sealed record ReferenceCase(
    string FileName,
    string ModelFile,
    string Prompt,
    int[] PromptTokens,
    int[] GreedyTokens,
    ReferencePosition[] Positions)
{
    /// <summary>F32 and F16 models are held to the tight tolerance; quantized ones to the loose one.</summary>
    public bool IsFullPrecision => ModelFile.StartsWith("stories260K", StringComparison.Ordinal)
        || ModelFile.Contains("-F32", StringComparison.Ordinal) || ModelFile.Contains("-F16", StringComparison.Ordinal);

    public string ModelPath => SharedData.Model(ModelFile);

    public int[] AllTokens => [.. PromptTokens, .. GreedyTokens];

    public static ReferenceCase Load(string fileName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedData.Path("reference", fileName)));
        var root = doc.RootElement;
        int[] Ints(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var positions = root.GetProperty("positions").EnumerateArray()
            .Select(p => new ReferencePosition(Ints(p.GetProperty("ids")), p.GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray()))
            .ToArray();
        return new ReferenceCase(
            fileName,
            Path.GetFileName(root.GetProperty("model").GetString()!),
            root.GetProperty("prompt").GetString()!,
            Ints(root.GetProperty("prompt_tokens")),
            Ints(root.GetProperty("greedy_tokens")),
            positions);
    }

    /// <summary>Every reference file name, for [MemberData]; empty when ../shared is missing.</summary>
    public static IEnumerable<object[]> All() =>
        SharedData.Available
            ? Directory.GetFiles(SharedData.Path("reference"), "*.json").Select(Path.GetFileName).Order().Select(f => new object[] { f! })
            : [new object[] { "(../shared missing)" }];

    public override string ToString() => FileName;
}

/// <summary>llama.cpp's top-k token ids and logits at one position, highest first.</summary>
public sealed record ReferencePosition(int[] Ids, float[] Logits);
