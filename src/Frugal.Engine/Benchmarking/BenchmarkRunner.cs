using System.Diagnostics;
using System.Globalization;
using Frugal.Models;
using Frugal.Models.Transformer;
using Frugal.Numerics;
using Frugal.Quants;

namespace Frugal.Engine.Benchmarking;

/// <summary>
/// Measures a model's prefill and single-stream decode speed for each thread count, next to the machine's read
/// bandwidth measured in the same run with the same threads (the decode roofline). The model is loaded once per
/// thread count (its worker pool has that many threads); the probe reads its buffer on that same pool.
/// </summary>
public static class BenchmarkRunner
{
    public const string PrefillTest = "prefill";
    public const string DecodeTest = "decode";

    public static BenchmarkReport Run(string modelPath, BenchmarkOptions options, Action<string>? progress = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        ArgumentNullException.ThrowIfNull(options);
        Check(options);

        BenchmarkModel? described = null;
        var bandwidth = new List<BandwidthMeasurement>();
        var rows = new List<BenchmarkRow>();
        foreach (int threads in options.Threads)
        {
            using var model = Model.Load(modelPath, new ModelLoadOptions { Threads = threads });
            described ??= Describe(modelPath, model);

            progress?.Invoke($"threads {threads}: measuring read bandwidth");
            double bytesPerSecond;
            using (var probe = new MemoryBandwidthProbe(model.Pool, options.BandwidthBufferBytes))
                bytesPerSecond = probe.Measure();
            bandwidth.Add(new BandwidthMeasurement(threads, options.BandwidthBufferBytes, bytesPerSecond));

            var (prefill, decode) = Measure(model, options, threads, progress);
            if (prefill is not null)
                rows.Add(new BenchmarkRow(PrefillTest, threads, 1, options.PromptTokens, 0, prefill, null, null, null));
            if (decode is not null)
            {
                double weightBytesPerSecond = decode.Median * described.WeightBytesPerToken;
                rows.Add(new BenchmarkRow(DecodeTest, threads, 1, options.GenTokens, options.PromptTokens, decode,
                    weightBytesPerSecond, bytesPerSecond, weightBytesPerSecond / bytesPerSecond));
            }
        }

        return new BenchmarkReport(described!, DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            Simd.Describe(), Environment.ProcessorCount, options.PromptTokens, options.GenTokens, options.Repetitions,
            options.WarmupRuns, bandwidth.ToArray(), rows.ToArray());
    }

    private static void Check(BenchmarkOptions o)
    {
        if (o.PromptTokens < 0) throw new ArgumentOutOfRangeException(nameof(o), $"prompt tokens must be >= 0, got {o.PromptTokens}");
        if (o.GenTokens < 0) throw new ArgumentOutOfRangeException(nameof(o), $"generated tokens must be >= 0, got {o.GenTokens}");
        if (o.PromptTokens + o.GenTokens == 0) throw new ArgumentException("nothing to measure: prompt and generated tokens are both 0");
        if (o.Threads.Count == 0 || o.Threads.Any(t => t < 1)) throw new ArgumentException("thread counts must be at least 1");
        if (o.Repetitions < 1) throw new ArgumentOutOfRangeException(nameof(o), $"repetitions must be >= 1, got {o.Repetitions}");
        if (o.WarmupRuns < 0) throw new ArgumentOutOfRangeException(nameof(o), $"warm-up runs must be >= 0, got {o.WarmupRuns}");
    }

    /// <summary>
    /// Short warm-up runs, then timed runs; each timed run prefills the prompt into an empty cache and decodes
    /// GenTokens greedily after it. Returns tokens/s of each (null for a test of 0 tokens).
    /// </summary>
    private static (Spread? Prefill, Spread? Decode) Measure(Model model, BenchmarkOptions options, int threads, Action<string>? progress)
    {
        int vocab = model.Config.VocabSize;
        var random = new Random(unchecked((int)options.Seed ^ (int)(options.Seed >> 32)));
        int[] prompt = Enumerable.Range(0, options.PromptTokens).Select(_ => random.Next(vocab)).ToArray();
        int firstToken = prompt.Length > 0 ? prompt[^1] : random.Next(vocab);
        using var session = model.CreateSession(options.PromptTokens + options.GenTokens);

        var prefillRates = new List<double>();
        var decodeRates = new List<double>();
        Span<int> next = stackalloc int[1];
        int runs = options.WarmupRuns + options.Repetitions;
        for (int run = 0; run < runs; run++)
        {
            bool timed = run >= options.WarmupRuns;
            progress?.Invoke($"threads {threads}: {(timed ? $"run {run - options.WarmupRuns + 1}/{options.Repetitions}" : "warm-up")}");
            session.Reset();
            int token = firstToken;
            var runPrompt = timed ? prompt : prompt.AsSpan(0, Math.Min(prompt.Length, BenchmarkOptions.WarmupPromptTokens));
            int runGen = timed ? options.GenTokens : Math.Min(options.GenTokens, BenchmarkOptions.WarmupGenTokens);
            if (runPrompt.Length > 0)
            {
                long start = Stopwatch.GetTimestamp();
                token = ArgMax(session.Evaluate(runPrompt));
                if (timed) prefillRates.Add(Rate(runPrompt.Length, start));
            }
            if (runGen > 0)
            {
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < runGen; i++)
                {
                    next[0] = token;
                    token = ArgMax(session.Evaluate(next));
                }
                if (timed) decodeRates.Add(Rate(options.GenTokens, start));
            }
        }
        return (prefillRates.Count > 0 ? Spread.Of(prefillRates) : null, decodeRates.Count > 0 ? Spread.Of(decodeRates) : null);
    }

    /// <summary>Tokens per second since <paramref name="start"/> (a timer tick never reads as zero time).</summary>
    private static double Rate(int tokens, long start) =>
        tokens / Math.Max(Stopwatch.GetElapsedTime(start).TotalSeconds, 1e-9);

    /// <summary>Greedy choice, so the decode loop feeds the model a plausible token stream.</summary>
    private static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best]) best = i;
        }
        return best;
    }

    /// <summary>The model's description and the bytes of weights one decoded token reads.</summary>
    public static BenchmarkModel Describe(string path, Model model)
    {
        var file = model.File;
        string types = string.Join(", ", file.Tensors.GroupBy(t => t.Type).OrderByDescending(g => g.Count())
            .Select(g => $"{GgmlTypes.Name(g.Key)} ×{g.Count()}"));
        return new BenchmarkModel(Path.GetFullPath(path), model.Config.Architecture, model.Config.Name,
            file.Tensors.Sum(t => t.ElementCount), file.FileSize, types, WeightBytesPerToken(model.Binding.Weights));
    }

    /// <summary>
    /// Weight bytes a single-stream decode step reads: every matrix once (the output matrix too, even when it is
    /// the tied embedding) plus the one embedding row of the input token. Norm vectors are negligible and left out.
    /// </summary>
    public static long WeightBytesPerToken(TransformerWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        long bytes = weights.TokenEmbedding.RowBytes + weights.Output.ByteSize;
        foreach (var layer in weights.Layers)
        {
            foreach (var matrix in (ReadOnlySpan<WeightMatrix>)[layer.Query, layer.Key, layer.Value, layer.AttentionOutput, layer.Gate, layer.Up, layer.Down])
                bytes += matrix.ByteSize;
        }
        return bytes;
    }
}
