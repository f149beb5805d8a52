using System.Diagnostics;
using System.Runtime.InteropServices;
using Frugal.Gguf;
using Frugal.Models.Tokenization;
using Frugal.Quants;

namespace Frugal.Models.Synthesis;

/// <summary>What <see cref="ModelSynthesizer.Write"/> produced.</summary>
public sealed record SynthesisResult(string Path, SynthesisPlan Plan, long FileBytes, TimeSpan Elapsed);

/// <summary>
/// Writes a random-weight model of a real model's shape: metadata and tensor list from a <see cref="SynthesisPlan"/>,
/// the vocabulary (every tokenizer.* key) copied from a vocabulary GGUF, weights drawn from a seeded normal
/// distribution and quantized with Frugal's reference quantizers (byte-exact with llama.cpp's), rows spread over
/// every core. Tensors are written group by group (the embedding, each layer, the output) into scratch GGUF files
/// beside the output and then streamed into the final file, so memory holds one group at a time, not the model.
/// The output appears only when complete (written to a temporary name, then renamed).
/// </summary>
public static unsafe class ModelSynthesizer
{
    /// <summary>Rows generated and quantized per parallel work item.</summary>
    private const int RowsPerWorkItem = 32;

    /// <summary>The tokenizer.* metadata of a vocabulary file and its token count; refuses files Frugal cannot tokenize with.</summary>
    public static (IReadOnlyList<KeyValuePair<string, GgufValue>> Keys, int VocabSize) ReadVocabulary(GgufFile vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        if (vocabulary.TryGetArray("tokenizer.ggml.tokens") is not { Count: > 0 })
            throw new ArgumentException($"{vocabulary.Path}: no vocabulary (tokenizer.ggml.tokens is missing or empty)");
        var tokenizer = Tokenizer.FromGguf(vocabulary); // the synthesized model must load: check its tokenizer now
        var keys = vocabulary.MetadataInOrder.Where(entry => entry.Key.StartsWith("tokenizer.", StringComparison.Ordinal)).ToList();
        return (keys, tokenizer.VocabSize);
    }

    /// <summary>
    /// Writes the model of <paramref name="shape"/> in <paramref name="format"/> with the vocabulary of
    /// <paramref name="vocabularyPath"/> to <paramref name="outputPath"/>. Nothing is left at the output path on failure.
    /// </summary>
    public static SynthesisResult Write(ModelShape shape, WeightFormat format, string vocabularyPath, string outputPath, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentException.ThrowIfNullOrEmpty(vocabularyPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        var clock = Stopwatch.StartNew();
        string fullOutput = Path.GetFullPath(outputPath);
        string directory = Path.GetDirectoryName(fullOutput)!;
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"{outputPath}: directory {directory} does not exist");
        if (Directory.Exists(fullOutput)) throw new IOException($"{outputPath} is a directory");

        IReadOnlyList<KeyValuePair<string, GgufValue>> vocabularyKeys;
        SynthesisPlan plan;
        using (var vocabulary = GgufFile.Open(vocabularyPath))
        {
            (vocabularyKeys, int vocabSize) = ReadVocabulary(vocabulary);
            plan = SynthesisPlan.Create(shape, format, vocabSize);
            // The arrays are copied out of the mapping before it closes (GgufValue holds managed copies).
        }

        string scratch = Path.Combine(directory, $".{Path.GetFileName(fullOutput)}.parts-{Environment.ProcessId}");
        var parts = new List<GgufFile>();
        try
        {
            Directory.CreateDirectory(scratch);
            var writer = new GgufWriter();
            foreach (var entry in plan.Metadata) writer.AddMetadata(entry.Key, entry.Value);
            foreach (var entry in vocabularyKeys) writer.AddMetadata(entry.Key, entry.Value);

            foreach (var (group, tensors) in Groups(plan))
            {
                string partPath = Path.Combine(scratch, $"{group}.gguf");
                var partWriter = new GgufWriter();
                foreach (var tensor in tensors) AddSynthesized(partWriter, tensor, seed);
                partWriter.WriteTo(partPath);
                var part = GgufFile.Open(partPath);
                parts.Add(part);
                foreach (var tensor in tensors) writer.AddTensorFrom(part, part.GetTensor(tensor.Name));
            }
            writer.WriteTo(fullOutput);
        }
        finally
        {
            foreach (var part in parts) part.Dispose();
            try { Directory.Delete(scratch, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return new SynthesisResult(fullOutput, plan, new FileInfo(fullOutput).Length, clock.Elapsed);
    }

    /// <summary>The plan's tensors in file order, cut into groups that are written (and held in memory) one at a time.</summary>
    private static IEnumerable<(string Group, List<PlannedTensor> Tensors)> Groups(SynthesisPlan plan)
    {
        var current = new List<PlannedTensor>();
        int currentLayer = int.MinValue;
        foreach (var tensor in plan.Tensors)
        {
            // A new group whenever the layer changes; the tensors outside the blocks (-1) before and after them are separate groups.
            if (current.Count > 0 && tensor.Layer != currentLayer)
            {
                yield return (GroupName(currentLayer, current), current);
                current = [];
            }
            currentLayer = tensor.Layer;
            current.Add(tensor);
        }
        if (current.Count > 0) yield return (GroupName(currentLayer, current), current);
    }

    private static string GroupName(int layer, List<PlannedTensor> tensors) =>
        layer >= 0 ? $"blk.{layer}" : tensors[0].Name.Replace(".weight", "", StringComparison.Ordinal);

    private static void AddSynthesized(GgufWriter writer, PlannedTensor tensor, ulong seed)
    {
        long bytes = tensor.ByteSize;
        if (bytes > int.MaxValue) throw new NotSupportedException($"tensor '{tensor.Name}' would be {bytes} bytes; tensors over 2 GiB cannot be synthesized");
        byte* data = (byte*)NativeMemory.Alloc((nuint)Math.Max(bytes, 1));
        try
        {
            Fill(tensor, seed, data);
            writer.AddTensor(tensor.Name, tensor.Shape, tensor.Type, new ReadOnlySpan<byte>(data, (int)bytes));
        }
        finally
        {
            NativeMemory.Free(data);
        }
    }

    /// <summary>
    /// Generates the tensor's values row by row and encodes each row in its type into <paramref name="destination"/>
    /// [Rows × row bytes]. Rows are independent (each has its own random stream), so they are spread over every core.
    /// </summary>
    internal static void Fill(PlannedTensor tensor, ulong seed, byte* destination)
    {
        var kernels = QuantKernels.Get(tensor.Type);
        if (kernels.Quantize == null) throw new NotSupportedException($"tensor type {GgmlTypes.Name(tensor.Type)} has no quantizer in Frugal");
        int cols = checked((int)tensor.Cols);
        long rows = tensor.Rows;
        long rowBytes = GgmlTypes.Info(tensor.Type).RowBytes(cols);
        long workItems = (rows + RowsPerWorkItem - 1) / RowsPerWorkItem;
        nint output = (nint)destination; // lambdas cannot capture pointers
        Parallel.For(0L, workItems, () => new float[cols], (item, _, values) =>
        {
            fixed (float* source = values)
            {
                long end = Math.Min(rows, (item + 1) * RowsPerWorkItem);
                for (long row = item * RowsPerWorkItem; row < end; row++)
                {
                    GenerateRow(tensor, seed, row, values);
                    kernels.Quantize(source, (byte*)output + row * rowBytes, cols);
                }
            }
            return values;
        }, _ => { });
    }

    /// <summary>The float values of one row before encoding.</summary>
    internal static void GenerateRow(PlannedTensor tensor, ulong seed, long row, Span<float> values)
    {
        if (tensor.Init.Ones)
        {
            values.Fill(1f);
            return;
        }
        var normals = SeededNormals.ForRow(seed, tensor.Name, row);
        float deviation = tensor.Init.StandardDeviation;
        for (int i = 0; i < values.Length; i++) values[i] = normals.NextNormal() * deviation;
    }
}
