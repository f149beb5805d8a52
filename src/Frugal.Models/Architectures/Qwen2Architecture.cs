using Frugal.Gguf;
using Frugal.Models.Transformer;
using Frugal.Numerics;

namespace Frugal.Models.Architectures;

/// <summary>
/// `qwen2`: the llama block with biases on the query, key and value projections
/// (attn_q.bias [heads·hd], attn_k.bias and attn_v.bias [kvHeads·hd]) and RoPE on split halves (NEOX style).
/// </summary>
public sealed class Qwen2Architecture : IArchitecture
{
    public string Name => "qwen2";

    public ArchitectureBinding Bind(GgufFile file)
    {
        var config = LlamaFamily.ReadConfig(file, Name);
        var weights = LlamaFamily.BindWeights(file, config, qkvBias: true);
        return new ArchitectureBinding(config, weights, new TransformerOptions { RopeStyle = RopeStyle.Neox });
    }
}
