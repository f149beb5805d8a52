using Frugal.Models;
using Frugal.Models.Tokenization;

namespace Frugal.Engine;

/// <summary>Generation over a model session: logits from the session, text from a streaming detokenizer.</summary>
public sealed class SessionGenerationBackend(InferenceSession session, Tokenizer tokenizer) : IGenerationBackend
{
    private readonly StreamingDetokenizer _detokenizer = new(tokenizer);

    public int VocabSize => session.VocabSize;

    public int RemainingContext => session.ContextSize - session.Position;

    public ReadOnlySpan<float> Evaluate(ReadOnlySpan<int> tokens) => session.Evaluate(tokens);

    public bool IsEndOfGeneration(int token) => tokenizer.IsEndOfGeneration(token);

    public string PushText(int token) => _detokenizer.Push(token);

    public string FlushText() => _detokenizer.Flush();
}

public static partial class Generator
{
    /// <summary>
    /// Generates after <paramref name="promptTokens"/>, appended to what <paramref name="session"/> already holds;
    /// see <see cref="Generate(IGenerationBackend, ReadOnlySpan{int}, GenerationOptions, Action{int, string}?)"/>.
    /// </summary>
    public static GenerationResult Generate(
        InferenceSession session,
        Tokenizer tokenizer,
        ReadOnlySpan<int> promptTokens,
        GenerationOptions options,
        Action<int, string>? onToken = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(tokenizer);
        return Generate(new SessionGenerationBackend(session, tokenizer), promptTokens, options, onToken);
    }
}
