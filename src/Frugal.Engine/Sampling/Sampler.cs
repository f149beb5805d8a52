using System.Security.Cryptography;

namespace Frugal.Engine.Sampling;

/// <summary>The distribution a draw is made from: surviving token ids, best first, and their probabilities.</summary>
public readonly ref struct SamplerCandidates
{
    public SamplerCandidates(ReadOnlySpan<int> ids, ReadOnlySpan<float> probabilities)
    {
        Ids = ids;
        Probabilities = probabilities;
    }

    public ReadOnlySpan<int> Ids { get; }
    public ReadOnlySpan<float> Probabilities { get; }
    public int Count => Ids.Length;
}

/// <summary>
/// Picks next tokens for one sequence. Built once per sequence: it owns its random generator and every buffer,
/// so <see cref="Sample"/> allocates nothing. Not thread-safe.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly (int Id, float Bias)[] _biases;     // LogitBias flattened once, ids checked against the vocabulary
    private readonly float[] _logits;                    // [VocabSize] logits after bias and penalties
    private readonly int[] _occurrences;                 // [VocabSize] counts inside the penalty window; all zero between calls
    private readonly int[] _candidateIds;                // [VocabSize] surviving ids, best first, prefix valid after Candidates()
    private readonly float[] _candidateProbabilities;    // [VocabSize] their probabilities, prefix valid after Candidates()
    private Xoshiro256 _random;

    public Sampler(int vocabSize, SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (vocabSize <= 0) throw new ArgumentException($"vocabulary size must be > 0, got {vocabSize}", nameof(vocabSize));
        options.Validate();
        _options = options;
        VocabSize = vocabSize;
        Seed = options.Seed ?? BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(sizeof(ulong)));
        _random = new Xoshiro256(Seed);

        _biases = options.LogitBias is null ? [] : options.LogitBias.Select(pair => (pair.Key, pair.Value)).ToArray();
        foreach (var (id, _) in _biases)
            if (id >= vocabSize)
                throw new ArgumentException($"logit bias names token id {id} but the vocabulary has {vocabSize} tokens", nameof(options));

        _logits = new float[vocabSize];
        _occurrences = new int[vocabSize];
        _candidateIds = new int[vocabSize];
        _candidateProbabilities = new float[vocabSize];
    }

    public int VocabSize { get; }

    /// <summary>The seed in use (the drawn one when the options gave none), to reproduce a run.</summary>
    public ulong Seed { get; }

    public SamplingOptions Options => _options;

    /// <summary>Chooses the next token after <paramref name="history"/> (every token so far, prompt included).</summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        var candidates = Candidates(logits, history);
        if (candidates.Count == 1) return candidates.Ids[0];

        double target = _random.NextDouble();
        double cumulative = 0;
        for (int i = 0; i < candidates.Count; i++)
        {
            cumulative += candidates.Probabilities[i];
            if (target < cumulative) return candidates.Ids[i];
        }
        return candidates.Ids[candidates.Count - 1]; // rounding left the sum just under the target
    }

    /// <summary>
    /// Runs every stage but the draw and returns the distribution <see cref="Sample"/> would draw from.
    /// The spans stay valid until the next call.
    /// </summary>
    public SamplerCandidates Candidates(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        ApplyBiasAndPenalties(logits, history, _logits);
        ReadOnlySpan<float> adjusted = _logits;

        if (_options.IsGreedy)
        {
            int best = 0;
            for (int id = 1; id < adjusted.Length; id++)
                if (TokenRanking.RanksBefore(adjusted[id], id, adjusted[best], best)) best = id;
            ThrowIfNotSamplable(adjusted[best]);
            _candidateIds[0] = best;
            _candidateProbabilities[0] = 1;
            return new SamplerCandidates(_candidateIds.AsSpan(0, 1), _candidateProbabilities.AsSpan(0, 1));
        }

        // Top-k, then the best logit and the softmax normalizer of what top-k kept (top-p measures against it).
        int count;
        float maxLogit;
        float normalizer = 0;
        if (_options.TopK > 0 && _options.TopK < VocabSize)
        {
            count = TokenRanking.SelectTop(adjusted, _candidateIds.AsSpan(0, _options.TopK));
            while (count > 0 && !IsSamplable(adjusted[_candidateIds[count - 1]])) count--;
            maxLogit = count > 0 ? adjusted[_candidateIds[0]] : float.NegativeInfinity;
            ThrowIfNotSamplable(maxLogit);
            for (int i = 0; i < count; i++) normalizer += MathF.Exp(adjusted[_candidateIds[i]] - maxLogit);
            count = KeepAboveMinP(count, maxLogit, alreadySorted: true);
        }
        else
        {
            maxLogit = float.NegativeInfinity;
            foreach (float logit in adjusted)
                if (logit > maxLogit) maxLogit = logit;
            ThrowIfNotSamplable(maxLogit);
            count = 0;
            for (int id = 0; id < adjusted.Length; id++)
            {
                if (!IsSamplable(adjusted[id])) continue;
                normalizer += MathF.Exp(adjusted[id] - maxLogit);
                _candidateIds[count++] = id;
            }
            // Min-p keeps a best-first prefix just as top-p does, so pruning before the sort gives the same set
            // as llama.cpp's top-p → min-p order while sorting far fewer ids.
            count = KeepAboveMinP(count, maxLogit, alreadySorted: false);
            TokenRanking.SortBestFirst(_candidateIds.AsSpan(0, count), adjusted);
        }

        // Top-p: the shortest best-first prefix whose probability (over the top-k set) reaches p.
        if (_options.TopP < 1)
        {
            float cumulative = 0;
            for (int i = 0; i < count; i++)
            {
                cumulative += MathF.Exp(adjusted[_candidateIds[i]] - maxLogit) / normalizer;
                if (cumulative >= _options.TopP)
                {
                    count = i + 1;
                    break;
                }
            }
        }

        // Temperature, then softmax over the survivors.
        float inverseTemperature = 1 / _options.Temperature;
        float sum = 0;
        for (int i = 0; i < count; i++)
        {
            float weight = MathF.Exp((adjusted[_candidateIds[i]] - maxLogit) * inverseTemperature);
            _candidateProbabilities[i] = weight;
            sum += weight;
        }
        for (int i = 0; i < count; i++) _candidateProbabilities[i] /= sum;
        return new SamplerCandidates(_candidateIds.AsSpan(0, count), _candidateProbabilities.AsSpan(0, count));
    }

    /// <summary>
    /// Writes <paramref name="logits"/> with the logit bias and the repetition/presence/frequency penalties
    /// applied into <paramref name="destination"/> (llama.cpp's rules: a seen token's logit is divided by the
    /// repetition penalty when positive and multiplied when not, then count × frequency + presence is subtracted).
    /// </summary>
    public void ApplyBiasAndPenalties(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, Span<float> destination)
    {
        if (logits.Length != VocabSize)
            throw new ArgumentException($"expected {VocabSize} logits (the vocabulary size), got {logits.Length}", nameof(logits));
        if (destination.Length != VocabSize)
            throw new ArgumentException($"destination holds {destination.Length} values, expected {VocabSize}", nameof(destination));
        logits.CopyTo(destination);
        foreach (var (id, bias) in _biases) destination[id] += bias;

        if (!_options.HasPenalties) return;
        int windowLength = _options.PenaltyLastN < 0 ? history.Length : Math.Min(_options.PenaltyLastN, history.Length);
        ReadOnlySpan<int> window = history[^windowLength..];
        foreach (int token in window)
            if ((uint)token >= (uint)VocabSize)
                throw new ArgumentOutOfRangeException(nameof(history), $"history holds token id {token}, outside the vocabulary of {VocabSize}");

        foreach (int token in window) _occurrences[token]++;
        foreach (int token in window)
        {
            int occurrences = _occurrences[token];
            if (occurrences == 0) continue; // this token was already penalized
            _occurrences[token] = 0;
            float logit = destination[token];
            logit = logit <= 0 ? logit * _options.RepetitionPenalty : logit / _options.RepetitionPenalty;
            logit -= occurrences * _options.FrequencyPenalty + _options.PresencePenalty;
            destination[token] = logit;
        }
    }

    // Keeps the candidates whose probability is at least MinP × the best one's, i.e. logit >= max + ln(MinP).
    private int KeepAboveMinP(int count, float maxLogit, bool alreadySorted)
    {
        if (_options.MinP <= 0) return count;
        float threshold = maxLogit + MathF.Log(_options.MinP);
        int kept = 0;
        for (int i = 0; i < count; i++)
        {
            int id = _candidateIds[i];
            if (_logits[id] >= threshold) _candidateIds[kept++] = id;
            else if (alreadySorted) break;
        }
        return kept;
    }

    private static bool IsSamplable(float logit) => !float.IsNaN(logit) && logit != float.NegativeInfinity;

    private static void ThrowIfNotSamplable(float bestLogit)
    {
        if (!IsSamplable(bestLogit))
            throw new InvalidOperationException("no token can be sampled: every logit is negative infinity or NaN");
    }
}
