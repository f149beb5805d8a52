using Frugal.Gguf;
using Frugal.Models.Transformer;
using Frugal.Quants;

namespace Frugal.Models.Architectures;

/// <summary>
/// What the llama-like architectures share: the metadata keys of their hyper-parameters and the GGUF tensor
/// names of a pre-norm decoder block (attention with RoPE and grouped-query heads, then a SwiGLU FFN).
/// </summary>
internal static unsafe class LlamaFamily
{
    public static ModelConfig ReadConfig(GgufFile file, string arch)
    {
        int Required(string key) => checked((int)file.GetUInt32($"{arch}.{key}"));
        int dim = Required("embedding_length");
        int heads = Required("attention.head_count");
        int kvHeads = (int?)file.TryGetUInt32($"{arch}.attention.head_count_kv") ?? heads;
        int headDim = (int?)file.TryGetUInt32($"{arch}.attention.key_length") ?? (heads > 0 ? dim / heads : 0);
        int vocab = (int?)file.TryGetUInt32($"{arch}.vocab_size")
            ?? file.TryGetArray("tokenizer.ggml.tokens")?.Count
            ?? checked((int)file.GetTensor("token_embd.weight").Shape[1]);

        float scale = 1.0f;
        string? scalingType = file.TryGetString($"{arch}.rope.scaling.type");
        float? scalingFactor = file.TryGetFloat32($"{arch}.rope.scaling.factor");
        if (scalingType is "linear" && scalingFactor is > 0) scale = 1.0f / scalingFactor.Value;
        else if (scalingType is not (null or "none" or "linear"))
            throw new ModelLoadException(file.Path, $"RoPE scaling '{scalingType}' is not supported yet (supported: none, linear)");
        if (file.TryGetFloat32($"{arch}.rope.scale_linear") is { } linear && linear > 0) scale = 1.0f / linear;

        var config = new ModelConfig
        {
            Architecture = arch,
            Name = file.TryGetString("general.name") ?? "",
            VocabSize = vocab,
            ContextLength = Required("context_length"),
            EmbeddingDim = dim,
            Layers = Required("block_count"),
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = headDim,
            FeedForwardDim = Required("feed_forward_length"),
            RmsNormEpsilon = file.GetFloat32($"{arch}.attention.layer_norm_rms_epsilon"),
            RopeBase = file.TryGetFloat32($"{arch}.rope.freq_base") ?? 10000f,
            RopeDims = (int?)file.TryGetUInt32($"{arch}.rope.dimension_count") ?? headDim,
            RopeFrequencyScale = scale,
            TiedOutput = file.FindTensor("output.weight") is null,
        };
        Validate(file, config);
        return config;
    }

    private static void Validate(GgufFile file, ModelConfig c)
    {
        void Check(bool ok, string problem)
        {
            if (!ok) throw new ModelLoadException(file.Path, problem);
        }
        Check(c.EmbeddingDim > 0 && c.Layers > 0 && c.Heads > 0 && c.FeedForwardDim > 0 && c.VocabSize > 0,
            $"hyper-parameters must be positive (dim {c.EmbeddingDim}, layers {c.Layers}, heads {c.Heads}, ffn {c.FeedForwardDim}, vocab {c.VocabSize})");
        Check(c.KvHeads > 0 && c.Heads % c.KvHeads == 0, $"head count {c.Heads} is not a multiple of the KV head count {c.KvHeads}");
        Check(c.HeadDim > 0 && c.HeadDim % 2 == 0, $"head dimension {c.HeadDim} must be even and positive");
        Check(c.RopeDims > 0 && c.RopeDims <= c.HeadDim && c.RopeDims % 2 == 0, $"RoPE dimension count {c.RopeDims} must be even and at most the head dimension {c.HeadDim}");
        Check(c.RmsNormEpsilon > 0 && c.RmsNormEpsilon < 1, $"RMS norm epsilon {c.RmsNormEpsilon} is out of range");
        Check(c.ContextLength > 0, $"context length {c.ContextLength} must be positive");
    }

    /// <summary>Binds the tensors of a llama-style model; biases are bound when <paramref name="qkvBias"/>.</summary>
    public static TransformerWeights BindWeights(GgufFile file, ModelConfig c, bool qkvBias)
    {
        int dim = c.EmbeddingDim, ffn = c.FeedForwardDim;
        var embedding = WeightMatrix.Bind(file, "token_embd.weight", dim, c.VocabSize);
        // Tied: the lookup reads the embedding's plain rows, the product its own packed copy (llama.cpp duplicates it too).
        var output = c.TiedOutput ? embedding.WithPackedCopy() : WeightMatrix.BindForProduct(file, "output.weight", dim, c.VocabSize);
        var layers = new LayerWeights[c.Layers];
        for (int i = 0; i < c.Layers; i++)
        {
            string p = $"blk.{i}.";
            layers[i] = new LayerWeights
            {
                AttentionNorm = Vector(file, p + "attn_norm.weight", dim),
                Query = WeightMatrix.BindForProduct(file, p + "attn_q.weight", dim, c.QueryDim),
                Key = WeightMatrix.BindForProduct(file, p + "attn_k.weight", dim, c.KvDim),
                Value = WeightMatrix.BindForProduct(file, p + "attn_v.weight", dim, c.KvDim),
                AttentionOutput = WeightMatrix.BindForProduct(file, p + "attn_output.weight", c.QueryDim, dim),
                QueryBias = qkvBias ? Vector(file, p + "attn_q.bias", c.QueryDim) : null,
                KeyBias = qkvBias ? Vector(file, p + "attn_k.bias", c.KvDim) : null,
                ValueBias = qkvBias ? Vector(file, p + "attn_v.bias", c.KvDim) : null,
                FeedForwardNorm = Vector(file, p + "ffn_norm.weight", dim),
                Gate = WeightMatrix.BindForProduct(file, p + "ffn_gate.weight", dim, ffn),
                Up = WeightMatrix.BindForProduct(file, p + "ffn_up.weight", dim, ffn),
                Down = WeightMatrix.BindForProduct(file, p + "ffn_down.weight", ffn, dim),
            };
        }
        return new TransformerWeights
        {
            TokenEmbedding = embedding,
            OutputNorm = Vector(file, "output_norm.weight", dim),
            Output = output,
            Layers = layers,
            RopeFrequencyFactors = file.FindTensor("rope_freqs.weight") is null ? null : Vector(file, "rope_freqs.weight", c.RopeDims / 2),
        };
    }

    /// <summary>Copies a 1-D tensor of <paramref name="length"/> elements to F32.</summary>
    public static NativeBuffer<float> Vector(GgufFile file, string name, int length)
    {
        var tensor = file.GetTensor(name);
        if (tensor.Shape.Length != 1 || tensor.Shape[0] != length)
            throw new ModelLoadException(file.Path, $"tensor '{name}' has shape [{string.Join(", ", tensor.Shape)}], expected [{length}]");
        var kernels = QuantKernels.Get(tensor.Type);
        if (kernels.Dequantize == null)
            throw new ModelLoadException(file.Path, $"tensor '{name}' has type {GgmlTypes.Name(tensor.Type)}, which Frugal cannot read yet");
        var buffer = new NativeBuffer<float>(length);
        kernels.Dequantize(file.TensorData(tensor), buffer.Pointer, length);
        return buffer;
    }
}
