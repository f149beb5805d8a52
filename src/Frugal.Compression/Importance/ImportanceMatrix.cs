using Frugal.Compression.Quantization;

namespace Frugal.Compression.Importance;

/// <summary>
/// The importance data of one weight matrix, as llama.cpp's imatrix file stores it: <see cref="StoredValues"/>[j] is
/// the mean of the squared activations that met input column j, times <see cref="CallCount"/> (the number of
/// evaluation batches that fed the matrix). Keeping the stored numbers makes a file read and written again identical.
/// </summary>
public sealed class ImportanceEntry
{
    public ImportanceEntry(string name, int callCount, float[] storedValues)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(storedValues);
        if (callCount < 0) throw new ArgumentOutOfRangeException(nameof(callCount), callCount, $"importance entry '{name}': negative call count");
        if (storedValues.Length == 0) throw new ArgumentException($"importance entry '{name}' has no values", nameof(storedValues));
        Name = name;
        CallCount = callCount;
        StoredValues = storedValues;
    }

    /// <summary>The GGUF name of the weight matrix, e.g. "blk.0.ffn_down.weight".</summary>
    public string Name { get; }

    public int CallCount { get; }

    /// <summary>Mean squared activation per input column × <see cref="CallCount"/>, one per column.</summary>
    public float[] StoredValues { get; }

    public int Columns => StoredValues.Length;

    /// <summary>
    /// The weights quantizers use: the mean squared activation per column (llama-quantize divides the stored values
    /// by the call count, in float, when it loads the file).
    /// </summary>
    public float[] MeanSquares()
    {
        var values = (float[])StoredValues.Clone();
        if (CallCount > 0)
            for (int i = 0; i < values.Length; i++) values[i] /= CallCount;
        return values;
    }
}

/// <summary>
/// An importance matrix: per weight matrix, how strongly each input column is used on calibration text
/// (llama.cpp's imatrix). <see cref="ChunkCount"/> and <see cref="Dataset"/> are the trailer llama.cpp writes:
/// the number of batches it was computed on and the calibration file's name.
/// </summary>
public sealed class ImportanceMatrix
{
    private readonly Dictionary<string, ImportanceEntry> _entries;

    public ImportanceMatrix(IEnumerable<ImportanceEntry> entries, int chunkCount, string dataset)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(dataset);
        _entries = new Dictionary<string, ImportanceEntry>(StringComparer.Ordinal);
        foreach (var entry in entries)
            if (!_entries.TryAdd(entry.Name, entry)) throw new ArgumentException($"importance matrix has two entries for '{entry.Name}'", nameof(entries));
        ChunkCount = chunkCount;
        Dataset = dataset;
    }

    public IReadOnlyDictionary<string, ImportanceEntry> Entries => _entries;

    /// <summary>Entries in llama.cpp's tensor order (by layer, then name), the order files are written in.</summary>
    public IEnumerable<ImportanceEntry> OrderedEntries =>
        _entries.Values.OrderBy(e => e.Name, Comparer<string>.Create(TensorTypePlanner.CompareNames));

    public int ChunkCount { get; }

    public string Dataset { get; }

    public bool TryGet(string tensorName, out ImportanceEntry entry) => _entries.TryGetValue(tensorName, out entry!);
}
