using System.Diagnostics;
using System.Globalization;
using Frugal.Models;
using Frugal.Models.Batching;
using Frugal.Models.Transformer;
using Frugal.Numerics;
using Frugal.Quants;

namespace Frugal.Engine.Benchmarking;

/// <summary>
/// Measures a model's prefill, single-stream decode and batched decode speed for each thread count, next to the
/// machine's read bandwidth measured in the same run with the same threads (the decode roofline). The model is
/// loaded once per thread count (its worker pool has that many threads); the probe reads its buffer on that pool.
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
                rows.Add(DecodeRow(threads, 1, decode, decode.Median));
            foreach (int batch in options.BatchSizes.Where(b => b > 1))
            {
                if (options.GenTokens == 0) break;
                var aggregate = MeasureBatched(model, options, threads, batch, progress);
                rows.Add(DecodeRow(threads, batch, aggregate, aggregate.Median / batch));
            }

            BenchmarkRow DecodeRow(int threads, int batch, Spread tokensPerSecond, double stepsPerSecond)
            {
                double weightBytesPerSecond = stepsPerSecond * described!.WeightBytesPerToken;
                return new BenchmarkRow(DecodeTest, threads, batch, options.GenTokens, options.Depth, tokensPerSecond,
                    weightBytesPerSecond, bytesPerSecond, weightBytesPerSecond / bytesPerSecond);
            }
        }

        return new BenchmarkReport(described!, DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            Simd.Describe(), Environment.ProcessorCount, options.PromptTokens, options.GenTokens, options.Depth, options.Repetitions,
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
        if (o.Depth < 0) throw new ArgumentOutOfRangeException(nameof(o), $"decode depth must be >= 0, got {o.Depth}");
        if (o.BatchSizes.Count == 0 || o.BatchSizes.Any(b => b < 1 || b > BenchmarkOptions.MaxBatchSize))
            throw new ArgumentException($"batch sizes must be between 1 and {BenchmarkOptions.MaxBatchSize}, got {string.Join(",", o.BatchSizes)}");
    }

    /// <summary>
    /// Short warm-up runs, then timed runs. Each timed run prefills the prompt into an empty cache, then empties it,
    /// evaluates Depth tokens untimed and decodes GenTokens greedily. Returns tokens/s of each (null for a test of
    /// 0 tokens). The Depth tokens are evaluated once and kept while no prompt prefill overwrites them: each decode run
    /// rewinds to them (the same cache a fresh evaluation would leave), so a deep context is not prefilled again per run.
    /// </summary>
    private static (Spread? Prefill, Spread? Decode) Measure(Model model, BenchmarkOptions options, int threads, Action<string>? progress)
    {
        if (!options.BatchSizes.Contains(1) && options.PromptTokens == 0) return (null, null);
        int vocab = model.Config.VocabSize;
        var random = RandomFor(options);
        int[] prompt = RandomTokens(random, options.PromptTokens, vocab);
        int[] depth = RandomTokens(random, options.Depth, vocab);
        int firstToken = random.Next(vocab);
        bool decodes = options.GenTokens > 0 && options.BatchSizes.Contains(1);
        using var session = model.CreateSession(Math.Max(options.PromptTokens, decodes ? options.Depth + options.GenTokens : 0));

        var prefillRates = new List<double>();
        var decodeRates = new List<double>();
        Span<int> next = stackalloc int[1];
        bool depthInCache = false;   // the cache holds the Depth tokens at positions 0..Depth-1
        int runs = options.WarmupRuns + options.Repetitions;
        for (int run = 0; run < runs; run++)
        {
            bool timed = run >= options.WarmupRuns;
            progress?.Invoke($"threads {threads}: {(timed ? $"run {run - options.WarmupRuns + 1}/{options.Repetitions}" : "warm-up")}");
            var runPrompt = timed ? prompt : prompt.AsSpan(0, Math.Min(prompt.Length, BenchmarkOptions.WarmupPromptTokens));
            int runGen = timed ? options.GenTokens : Math.Min(options.GenTokens, BenchmarkOptions.WarmupGenTokens);
            if (runPrompt.Length > 0)
            {
                session.Reset();
                depthInCache = false;
                long start = Stopwatch.GetTimestamp();
                session.Evaluate(runPrompt);
                if (timed) prefillRates.Add(Rate(runPrompt.Length, start));
            }
            if (decodes && runGen > 0)
            {
                if (depthInCache) session.Rewind(depth.Length);
                else
                {
                    session.Reset();
                    if (depth.Length > 0) session.Evaluate(depth);
                    depthInCache = true;
                }
                int token = firstToken;
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

    /// <summary>
    /// Aggregate decode tokens/s of <paramref name="batch"/> sequences advancing together through one
    /// <see cref="BatchEngine"/> (a warm-up run of a few steps, then the timed runs).
    /// </summary>
    private static Spread MeasureBatched(Model model, BenchmarkOptions options, int threads, int batch, Action<string>? progress)
    {
        var random = RandomFor(options);
        int vocab = model.Config.VocabSize;
        int[][] depths = Enumerable.Range(0, batch).Select(_ => RandomTokens(random, options.Depth, vocab)).ToArray();
        int[] starts = RandomTokens(random, batch, vocab);
        using var engine = CreateBatchEngine(model, batch, options.Depth + options.GenTokens);
        var rates = new List<double>();
        for (int run = 0; run < options.WarmupRuns + options.Repetitions; run++)
        {
            bool timed = run >= options.WarmupRuns;
            progress?.Invoke($"threads {threads}: batch {batch}: {(timed ? $"run {run - options.WarmupRuns + 1}/{options.Repetitions}" : "warm-up")}");
            int steps = timed ? options.GenTokens : Math.Min(options.GenTokens, BenchmarkOptions.WarmupGenTokens);
            double seconds = 0;
            DecodeBatch(engine, depths, starts, steps, elapsed => seconds = elapsed);
            if (timed) rates.Add((double)batch * steps / Math.Max(seconds, 1e-9));
        }
        return Spread.Of(rates);
    }

    /// <summary>A batched engine with KV room for <paramref name="batch"/> sequences of <paramref name="tokens"/> tokens each.</summary>
    public static BatchEngine CreateBatchEngine(Model model, int batch, int tokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        const int blockTokens = 16;
        int context = (Math.Max(tokens, 1) + blockTokens - 1) / blockTokens * blockTokens;
        long kvBytes = (long)batch * context * BatchEngine.BytesPerToken(model.Config);
        if (kvBytes > MaxKvBytes)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"{batch} sequences of {tokens} tokens need {kvBytes / 1073741824.0:F1} GiB of KV cache (at most {MaxKvBytes / 1073741824} GiB): use a smaller --batch, --gen-tokens or --depth"));
        return new BatchEngine(model, new BatchEngineOptions
        {
            KvMemoryBytes = kvBytes, BlockTokens = blockTokens, ContextSize = context, PrefixCaching = false,
            MaxBatchTokens = Math.Clamp(batch, BatchForward.DefaultMaxTokens, 4096),
        });
    }

    private const long MaxKvBytes = 16L << 30;

    /// <summary>
    /// Decodes greedily with one sequence per row of <paramref name="depths"/>: each first evaluates its depth tokens
    /// (untimed, in chunks), then all advance together from their start token, one token each per engine step, for
    /// <paramref name="steps"/> steps. <paramref name="timed"/> receives the seconds the decode steps took. Returns
    /// each sequence's generated tokens [batch][steps] (what an <see cref="InferenceSession"/> would produce alone).
    /// </summary>
    public static int[][] DecodeBatch(BatchEngine engine, int[][] depths, int[] starts, int steps, Action<double>? timed = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(depths);
        ArgumentNullException.ThrowIfNull(starts);
        if (depths.Length != starts.Length) throw new ArgumentException($"{depths.Length} depth prompts for {starts.Length} start tokens");
        int batch = starts.Length, vocab = engine.VocabSize;
        var sequences = new BatchSequence[batch];
        var generated = new int[batch][];
        try
        {
            for (int s = 0; s < batch; s++)
            {
                sequences[s] = engine.CreateSequence();
                if (!engine.TryReserve(sequences[s], depths[s].Length + steps))
                    throw new InvalidOperationException($"the KV cache has no room for sequence {s} of {batch}");
                generated[s] = new int[steps];
                for (int done = 0; done < depths[s].Length; done += engine.MaxBatchTokens)
                {
                    var chunk = depths[s].AsSpan(done, Math.Min(engine.MaxBatchTokens, depths[s].Length - done));
                    var prefill = new BatchItem[chunk.Length];
                    for (int i = 0; i < chunk.Length; i++) prefill[i] = new BatchItem(sequences[s], chunk[i], false);
                    engine.Step(prefill, []);
                }
            }

            var items = new BatchItem[batch];
            var logits = new float[(long)batch * vocab];
            int[] tokens = (int[])starts.Clone();
            long start = Stopwatch.GetTimestamp();
            for (int step = 0; step < steps; step++)
            {
                for (int s = 0; s < batch; s++) items[s] = new BatchItem(sequences[s], tokens[s], true);
                engine.Step(items, logits);
                for (int s = 0; s < batch; s++)
                {
                    tokens[s] = ArgMax(logits.AsSpan(s * vocab, vocab));
                    generated[s][step] = tokens[s];
                }
            }
            timed?.Invoke(Stopwatch.GetElapsedTime(start).TotalSeconds);
            return generated;
        }
        finally
        {
            foreach (var sequence in sequences)
            {
                if (sequence is { IsReleased: false }) engine.Release(sequence);
            }
        }
    }

    private static Random RandomFor(BenchmarkOptions options) => new(unchecked((int)options.Seed ^ (int)(options.Seed >> 32)));

    private static int[] RandomTokens(Random random, int count, int vocab) =>
        Enumerable.Range(0, count).Select(_ => random.Next(vocab)).ToArray();

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
