using Frugal.Models;

namespace Frugal.Compression.Importance;

/// <summary>Settings of an importance-matrix run (llama-imatrix's -c, --chunks and --process-output).</summary>
public sealed record ImportanceOptions
{
    /// <summary>Tokens per chunk; every chunk is evaluated from an empty context.</summary>
    public int ContextSize { get; init; } = 512;

    /// <summary>Most chunks to evaluate (null: every whole chunk of the text).</summary>
    public int? MaxChunks { get; init; }

    /// <summary>Also collect the output matrix (llama-imatrix --process-output).</summary>
    public bool IncludeOutput { get; init; }

    /// <summary>The name recorded as the calibration data set (llama.cpp records the text file's path).</summary>
    public string Dataset { get; init; } = "";
}

/// <summary>
/// Computes an importance matrix as llama-imatrix does: the calibration text is tokenized once (with BOS when the
/// model adds one), cut into chunks of <see cref="ImportanceOptions.ContextSize"/> tokens, and every chunk is
/// evaluated from an empty cache with its first token replaced by BOS, in batches of up to 512 tokens; an
/// <see cref="ImportanceCollector"/> watches every matrix product.
/// </summary>
public static class ImportanceMatrixBuilder
{
    /// <summary>llama.cpp's default micro-batch: one "call" of the collector per batch of this many tokens.</summary>
    public const int BatchTokens = 512;

    /// <summary>Progress after each chunk: (chunks done, chunks in all).</summary>
    public static ImportanceMatrix Collect(Model model, string text, ImportanceOptions options,
        Action<int, int>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(options);
        int context = options.ContextSize;
        if (context < 1) throw new ArgumentOutOfRangeException(nameof(options), context, "the context size must be at least 1 token");
        if (options.MaxChunks is < 1) throw new ArgumentOutOfRangeException(nameof(options), options.MaxChunks, "the chunk count must be at least 1");

        var tokenizer = model.Tokenizer;
        int[] tokens = tokenizer.Encode(text, addSpecial: true, parseSpecial: false);
        // llama-imatrix insists on two chunks' worth of tokens (a leftover of its perplexity code); one is enough here.
        int available = tokens.Length / context;
        if (available == 0)
            throw new ArgumentException($"the calibration text has {tokens.Length} tokens, fewer than one chunk of {context} (use a longer text or a smaller --ctx)");
        int chunks = Math.Min(available, options.MaxChunks ?? int.MaxValue);

        var collector = new ImportanceCollector(options.IncludeOutput);
        using var session = model.CreateSession(context);
        session.Observer = collector;
        // With the output matrix wanted, every position's logits are computed so that it sees every token.
        float[]? logits = options.IncludeOutput ? new float[(long)Math.Min(BatchTokens, context) * session.VocabSize] : null;
        var batch = new int[Math.Min(BatchTokens, context)];
        for (int chunk = 0; chunk < chunks; chunk++)
        {
            cancellation.ThrowIfCancellationRequested();
            session.Reset();
            int start = chunk * context;
            for (int offset = 0; offset < context; offset += BatchTokens)
            {
                int count = Math.Min(BatchTokens, context - offset);
                var slice = batch.AsSpan(0, count);
                tokens.AsSpan(start + offset, count).CopyTo(slice);
                if (offset == 0 && tokenizer.AddBos && tokenizer.BosId >= 0) slice[0] = tokenizer.BosId;
                collector.BeginBatch(count);
                if (logits is null) session.Evaluate(slice);
                else session.EvaluateAll(slice, logits.AsSpan(0, count * session.VocabSize));
            }
            progress?.Invoke(chunk + 1, chunks);
        }
        session.Observer = null;
        var matrix = collector.ToMatrix(options.Dataset);
        if (matrix.Entries.Count == 0)
            throw new InvalidOperationException($"no matrix product saw {ImportanceCollector.MinimumBatchTokens} or more tokens at once (use a context of at least {ImportanceCollector.MinimumBatchTokens})");
        return matrix;
    }
}
