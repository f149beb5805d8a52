using Frugal.Quants;

namespace Frugal.Models.Synthesis;

/// <summary>The weight formats <c>frugal synth</c> writes, each named and numbered as llama.cpp names its file types.</summary>
public enum WeightFormat
{
    /// <summary>Every matrix F16 (what convert_hf_to_gguf.py writes with --outtype f16).</summary>
    F16,

    /// <summary>llama-quantize Q8_0: every matrix Q8_0, the output matrix included.</summary>
    Q8_0,

    /// <summary>llama-quantize Q4_0: every matrix Q4_0 except the output matrix (or a tied embedding), which is Q6_K.</summary>
    Q4_0,

    /// <summary>llama-quantize --pure Q4_K_S: every matrix Q4_K, so one kernel is measured.</summary>
    Q4_K,

    /// <summary>llama-quantize Q6_K: every matrix Q6_K.</summary>
    Q6_K,

    /// <summary>llama-quantize Q4_K_M: Q4_K, with Q6_K for the output and for attn_v / ffn_down in the "use_more_bits" layers.</summary>
    Q4_K_M,
}

/// <summary>
/// Which ggml type each tensor gets in a <see cref="WeightFormat"/>: llama.cpp's llama_tensor_get_type
/// (src/llama-quant.cpp, build 4748) for the formats above, including its fallback for rows that are not whole
/// blocks (Q4_K → Q5_0, Q6_K → Q8_0, then F16). Norms and biases stay F32, as llama.cpp leaves every 1-D tensor.
/// </summary>
public static class QuantizationMix
{
    /// <summary>Every format by its command-line name.</summary>
    public static IReadOnlyList<WeightFormat> All { get; } = Enum.GetValues<WeightFormat>();

    public static string Name(WeightFormat format) => format.ToString();

    public static bool TryParse(string name, out WeightFormat format)
    {
        foreach (var candidate in All)
        {
            if (string.Equals(Name(candidate), name, StringComparison.OrdinalIgnoreCase)) { format = candidate; return true; }
        }
        format = default;
        return false;
    }

    public static WeightFormat Parse(string name) => TryParse(name, out var format) ? format
        : throw new ArgumentException($"unknown weight type '{name}' (known: {string.Join(", ", All.Select(Name))})", nameof(name));

    /// <summary>The llama_ftype number stored as general.file_type.</summary>
    public static uint FileType(WeightFormat format) => format switch
    {
        WeightFormat.F16 => 1,     // LLAMA_FTYPE_MOSTLY_F16
        WeightFormat.Q4_0 => 2,    // LLAMA_FTYPE_MOSTLY_Q4_0
        WeightFormat.Q8_0 => 7,    // LLAMA_FTYPE_MOSTLY_Q8_0
        WeightFormat.Q4_K => 14,   // LLAMA_FTYPE_MOSTLY_Q4_K_S (written --pure)
        WeightFormat.Q4_K_M => 15, // LLAMA_FTYPE_MOSTLY_Q4_K_M
        WeightFormat.Q6_K => 18,   // LLAMA_FTYPE_MOSTLY_Q6_K
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown weight format"),
    };

    /// <summary>The type most matrices get.</summary>
    public static GgmlType DefaultType(WeightFormat format) => format switch
    {
        WeightFormat.F16 => GgmlType.F16,
        WeightFormat.Q8_0 => GgmlType.Q8_0,
        WeightFormat.Q4_0 => GgmlType.Q4_0,
        WeightFormat.Q4_K or WeightFormat.Q4_K_M => GgmlType.Q4_K,
        WeightFormat.Q6_K => GgmlType.Q6_K,
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown weight format"),
    };

    /// <summary>llama.cpp's rule for the layers that get more bits in the _M mixes: the first and last eighth, and every third between.</summary>
    public static bool UseMoreBits(int layer, int layers) =>
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    /// <summary>
    /// The type of the matrix <paramref name="name"/> (GGUF name, e.g. "blk.3.attn_v.weight") of
    /// <paramref name="cols"/> columns in layer <paramref name="layer"/> of <paramref name="layers"/> (-1 outside
    /// the blocks). <paramref name="hasOutput"/>: the model has its own output.weight (otherwise the token embedding
    /// is quantized as the output matrix, as llama.cpp does for tied models).
    /// </summary>
    public static GgmlType ChooseType(WeightFormat format, string name, int layer, int layers, long cols, bool hasOutput)
    {
        ArgumentNullException.ThrowIfNull(name);
        GgmlType type = DefaultType(format);
        if (format == WeightFormat.F16) return type;  // not quantized: no mix, no fallback
        if (format != WeightFormat.Q4_K)               // Q4_K is written --pure: every matrix the default type
        {
            bool isOutput = name == "output.weight" || (!hasOutput && name == "token_embd.weight");
            if (isOutput)
            {
                if (cols % GgmlTypes.Info(type).BlockSize != 0) type = GgmlType.Q8_0;
                else if (type != GgmlType.Q8_0) type = GgmlType.Q6_K;
            }
            else if (format == WeightFormat.Q4_K_M && (name.EndsWith(".attn_v.weight", StringComparison.Ordinal)
                         || name.EndsWith(".ffn_down.weight", StringComparison.Ordinal)))
            {
                if (layer < 0) throw new ArgumentException($"tensor '{name}' needs its layer index", nameof(layer));
                if (UseMoreBits(layer, layers)) type = GgmlType.Q6_K;
            }
        }
        return Fallback(type, cols, name);
    }

    /// <summary>llama.cpp's replacement for a type whose blocks do not tile a row of <paramref name="cols"/>.</summary>
    private static GgmlType Fallback(GgmlType type, long cols, string name)
    {
        if (cols % GgmlTypes.Info(type).BlockSize == 0) return type;
        GgmlType replacement = type switch
        {
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => throw new ArgumentException(
                $"tensor '{name}' has rows of {cols} values, not a whole number of {GgmlTypes.Name(type)} blocks of {GgmlTypes.Info(type).BlockSize}", nameof(cols)),
        };
        return cols % GgmlTypes.Info(replacement).BlockSize == 0 ? replacement : GgmlType.F16;
    }
}
