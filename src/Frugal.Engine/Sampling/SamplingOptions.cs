namespace Frugal.Engine.Sampling;

/// <summary>
/// How the next token is chosen from the logits. Stages run in llama.cpp's default order:
/// logit bias → penalties → top-k → top-p → min-p → temperature → softmax → draw.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Logits are divided by this before the draw; 0 (or less) means greedy (argmax, lowest id wins ties).</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep only the K most likely tokens; 0 disables the stage.</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Keep the smallest set of most likely tokens whose probability reaches P; 1 disables the stage.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Drop tokens whose probability is below MinP × the best token's; 0 disables the stage.</summary>
    public float MinP { get; init; } = 0.05f;

    /// <summary>Seen tokens' positive logits are divided by this and negative ones multiplied (llama.cpp); 1 disables it.</summary>
    public float RepetitionPenalty { get; init; } = 1.0f;

    /// <summary>Subtracted once from the logit of every token seen in the penalty window.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>Subtracted from a seen token's logit once per occurrence in the penalty window.</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>How many of the most recent tokens the penalties look at; 0 disables penalties, -1 means the whole history.</summary>
    public int PenaltyLastN { get; init; } = 64;

    /// <summary>Seed of the sampler's random generator; null draws a random seed.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Added to the logit of the given token ids before anything else (negative infinity bans a token).</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    /// <summary>Always picks the most likely token (no penalties, no randomness).</summary>
    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };

    public bool IsGreedy => Temperature <= 0;

    /// <summary>True when the penalty stage would change any logit.</summary>
    public bool HasPenalties =>
        PenaltyLastN != 0 && (RepetitionPenalty != 1.0f || PresencePenalty != 0 || FrequencyPenalty != 0);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first out-of-range value.</summary>
    public void Validate()
    {
        if (!float.IsFinite(Temperature) || Temperature < 0)
            throw new ArgumentException($"temperature must be a finite number >= 0 (0 = greedy), got {Temperature}", nameof(Temperature));
        if (TopK < 0)
            throw new ArgumentException($"top-k must be >= 0 (0 = disabled), got {TopK}", nameof(TopK));
        if (!(TopP >= 0 && TopP <= 1))
            throw new ArgumentException($"top-p must be between 0 and 1 (1 = disabled), got {TopP}", nameof(TopP));
        if (!(MinP >= 0 && MinP <= 1))
            throw new ArgumentException($"min-p must be between 0 and 1 (0 = disabled), got {MinP}", nameof(MinP));
        if (!float.IsFinite(RepetitionPenalty) || RepetitionPenalty <= 0)
            throw new ArgumentException($"repetition penalty must be a finite number > 0 (1 = disabled), got {RepetitionPenalty}", nameof(RepetitionPenalty));
        if (!float.IsFinite(PresencePenalty))
            throw new ArgumentException($"presence penalty must be a finite number, got {PresencePenalty}", nameof(PresencePenalty));
        if (!float.IsFinite(FrequencyPenalty))
            throw new ArgumentException($"frequency penalty must be a finite number, got {FrequencyPenalty}", nameof(FrequencyPenalty));
        if (PenaltyLastN < -1)
            throw new ArgumentException($"penalty window must be >= -1 (-1 = whole history, 0 = disabled), got {PenaltyLastN}", nameof(PenaltyLastN));
        if (LogitBias is not null)
        {
            foreach (var (id, bias) in LogitBias)
            {
                if (id < 0)
                    throw new ArgumentException($"logit bias names token id {id}; ids are >= 0", nameof(LogitBias));
                if (float.IsNaN(bias) || float.IsPositiveInfinity(bias))
                    throw new ArgumentException($"logit bias for token {id} must be finite or negative infinity, got {bias}", nameof(LogitBias));
            }
        }
    }
}
