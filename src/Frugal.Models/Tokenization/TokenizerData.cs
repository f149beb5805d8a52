namespace Frugal.Models.Tokenization;

/// <summary>
/// Everything a tokenizer is built from, as plain values: the tokenizer.* metadata of a GGUF file
/// (see <see cref="Tokenizer.FromGguf"/>) or a hand-made vocabulary. Optional values left null take
/// llama.cpp's defaults for the model kind.
/// </summary>
public sealed record TokenizerData
{
    /// <summary>tokenizer.ggml.model: "llama" (SentencePiece-style), "gpt2" (byte-level BPE) or "bert" (WordPiece).</summary>
    public required string Model { get; init; }

    /// <summary>tokenizer.ggml.pre: the BPE pre-tokenizer name (e.g. "llama-bpe", "qwen2"); null means "default".</summary>
    public string? Pre { get; init; }

    /// <summary>tokenizer.ggml.tokens: each token's text, indexed by token id.</summary>
    public required IReadOnlyList<string> Tokens { get; init; }

    /// <summary>tokenizer.ggml.scores: SentencePiece merge priorities (higher merges first).</summary>
    public IReadOnlyList<float>? Scores { get; init; }

    /// <summary>tokenizer.ggml.token_type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.</summary>
    public IReadOnlyList<int>? TokenTypes { get; init; }

    /// <summary>tokenizer.ggml.merges: "left right" pairs, best (lowest rank) first. Required for "gpt2".</summary>
    public IReadOnlyList<string>? Merges { get; init; }

    /// <summary>general.name: llama.cpp adjusts special-token whitespace handling for some families (Phi-3).</summary>
    public string? ModelName { get; init; }

    // Special token ids as stored (uint32 in GGUF); ids outside the vocabulary are ignored, as llama.cpp does.
    public long? BosId { get; init; }
    public long? EosId { get; init; }
    public long? EotId { get; init; }
    public long? EomId { get; init; }
    public long? UnknownId { get; init; }
    public long? SeparatorId { get; init; }
    public long? PaddingId { get; init; }
    public long? MaskId { get; init; }
    public long? FimPrefixId { get; init; }
    public long? FimSuffixId { get; init; }
    public long? FimMiddleId { get; init; }
    public long? FimPadId { get; init; }
    public long? FimRepoId { get; init; }
    public long? FimSeparatorId { get; init; }

    public bool? AddBos { get; init; }
    public bool? AddEos { get; init; }
    /// <summary>tokenizer.ggml.add_space_prefix: SentencePiece's leading "▁" (default true for "llama").</summary>
    public bool? AddSpacePrefix { get; init; }
}
