using Frugal.Gguf;
using Frugal.Quants;

namespace Frugal.Models.Synthesis;

/// <summary>How a synthesized tensor is filled: seeded normal values of a standard deviation, or all ones (norm weights).</summary>
public readonly record struct WeightInit(bool Ones, float StandardDeviation)
{
    public static WeightInit Normal(float standardDeviation) => new(false, standardDeviation);

    public static WeightInit AllOnes { get; } = new(true, 0f);
}

/// <summary>
/// One tensor of a synthesized model. Shape in ggml order: [Cols] for a vector, [Cols, Rows] for a matrix
/// (row r holds output feature r's Cols input weights). <see cref="Layer"/> is -1 outside the blocks.
/// </summary>
public sealed record PlannedTensor(string Name, long[] Shape, GgmlType Type, WeightInit Init, int Layer)
{
    public long Cols => Shape[0];
    public long Rows => Shape.Length > 1 ? Shape[1] : 1;
    public long ElementCount => Cols * Rows;
    public long ByteSize => GgmlTypes.Info(Type).RowBytes(Cols) * Rows;
}

/// <summary>
/// Everything a synthesized model file holds except the vocabulary: the metadata llama.cpp's converter writes for
/// the architecture, and the tensor list with each tensor's type (per <see cref="QuantizationMix"/>) and initial
/// values. Building a plan reads and writes nothing, so the big shapes can be checked without writing them.
/// </summary>
public sealed class SynthesisPlan
{
    public const uint QuantizationVersion = 2; // ggml's GGML_QNT_VERSION

    public ModelShape Shape { get; }
    public WeightFormat Format { get; }
    public int VocabSize { get; }
    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata { get; }
    public IReadOnlyList<PlannedTensor> Tensors { get; }

    /// <summary>Bytes of tensor data (without the alignment padding between tensors).</summary>
    public long TensorBytes => Tensors.Sum(t => t.ByteSize);

    public long ParameterCount => Tensors.Sum(t => t.ElementCount);

    private SynthesisPlan(ModelShape shape, WeightFormat format, int vocabSize,
        List<KeyValuePair<string, GgufValue>> metadata, List<PlannedTensor> tensors)
    {
        Shape = shape;
        Format = format;
        VocabSize = vocabSize;
        Metadata = metadata.AsReadOnly();
        Tensors = tensors.AsReadOnly();
    }

    public static SynthesisPlan Create(ModelShape shape, WeightFormat format, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(shape);
        CheckShape(shape);
        if (vocabSize < 1) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "the vocabulary must hold at least one token");
        if (!Enum.IsDefined(format)) throw new ArgumentOutOfRangeException(nameof(format), format, "unknown weight format");
        return new SynthesisPlan(shape, format, vocabSize, BuildMetadata(shape, format, vocabSize), BuildTensors(shape, format, vocabSize));
    }

    private static void CheckShape(ModelShape s)
    {
        if (s.Architecture is not ("llama" or "qwen2"))
            throw new ArgumentException($"shape '{s.Name}': architecture '{s.Architecture}' cannot be synthesized (llama or qwen2)");
        if (s.EmbeddingDim < 1 || s.Layers < 1 || s.Heads < 1 || s.KvHeads < 1 || s.FeedForwardDim < 1 || s.ContextLength < 1)
            throw new ArgumentException($"shape '{s.Name}': every dimension must be positive");
        if (s.EmbeddingDim % s.Heads != 0 || s.HeadDim % 2 != 0)
            throw new ArgumentException($"shape '{s.Name}': dim {s.EmbeddingDim} must split into {s.Heads} heads of an even size");
        if (s.Heads % s.KvHeads != 0)
            throw new ArgumentException($"shape '{s.Name}': {s.Heads} heads are not a multiple of {s.KvHeads} KV heads");
    }

    /// <summary>The keys and value types llama.cpp's convert_hf_to_gguf.py and llama-quantize write.</summary>
    private static List<KeyValuePair<string, GgufValue>> BuildMetadata(ModelShape s, WeightFormat format, int vocabSize)
    {
        string a = s.Architecture;
        var metadata = new List<KeyValuePair<string, GgufValue>>();
        void Add(string key, GgufValue value) => metadata.Add(new(key, value));
        Add("general.architecture", GgufValue.FromString(a));
        Add("general.name", GgufValue.FromString($"synthetic {s.Name} {QuantizationMix.Name(format)}"));
        Add(GgufFile.AlignmentKey, GgufValue.FromUInt32(GgufFile.DefaultAlignment));
        Add($"{a}.vocab_size", GgufValue.FromUInt32((uint)vocabSize));
        Add($"{a}.context_length", GgufValue.FromUInt32((uint)s.ContextLength));
        Add($"{a}.embedding_length", GgufValue.FromUInt32((uint)s.EmbeddingDim));
        Add($"{a}.block_count", GgufValue.FromUInt32((uint)s.Layers));
        Add($"{a}.feed_forward_length", GgufValue.FromUInt32((uint)s.FeedForwardDim));
        Add($"{a}.attention.head_count", GgufValue.FromUInt32((uint)s.Heads));
        Add($"{a}.attention.head_count_kv", GgufValue.FromUInt32((uint)s.KvHeads));
        Add($"{a}.rope.dimension_count", GgufValue.FromUInt32((uint)s.HeadDim));
        Add($"{a}.rope.freq_base", GgufValue.FromFloat32(s.RopeBase));
        Add($"{a}.attention.layer_norm_rms_epsilon", GgufValue.FromFloat32(s.RmsNormEpsilon));
        Add("general.file_type", GgufValue.FromUInt32(QuantizationMix.FileType(format)));
        Add("general.quantization_version", GgufValue.FromUInt32(QuantizationVersion)); // llama.cpp writes it for F16 too
        return metadata;
    }

    /// <summary>
    /// Tensors in llama.cpp's converter order. Scales keep activations in a realistic range through every layer:
    /// RMS norm hands each block unit-RMS input, projections into the block are N(0, 1/√cols) so their outputs are
    /// unit-RMS too, and the projections back into the residual stream (attn_output, ffn_down) are further scaled
    /// by 1/√(2·layers) so the stream's RMS stays O(1) whatever the depth. Embeddings and the output matrix are
    /// N(0, 1/√dim): the unit-RMS final norm then gives logits of standard deviation about 1.
    /// </summary>
    private static List<PlannedTensor> BuildTensors(ModelShape s, WeightFormat format, int vocabSize)
    {
        int dim = s.EmbeddingDim, ffn = s.FeedForwardDim, layers = s.Layers;
        bool hasOutput = !s.TiedOutput;
        float residualScale = 1f / MathF.Sqrt(2f * layers);
        const float BiasDeviation = 0.1f;
        var tensors = new List<PlannedTensor>();

        void Matrix(string name, int cols, int rows, float deviation, int layer) =>
            tensors.Add(new PlannedTensor(name, [cols, rows],
                QuantizationMix.ChooseType(format, name, layer, layers, cols, hasOutput), WeightInit.Normal(deviation), layer));
        void Vector(string name, int length, WeightInit init, int layer) =>
            tensors.Add(new PlannedTensor(name, [length], GgmlType.F32, init, layer));
        static float Fan(int cols) => 1f / MathF.Sqrt(cols);

        Matrix("token_embd.weight", dim, vocabSize, Fan(dim), -1);
        for (int i = 0; i < layers; i++)
        {
            string p = $"blk.{i}.";
            Vector(p + "attn_norm.weight", dim, WeightInit.AllOnes, i);
            Matrix(p + "attn_q.weight", dim, s.QueryDim, Fan(dim), i);
            if (s.QkvBias) Vector(p + "attn_q.bias", s.QueryDim, WeightInit.Normal(BiasDeviation), i);
            Matrix(p + "attn_k.weight", dim, s.KvDim, Fan(dim), i);
            if (s.QkvBias) Vector(p + "attn_k.bias", s.KvDim, WeightInit.Normal(BiasDeviation), i);
            Matrix(p + "attn_v.weight", dim, s.KvDim, Fan(dim), i);
            if (s.QkvBias) Vector(p + "attn_v.bias", s.KvDim, WeightInit.Normal(BiasDeviation), i);
            Matrix(p + "attn_output.weight", s.QueryDim, dim, Fan(s.QueryDim) * residualScale, i);
            Vector(p + "ffn_norm.weight", dim, WeightInit.AllOnes, i);
            Matrix(p + "ffn_gate.weight", dim, ffn, Fan(dim), i);
            Matrix(p + "ffn_up.weight", dim, ffn, Fan(dim), i);
            Matrix(p + "ffn_down.weight", ffn, dim, Fan(ffn) * residualScale, i);
        }
        Vector("output_norm.weight", dim, WeightInit.AllOnes, -1);
        if (hasOutput) Matrix("output.weight", dim, vocabSize, Fan(dim), -1);
        return tensors;
    }
}
