namespace Frugal.Engine.Benchmarking;

/// <summary>What to measure. Each (thread count) runs one untimed warm-up and <see cref="Repetitions"/> timed runs.</summary>
public sealed record BenchmarkOptions
{
    /// <summary>Tokens evaluated from an empty cache in one prefill (0 = no prefill; decoding then starts at position 0).</summary>
    public int PromptTokens { get; init; } = 512;

    /// <summary>Tokens decoded one at a time (0 = no decode test).</summary>
    public int GenTokens { get; init; } = 128;

    /// <summary>
    /// Tokens already in the context when the timed decode starts (evaluated untimed first). 0, the default, decodes
    /// from an empty context as llama-bench's tg test does, so the two figures compare.
    /// </summary>
    public int Depth { get; init; }

    /// <summary>
    /// Sequences decoded together: 1 = one <see cref="Frugal.Models.InferenceSession"/> (single-stream decode);
    /// B &gt; 1 = B sequences advanced one token each per step of the batched engine, which reads every weight once
    /// per step for all of them (aggregate tokens/s).
    /// </summary>
    public IReadOnlyList<int> BatchSizes { get; init; } = [1];

    /// <summary>Most sequences one batched row may decode together.</summary>
    public const int MaxBatchSize = 256;

    public IReadOnlyList<int> Threads { get; init; } = [1, 2];

    public int Repetitions { get; init; } = 5;

    /// <summary>
    /// Untimed runs before the timed ones, each a short prefill (up to <see cref="WarmupPromptTokens"/>) and a few
    /// decode steps: enough to fault the mapped weights in and get every kernel compiled, at a fraction of a full run.
    /// </summary>
    public int WarmupRuns { get; init; } = 1;

    public const int WarmupPromptTokens = 16;
    public const int WarmupGenTokens = 4;

    /// <summary>Size of the buffer the bandwidth probe reads (far larger than the last-level cache).</summary>
    public long BandwidthBufferBytes { get; init; } = MemoryBandwidthProbe.DefaultBufferBytes;

    /// <summary>Seed of the random prompt.</summary>
    public ulong Seed { get; init; }
}

/// <summary>A set of measurements: the median, the range and every sample, in the order they were taken.</summary>
public sealed record Spread(double Median, double Min, double Max, double[] Samples)
{
    public static Spread Of(IReadOnlyCollection<double> samples)
    {
        if (samples.Count == 0) throw new ArgumentException("no samples", nameof(samples));
        double[] sorted = samples.Order().ToArray();
        int n = sorted.Length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        return new Spread(median, sorted[0], sorted[^1], samples.ToArray());
    }
}

/// <summary>The model measured: where it is, what it is, and the bytes of weights one decoded token reads.</summary>
public sealed record BenchmarkModel(string Path, string Architecture, string Name, long Parameters, long FileBytes,
    string TensorTypes, long WeightBytesPerToken);

/// <summary>
/// One line of the report. <see cref="Test"/> is "prefill" (Tokens evaluated at once from an empty cache) or
/// "decode" (Tokens decoded one at a time by <see cref="BatchSize"/> = 1 sequence, starting with
/// <see cref="ContextStart"/> tokens already in its context); a batched decode line has the same fields with
/// BatchSize &gt; 1: each of the B sequences decodes Tokens tokens, and TokensPerSecond is the aggregate. Weight traffic and roofline are given for decode lines, where every step reads
/// every weight once: WeightBytesPerSecond = steps/s × weight bytes per step; RooflineEfficiency is its ratio to
/// the read bandwidth measured with the same thread count.
/// </summary>
public sealed record BenchmarkRow(string Test, int Threads, int BatchSize, int Tokens, int ContextStart,
    Spread TokensPerSecond, double? WeightBytesPerSecond, double? BandwidthBytesPerSecond, double? RooflineEfficiency);

/// <summary>The machine's read bandwidth with a thread count (median of the probe's passes).</summary>
public sealed record BandwidthMeasurement(int Threads, long BufferBytes, double BytesPerSecond);

public sealed record BenchmarkReport(BenchmarkModel Model, string Date, string Simd, int ProcessorCount,
    int PromptTokens, int GenTokens, int Depth, int Repetitions, int WarmupRuns,
    BandwidthMeasurement[] Bandwidth, BenchmarkRow[] Rows);
