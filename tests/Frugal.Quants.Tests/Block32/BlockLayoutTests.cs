using Frugal.Quants.Block32;

namespace Frugal.Quants.Tests.Block32;

public unsafe class BlockLayoutTests
{
    [Fact]
    public void Block_structs_have_ggml_sizes()
    {
        Assert.Equal(18, sizeof(BlockQ4_0));
        Assert.Equal(20, sizeof(BlockQ4_1));
        Assert.Equal(22, sizeof(BlockQ5_0));
        Assert.Equal(24, sizeof(BlockQ5_1));
        Assert.Equal(34, sizeof(BlockQ8_0));
        Assert.Equal(36, sizeof(BlockQ8_1));
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q8_1)]
    public void Block_structs_agree_with_the_type_table(GgmlType type)
    {
        int structBytes = type switch
        {
            GgmlType.Q4_0 => sizeof(BlockQ4_0),
            GgmlType.Q4_1 => sizeof(BlockQ4_1),
            GgmlType.Q5_0 => sizeof(BlockQ5_0),
            GgmlType.Q5_1 => sizeof(BlockQ5_1),
            GgmlType.Q8_0 => sizeof(BlockQ8_0),
            _ => sizeof(BlockQ8_1),
        };
        var info = GgmlTypes.Info(type);
        Assert.Equal(info.BlockBytes, structBytes);
        Assert.Equal(32, info.BlockSize);
    }

    [Fact]
    public void Fields_sit_at_ggml_offsets()
    {
        var q5_1 = new BlockQ5_1();
        byte* start = (byte*)&q5_1;
        Assert.Equal(2, (byte*)&q5_1.M - start);
        Assert.Equal(4, q5_1.Qh - start);
        Assert.Equal(8, q5_1.Qs - start);

        var q5_0 = new BlockQ5_0();
        Assert.Equal(2, q5_0.Qh - (byte*)&q5_0);
        Assert.Equal(6, q5_0.Qs - (byte*)&q5_0);

        var q8_1 = new BlockQ8_1();
        Assert.Equal(2, (byte*)&q8_1.S - (byte*)&q8_1);
        Assert.Equal(4, (byte*)q8_1.Qs - (byte*)&q8_1);
    }
}
