using Frugal.Models;

namespace Frugal.Compression.Evaluation;

/// <summary>Settings of a perplexity run (llama-perplexity's -c and --chunks).</summary>
public sealed record PerplexityOptions
{
    /// <summary>Tokens per chunk; every chunk is evaluated from an empty context.</summary>
    public int ContextSize { get; init; } = 512;

    /// <summary>Most chunks to evaluate (null: every whole chunk of the text).</summary>
    public int? MaxChunks { get; init; }
}

/// <summary>Perplexity of one model on one text.</summary>
/// <param name="Perplexity">exp(mean negative log-likelihood).</param>
/// <param name="PerplexityError">Its standard error by the delta method: exp(mean) × SE(mean NLL).</param>
/// <param name="NegativeLogLikelihood">Mean NLL per scored token (nats) and its standard error.</param>
public sealed record PerplexityResult(double Perplexity, double PerplexityError, MeanEstimate NegativeLogLikelihood,
    int Chunks, int ContextSize)
{
    public long TokensScored => NegativeLogLikelihood.Count;
}

/// <summary>How a model's next-token distributions differ from a base model's on the same tokens.</summary>
/// <param name="KlDivergence">Mean KL(base ‖ model) per scored position (nats) and its standard error.</param>
/// <param name="KlDivergence99">The 99th percentile of the per-position KL.</param>
/// <param name="KlDivergenceMax">The largest per-position KL.</param>
/// <param name="TopTokenAgreement">Fraction of positions where both models' most likely token is the same (0…1).</param>
/// <param name="LogPerplexityRatio">Mean of NLL(model) − NLL(base) = ln(PPL(model)/PPL(base)), with its standard error.</param>
public sealed record ComparisonResult(PerplexityResult Base, PerplexityResult Model, MeanEstimate KlDivergence,
    double KlDivergence99, double KlDivergenceMax, double TopTokenAgreement, MeanEstimate LogPerplexityRatio);

/// <summary>
/// llama-perplexity's measurement: the text is cut into chunks (<see cref="TextChunks"/>), each chunk is evaluated
/// from an empty context with all its logits, and the predictions of tokens at positions ContextSize/2+1 … ContextSize−1
/// (the second half of the chunk, minus the first token of that half) are scored: the logits after position i score
/// the token at i+1, for i from ContextSize/2 to ContextSize−2.
/// </summary>
public static class PerplexityEvaluator
{
    public static PerplexityResult Evaluate(Model model, string text, PerplexityOptions? options = null,
        Action<int, int>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new PerplexityOptions();
        int[][] chunks = TextChunks.Split(model.Tokenizer, text, options.ContextSize, options.MaxChunks);
        var nll = new List<double>();
        int vocab = model.Config.VocabSize;
        var logits = new float[(long)options.ContextSize * vocab];
        var logProbabilities = new double[vocab];
        using var session = model.CreateSession(options.ContextSize);
        for (int c = 0; c < chunks.Length; c++)
        {
            cancellation.ThrowIfCancellationRequested();
            EvaluateChunk(session, chunks[c], logits);
            for (int i = TextChunks.FirstScored(options.ContextSize); i < options.ContextSize - 1; i++)
            {
                LogSoftmax.Compute(logits.AsSpan(i * vocab, vocab), logProbabilities);
                nll.Add(-logProbabilities[chunks[c][i + 1]]);
            }
            progress?.Invoke(c + 1, chunks.Length);
        }
        return Summarize(nll, chunks.Length, options.ContextSize);
    }

    /// <summary>Runs <paramref name="baseModel"/> and <paramref name="model"/> on the same tokens and compares their distributions.</summary>
    public static ComparisonResult Compare(Model baseModel, Model model, string text, PerplexityOptions? options = null,
        Action<int, int>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(model);
        options ??= new PerplexityOptions();
        RequireSameTokenizer(baseModel, model, text);
        int[][] chunks = TextChunks.Split(model.Tokenizer, text, options.ContextSize, options.MaxChunks);
        int vocab = model.Config.VocabSize;
        // [ContextSize, vocab] logits of each model for the current chunk.
        var baseLogits = new float[(long)options.ContextSize * vocab];
        var modelLogits = new float[(long)options.ContextSize * vocab];
        var baseLog = new double[vocab];
        var modelLog = new double[vocab];
        var baseNll = new List<double>();
        var modelNll = new List<double>();
        var nllDifference = new List<double>();
        var kl = new List<double>();
        long agree = 0;
        using var baseSession = baseModel.CreateSession(options.ContextSize);
        using var session = model.CreateSession(options.ContextSize);
        for (int c = 0; c < chunks.Length; c++)
        {
            cancellation.ThrowIfCancellationRequested();
            EvaluateChunk(baseSession, chunks[c], baseLogits);
            EvaluateChunk(session, chunks[c], modelLogits);
            for (int i = TextChunks.FirstScored(options.ContextSize); i < options.ContextSize - 1; i++)
            {
                var baseRow = baseLogits.AsSpan(i * vocab, vocab);
                var modelRow = modelLogits.AsSpan(i * vocab, vocab);
                LogSoftmax.Compute(baseRow, baseLog);
                LogSoftmax.Compute(modelRow, modelLog);
                int next = chunks[c][i + 1];
                baseNll.Add(-baseLog[next]);
                modelNll.Add(-modelLog[next]);
                nllDifference.Add(baseLog[next] - modelLog[next]);
                kl.Add(KlDivergence(baseLog, modelLog));
                if (LogSoftmax.ArgMax(baseRow) == LogSoftmax.ArgMax(modelRow)) agree++;
            }
            progress?.Invoke(c + 1, chunks.Length);
        }
        var sorted = kl.ToArray();
        Array.Sort(sorted);
        return new ComparisonResult(
            Summarize(baseNll, chunks.Length, options.ContextSize),
            Summarize(modelNll, chunks.Length, options.ContextSize),
            MeanEstimate.Of(kl),
            Percentile(sorted, 0.99),
            sorted[^1],
            (double)agree / kl.Count,
            MeanEstimate.Of(nllDifference));
    }

    /// <summary>KL(P ‖ Q) = Σ p·(log p − log q) from log-probabilities; rounding can make it a hair below 0, which is clamped.</summary>
    public static double KlDivergence(ReadOnlySpan<double> logP, ReadOnlySpan<double> logQ)
    {
        if (logP.Length != logQ.Length) throw new ArgumentException($"distributions differ in size: {logP.Length} vs {logQ.Length}");
        double sum = 0;
        for (int i = 0; i < logP.Length; i++)
        {
            double p = Math.Exp(logP[i]);
            if (p > 0) sum += p * (logP[i] - logQ[i]);
        }
        return Math.Max(0, sum);
    }

    /// <summary>The <paramref name="fraction"/> quantile of sorted values, interpolated linearly between neighbours.</summary>
    public static double Percentile(ReadOnlySpan<double> sorted, double fraction)
    {
        if (sorted.IsEmpty) throw new ArgumentException("no values", nameof(sorted));
        double position = fraction * (sorted.Length - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, sorted.Length - 1);
        return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
    }

    /// <summary>Refuses two models whose tokenizers would not give the same ids for this text (or differ in vocabulary).</summary>
    public static void RequireSameTokenizer(Model baseModel, Model model, string text)
    {
        var a = baseModel.Tokenizer;
        var b = model.Tokenizer;
        if (a.VocabSize != b.VocabSize || baseModel.Config.VocabSize != model.Config.VocabSize)
            throw new ArgumentException($"the base model's vocabulary has {a.VocabSize} tokens and the model's {b.VocabSize}: KL divergence needs the same tokenizer");
        if (a.BosId != b.BosId || a.AddBos != b.AddBos)
            throw new ArgumentException("the base model and the model add different BOS tokens: KL divergence needs the same tokenizer");
        for (int id = 0; id < a.VocabSize; id++)
        {
            if (a.TokenText(id) != b.TokenText(id))
                throw new ArgumentException($"token {id} is '{a.TokenText(id)}' in the base model but '{b.TokenText(id)}' in the model: KL divergence needs the same tokenizer");
        }
        if (!a.Encode(text).AsSpan().SequenceEqual(b.Encode(text)))
            throw new ArgumentException("the base model and the model tokenize the text differently: KL divergence needs the same tokenizer");
    }

    private static void EvaluateChunk(InferenceSession session, int[] chunk, float[] logits)
    {
        session.Reset();
        session.EvaluateAll(chunk, logits);
    }

    private static PerplexityResult Summarize(List<double> nll, int chunks, int contextSize)
    {
        var estimate = MeanEstimate.Of(nll);
        double perplexity = Math.Exp(estimate.Mean);
        return new PerplexityResult(perplexity, perplexity * estimate.StandardError, estimate, chunks, contextSize);
    }
}
