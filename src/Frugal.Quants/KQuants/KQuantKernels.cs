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

        table[(int)GgmlType.Q2_K] = new TypeKernels
        {
            Type = GgmlType.Q2_K, VecDotType = GgmlType.Q8_K,
            Dequantize = &Q2K.Dequantize, VecDot = &Q2K.Dot,
        };
        table[(int)GgmlType.Q3_K] = new TypeKernels
        {
            Type = GgmlType.Q3_K, VecDotType = GgmlType.Q8_K,
            Dequantize = &Q3K.Dequantize, VecDot = &Q3K.Dot,
        };
        table[(int)GgmlType.Q4_K] = new TypeKernels
        {
            Type = GgmlType.Q4_K, VecDotType = GgmlType.Q8_K,
            Dequantize = &Q4K.Dequantize, VecDot = &Q4K.Dot,
        };
        table[(int)GgmlType.Q5_K] = new TypeKernels
        {
            Type = GgmlType.Q5_K, VecDotType = GgmlType.Q8_K,
            Dequantize = &Q5K.Dequantize, VecDot = &Q5K.Dot,
        };
        table[(int)GgmlType.Q6_K] = new TypeKernels
        {
            Type = GgmlType.Q6_K, VecDotType = GgmlType.Q8_K,
            Dequantize = &Q6K.Dequantize, VecDot = &Q6K.Dot,
        };
        table[(int)GgmlType.Q8_K] = new TypeKernels
        {
            Type = GgmlType.Q8_K, VecDotType = GgmlType.Q8_K,
            Dequantize = &Q8K.Dequantize, Quantize = &Q8K.Quantize,
        };
    }

    private static void CheckBlockBytes(GgmlType type, int structBytes)
    {
        int expected = GgmlTypes.Info(type).BlockBytes;
        if (structBytes != expected)
            throw new InvalidOperationException($"{GgmlTypes.Name(type)} block struct is {structBytes} bytes, ggml's is {expected}");
    }
}
