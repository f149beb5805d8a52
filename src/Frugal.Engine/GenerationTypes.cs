using Frugal.Engine.Sampling;

namespace Frugal.Engine;

/// <summary>How long to generate and how to pick tokens.</summary>
public sealed record GenerationOptions
{
    /// <summary>Upper bound on generated tokens (the end-of-generation token not counted).</summary>
    public int MaxTokens { get; init; } = 128;

    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>Stop when the model emits an end-of-generation token (EOS, EOT...).</summary>
    public bool StopAtEndOfGeneration { get; init; } = true;

    public void Validate()
    {
        if (MaxTokens < 0) throw new ArgumentException($"the number of tokens to generate must be >= 0, got {MaxTokens}", nameof(MaxTokens));
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
    }
}

/// <summary>Wall-clock cost of the prompt pass and of the token-by-token generation.</summary>
public sealed record GenerationTimings(
    double PromptMilliseconds,
    double PromptTokensPerSecond,
    double GenerationMilliseconds,
    double GenerationTokensPerSecond);

/// <summary>Why generation ended.</summary>
public static class FinishReasons
{
    /// <summary>The model emitted an end-of-generation token.</summary>
    public const string Stop = "stop";

    /// <summary>The token budget or the context window ran out.</summary>
    public const string Length = "length";
}

public sealed record GenerationResult
{
    /// <summary>Generated token ids, without the prompt and without a final end-of-generation token.</summary>
    public required int[] Tokens { get; init; }

    /// <summary>Text of the generated tokens (invalid UTF-8 replaced by U+FFFD).</summary>
    public required string Text { get; init; }

    public required int PromptTokens { get; init; }

    public required GenerationTimings Timings { get; init; }

    /// <summary><see cref="FinishReasons.Stop"/> or <see cref="FinishReasons.Length"/>.</summary>
    public required string FinishReason { get; init; }

    /// <summary>Seed the sampler used (drawn at random when the options gave none).</summary>
    public ulong Seed { get; init; }
}

/// <summary>What the generation loop needs from a model session and its tokenizer.</summary>
public interface IGenerationBackend
{
    int VocabSize { get; }

    /// <summary>How many more tokens the context can take.</summary>
    int RemainingContext { get; }

    /// <summary>Appends tokens and returns the logits after the last one, valid until the next call.</summary>
    ReadOnlySpan<float> Evaluate(ReadOnlySpan<int> tokens);

    bool IsEndOfGeneration(int token);

    /// <summary>Text completed by this token; empty while a multi-byte character is still incomplete.</summary>
    string PushText(int token);

    /// <summary>Text held back at the end (incomplete bytes become U+FFFD).</summary>
    string FlushText();
}
