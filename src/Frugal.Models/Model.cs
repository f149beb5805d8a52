namespace Frugal.Models;

/// <summary>Options for loading a model.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Worker threads for the forward pass (0 = all cores).</summary>
    public int Threads { get; init; }
}

/// <summary>A loaded model: its GGUF file (memory-mapped), hyper-parameters, tokenizer and weights.</summary>
public sealed class Model : IDisposable
{
    public static Model Load(string path, ModelLoadOptions? options = null) => throw new NotImplementedException();

    public ModelConfig Config => throw new NotImplementedException();

    public Tokenization.Tokenizer Tokenizer => throw new NotImplementedException();

    public Gguf.GgufFile File => throw new NotImplementedException();

    public int Threads => throw new NotImplementedException();

    /// <summary>A fresh sequence state (KV cache) of up to <paramref name="contextSize"/> tokens (0 = the model's, capped at 4096).</summary>
    public InferenceSession CreateSession(int contextSize = 0) => throw new NotImplementedException();

    public void Dispose() { }
}

/// <summary>One sequence being evaluated: its KV cache and scratch buffers. Not thread-safe.</summary>
public sealed class InferenceSession : IDisposable
{
    /// <summary>Number of tokens already in the KV cache.</summary>
    public int Position => throw new NotImplementedException();

    public int ContextSize => throw new NotImplementedException();

    public int VocabSize => throw new NotImplementedException();

    /// <summary>Forgets every token (position 0).</summary>
    public void Reset() => throw new NotImplementedException();

    /// <summary>Appends tokens and returns the logits after the last one ([VocabSize]); valid until the next call.</summary>
    public ReadOnlySpan<float> Evaluate(ReadOnlySpan<int> tokens) => throw new NotImplementedException();

    /// <summary>Appends tokens and writes the logits after every one of them: logits [tokens.Length, VocabSize].</summary>
    public void EvaluateAll(ReadOnlySpan<int> tokens, Span<float> logits) => throw new NotImplementedException();

    public void Dispose() { }
}

/// <summary>Hyper-parameters read from GGUF metadata.</summary>
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
}
