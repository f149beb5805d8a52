// Registers the unquantized element types. Each is its own vec-dot type, as in ggml-cpu:
//   F32 × F32,  F16 × F16,  BF16 × BF16.
using Frugal.Quants.Float;

namespace Frugal.Quants;

public static unsafe partial class QuantKernels
{
    static partial void RegisterFloatTypes(TypeKernels[] table)
    {
        table[(int)GgmlType.F32] = new TypeKernels
        {
            Type = GgmlType.F32,
            VecDotType = GgmlType.F32,
            Dequantize = &F32.Dequantize,
            Quantize = &F32.Quantize,
            VecDot = &F32.Dot,
        };
        table[(int)GgmlType.F16] = new TypeKernels
        {
            Type = GgmlType.F16,
            VecDotType = GgmlType.F16,
            Dequantize = &F16.Dequantize,
            Quantize = &F16.Quantize,
            VecDot = &F16.Dot,
        };
        table[(int)GgmlType.BF16] = new TypeKernels
        {
            Type = GgmlType.BF16,
            VecDotType = GgmlType.BF16,
            Dequantize = &BF16.Dequantize,
            Quantize = &BF16.Quantize,
            VecDot = &BF16.Dot,
        };
    }
}
