using Frugal.Numerics;

namespace Frugal.Models.Transformer;

/// <summary>
/// The weights of a decoder-only transformer of the llama family, bound to the memory-mapped file.
/// Vectors (norms, biases) are copied to F32 once; matrices stay in the file, and those of the matrix product may
/// also own a copy repacked at load (<see cref="WeightMatrix.Packed"/>), freed here.
/// </summary>
public sealed unsafe class TransformerWeights : IDisposable
{
    public required WeightMatrix TokenEmbedding { get; init; }   // [dim, vocab]: row t is token t's embedding
    public required NativeBuffer<float> OutputNorm { get; init; } // [dim]
    public required WeightMatrix Output { get; init; }            // [dim, vocab] (the embedding's data when tied, plus its own packed copy)
    public required LayerWeights[] Layers { get; init; }
    public NativeBuffer<float>? RopeFrequencyFactors { get; init; } // [rotaryDims/2], llama 3 long-context scaling

    public void Dispose()
    {
        OutputNorm.Dispose();
        Output.ReleasePacked();
        TokenEmbedding.ReleasePacked();
        RopeFrequencyFactors?.Dispose();
        foreach (var layer in Layers) layer.Dispose();
    }
}

/// <summary>One transformer block's weights. dim = embedding, qDim = heads·headDim, kvDim = kvHeads·headDim, ffn = feed-forward.</summary>
public sealed class LayerWeights : IDisposable
{
    public required NativeBuffer<float> AttentionNorm { get; init; } // [dim]
    public required WeightMatrix Query { get; init; }                // [dim, qDim]
    public required WeightMatrix Key { get; init; }                  // [dim, kvDim]
    public required WeightMatrix Value { get; init; }                // [dim, kvDim]
    public required WeightMatrix AttentionOutput { get; init; }      // [qDim, dim]
    public NativeBuffer<float>? QueryBias { get; init; }             // [qDim] (qwen2)
    public NativeBuffer<float>? KeyBias { get; init; }               // [kvDim] (qwen2)
    public NativeBuffer<float>? ValueBias { get; init; }             // [kvDim] (qwen2)
    public required NativeBuffer<float> FeedForwardNorm { get; init; } // [dim]
    public required WeightMatrix Gate { get; init; }                 // [dim, ffn]
    public required WeightMatrix Up { get; init; }                   // [dim, ffn]
    public required WeightMatrix Down { get; init; }                 // [ffn, dim]

    public void Dispose()
    {
        AttentionNorm.Dispose();
        FeedForwardNorm.Dispose();
        Query.ReleasePacked();
        Key.ReleasePacked();
        Value.ReleasePacked();
        AttentionOutput.ReleasePacked();
        Gate.ReleasePacked();
        Up.ReleasePacked();
        Down.ReleasePacked();
        QueryBias?.Dispose();
        KeyBias?.Dispose();
        ValueBias?.Dispose();
    }
}

/// <summary>Per-architecture switches of the shared forward pass.</summary>
public sealed record TransformerOptions
{
    public RopeStyle RopeStyle { get; init; } = RopeStyle.Normal;
}
