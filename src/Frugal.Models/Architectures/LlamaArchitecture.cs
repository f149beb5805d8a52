using Frugal.Gguf;
using Frugal.Models.Transformer;
using Frugal.Numerics;

namespace Frugal.Models.Architectures;

/// <summary>
/// `llama`: Llama 2/3/3.x, TinyLlama, SmolLM, Mistral and the stories models. RMS norm, RoPE on adjacent
/// pairs (ggml mode 0), grouped-query attention, SwiGLU, output matrix separate or tied to the embedding.
/// Per layer: attn_norm [dim] · attn_q [dim, heads·hd] · attn_k, attn_v [dim, kvHeads·hd] · attn_output [heads·hd, dim]
/// · ffn_norm [dim] · ffn_gate, ffn_up [dim, ffn] · ffn_down [ffn, dim]; then output_norm [dim], output [dim, vocab].
/// </summary>
public sealed class LlamaArchitecture : IArchitecture
{
    public string Name => "llama";

    public ArchitectureBinding Bind(GgufFile file)
    {
        var config = LlamaFamily.ReadConfig(file, Name);
        var weights = LlamaFamily.BindWeights(file, config, qkvBias: false);
        return new ArchitectureBinding(config, weights, new TransformerOptions { RopeStyle = RopeStyle.Normal });
    }
}
