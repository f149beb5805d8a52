namespace Frugal.Quants.Tests.Float;

/// <summary>The registrations of this family: weight type → vec-dot (activation) type, as in ggml-cpu.</summary>
public unsafe class KernelTableTests
{
    [Theory]
    [InlineData(GgmlType.F32, GgmlType.F32)]
    [InlineData(GgmlType.F16, GgmlType.F16)]
    [InlineData(GgmlType.BF16, GgmlType.BF16)]
    [InlineData(GgmlType.Q4_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q5_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q8_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_1, GgmlType.Q8_1)]
    [InlineData(GgmlType.Q5_1, GgmlType.Q8_1)]
    public void Weight_types_have_complete_kernels(GgmlType type, GgmlType vecDotType)
    {
        Assert.True(QuantKernels.Supports(type));
        var kernels = QuantKernels.For(type);
        Assert.Equal(type, kernels.Type);
        Assert.Equal(vecDotType, kernels.VecDotType);
        Assert.True(kernels.Dequantize != null);
        Assert.True(kernels.Quantize != null);
        Assert.True(kernels.HasDot);
        // The activation type can quantize, which is what the model does once per row of activations.
        Assert.True(QuantKernels.Get(vecDotType).Quantize != null);
    }

    [Fact]
    public void Q8_1_is_an_activation_only_type()
    {
        var kernels = QuantKernels.Get(GgmlType.Q8_1);
        Assert.Equal(GgmlType.Q8_1, kernels.Type);
        Assert.True(kernels.Quantize != null);
        Assert.True(kernels.Dequantize != null);
        Assert.False(kernels.HasDot);
        Assert.False(QuantKernels.Supports(GgmlType.Q8_1));
    }
}
