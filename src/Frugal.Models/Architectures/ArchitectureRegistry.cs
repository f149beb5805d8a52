using Frugal.Gguf;
using Frugal.Models.Transformer;

namespace Frugal.Models.Architectures;

/// <summary>What an architecture file produces: hyper-parameters, bound weights and forward-pass switches.</summary>
public sealed record ArchitectureBinding(ModelConfig Config, TransformerWeights Weights, TransformerOptions Options);

/// <summary>One supported `general.architecture`: reads its hyper-parameters and binds its weights.</summary>
public interface IArchitecture
{
    /// <summary>The `general.architecture` value, e.g. "llama".</summary>
    string Name { get; }

    ArchitectureBinding Bind(GgufFile file);
}

/// <summary>`general.architecture` → architecture. Adding a model family is a new file plus one line here.</summary>
public static class ArchitectureRegistry
{
    private static readonly IArchitecture[] All = [new LlamaArchitecture(), new Qwen2Architecture()];

    public static IReadOnlyList<string> Names { get; } = All.Select(a => a.Name).ToArray();

    public static IArchitecture Get(GgufFile file)
    {
        string name = file.GetString("general.architecture");
        return All.FirstOrDefault(a => a.Name == name)
            ?? throw new ModelLoadException(file.Path, $"unsupported architecture '{name}' (supported: {string.Join(", ", Names)})");
    }
}
