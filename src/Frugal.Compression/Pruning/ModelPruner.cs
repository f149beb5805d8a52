using System.Globalization;
using System.Text.RegularExpressions;
using Frugal.Compression.Quantization;
using Frugal.Gguf;
using Frugal.Models;
using Frugal.Quants;

namespace Frugal.Compression.Pruning;

/// <summary>
/// Structured pruning of llama-style GGUF models: removing FFN intermediate neurons (rows of ffn_gate/ffn_up, columns
/// of ffn_down) or whole transformer blocks. Both write an ordinary GGUF (temporary file + rename) with the metadata
/// updated, so any GGUF reader loads the result.
/// </summary>
public static partial class ModelPruner
{
    private const int DefaultCalibrationContext = 512;

    // ---- FFN channels ----

    /// <summary>
    /// Removes the same number of FFN neurons from every layer of <paramref name="inputPath"/> and writes the result
    /// to <paramref name="outputPath"/>. <paramref name="calibrationText"/> is needed by <see cref="PruneMethod.Importance"/>.
    /// </summary>
    public static FfnPruneResult PruneFeedForward(string inputPath, string outputPath, string? calibrationText,
        FfnPruneOptions options, Action<string>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!(options.Ratio > 0 && options.Ratio < 1))
            throw new ArgumentOutOfRangeException(nameof(options), $"the FFN pruning ratio must be between 0 and 1 (exclusive), got {options.Ratio.ToString(CultureInfo.InvariantCulture)}");
        if (!Enum.IsDefined(options.Method)) throw new ArgumentOutOfRangeException(nameof(options), "unknown pruning method");
        if (options.Method == PruneMethod.Importance && calibrationText is null)
            throw new ArgumentException("importance pruning needs calibration text (--text), or use --method random");
        CheckPaths(inputPath, outputPath);

        using var model = Model.Load(inputPath, new ModelLoadOptions { Threads = options.Threads });
        var file = model.File;
        var config = model.Config;
        int ffn = config.FeedForwardDim;
        int dim = config.EmbeddingDim;
        string ffnKey = $"{config.Architecture}.feed_forward_length";
        if (!file.Contains(ffnKey)) throw new NotSupportedException($"{inputPath} has no {ffnKey}: cannot prune its FFN");
        CheckFeedForwardTensors(file, config.Layers, ffn);

        var notes = new List<string>();
        var downTypes = Enumerable.Range(0, config.Layers).Select(l => file.GetTensor(Name(l, "ffn_down")).Type).ToArray();
        int blockSize = downTypes.Max(t => GgmlTypes.Info(t).BlockSize);
        int kept = PlanKeptCount(ffn, options.Ratio, blockSize, out string? note);
        bool fallBack = kept < 0;
        if (fallBack)
        {
            kept = ffn - (int)Math.Round(options.Ratio * ffn);
            notes.Add(note!);
        }
        else if (note is not null) notes.Add(note);
        if (kept <= 0 || kept >= ffn)
            throw new ArgumentOutOfRangeException(nameof(options), $"a ratio of {options.Ratio.ToString(CultureInfo.InvariantCulture)} of {ffn} neurons removes {ffn - kept}; choose a ratio that removes at least one and keeps at least one");

        double[][] scores = new double[config.Layers][];
        if (options.Method == PruneMethod.Importance)
        {
            progress?.Invoke("calibrating");
            var observer = CalibrationObserver.Collect(model, calibrationText!, CalibrationContext(config, options.ContextSize),
                options.MaxChunks, (done, all) => progress?.Invoke($"calibration chunk {done}/{all}"), cancellation);
            for (int l = 0; l < config.Layers; l++)
            {
                var down = file.GetTensor(Name(l, "ffn_down"));
                scores[l] = NeuronImportance(observer.MeanSquareActivation(l), DequantizeMatrix(file, down), dim, ffn);
            }
        }
        else
        {
            var random = new Random(options.Seed);
            for (int l = 0; l < config.Layers; l++)
            {
                scores[l] = new double[ffn];
                for (int j = 0; j < ffn; j++) scores[l][j] = random.NextDouble();
            }
        }

        var removed = new int[config.Layers][];
        // The sliced FFN tensors by name; every other tensor is streamed from the source unchanged.
        var replaced = new Dictionary<string, (long[] Shape, GgmlType Type, byte[] Data)>();
        for (int l = 0; l < config.Layers; l++)
        {
            cancellation.ThrowIfCancellationRequested();
            removed[l] = LowestScores(scores[l], ffn - kept);
            bool[] keep = new bool[ffn];
            Array.Fill(keep, true);
            foreach (int j in removed[l]) keep[j] = false;
            foreach (string part in new[] { "ffn_gate", "ffn_up" })
            {
                var tensor = file.GetTensor(Name(l, part));
                replaced[tensor.Name] = ([dim, kept], tensor.Type, KeepRows(file.TensorBytes(tensor), tensor.RowBytes, keep));
            }
            var downTensor = file.GetTensor(Name(l, "ffn_down"));
            GgmlType target = fallBack || !WeightQuantizer.CanWrite(downTensor.Type) ? GgmlType.F32 : downTensor.Type;
            if (!fallBack && target != downTensor.Type)
                notes.Add($"{downTensor.Name}: Frugal cannot write {GgmlTypes.Name(downTensor.Type)}, so it is stored as F32");
            float[] columns = KeepColumns(DequantizeMatrix(file, downTensor), dim, ffn, keep);
            var bytes = new byte[dim * GgmlTypes.Info(target).RowBytes(kept)];
            WeightQuantizer.QuantizeRows(target, columns, bytes, kept, ReadOnlySpan<float>.Empty, options.Threads, cancellation);
            replaced[downTensor.Name] = ([kept, dim], target, bytes);
            progress?.Invoke($"layer {l}: removed {ffn - kept} of {ffn} neurons");
        }
        var writer = new GgufWriter(file.Version, (uint)file.Alignment);
        foreach (var (key, value) in file.MetadataInOrder)
        {
            if (key == GgufFile.AlignmentKey) continue;
            writer.AddMetadata(key, key == ffnKey ? SameType(value, kept) : value);
        }
        foreach (var tensor in file.Tensors)
        {
            if (replaced.TryGetValue(tensor.Name, out var slice)) writer.AddTensor(tensor.Name, slice.Shape, slice.Type, slice.Data);
            else writer.AddTensorFrom(file, tensor);
        }
        writer.WriteTo(outputPath);
        return new FfnPruneResult(ffn, kept, removed, notes, file.FileSize, new FileInfo(outputPath).Length);
    }

    /// <summary>
    /// The FFN size to keep when removing <paramref name="ratio"/> of <paramref name="ffn"/> neurons, rounded to the
    /// nearest multiple of <paramref name="blockSize"/> (ffn_down's rows must stay whole blocks), at least one block
    /// and at most ffn − blockSize. −1 when no multiple fits (the caller falls back to F32); <paramref name="note"/>
    /// says what was adjusted.
    /// </summary>
    public static int PlanKeptCount(int ffn, double ratio, int blockSize, out string? note)
    {
        int requested = ffn - (int)Math.Round(ratio * ffn);
        note = null;
        if (blockSize <= 1) return requested;
        int largest = (ffn - 1) / blockSize * blockSize; // the largest whole-block size below ffn
        if (largest < blockSize)
        {
            note = $"the FFN size {ffn} leaves no room for whole blocks of {blockSize}: ffn_down is written as F32";
            return -1;
        }
        int rounded = (int)Math.Round((double)requested / blockSize, MidpointRounding.AwayFromZero) * blockSize;
        rounded = Math.Clamp(rounded, blockSize, largest);
        if (rounded != requested)
            note = $"keeping {rounded} neurons per layer instead of {requested}, a multiple of ffn_down's block size {blockSize}";
        return rounded;
    }

    /// <summary>importance_j = mean(a_j²) × ‖W_down[:, j]‖²; <paramref name="down"/> is [dim rows, ffn columns].</summary>
    public static double[] NeuronImportance(ReadOnlySpan<double> meanSquareActivation, ReadOnlySpan<float> down, int dim, int ffn)
    {
        if (meanSquareActivation.Length != ffn) throw new ArgumentException($"{meanSquareActivation.Length} activations for {ffn} neurons");
        if (down.Length != (long)dim * ffn) throw new ArgumentException($"ffn_down holds {down.Length} weights, not {dim} × {ffn}");
        var columnNorms = new double[ffn];
        for (int r = 0; r < dim; r++)
        {
            var row = down.Slice(r * ffn, ffn);
            for (int j = 0; j < ffn; j++) columnNorms[j] += (double)row[j] * row[j];
        }
        var scores = new double[ffn];
        for (int j = 0; j < ffn; j++) scores[j] = meanSquareActivation[j] * columnNorms[j];
        return scores;
    }

    /// <summary>The indices of the <paramref name="count"/> lowest scores (ties: lower index first), ascending.</summary>
    public static int[] LowestScores(ReadOnlySpan<double> scores, int count)
    {
        if (count < 0 || count > scores.Length) throw new ArgumentOutOfRangeException(nameof(count), count, $"cannot pick {count} of {scores.Length}");
        var values = scores.ToArray();
        var order = Enumerable.Range(0, scores.Length).ToArray();
        Array.Sort(order, (a, b) => values[a] != values[b] ? values[a].CompareTo(values[b]) : a.CompareTo(b));
        var chosen = order.AsSpan(0, count).ToArray();
        Array.Sort(chosen);
        return chosen;
    }

    // ---- whole layers ----

    /// <summary>
    /// Removes the <see cref="LayerPruneOptions.Count"/> blocks whose output residual stream is most similar (cosine)
    /// to their input on the calibration text, renumbers the rest and updates {arch}.block_count.
    /// </summary>
    public static LayerPruneResult RemoveLayers(string inputPath, string outputPath, string calibrationText,
        LayerPruneOptions options, Action<string>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(calibrationText);
        if (options.Count < 1) throw new ArgumentOutOfRangeException(nameof(options), $"the number of layers to remove must be at least 1, got {options.Count}");
        CheckPaths(inputPath, outputPath);

        using var model = Model.Load(inputPath, new ModelLoadOptions { Threads = options.Threads });
        var file = model.File;
        var config = model.Config;
        if (options.Count >= config.Layers)
            throw new ArgumentOutOfRangeException(nameof(options), $"cannot remove {options.Count} of the model's {config.Layers} layers (at most {config.Layers - 1})");
        string countKey = $"{config.Architecture}.block_count";

        progress?.Invoke("calibrating");
        var observer = CalibrationObserver.Collect(model, calibrationText, CalibrationContext(config, options.ContextSize),
            options.MaxChunks, (done, all) => progress?.Invoke($"calibration chunk {done}/{all}"), cancellation);
        double[] similarity = observer.MeanLayerSimilarity();
        // Most similar first: "lowest" of the negated similarity.
        int[] removed = LowestScores(similarity.Select(s => -s).ToArray(), options.Count);

        var renumber = new int[config.Layers];
        for (int l = 0, next = 0; l < config.Layers; l++) renumber[l] = Array.IndexOf(removed, l) >= 0 ? -1 : next++;

        var writer = new GgufWriter(file.Version, (uint)file.Alignment);
        foreach (var (key, value) in file.MetadataInOrder)
        {
            if (key == GgufFile.AlignmentKey) continue;
            writer.AddMetadata(key, key == countKey ? SameType(value, config.Layers - options.Count) : value);
        }
        foreach (var tensor in file.Tensors)
        {
            var match = BlockTensor().Match(tensor.Name);
            if (!match.Success)
            {
                writer.AddTensorFrom(file, tensor);
                continue;
            }
            int layer = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            if (layer >= config.Layers) throw new InvalidDataException($"tensor {tensor.Name} belongs to layer {layer}, but the model has {config.Layers}");
            if (renumber[layer] < 0) continue;
            writer.AddTensorFrom(file, tensor, $"blk.{renumber[layer]}.{match.Groups[2].Value}");
        }
        writer.WriteTo(outputPath);
        return new LayerPruneResult(config.Layers, config.Layers - options.Count, similarity, removed, file.FileSize, new FileInfo(outputPath).Length);
    }

    // ---- helpers ----

    [GeneratedRegex(@"^blk\.(\d+)\.(.+)$")]
    private static partial Regex BlockTensor();

    private static string Name(int layer, string part) => $"blk.{layer}.{part}.weight";

    private static int CalibrationContext(ModelConfig config, int requested)
    {
        if (requested > 0) return requested;
        return Math.Min(DefaultCalibrationContext, config.ContextLength > 0 ? config.ContextLength : DefaultCalibrationContext);
    }

    private static void CheckPaths(string inputPath, string outputPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if (!File.Exists(inputPath)) throw new FileNotFoundException($"model file not found: {inputPath}", inputPath);
        if (Path.GetFullPath(inputPath) == Path.GetFullPath(outputPath))
            throw new ArgumentException($"the output path is the input model ({inputPath}); write the pruned model elsewhere");
        string? folder = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (folder is not null && !Directory.Exists(folder)) throw new DirectoryNotFoundException($"output folder not found: {folder}");
    }

    /// <summary>Refuses FFN layouts this pruner does not know how to slice (biases, experts, odd shapes).</summary>
    private static void CheckFeedForwardTensors(GgufFile file, int layers, int ffn)
    {
        for (int l = 0; l < layers; l++)
        {
            foreach (var tensor in file.Tensors.Where(t => t.Name.StartsWith($"blk.{l}.ffn_", StringComparison.Ordinal)))
            {
                bool known = tensor.Name == Name(l, "ffn_norm")
                    || tensor.Name == Name(l, "ffn_gate") || tensor.Name == Name(l, "ffn_up") || tensor.Name == Name(l, "ffn_down");
                if (!known) throw new NotSupportedException($"pruning does not know how to slice {tensor.Name} ({tensor}); only ffn_gate, ffn_up and ffn_down are supported");
            }
            foreach (string part in new[] { "ffn_gate", "ffn_up" })
            {
                var t = file.FindTensor(Name(l, part)) ?? throw new NotSupportedException($"the model has no {Name(l, part)}: only gated (SwiGLU) FFNs can be pruned");
                if (t.Rank != 2 || t.Dim(1) != ffn) throw new InvalidDataException($"{t} does not have {ffn} rows");
            }
            var down = file.GetTensor(Name(l, "ffn_down"));
            if (down.Rank != 2 || down.Dim(0) != ffn) throw new InvalidDataException($"{down} does not have rows of {ffn}");
        }
    }

    /// <summary>The whole tensor as floats, [Rows × Dim(0)] row-major.</summary>
    private static float[] DequantizeMatrix(GgufFile file, GgufTensorInfo tensor)
    {
        var values = new float[tensor.ElementCount];
        WeightQuantizer.Dequantize(tensor.Type, file.TensorBytes(tensor), values);
        return values;
    }

    /// <summary>The rows whose <paramref name="keep"/> flag is set, bytes copied unchanged (rows are independent blocks).</summary>
    private static byte[] KeepRows(ReadOnlySpan<byte> data, long rowBytes, bool[] keep)
    {
        var result = new byte[keep.Count(k => k) * rowBytes];
        long written = 0;
        for (int r = 0; r < keep.Length; r++)
        {
            if (!keep[r]) continue;
            data.Slice((int)(r * rowBytes), (int)rowBytes).CopyTo(result.AsSpan((int)written));
            written += rowBytes;
        }
        return result;
    }

    /// <summary>From [rows × cols] keeps the columns whose flag is set: [rows × kept].</summary>
    private static float[] KeepColumns(float[] matrix, int rows, int cols, bool[] keep)
    {
        int kept = keep.Count(k => k);
        var result = new float[(long)rows * kept];
        for (int r = 0; r < rows; r++)
        {
            int k = 0;
            for (int c = 0; c < cols; c++)
                if (keep[c]) result[r * kept + k++] = matrix[r * cols + c];
        }
        return result;
    }

    /// <summary>An integer metadata value of the same GGUF type as <paramref name="original"/>.</summary>
    private static GgufValue SameType(GgufValue original, int value) =>
        GgufValueTypes.IsInteger(original.Type)
            ? GgufValue.Create(original.Type, Convert.ChangeType(value, original.Value.GetType(), CultureInfo.InvariantCulture))
            : throw new InvalidDataException($"metadata of type {GgufValueTypes.Name(original.Type)} where an integer was expected");
}
