using System.Globalization;
using Frugal.Gguf;
using Frugal.Quants;

namespace Frugal.Compression.Quantization;

/// <summary>One tensor of the input: name, shape in ggml order (Shape[0] = row length) and stored type.</summary>
public sealed record TensorDescription(string Name, long[] Shape, GgmlType Type);

/// <summary>What the quantizer will do with one tensor: its type in the output and, when it was moved off the
/// preset's choice because its rows do not fit the block size, why.</summary>
public sealed record TensorPlan(string Name, long[] Shape, GgmlType SourceType, GgmlType TargetType, string? Fallback)
{
    /// <summary>True when the output stores another type than the input (the tensor is converted).</summary>
    public bool Converts => SourceType != TargetType;

    public long Elements => Shape.Aggregate(1L, (product, dim) => product * dim);
}

/// <summary>The hyper-parameters llama.cpp's per-tensor rules look at.</summary>
public sealed record ModelShape(string Architecture, int Layers, int Heads, int KvHeads, int Experts)
{
    /// <summary>Heads per KV head (llama.cpp's n_gqa), 0 without KV heads.</summary>
    public int GroupedQueryFactor => KvHeads == 0 ? 0 : Heads / KvHeads;

    /// <summary>llama.cpp's LLM_TYPE_70B for the llama architecture: 80 layers with grouped-query attention.</summary>
    public bool Is70B => Architecture == "llama" && Experts != 8 && Layers == 80 && Heads != KvHeads;

    public static ModelShape FromGguf(GgufFile file)
    {
        string arch = file.TryGetString("general.architecture")
            ?? throw new GgufException(file.Path, "missing required key 'general.architecture'");
        int layers = (int?)file.TryGetUInt32($"{arch}.block_count") ?? 0;
        int heads = FirstOfScalarOrArray(file, $"{arch}.attention.head_count") ?? 0;
        int kvHeads = FirstOfScalarOrArray(file, $"{arch}.attention.head_count_kv") ?? heads;
        int experts = (int?)file.TryGetUInt32($"{arch}.expert_count") ?? 0;
        return new ModelShape(arch, layers, heads, kvHeads, experts);
    }

    /// <summary>Head counts may be per-layer arrays; llama.cpp's n_gqa() looks at layer 0.</summary>
    private static int? FirstOfScalarOrArray(GgufFile file, string key)
    {
        if (!file.Metadata.TryGetValue(key, out var value)) return null;
        if (value.Value is GgufArray array)
            return array.Count > 0 ? Convert.ToInt32(array[0], CultureInfo.InvariantCulture) : null;
        return (int?)file.TryGetUInt32(key);
    }
}

/// <summary>
/// Chooses each tensor's output type as llama.cpp's llama_model_quantize_impl and llama_tensor_get_type do
/// (src/llama-quant.cpp, build 4748): which tensors are quantized at all (2-D and 3-D weights, not norms nor a few
/// special tensors), the per-tensor rules of the mixes (output and tied embedding in Q6_K, attn_v / ffn_down on
/// "use_more_bits" layers in Q6_K for Q4_K_M and Q5_K_M, …) and the fallback for rows that do not fit the block size.
/// Tensors are visited in llama.cpp's order (by layer, then by name), which the layer counters depend on.
/// </summary>
public static class TensorTypePlanner
{
    /// <summary>llama.cpp's weight_name_comparer: tensors outside "blk.N." first, then by layer, then by name.</summary>
    public static int CompareNames(string a, string b)
    {
        int byLayer = LayerOf(a).CompareTo(LayerOf(b));
        return byLayer != 0 ? byLayer : string.CompareOrdinal(a, b);
    }

    /// <summary>The N of "blk.N.", or −1 (as sscanf leaves it) when the name does not start so.</summary>
    public static int LayerOf(string name)
    {
        if (!name.StartsWith("blk.", StringComparison.Ordinal)) return -1;
        int end = 4;
        if (end < name.Length && (name[end] == '-' || name[end] == '+')) end++;
        while (end < name.Length && char.IsAsciiDigit(name[end])) end++;
        if (end == 4 || end >= name.Length || name[end] != '.') return -1;
        return int.TryParse(name.AsSpan(4, end - 4), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int layer) ? layer : -1;
    }

    /// <summary>Whether llama.cpp would quantize this tensor at all (2-D or 3-D weights other than norms and a few special ones).</summary>
    public static bool IsQuantizable(string name, long[] shape)
    {
        if (!name.EndsWith("weight", StringComparison.Ordinal)) return false;
        if (Dimensions(shape) < 2) return false;
        string[] excludedParts =
        [
            "_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight", "time_mix_first.weight", "time_mix_w1.weight",
            "time_mix_w2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
            "attn_rel_b.weight",
        ];
        if (excludedParts.Any(part => name.Contains(part, StringComparison.Ordinal))) return false;
        return name is not ("position_embd.weight" or "token_types.weight");
    }

    /// <summary>ggml_n_dims: the rank without trailing dimensions of 1.</summary>
    private static int Dimensions(long[] shape)
    {
        int dims = shape.Length;
        while (dims > 1 && shape[dims - 1] == 1) dims--;
        return dims;
    }

    /// <summary>
    /// Plans every tensor, in llama.cpp's order. <paramref name="pure"/> gives every quantizable tensor the preset's
    /// type (llama-quantize --pure); <paramref name="hasImportance"/> enables the rules that only apply with an
    /// importance matrix (ffn_down of the first layers of Q4_0/Q5_0 in Q4_1/Q5_1).
    /// </summary>
    public static IReadOnlyList<TensorPlan> Plan(ModelShape model, IEnumerable<TensorDescription> tensors,
        QuantizationPreset preset, bool pure, bool hasImportance)
    {
        var ordered = tensors.ToList();
        ordered.Sort((x, y) => CompareNames(x.Name, y.Name));
        var state = new RuleState(model, preset.FileType, hasImportance)
        {
            AttentionValueCount = ordered.Count(t => t.Name.Contains("attn_v.weight", StringComparison.Ordinal)
                || t.Name.Contains("attn_qkv.weight", StringComparison.Ordinal)
                || t.Name.Contains("attn_kv_b.weight", StringComparison.Ordinal)),
            HasOutput = ordered.Any(t => t.Name == "output.weight"),
        };

        var plans = new List<TensorPlan>(ordered.Count);
        foreach (var tensor in ordered)
        {
            GgmlType target = tensor.Type;
            string? fallback = null;
            if (IsQuantizable(tensor.Name, tensor.Shape))
            {
                target = preset.DefaultType;
                if (!pure && preset.IsQuantized) target = state.Choose(tensor, target);
                if (GgmlTypes.Info(target).IsQuantized) (target, fallback) = FitRowLength(tensor, target);
            }
            plans.Add(new TensorPlan(tensor.Name, tensor.Shape, tensor.Type, target, fallback));
        }
        return plans;
    }

    /// <summary>
    /// llama.cpp's fallback for rows that are not a whole number of blocks: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, then
    /// F16 if even that does not fit. Where llama.cpp picks IQ4_NL (for Q2_K/Q3_K), which Frugal cannot compute, Q4_0
    /// (the same 4.5 bits per weight in 32-element blocks) is used; where it gives up (32-element types), F16.
    /// </summary>
    private static (GgmlType Type, string? Fallback) FitRowLength(TensorDescription tensor, GgmlType wanted)
    {
        long columns = tensor.Shape[0];
        if (columns % GgmlTypes.Info(wanted).BlockSize == 0) return (wanted, null);
        GgmlType type = wanted switch
        {
            GgmlType.Q2_K or GgmlType.Q3_K => GgmlType.Q4_0,
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => GgmlType.F16,
        };
        if (columns % GgmlTypes.Info(type).BlockSize != 0) type = GgmlType.F16;
        string why = $"{columns} columns are not a multiple of {GgmlTypes.Info(wanted).BlockSize}, required for {GgmlTypes.Name(wanted)}: using {GgmlTypes.Name(type)}";
        return (type, why);
    }

    /// <summary>The per-tensor rules of llama_tensor_get_type for the presets Frugal makes, with their layer counters.</summary>
    private sealed class RuleState(ModelShape model, LlamaFileType fileType, bool hasImportance)
    {
        public int AttentionValueCount { get; init; }
        public bool HasOutput { get; init; }

        private int _attentionValue, _feedForwardDown, _feedForwardGate, _feedForwardUp;

        private bool IsFalcon => model.Architecture == "falcon";

        private static bool UseMoreBits(int layer, int layers) =>
            layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

        public GgmlType Choose(TensorDescription tensor, GgmlType type)
        {
            string name = tensor.Name;
            var ft = fileType;
            if (name == "output.weight" || (!HasOutput && name == "token_embd.weight"))
            {
                // The output matrix (or the embedding that doubles as it) keeps more bits.
                long columns = tensor.Shape[0];
                if (IsFalcon || columns % GgmlTypes.Info(type).BlockSize != 0) type = GgmlType.Q8_0;
                else if (type != GgmlType.Q8_0) type = GgmlType.Q6_K;
            }
            else if (name == "token_embd.weight")
            {
                // No rule for the presets Frugal makes.
            }
            else if (Has(name, "attn_v.weight"))
            {
                if (ft == LlamaFileType.MostlyQ2_K) type = model.GroupedQueryFactor >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K;
                else if (ft == LlamaFileType.MostlyQ3_K_M) type = _attentionValue < 2 ? GgmlType.Q5_K : GgmlType.Q4_K;
                else if (ft == LlamaFileType.MostlyQ3_K_L) type = GgmlType.Q5_K;
                else if ((ft == LlamaFileType.MostlyQ4_K_M || ft == LlamaFileType.MostlyQ5_K_M) && UseMoreBits(_attentionValue, AttentionValueCount)) type = GgmlType.Q6_K;
                else if (ft == LlamaFileType.MostlyQ4_K_S && _attentionValue < 4) type = GgmlType.Q5_K;
                if (model.Is70B && type is GgmlType.Q3_K or GgmlType.Q4_K) type = GgmlType.Q5_K;
                if (model.Experts == 8) type = GgmlType.Q8_0;
                _attentionValue++;
            }
            else if (Has(name, "attn_k.weight"))
            {
                if (model.Experts == 8) type = GgmlType.Q8_0;
            }
            else if (Has(name, "attn_q.weight"))
            {
                // No rule for the presets Frugal makes.
            }
            else if (Has(name, "ffn_down"))
            {
                var (layer, layers) = LayerInfo(_feedForwardDown, name);
                if (ft == LlamaFileType.MostlyQ2_K) type = GgmlType.Q3_K;
                else if (ft == LlamaFileType.MostlyQ3_K_M)
                    type = layer < layers / 16 ? GgmlType.Q5_K
                        : !IsFalcon || UseMoreBits(layer, layers) ? GgmlType.Q4_K : GgmlType.Q3_K;
                else if (ft == LlamaFileType.MostlyQ3_K_L) type = IsFalcon ? GgmlType.Q4_K : GgmlType.Q5_K;
                else if (ft == LlamaFileType.MostlyQ4_K_M)
                {
                    if (IsFalcon) type = layer < layers / 16 ? GgmlType.Q6_K : UseMoreBits(layer, layers) ? GgmlType.Q5_K : GgmlType.Q4_K;
                    else if (UseMoreBits(layer, layers)) type = GgmlType.Q6_K;
                }
                else if (ft == LlamaFileType.MostlyQ5_K_M && UseMoreBits(layer, layers)) type = GgmlType.Q6_K;
                else if (ft == LlamaFileType.MostlyQ4_K_S && !IsFalcon && layer < layers / 8) type = GgmlType.Q5_K;
                else if ((ft == LlamaFileType.MostlyQ4_0 || ft == LlamaFileType.MostlyQ5_0) && hasImportance && layer < layers / 8)
                    type = ft == LlamaFileType.MostlyQ4_0 ? GgmlType.Q4_1 : GgmlType.Q5_1;
                _feedForwardDown++;
            }
            else if (Has(name, "attn_output.weight"))
            {
                if (!IsFalcon)
                {
                    if (model.Experts == 8)
                    {
                        if (ft is LlamaFileType.MostlyQ2_K or LlamaFileType.MostlyQ3_K_S or LlamaFileType.MostlyQ3_K_M
                            or LlamaFileType.MostlyQ4_K_S or LlamaFileType.MostlyQ4_K_M)
                            type = GgmlType.Q5_K;
                    }
                    else if (ft == LlamaFileType.MostlyQ2_K) type = GgmlType.Q3_K;
                    else if (ft == LlamaFileType.MostlyQ3_K_M) type = GgmlType.Q4_K;
                    else if (ft == LlamaFileType.MostlyQ3_K_L) type = GgmlType.Q5_K;
                }
                else if (ft == LlamaFileType.MostlyQ3_K_L) type = GgmlType.Q4_K;
            }
            else if (Has(name, "attn_qkv.weight"))
            {
                if (ft is LlamaFileType.MostlyQ3_K_M or LlamaFileType.MostlyQ3_K_L) type = GgmlType.Q4_K;
                else if (ft == LlamaFileType.MostlyQ4_K_M) type = GgmlType.Q5_K;
                else if (ft == LlamaFileType.MostlyQ5_K_M) type = GgmlType.Q6_K;
            }
            else if (Has(name, "ffn_gate"))
            {
                LayerInfo(_feedForwardGate, name); // checks the layer of expert tensors, as llama.cpp does
                _feedForwardGate++;
            }
            else if (Has(name, "ffn_up"))
            {
                LayerInfo(_feedForwardUp, name);
                _feedForwardUp++;
            }
            return type;
        }

        private static bool Has(string name, string part) => name.Contains(part, StringComparison.Ordinal);

        /// <summary>
        /// The layer of an FFN tensor: its running count, except in mixture-of-experts models, whose expert tensors are
        /// not in layer order, where it is read from the name (llama.cpp's layer_info).
        /// </summary>
        private (int Layer, int Layers) LayerInfo(int counter, string name)
        {
            if (Math.Max(1, model.Experts) <= 1) return (counter, model.Layers);
            int layer = LayerOf(name);
            if (layer < 0) throw new InvalidDataException($"cannot tell the layer of tensor {name}");
            if (layer >= model.Layers)
                throw new InvalidDataException($"bad layer {layer} for tensor {name}: must be in [0, {model.Layers})");
            return (layer, model.Layers);
        }
    }
}
