using Frugal.Models.Transformer;

namespace Frugal.Compression.Importance;

/// <summary>
/// Accumulates, per weight matrix, the sum of squared activations of each input column over every token that fed
/// it (llama.cpp's IMatrixCollector::collect_imatrix). Like llama.cpp it keeps only the matrices of the layers
/// ("blk.*", by GGUF name) and the output matrix only when asked, counts one call per evaluation batch
/// (<see cref="BeginBatch"/>), and ignores batches of fewer than 16 tokens. Sums are kept in float and added row by
/// row, in llama.cpp's order, so the same activations give the same file.
/// </summary>
public sealed unsafe class ImportanceCollector(bool includeOutput = false) : ForwardObserver
{
    /// <summary>llama.cpp skips matrix products over fewer tokens than this.</summary>
    public const int MinimumBatchTokens = 16;

    /// <summary>Running statistics of one matrix: sums[j] = Σ x[t, j]² and the tokens counted.</summary>
    private sealed class Statistics(int columns)
    {
        public readonly float[] Sums = new float[columns];
        public int Tokens;
        public int Calls;
        public int LastBatch = -1;
    }

    private readonly Dictionary<string, Statistics> _statistics = new(StringComparer.Ordinal);
    private int _batch = -1;
    private bool _batchCounts;

    /// <summary>The number of batches begun that were large enough to count (llama.cpp's m_last_call, for a dense model).</summary>
    public int CountedBatches { get; private set; }

    /// <summary>
    /// Starts one evaluation batch (llama.cpp's micro-batch, up to 512 tokens) of <paramref name="tokens"/> tokens;
    /// every matrix it feeds counts one call, however the engine splits the batch internally.
    /// </summary>
    public void BeginBatch(int tokens)
    {
        _batch++;
        _batchCounts = tokens >= MinimumBatchTokens;
        if (_batchCounts) CountedBatches++;
    }

    public override void MatMulInput(int layer, in WeightMatrix weights, float* input, int tokens, int cols)
    {
        if (!_batchCounts) return;
        string name = weights.Name;
        if (!(name.StartsWith("blk.", StringComparison.Ordinal) || (includeOutput && name == "output.weight"))) return;
        if (!_statistics.TryGetValue(name, out var stats))
        {
            stats = new Statistics(cols);
            _statistics.Add(name, stats);
        }
        else if (stats.Sums.Length != cols)
        {
            throw new InvalidOperationException($"matrix {name} was fed {cols} columns after {stats.Sums.Length}");
        }
        if (stats.LastBatch != _batch)
        {
            stats.LastBatch = _batch;
            stats.Calls++;
        }
        float[] sums = stats.Sums;
        for (int t = 0; t < tokens; t++)
        {
            float* x = input + (long)t * cols;
            for (int j = 0; j < cols; j++) sums[j] += x[j] * x[j];
        }
        stats.Tokens += tokens;
        for (int j = 0; j < cols; j++)
            if (!float.IsFinite(sums[j])) throw new InvalidOperationException($"non-finite activation sum in column {j} of {name}");
    }

    /// <summary>
    /// The collected statistics as an importance matrix: value[j] = (sum[j] / tokens) × calls, in float, as
    /// llama.cpp's save_imatrix computes it. <paramref name="dataset"/> is recorded as the calibration file's name.
    /// </summary>
    public ImportanceMatrix ToMatrix(string dataset)
    {
        var entries = new List<ImportanceEntry>();
        foreach (var (name, stats) in _statistics)
        {
            if (stats.Tokens == 0) continue;
            var values = new float[stats.Sums.Length];
            for (int j = 0; j < values.Length; j++) values[j] = stats.Sums[j] / stats.Tokens * stats.Calls;
            entries.Add(new ImportanceEntry(name, stats.Calls, values));
        }
        return new ImportanceMatrix(entries, CountedBatches, dataset);
    }
}
