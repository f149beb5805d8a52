using System.Diagnostics;
using System.Text;
using Frugal.Engine.Sampling;

namespace Frugal.Engine;

/// <summary>The decode loop: evaluate the prompt, then sample, stream and evaluate one token at a time.</summary>
public static partial class Generator
{
    /// <summary>
    /// Generates after <paramref name="promptTokens"/> (appended to whatever the backend already holds).
    /// <paramref name="onToken"/> is called once per generated token with the text that token completes
    /// (empty while a multi-byte character is incomplete) and, only when bytes were still held back at the
    /// end, once more with token id -1 and that remaining text. Per token, nothing is allocated but those pieces.
    /// </summary>
    public static GenerationResult Generate(
        IGenerationBackend backend,
        ReadOnlySpan<int> promptTokens,
        GenerationOptions options,
        Action<int, string>? onToken = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (promptTokens.IsEmpty)
            throw new ArgumentException("the prompt must hold at least one token (a BOS token for an empty prompt)", nameof(promptTokens));
        int vocabSize = backend.VocabSize;
        foreach (int token in promptTokens)
            if ((uint)token >= (uint)vocabSize)
                throw new ArgumentException($"prompt token id {token} is outside the vocabulary of {vocabSize} tokens", nameof(promptTokens));
        if (promptTokens.Length > backend.RemainingContext)
            throw new ArgumentException(
                $"the prompt has {promptTokens.Length} tokens but the context has room for only {backend.RemainingContext}", nameof(promptTokens));

        var sampler = new Sampler(vocabSize, options.Sampling);
        // Prompt followed by the generated tokens: the penalties' history, filled in place.
        var history = new int[promptTokens.Length + options.MaxTokens];
        promptTokens.CopyTo(history);
        int length = promptTokens.Length;
        var text = new StringBuilder(capacity: Math.Min(options.MaxTokens, 4096) * 4);
        string finishReason = FinishReasons.Length;

        long start = Stopwatch.GetTimestamp();
        ReadOnlySpan<float> logits = backend.Evaluate(promptTokens);
        long promptEnd = Stopwatch.GetTimestamp();

        while (length - promptTokens.Length < options.MaxTokens)
        {
            int token = sampler.Sample(logits, history.AsSpan(0, length));
            if (options.StopAtEndOfGeneration && backend.IsEndOfGeneration(token))
            {
                finishReason = FinishReasons.Stop;
                break;
            }
            history[length++] = token;
            string piece = backend.PushText(token);
            text.Append(piece);
            onToken?.Invoke(token, piece);

            // The last token's logits are never needed, and a full context cannot take another token.
            if (length - promptTokens.Length == options.MaxTokens || backend.RemainingContext == 0) break;
            logits = backend.Evaluate(history.AsSpan(length - 1, 1));
        }

        string tail = backend.FlushText();
        if (tail.Length > 0)
        {
            text.Append(tail);
            onToken?.Invoke(-1, tail);
        }
        long end = Stopwatch.GetTimestamp();

        int generated = length - promptTokens.Length;
        double promptMs = Stopwatch.GetElapsedTime(start, promptEnd).TotalMilliseconds;
        double generationMs = Stopwatch.GetElapsedTime(promptEnd, end).TotalMilliseconds;
        return new GenerationResult
        {
            Tokens = history[promptTokens.Length..length],
            Text = text.ToString(),
            PromptTokens = promptTokens.Length,
            FinishReason = finishReason,
            Seed = sampler.Seed,
            Timings = new GenerationTimings(
                promptMs, PerSecond(promptTokens.Length, promptMs),
                generationMs, PerSecond(generated, generationMs)),
        };
    }

    private static double PerSecond(int tokens, double milliseconds) =>
        tokens == 0 || milliseconds <= 0 ? 0 : tokens * 1000.0 / milliseconds;
}
