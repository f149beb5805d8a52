// Registers the 32-element block formats with their vec-dot (activation) types, as in ggml-cpu:
//   Q4_0, Q5_0, Q8_0 weights × Q8_0 activations;   Q4_1, Q5_1 weights × Q8_1 activations.
// Q8_1 is registered as an activation-only type (quantize/dequantize, no dot). Q4_0 and Q8_0 matrices of 8k rows
// are repacked at load into interleaved row groups (Q4_0Packed.cs, Q8_0Packed.cs) where the AVX2 kernels run.
// A weight type's Quantize is its reference quantizer (what ggml's from_float does for it); Q8_0's and
// Q8_1's Quantize are the run-time activation quantizers.
using Frugal.Quants.Block32;

namespace Frugal.Quants;

public static unsafe partial class QuantKernels
{
    static partial void RegisterBlock32Types(TypeKernels[] table)
    {
        CheckBlockSize(GgmlType.Q4_0, sizeof(BlockQ4_0), BlockQ4_0.Size);
        CheckBlockSize(GgmlType.Q4_1, sizeof(BlockQ4_1), BlockQ4_1.Size);
        CheckBlockSize(GgmlType.Q5_0, sizeof(BlockQ5_0), BlockQ5_0.Size);
        CheckBlockSize(GgmlType.Q5_1, sizeof(BlockQ5_1), BlockQ5_1.Size);
        CheckBlockSize(GgmlType.Q8_0, sizeof(BlockQ8_0), BlockQ8_0.Size);
        CheckBlockSize(GgmlType.Q8_1, sizeof(BlockQ8_1), BlockQ8_1.Size);

        Register(table, GgmlType.Q4_0, GgmlType.Q8_0, &Q4_0.Dequantize, &Q4_0.QuantizeReference, &Q4_0.Dot, &Q4_0.DotRowGroups,
            &Block32Tile<Q4_0Weights, BlockQ4_0, BlockQ8_0>.LaneOrder, &Q4_0Tiles.RowGroups,
            &Q4_0Packed.ShouldPack, &Q4_0Packed.Pack, &Q4_0Packed.Tile);
        Register(table, GgmlType.Q4_1, GgmlType.Q8_1, &Q4_1.Dequantize, &Q4_1.QuantizeReference, &Q4_1.Dot,
            tile: &Block32Tile<Q4_1Weights, BlockQ4_1, BlockQ8_1>.LaneOrder);
        Register(table, GgmlType.Q5_0, GgmlType.Q8_0, &Q5_0.Dequantize, &Q5_0.QuantizeReference, &Q5_0.Dot,
            tile: &Block32Tile<Q5_0Weights, BlockQ5_0, BlockQ8_0>.LaneOrder);
        Register(table, GgmlType.Q5_1, GgmlType.Q8_1, &Q5_1.Dequantize, &Q5_1.QuantizeReference, &Q5_1.Dot,
            tile: &Block32Tile<Q5_1Weights, BlockQ5_1, BlockQ8_1>.LaneOrder);
        Register(table, GgmlType.Q8_0, GgmlType.Q8_0, &Q8_0.Dequantize, &Q8_0.Quantize, &Q8_0.Dot,
            tile: &Q8_0Tiles.LaneOrder, shouldPack: &Q8_0Packed.ShouldPack, pack: &Q8_0Packed.Pack, tilePacked: &Q8_0Packed.Tile);
        Register(table, GgmlType.Q8_1, GgmlType.Q8_1, &Q8_1.Dequantize, &Q8_1.Quantize, null);
    }

    /// <summary>The struct layout, the format's declared size and ggml's type table must agree.</summary>
    private static void CheckBlockSize(GgmlType type, int structBytes, int declaredBytes)
    {
        var info = GgmlTypes.Info(type);
        if (structBytes != declaredBytes || structBytes != info.BlockBytes || info.BlockSize != 32)
            throw new InvalidOperationException(
                $"{info.Name} block layout mismatch: struct {structBytes} bytes, declared {declaredBytes}, ggml {info.BlockBytes} bytes per {info.BlockSize} elements");
    }
}
