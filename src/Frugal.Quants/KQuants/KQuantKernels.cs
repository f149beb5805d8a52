using Frugal.Quants.KQuants;

namespace Frugal.Quants;

public static unsafe partial class QuantKernels
{
    /// <summary>Q2_K … Q6_K weights, all dotted against Q8_K activations; Q8_K itself converts only.</summary>
    static partial void RegisterKQuantTypes(TypeKernels[] table)
    {
        CheckBlockBytes(GgmlType.Q2_K, sizeof(BlockQ2_K));
        CheckBlockBytes(GgmlType.Q3_K, sizeof(BlockQ3_K));
        CheckBlockBytes(GgmlType.Q4_K, sizeof(BlockQ4_K));
        CheckBlockBytes(GgmlType.Q5_K, sizeof(BlockQ5_K));
        CheckBlockBytes(GgmlType.Q6_K, sizeof(BlockQ6_K));
        CheckBlockBytes(GgmlType.Q8_K, sizeof(BlockQ8_K));

        Register(table, GgmlType.Q2_K, GgmlType.Q8_K, &Q2K.Dequantize, &Q2K.QuantizeReference, &Q2K.Dot);
        Register(table, GgmlType.Q3_K, GgmlType.Q8_K, &Q3K.Dequantize, &Q3K.QuantizeReference, &Q3K.Dot);
        Register(table, GgmlType.Q4_K, GgmlType.Q8_K, &Q4K.Dequantize, &Q4K.QuantizeReference, &Q4K.Dot,
            tile: &KQuantTiles.Q4KTile);
        Register(table, GgmlType.Q5_K, GgmlType.Q8_K, &Q5K.Dequantize, &Q5K.QuantizeReference, &Q5K.Dot);
        Register(table, GgmlType.Q6_K, GgmlType.Q8_K, &Q6K.Dequantize, &Q6K.QuantizeReference, &Q6K.Dot,
            tile: &KQuantTiles.Q6KTile);
        Register(table, GgmlType.Q8_K, GgmlType.Q8_K, &Q8K.Dequantize, &Q8K.Quantize, null);
    }
}
