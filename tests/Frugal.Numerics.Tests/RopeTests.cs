namespace Frugal.Numerics.Tests;

public sealed unsafe class RopeTests
{
    [Theory]
    [InlineData(RopeStyle.Normal)]
    [InlineData(RopeStyle.Neox)]
    public void Rotation_matches_the_closed_form(RopeStyle style)
    {
        const int headDim = 8, heads = 2, position = 5;
        const float freqBase = 10000f;
        var x = Enumerable.Range(0, heads * headDim).Select(i => (float)Math.Sin(i + 1)).ToArray();
        var original = (float[])x.Clone();
        var cos = new float[headDim / 2];
        var sin = new float[headDim / 2];
        fixed (float* px = x, pc = cos, ps = sin)
        {
            Rope.Angles(position, headDim, freqBase, 1.0f, null, pc, ps);
            Rope.Apply(px, heads, headDim, headDim, style, pc, ps);
        }
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < headDim / 2; i++)
            {
                double angle = position * Math.Pow(freqBase, -2.0 * i / headDim);
                int a = h * headDim + (style == RopeStyle.Normal ? 2 * i : i);
                int b = h * headDim + (style == RopeStyle.Normal ? 2 * i + 1 : i + headDim / 2);
                Assert.Equal(original[a] * Math.Cos(angle) - original[b] * Math.Sin(angle), x[a], 1e-5);
                Assert.Equal(original[a] * Math.Sin(angle) + original[b] * Math.Cos(angle), x[b], 1e-5);
            }
        }
    }

    [Fact]
    public void Position_zero_is_the_identity()
    {
        var x = new float[] { 1, 2, 3, 4 };
        var cos = new float[2];
        var sin = new float[2];
        fixed (float* px = x, pc = cos, ps = sin)
        {
            Rope.Angles(0, 4, 10000f, 1f, null, pc, ps);
            Rope.Apply(px, 1, 4, 4, RopeStyle.Normal, pc, ps);
        }
        Assert.Equal([1f, 2f, 3f, 4f], x);
    }
}
