namespace Frugal.Models;

/// <summary>Hyper-parameters of a decoder-only transformer, read from GGUF metadata (keys prefixed by the architecture).</summary>
public sealed record ModelConfig
{
    public required string Architecture { get; init; }
    public string Name { get; init; } = "";
    public int VocabSize { get; init; }
    public int ContextLength { get; init; }
    public int EmbeddingDim { get; init; }
    public int Layers { get; init; }
    public int Heads { get; init; }
    public int KvHeads { get; init; }
    public int HeadDim { get; init; }
    public int FeedForwardDim { get; init; }
    public float RmsNormEpsilon { get; init; }
    public float RopeBase { get; init; }

    /// <summary>Dimensions of each head that RoPE rotates (usually all of them).</summary>
    public int RopeDims { get; init; }

    /// <summary>Linear RoPE scaling: positions are multiplied by this (1 / rope.scaling.factor).</summary>
    public float RopeFrequencyScale { get; init; } = 1.0f;

    public bool TiedOutput { get; init; }

    public int QueryDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;
}
