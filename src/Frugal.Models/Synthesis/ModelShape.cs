namespace Frugal.Models.Synthesis;

/// <summary>
/// The hyper-parameters of a real model, enough to synthesize a random-weight model with the same tensor shapes,
/// metadata and cost per token. The vocabulary is not part of the shape: it comes from a vocabulary GGUF.
/// </summary>
public sealed record ModelShape
{
    public required string Name { get; init; }

    /// <summary>The GGUF architecture ("llama" or "qwen2"); it prefixes the hyper-parameter keys.</summary>
    public required string Architecture { get; init; }

    public required int EmbeddingDim { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int FeedForwardDim { get; init; }
    public required int ContextLength { get; init; }
    public float RopeBase { get; init; } = 10000f;
    public float RmsNormEpsilon { get; init; } = 1e-5f;

    /// <summary>No output.weight: the token embedding doubles as the output matrix.</summary>
    public bool TiedOutput { get; init; }

    /// <summary>Biases on the query, key and value projections (qwen2).</summary>
    public bool QkvBias { get; init; }

    public int HeadDim => EmbeddingDim / Heads;
    public int QueryDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;
}

/// <summary>The shapes <c>frugal synth</c> knows, by name.</summary>
public static class ModelShapes
{
    /// <summary>TinyLlama 1.1B (v1.0 chat): untied output, 4 KV heads.</summary>
    public static ModelShape TinyLlama { get; } = new()
    {
        Name = "tinyllama-1.1b", Architecture = "llama", EmbeddingDim = 2048, Layers = 22, Heads = 32, KvHeads = 4,
        FeedForwardDim = 5632, ContextLength = 2048,
    };

    /// <summary>Llama 3.2 1B: tied output, rope base 500000 (its llama3 long-context rope_freqs factors are left out).</summary>
    public static ModelShape Llama32_1B { get; } = new()
    {
        Name = "llama-3.2-1b", Architecture = "llama", EmbeddingDim = 2048, Layers = 16, Heads = 32, KvHeads = 8,
        FeedForwardDim = 8192, ContextLength = 131072, RopeBase = 500000f, TiedOutput = true,
    };

    /// <summary>SmolLM2 135M: tied output, rope base 100000.</summary>
    public static ModelShape SmolLM2_135M { get; } = new()
    {
        Name = "smollm2-135m", Architecture = "llama", EmbeddingDim = 576, Layers = 30, Heads = 9, KvHeads = 3,
        FeedForwardDim = 1536, ContextLength = 8192, RopeBase = 100000f, TiedOutput = true,
    };

    /// <summary>Qwen2.5 0.5B: qwen2 (NEOX RoPE, Q/K/V biases), tied output, rope base 1e6, RMS epsilon 1e-6.</summary>
    public static ModelShape Qwen25_05B { get; } = new()
    {
        Name = "qwen2.5-0.5b", Architecture = "qwen2", EmbeddingDim = 896, Layers = 24, Heads = 14, KvHeads = 2,
        FeedForwardDim = 4864, ContextLength = 32768, RopeBase = 1000000f, RmsNormEpsilon = 1e-6f,
        TiedOutput = true, QkvBias = true,
    };

    /// <summary>A llama small enough for unit tests whose matrices are whole K-quant super-blocks (256 columns).</summary>
    public static ModelShape TestTiny { get; } = new()
    {
        Name = "test-tiny", Architecture = "llama", EmbeddingDim = 256, Layers = 2, Heads = 4, KvHeads = 2,
        FeedForwardDim = 512, ContextLength = 512,
    };

    /// <summary>
    /// A tiny qwen2 (biases, tied output) whose 64-wide rows are not whole K-quant super-blocks, so K-quant
    /// types fall back the way llama.cpp's quantizer does (as for qwen2.5-0.5b's 896 columns).
    /// </summary>
    public static ModelShape TestTinyQwen2 { get; } = new()
    {
        Name = "test-tiny-qwen2", Architecture = "qwen2", EmbeddingDim = 64, Layers = 2, Heads = 4, KvHeads = 2,
        FeedForwardDim = 256, ContextLength = 512, RopeBase = 1000000f, RmsNormEpsilon = 1e-6f,
        TiedOutput = true, QkvBias = true,
    };

    public static IReadOnlyList<ModelShape> All { get; } = [TinyLlama, Llama32_1B, SmolLM2_135M, Qwen25_05B, TestTiny, TestTinyQwen2];

    public static ModelShape? Find(string name) =>
        All.FirstOrDefault(shape => string.Equals(shape.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The shape called <paramref name="name"/>, or an ArgumentException listing the known names.</summary>
    public static ModelShape Get(string name) => Find(name)
        ?? throw new ArgumentException($"unknown shape '{name}' (known: {string.Join(", ", All.Select(s => s.Name))})", nameof(name));
}
