using Frugal.Models.Tokenization;

namespace Frugal.Compression.Evaluation;

/// <summary>
/// Cuts a text into evaluation chunks the way llama-perplexity does: the whole text is tokenized once (with BOS when
/// the model adds one), split into consecutive chunks of exactly ContextSize tokens (a shorter tail is dropped), and
/// the first token of every chunk is replaced by BOS, so every chunk starts like a fresh document.
/// </summary>
public static class TextChunks
{
    /// <summary>Chunks [count][contextSize] of token ids; at most <paramref name="maxChunks"/> of them.</summary>
    public static int[][] Split(Tokenizer tokenizer, string text, int contextSize, int? maxChunks = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(text);
        if (contextSize < 4) throw new ArgumentOutOfRangeException(nameof(contextSize), contextSize, "the context size must be at least 4 tokens");
        if (maxChunks is < 1) throw new ArgumentOutOfRangeException(nameof(maxChunks), maxChunks, "the chunk count must be at least 1");
        int[] tokens = tokenizer.Encode(text, addSpecial: true, parseSpecial: false);
        int available = tokens.Length / contextSize;
        if (available == 0)
            throw new ArgumentException($"the text has {tokens.Length} tokens, fewer than one chunk of {contextSize} (use a longer text or a smaller --ctx)");
        int count = Math.Min(available, maxChunks ?? int.MaxValue);
        var chunks = new int[count][];
        bool bos = tokenizer.AddBos && tokenizer.BosId >= 0;
        for (int c = 0; c < count; c++)
        {
            chunks[c] = tokens.AsSpan(c * contextSize, contextSize).ToArray();
            if (bos) chunks[c][0] = tokenizer.BosId;
        }
        return chunks;
    }

    /// <summary>
    /// The first position whose prediction is scored: the second half of each chunk, as llama-perplexity scores it,
    /// so that every scored token sees at least ContextSize/2 tokens of context.
    /// </summary>
    public static int FirstScored(int contextSize) => contextSize / 2;
}
