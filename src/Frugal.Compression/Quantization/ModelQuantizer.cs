using System.Text;
using Frugal.Compression.Importance;
using Frugal.Gguf;
using Frugal.Quants;

namespace Frugal.Compression.Quantization;

/// <summary>What to make of a model file (llama-quantize's arguments).</summary>
public sealed record QuantizeOptions
{
    public required QuantizationPreset Preset { get; init; }

    /// <summary>Every quantizable tensor gets the preset's type (no mix rules), like llama-quantize --pure.</summary>
    public bool Pure { get; init; }

    /// <summary>Allow converting tensors that are already block-quantized (quality suffers).</summary>
    public bool AllowRequantize { get; init; }

    /// <summary>Importance weights for the rounding error, or null.</summary>
    public ImportanceMatrix? Importance { get; init; }

    /// <summary>Where <see cref="Importance"/> was read from, recorded in the output as quantize.imatrix.file.</summary>
    public string? ImportancePath { get; init; }

    /// <summary>Worker threads (0 = every core).</summary>
    public int Threads { get; init; }
}

/// <summary>One tensor done: its place in the file, what became of it and its size before and after.</summary>
public sealed record QuantizeProgress(int Index, int Count, TensorPlan Tensor, long InputBytes, long OutputBytes);

/// <summary>The finished file: every tensor's plan and the totals.</summary>
public sealed record QuantizeResult(IReadOnlyList<TensorPlan> Tensors, long InputBytes, long OutputBytes);

/// <summary>
/// Quantizes a GGUF model file as llama.cpp's llama_model_quantize does: metadata copied (split keys dropped,
/// general.quantization_version and general.file_type set, quantize.imatrix.* recorded with an importance matrix),
/// tensors in llama.cpp's order, each quantizable one converted to the type <see cref="TensorTypePlanner"/> chooses,
/// every other copied as it is. The output goes to a temporary file renamed at the end, so a failure or a
/// cancellation never leaves a half-written file at the output path.
/// </summary>
public static unsafe class ModelQuantizer
{
    /// <summary>ggml's GGML_QNT_VERSION, written as general.quantization_version.</summary>
    public const uint QuantizationVersion = 2;

    private static readonly string[] SplitKeys = ["split.no", "split.count", "split.tensors.count"];

    /// <summary>The per-tensor plan for <paramref name="input"/>, without converting anything.</summary>
    public static IReadOnlyList<TensorPlan> Plan(GgufFile input, QuantizeOptions options)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(options);
        var tensors = input.Tensors.Select(t => new TensorDescription(t.Name, t.Shape, t.Type));
        return TensorTypePlanner.Plan(ModelShape.FromGguf(input), tensors, options.Preset, options.Pure, options.Importance is not null);
    }

    /// <summary>
    /// Writes the quantized model. <paramref name="warn"/> receives one line per warning (requantizing, fallbacks,
    /// missing importance data); <paramref name="progress"/> one event per tensor, in file order.
    /// </summary>
    public static QuantizeResult Quantize(string inputPath, string outputPath, QuantizeOptions options,
        Action<QuantizeProgress>? progress = null, Action<string>? warn = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        ArgumentNullException.ThrowIfNull(options);
        CheckOutputPath(inputPath, outputPath);

        using var input = GgufFile.Open(inputPath);
        var plans = Plan(input, options);
        CheckPlans(input, plans, options, warn ?? (_ => { }));

        var writer = new GgufWriter(3, (uint)input.Alignment);
        CopyMetadata(input, writer, options);

        long inputBytes = 0, outputBytes = 0;
        for (int i = 0; i < plans.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var plan = plans[i];
            var tensor = input.GetTensor(plan.Name);
            long written;
            if (!plan.Converts)
            {
                writer.AddTensorFrom(input, tensor);
                written = tensor.ByteSize;
            }
            else
            {
                byte[] data = Convert(input, tensor, plan.TargetType, ImportanceFor(options.Importance, plan), options.Threads, cancellation);
                writer.AddTensor(plan.Name, plan.Shape, plan.TargetType, data);
                written = data.Length;
            }
            inputBytes += tensor.ByteSize;
            outputBytes += written;
            progress?.Invoke(new QuantizeProgress(i + 1, plans.Count, plan, tensor.ByteSize, written));
        }

        cancellation.ThrowIfCancellationRequested();
        writer.WriteTo(outputPath);
        return new QuantizeResult(plans, inputBytes, outputBytes);
    }

    private static void CheckOutputPath(string inputPath, string outputPath)
    {
        string fullOutput = Path.GetFullPath(outputPath);
        if (string.Equals(Path.GetFullPath(inputPath), fullOutput, StringComparison.Ordinal))
            throw new ArgumentException($"{outputPath}: the output would overwrite the input model");
        if (Directory.Exists(fullOutput)) throw new IOException($"{outputPath}: is a directory, not a file name");
        string? directory = Path.GetDirectoryName(fullOutput);
        if (directory is not null && !Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{outputPath}: cannot write the output, directory {directory} does not exist");
        // Fail before the long part when the output cannot be created (GgufWriter writes through this same name).
        string temporary = outputPath + ".tmp";
        try
        {
            using (new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None)) { }
            File.Delete(temporary);
        }
        catch (UnauthorizedAccessException)
        {
            throw new IOException($"{outputPath}: cannot write the output: permission denied");
        }
        catch (IOException error)
        {
            throw new IOException($"{outputPath}: cannot write the output: {error.Message}");
        }
    }

    /// <summary>Refuses what cannot be done before anything is written; warns about what is done at a cost.</summary>
    private static void CheckPlans(GgufFile input, IReadOnlyList<TensorPlan> plans, QuantizeOptions options, Action<string> warn)
    {
        var requantized = plans.Where(p => p.Converts && GgmlTypes.Info(p.SourceType).IsQuantized).ToList();
        if (requantized.Count > 0)
        {
            string types = string.Join(", ", requantized.Select(p => GgmlTypes.Name(p.SourceType)).Distinct());
            if (!options.AllowRequantize)
                throw new InvalidOperationException(
                    $"{input.Path}: {requantized.Count} tensors are already quantized ({types}), e.g. {requantized[0].Name}; requantizing loses quality, pass --allow-requantize to do it anyway");
            warn($"requantizing {requantized.Count} tensors that are already quantized ({types}): quality will be worse than quantizing from F32/F16/BF16");
        }
        foreach (var plan in plans.Where(p => p.Converts))
        {
            if (plan.SourceType != GgmlType.F32 && QuantKernels.Get(plan.SourceType).Dequantize == null)
                throw new NotSupportedException($"{input.Path}: tensor {plan.Name} is {GgmlTypes.Name(plan.SourceType)}, which Frugal cannot read");
            long outputBytes = plan.Elements / plan.Shape[0] * GgmlTypes.Info(plan.TargetType).RowBytes(plan.Shape[0]);
            if (plan.Elements > Array.MaxLength || outputBytes > Array.MaxLength)
                throw new NotSupportedException($"{input.Path}: tensor {plan.Name} has {plan.Elements} elements, more than Frugal converts at once");
        }
        foreach (var plan in plans.Where(p => p.Fallback is not null))
            warn($"{plan.Name}: {plan.Fallback}");

        if (options.Importance is { } importance)
        {
            var missing = new List<string>();
            foreach (var plan in plans.Where(p => p.Converts && WeightQuantizer.UsesImportance(p.TargetType)))
            {
                if (!importance.TryGet(plan.Name, out var entry)) { missing.Add(plan.Name); continue; }
                long expected = plan.Shape[0] * (plan.Shape.Length > 2 ? plan.Shape[2] : 1);
                if (entry.Columns == expected) continue;
                // llama.cpp tolerates a wrong-sized entry only for the token embedding, which imatrix never measures.
                if (plan.Name == "token_embd.weight")
                {
                    warn($"{plan.Name}: importance data has {entry.Columns} values, the tensor {expected} columns: quantized without it");
                    continue;
                }
                throw new InvalidDataException(
                    $"importance matrix entry {plan.Name} has {entry.Columns} values but the tensor has {expected} columns (was it computed on another model?)");
            }
            if (missing.Count > 0)
                warn($"no importance data for {missing.Count} tensors (quantized without it): {string.Join(", ", missing)}");
        }
    }

    /// <summary>The input's metadata with llama.cpp's changes, in its order (changed keys move to the end).</summary>
    private static void CopyMetadata(GgufFile input, GgufWriter writer, QuantizeOptions options)
    {
        foreach (var (key, value) in input.MetadataInOrder)
        {
            if (key == GgufFile.AlignmentKey || SplitKeys.Contains(key)) continue;
            writer.AddMetadata(key, value);
        }
        Append(writer, "general.quantization_version", GgufValue.FromUInt32(QuantizationVersion));
        Append(writer, "general.file_type", GgufValue.FromUInt32((uint)options.Preset.FileType));
        if (options.Importance is { } importance)
        {
            Append(writer, "quantize.imatrix.file", GgufValue.FromString(Truncate(options.ImportancePath ?? "")));
            if (importance.Dataset.Length > 0)
                Append(writer, "quantize.imatrix.dataset", GgufValue.FromString(Truncate(importance.Dataset)));
            Append(writer, "quantize.imatrix.entries_count", GgufValue.FromInt32(importance.Entries.Count));
            if (importance.ChunkCount > 0)
                Append(writer, "quantize.imatrix.chunks_count", GgufValue.FromInt32(importance.ChunkCount));
        }
    }

    /// <summary>gguf_set_val: an existing key is removed and the key appended.</summary>
    private static void Append(GgufWriter writer, string key, GgufValue value)
    {
        writer.RemoveMetadata(key);
        writer.AddMetadata(key, value);
    }

    /// <summary>llama-quantize passes these strings through a 128-byte buffer: at most 127 bytes survive.</summary>
    private static string Truncate(string text)
    {
        const int MaxBytes = 127;
        if (Encoding.UTF8.GetByteCount(text) <= MaxBytes) return text;
        int length = text.Length;
        while (Encoding.UTF8.GetByteCount(text.AsSpan(0, length)) > MaxBytes) length--;
        if (length > 0 && char.IsHighSurrogate(text[length - 1])) length--;
        return text[..length];
    }

    /// <summary>The importance weights for one tensor when its type uses them (one per column, per expert for 3-D tensors).</summary>
    private static float[]? ImportanceFor(ImportanceMatrix? importance, TensorPlan plan)
    {
        if (importance is null || !WeightQuantizer.UsesImportance(plan.TargetType)) return null;
        if (!importance.TryGet(plan.Name, out var entry)) return null;
        long expected = plan.Shape[0] * (plan.Shape.Length > 2 ? plan.Shape[2] : 1);
        return entry.Columns == expected ? entry.MeanSquares() : null;
    }

    /// <summary>
    /// Converts one tensor: its floats (read in place for F32, widened or dequantized otherwise) are checked to be
    /// finite, then quantized matrix by matrix (a 3-D tensor is one matrix per expert, each with its own importance).
    /// </summary>
    private static byte[] Convert(GgufFile input, GgufTensorInfo tensor, GgmlType target, float[]? importance, int threads, CancellationToken cancellation)
    {
        int elements = checked((int)tensor.ElementCount);
        ReadOnlySpan<float> values;
        if (tensor.Type == GgmlType.F32)
        {
            values = new ReadOnlySpan<float>(input.TensorData(tensor), elements);
        }
        else
        {
            var widened = new float[elements];
            WeightQuantizer.Dequantize(tensor.Type, input.TensorBytes(tensor), widened);
            values = widened;
        }
        int bad = IndexOfNonFinite(values);
        if (bad >= 0)
            throw new InvalidDataException($"{input.Path}: tensor {tensor.Name} holds a non-finite value ({values[bad]}) at element {bad}");

        int rowLength = checked((int)tensor.Shape[0]);
        long rowBytes = GgmlTypes.Info(target).RowBytes(rowLength);
        long rows = tensor.ElementCount / rowLength;
        var output = new byte[checked(rows * rowBytes)];
        long matrices = tensor.Shape.Length > 2 ? tensor.ElementCount / (rowLength * tensor.Shape[1]) : 1;
        int matrixElements = elements / (int)matrices;
        long matrixBytes = output.LongLength / matrices;
        for (int m = 0; m < matrices; m++)
        {
            // Only the experts' own slice of the importance data: llama.cpp keeps one row of weights per expert.
            var weights = importance is null ? ReadOnlySpan<float>.Empty
                : importance.AsSpan(importance.Length == rowLength * matrices ? m * rowLength : 0, rowLength);
            WeightQuantizer.QuantizeRows(target, values.Slice(m * matrixElements, matrixElements),
                output.AsSpan((int)(m * matrixBytes), (int)matrixBytes), rowLength, weights, threads, cancellation);
        }
        return output;
    }

    private static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }
}
