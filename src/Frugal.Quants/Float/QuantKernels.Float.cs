// Registers the unquantized element types. Each is its own vec-dot type, as in ggml-cpu:
//   F32 × F32,  F16 × F16,  BF16 × BF16.
using Frugal.Quants.Float;

namespace Frugal.Quants;

public static unsafe partial class QuantKernels
{
    static partial void RegisterFloatTypes(TypeKernels[] table)
    {
        Register(table, GgmlType.F32, GgmlType.F32, &F32.Dequantize, &F32.Quantize, &F32.Dot);
        Register(table, GgmlType.F16, GgmlType.F16, &F16.Dequantize, &F16.Quantize, &F16.Dot);
        Register(table, GgmlType.BF16, GgmlType.BF16, &BF16.Dequantize, &BF16.Quantize, &BF16.Dot);
    }
}
