using Frugal.Numerics;
using Frugal.Quants.Block32;
using Frugal.Quants.KQuants;
using Frugal.Quants.Tests.Block32;
using Frugal.Quants.Tests.KQuants;
using Frugal.Quants.Tiles;

namespace Frugal.Quants.Tests.Tiles;

/// <summary>
/// The tile kernels (many rows × many tokens per call) must return, for every (row, token), exactly the bits of the
/// type's scalar reference dot, whatever the tile's shape: the register-blocked shapes (8 rows, 2 rows × 4 tokens,
/// 4 rows × 2 tokens, 4 rows, 1 row × 4 tokens) and every remainder around them. Run at each FRUGAL_SIMD level by scripts/test.sh.
/// </summary>
public sealed unsafe class TileKernelTests
{
    public static TheoryData<GgmlType, bool> TiledTypes => new()
    {
        { GgmlType.Q4_0, true },   // llama.cpp's row-group order (matrices of 8k rows)
        { GgmlType.Q4_0, false },
        { GgmlType.Q4_1, false },
        { GgmlType.Q5_0, false },
        { GgmlType.Q5_1, false },
        { GgmlType.Q8_0, false },
        { GgmlType.Q4_K, false },
        { GgmlType.Q6_K, false },
    };

    private static readonly (int Rows, int Tokens)[] Shapes =
        [(1, 1), (3, 1), (8, 1), (16, 1), (19, 1), (2, 4), (4, 2), (7, 3), (5, 4), (8, 5), (13, 7), (24, 9), (4, 64), (6, 8), (11, 16)];

    /// <summary>The scalar reference of the dot the tile must equal.</summary>
    private static float ReferenceDot(GgmlType type, bool rowGroups, byte* w, byte* x, int n) => type switch
    {
        GgmlType.Q4_0 when rowGroups => Q4_0.DotRowGroups(w, x, n), // exact at every level (integer block sums)
        GgmlType.Q4_K or GgmlType.Q6_K => KQuantFixture.Dot(type, "scalar", w, x, n),
        _ => KernelTestSupport.Dot(type, SimdLevel.Scalar)(w, x, n),
    };

    private static byte[] RandomWeightRow(GgmlType type, int cols, Random rng) =>
        type is GgmlType.Q4_K or GgmlType.Q6_K
            ? KQuantFixture.RandomWeights(type, cols / 256, rng)
            : KernelTestSupport.RandomBlocks(type, cols / 32, rng);

    private static byte[] ActivationRow(GgmlType type, int cols, Random rng)
    {
        var values = KernelTestSupport.RandomFloats(cols, rng);
        var vecDotType = QuantKernels.For(type).VecDotType;
        if (vecDotType != GgmlType.Q8_K) return KernelTestSupport.Encode(vecDotType, values);
        var row = new byte[GgmlTypes.Info(GgmlType.Q8_K).RowBytes(cols)];
        fixed (float* src = values)
        fixed (byte* dst = row) Q8K.Quantize(src, dst, cols);
        return row;
    }

    [Theory]
    [MemberData(nameof(TiledTypes))]
    public void Every_result_has_the_bits_of_the_scalar_dot(GgmlType type, bool rowGroups)
    {
        var kernels = QuantKernels.For(type);
        var tileKernel = rowGroups ? kernels.TileRowGroups : kernels.Tile;
        Assert.True(tileKernel != null, $"{type} has no tile kernel");
        int cols = type is GgmlType.Q4_K or GgmlType.Q6_K ? 768 : 320;
        var rng = new Random((int)type * 31 + (rowGroups ? 1 : 0));

        foreach (var (rows, tokens) in Shapes)
        {
            // Padded strides and a wider output: the kernel must address rows by stride and touch only its cells.
            long rowBytes = GgmlTypes.Info(type).RowBytes(cols), weightStride = rowBytes + 7;
            long activationBytes = GgmlTypes.Info(kernels.VecDotType).RowBytes(cols), activationStride = activationBytes + 5;
            int outputStride = rows + 3;
            var weights = new byte[weightStride * rows];
            var activations = new byte[activationStride * tokens];
            for (int r = 0; r < rows; r++) RandomWeightRow(type, cols, rng).CopyTo(weights, r * weightStride);
            for (int t = 0; t < tokens; t++) ActivationRow(type, cols, rng).CopyTo(activations, t * activationStride);
            var output = new float[outputStride * tokens];
            Array.Fill(output, float.NaN);

            fixed (byte* w = weights)
            fixed (byte* x = activations)
            fixed (float* o = output)
            {
                var tile = new DotTile
                {
                    Weights = w, WeightStride = weightStride, Rows = rows,
                    Activations = x, ActivationStride = activationStride, Tokens = tokens,
                    Cols = cols, Output = o, OutputStride = outputStride,
                };
                tileKernel(tile);
                for (int t = 0; t < tokens; t++)
                {
                    for (int r = 0; r < outputStride; r++)
                    {
                        float actual = o[t * outputStride + r];
                        if (r >= rows)
                        {
                            Assert.True(float.IsNaN(actual), $"{type} {rows}×{tokens}: wrote outside the tile at token {t}, column {r}");
                            continue;
                        }
                        float expected = ReferenceDot(type, rowGroups, w + r * weightStride, x + t * activationStride, cols);
                        Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual),
                            $"{type}{(rowGroups ? " row groups" : "")} {rows}×{tokens}, row {r} token {t}: {actual:R} ≠ reference {expected:R} ({Simd.Describe()})");
                    }
                }
            }
        }
    }

    /// <summary>
    /// Rows long enough that the Q8_0 kernel cuts a tile into row chunks (its scale tables live on the stack), and
    /// longer than its table takes at all (it hands those to the generic lane-order kernel): same bits either way.
    /// </summary>
    [Theory]
    [InlineData(32768, 21, 9)]
    [InlineData(34816, 6, 4)]
    public void Q8_0_tiles_of_long_rows_have_the_bits_of_the_scalar_dot(int cols, int rows, int tokens)
    {
        var rng = new Random(cols + rows);
        long rowBytes = GgmlTypes.Info(GgmlType.Q8_0).RowBytes(cols);
        var weights = new byte[rowBytes * rows];
        var activations = new byte[rowBytes * tokens];
        for (int r = 0; r < rows; r++) RandomWeightRow(GgmlType.Q8_0, cols, rng).CopyTo(weights, r * rowBytes);
        for (int t = 0; t < tokens; t++) ActivationRow(GgmlType.Q8_0, cols, rng).CopyTo(activations, t * rowBytes);
        var output = new float[rows * tokens];
        fixed (byte* w = weights)
        fixed (byte* x = activations)
        fixed (float* o = output)
        {
            var tile = new DotTile { Weights = w, WeightStride = rowBytes, Rows = rows, Activations = x, ActivationStride = rowBytes, Tokens = tokens, Cols = cols, Output = o, OutputStride = rows };
            QuantKernels.For(GgmlType.Q8_0).Tile(tile);
            for (int r = 0; r < rows; r++)
            {
                for (int t = 0; t < tokens; t++)
                {
                    float expected = Q8_0.DotScalar(w + r * rowBytes, x + t * rowBytes, cols);
                    Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(o[t * rows + r]),
                        $"Q8_0 {rows}×{tokens}×{cols}, row {r} token {t}: {o[t * rows + r]:R} ≠ reference {expected:R} ({Simd.Describe()})");
                }
            }
        }
    }

    [Fact]
    public void The_reference_tile_calls_the_dot_once_per_cell()
    {
        var rng = new Random(5);
        const int cols = 64, rows = 3, tokens = 2;
        var weights = new byte[GgmlTypes.Info(GgmlType.Q8_0).RowBytes(cols) * rows];
        for (int r = 0; r < rows; r++) RandomWeightRow(GgmlType.Q8_0, cols, rng).CopyTo(weights, r * 68);
        var activations = new byte[68 * tokens];
        for (int t = 0; t < tokens; t++) ActivationRow(GgmlType.Q8_0, cols, rng).CopyTo(activations, t * 68);
        var output = new float[rows * tokens];
        fixed (byte* w = weights)
        fixed (byte* x = activations)
        fixed (float* o = output)
        {
            var tile = new DotTile { Weights = w, WeightStride = 68, Rows = rows, Activations = x, ActivationStride = 68, Tokens = tokens, Cols = cols, Output = o, OutputStride = rows };
            TileKernels.PerDot(tile, &Q8_0.DotScalar);
            for (int r = 0; r < rows; r++)
                for (int t = 0; t < tokens; t++)
                    Assert.Equal(Q8_0.DotScalar(w + 68 * r, x + 68 * t, cols), o[t * rows + r]);
        }
    }

    [Fact]
    public void Table_picks_the_tile_that_matches_the_dot_for_the_row_count()
    {
        var q4 = QuantKernels.Get(GgmlType.Q4_0);
        Assert.Equal((nint)q4.TileRowGroups, (nint)q4.TileForRows(2048));
        Assert.Equal((nint)q4.Tile, (nint)q4.TileForRows(2049));
        var q6 = QuantKernels.Get(GgmlType.Q6_K);
        Assert.NotEqual(0, (nint)q6.TileForRows(32000));
        Assert.Equal(0, (nint)QuantKernels.Get(GgmlType.F32).TileForRows(16)); // float types: no tile, the caller loops the dot
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, 48)]
    [InlineData(GgmlType.Q8_0, 33)]
    [InlineData(GgmlType.Q6_K, 300)]
    public void A_row_that_is_not_whole_blocks_is_refused_with_the_shape(GgmlType type, int cols)
    {
        var buffer = new byte[4096];
        var output = new float[16];
        fixed (byte* p = buffer)
        fixed (float* o = output)
        {
            var tile = new DotTile { Weights = p, WeightStride = 1024, Rows = 2, Activations = p, ActivationStride = 1024, Tokens = 2, Cols = cols, Output = o, OutputStride = 2 };
            var kernels = QuantKernels.For(type);
            var kernel = kernels.TileForRows(8);
            Exception? error = null;
            try { kernel(tile); } catch (ArgumentException e) { error = e; }
            Assert.NotNull(error);
            Assert.Contains($"{cols} columns", error!.Message);
        }
    }
}
