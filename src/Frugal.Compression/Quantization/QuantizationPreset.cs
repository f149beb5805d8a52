using Frugal.Quants;

namespace Frugal.Compression.Quantization;

/// <summary>llama.cpp's llama_ftype numbers, written to general.file_type (only the presets Frugal can make).</summary>
public enum LlamaFileType : uint
{
    AllF32 = 0,
    MostlyF16 = 1,
    MostlyQ4_0 = 2,
    MostlyQ4_1 = 3,
    MostlyQ8_0 = 7,
    MostlyQ5_0 = 8,
    MostlyQ5_1 = 9,
    MostlyQ2_K = 10,
    MostlyQ3_K_S = 11,
    MostlyQ3_K_M = 12,
    MostlyQ3_K_L = 13,
    MostlyQ4_K_S = 14,
    MostlyQ4_K_M = 15,
    MostlyQ5_K_S = 16,
    MostlyQ5_K_M = 17,
    MostlyQ6_K = 18,
    MostlyBF16 = 32,
}

/// <summary>
/// A quantization preset as llama-quantize names it: the file type written to general.file_type and the default
/// tensor type of its matrices (the mixes then move some tensors to other types, see <see cref="TensorTypePlanner"/>).
/// "Q3_K", "Q4_K" and "Q5_K" are llama-quantize's aliases of the _M mixes.
/// </summary>
public sealed record QuantizationPreset(string Name, LlamaFileType FileType, GgmlType DefaultType)
{
    public static IReadOnlyList<QuantizationPreset> All { get; } =
    [
        new("Q4_0", LlamaFileType.MostlyQ4_0, GgmlType.Q4_0),
        new("Q4_1", LlamaFileType.MostlyQ4_1, GgmlType.Q4_1),
        new("Q5_0", LlamaFileType.MostlyQ5_0, GgmlType.Q5_0),
        new("Q5_1", LlamaFileType.MostlyQ5_1, GgmlType.Q5_1),
        new("Q2_K", LlamaFileType.MostlyQ2_K, GgmlType.Q2_K),
        new("Q3_K", LlamaFileType.MostlyQ3_K_M, GgmlType.Q3_K),
        new("Q3_K_S", LlamaFileType.MostlyQ3_K_S, GgmlType.Q3_K),
        new("Q3_K_M", LlamaFileType.MostlyQ3_K_M, GgmlType.Q3_K),
        new("Q3_K_L", LlamaFileType.MostlyQ3_K_L, GgmlType.Q3_K),
        new("Q4_K", LlamaFileType.MostlyQ4_K_M, GgmlType.Q4_K),
        new("Q4_K_S", LlamaFileType.MostlyQ4_K_S, GgmlType.Q4_K),
        new("Q4_K_M", LlamaFileType.MostlyQ4_K_M, GgmlType.Q4_K),
        new("Q5_K", LlamaFileType.MostlyQ5_K_M, GgmlType.Q5_K),
        new("Q5_K_S", LlamaFileType.MostlyQ5_K_S, GgmlType.Q5_K),
        new("Q5_K_M", LlamaFileType.MostlyQ5_K_M, GgmlType.Q5_K),
        new("Q6_K", LlamaFileType.MostlyQ6_K, GgmlType.Q6_K),
        new("Q8_0", LlamaFileType.MostlyQ8_0, GgmlType.Q8_0),
        new("F16", LlamaFileType.MostlyF16, GgmlType.F16),
        new("BF16", LlamaFileType.MostlyBF16, GgmlType.BF16),
        new("F32", LlamaFileType.AllF32, GgmlType.F32),
    ];

    public static string Names => string.Join(", ", All.Select(p => p.Name));

    /// <summary>Finds a preset by name (case-insensitive).</summary>
    public static bool TryParse(string name, out QuantizationPreset preset)
    {
        preset = All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))!;
        return preset is not null;
    }

    /// <summary>Finds a preset by name or throws an <see cref="ArgumentException"/> listing the valid ones.</summary>
    public static QuantizationPreset Parse(string name) =>
        TryParse(name, out var preset) ? preset
            : throw new ArgumentException($"unknown quantization type '{name}' (expected one of {Names})", nameof(name));

    /// <summary>Whether the default type is a block-quantized one (the mixes and fallbacks only apply then).</summary>
    public bool IsQuantized => GgmlTypes.Info(DefaultType).IsQuantized;

    public override string ToString() => Name;
}
