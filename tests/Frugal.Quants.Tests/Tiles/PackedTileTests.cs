using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Numerics;
using Frugal.Quants.Block32;
using Frugal.Quants.Float;
using Frugal.Quants.Tests.Block32;
using Frugal.Quants.Tiles;

namespace Frugal.Quants.Tests.Tiles;

/// <summary>
/// Q4_0 matrices repacked into 8-row groups: the packing is lossless and laid out as documented, and both the
/// reference and the vector tile kernels over the packed form return, for every (row, token), the bits of the
/// row-group dot on the plain rows. Run at each FRUGAL_SIMD level by scripts/test.sh.
/// </summary>
public sealed unsafe class PackedTileTests
{
    private const int BlockBytes = 18;

    private static byte[] RandomMatrix(int rows, int cols, Random rng) => KernelTestSupport.RandomBlocks(GgmlType.Q4_0, rows * cols / 32, rng);

    private static byte[] Pack(byte[] plain, int rows, int cols)
    {
        var packed = new byte[plain.Length];
        fixed (byte* source = plain)
        fixed (byte* target = packed) Q4_0Packed.Pack(source, target, rows, cols);
        return packed;
    }

    private static byte[] Activations(int tokens, int cols, Random rng)
    {
        long rowBytes = GgmlTypes.Info(GgmlType.Q8_0).RowBytes(cols);
        var all = new byte[rowBytes * tokens];
        for (int t = 0; t < tokens; t++) KernelTestSupport.Encode(GgmlType.Q8_0, KernelTestSupport.RandomFloats(cols, rng)).CopyTo(all, t * rowBytes);
        return all;
    }

    [Fact]
    public void Packing_is_lossless_and_laid_out_as_documented()
    {
        const int rows = 16, cols = 96;
        var plain = RandomMatrix(rows, cols, new Random(1));
        var packed = Pack(plain, rows, cols);
        int blocks = cols / 32;
        long rowBytes = blocks * BlockBytes;
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                long groupBlock = (r / 8) * 8 * rowBytes + b * Q4_0Packed.GroupBlockBytes;
                long block = r * rowBytes + b * BlockBytes;
                int i = r % 8;
                Assert.Equal(plain[block], packed[groupBlock + 2 * i]);           // d[i], little-endian fp16
                Assert.Equal(plain[block + 1], packed[groupBlock + 2 * i + 1]);
                for (int j = 0; j < 16; j++)                                       // qs[c][i][k] = row i's qs[4c + k]
                    Assert.Equal(plain[block + 2 + j], packed[groupBlock + 16 + (j / 4) * 32 + 4 * i + j % 4]);
            }
        }
        var back = new byte[plain.Length];
        fixed (byte* source = packed)
        fixed (byte* target = back) Q4_0Packed.Unpack(source, target, rows, cols);
        Assert.Equal(plain, back);
    }

    public static TheoryData<int, int, int> Shapes => new()
    {
        { 8, 1, 64 }, { 16, 1, 320 }, { 8, 4, 64 }, { 24, 5, 320 }, { 16, 9, 96 }, { 40, 12, 320 }, { 8, 3, 2048 },
        { 32, 8, 64 }, { 16, 21, 320 },   // AVX-512: groups of eight tokens, then four, then one
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Both_packed_tiles_give_the_bits_of_the_row_group_dot(int rows, int tokens, int cols)
    {
        var rng = new Random(rows * 100 + tokens * 10 + cols);
        var plain = RandomMatrix(rows, cols, rng);
        AssertPackedTiles("Q4_0", plain, Pack(plain, rows, cols), Activations(tokens, cols, rng), rows, tokens, cols,
            GgmlTypes.Info(GgmlType.Q4_0).RowBytes(cols), &Q4_0.DotRowGroups, "row-group dot", t => Q4_0Packed.TileScalar(t), t => Q4_0Packed.Tile(t));
    }

    /// <summary>
    /// Runs the scalar and the vector packed tile over the whole packed matrix and checks every (row, token) against
    /// the dot on the plain rows, and that nothing outside the tile was written.
    /// </summary>
    private static void AssertPackedTiles(string type, byte[] plain, byte[] packed, byte[] activations, int rows, int tokens, int cols,
        long rowBytes, delegate*<byte*, byte*, int, float> dot, string dotName, Action<DotTile> scalarTile, Action<DotTile> vectorTile)
    {
        long xRowBytes = GgmlTypes.Info(GgmlType.Q8_0).RowBytes(cols);
        int outputStride = rows + 3;
        // The activation quantizer's per-block tables (ActivationTables), as MatMul passes them in.
        int blocks = cols / 32;
        var tableScales = new float[tokens * blocks];
        var tableSums = new int[tokens * blocks];
        fixed (byte* x = activations)
        fixed (float* s = tableScales)
        fixed (int* u = tableSums)
        {
            for (int t = 0; t < tokens; t++) ActivationTables.Compute(x + t * xRowBytes, blocks, s + t * blocks, u + t * blocks);
        }
        foreach (var (name, kernel, withTables) in new (string, Action<DotTile>, bool)[]
            { ("scalar", scalarTile, false), ("vector", vectorTile, false), ("vector with activation tables, in two token ranges", vectorTile, true) })
        {
            var output = new float[outputStride * tokens];
            Array.Fill(output, float.NaN);
            fixed (byte* w = plain)
            fixed (byte* p = packed)
            fixed (byte* x = activations)
            fixed (float* o = output)
            fixed (float* s = tableScales)
            fixed (int* u = tableSums)
            {
                var tile = new DotTile
                {
                    Weights = p, WeightStride = rowBytes, Rows = rows,
                    Activations = x, ActivationStride = xRowBytes, Tokens = tokens,
                    Cols = cols, Output = o, OutputStride = outputStride,
                };
                if (withTables)
                {
                    tile.ActivationScales = s;
                    tile.ActivationSums = u;
                    kernel(tile.TokenRange(0, tokens / 2));
                    kernel(tile.TokenRange(tokens / 2, tokens - tokens / 2));
                }
                else kernel(tile);
                for (int t = 0; t < tokens; t++)
                {
                    for (int r = 0; r < outputStride; r++)
                    {
                        float actual = o[t * outputStride + r];
                        if (r >= rows)
                        {
                            Assert.True(float.IsNaN(actual), $"{type} {name} {rows}×{tokens}: wrote outside the tile at token {t}, column {r}");
                            continue;
                        }
                        float expected = dot(w + r * rowBytes, x + t * xRowBytes, cols);
                        Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual),
                            $"{type} {name} {rows}×{tokens}×{cols}, row {r} token {t}: {actual:R} ≠ {dotName} {expected:R} ({Simd.Describe()})");
                    }
                }
            }
        }
    }

    [Fact]
    public void Extreme_quants_and_scales_stay_exact()
    {
        // Nibbles all 0 or all 15 against activations of ±127 come near the int16 bound the kernel relies on;
        // scales span zero, −0, subnormal and the largest finite halves.
        const int rows = 8, cols = 64, tokens = 5;
        ushort[] scales = [0x0000, 0x8000, 0x0001, 0x83FF, 0x7BFF, 0xFBFF, 0x3C00, 0x0400];
        var plain = new byte[rows * cols / 32 * BlockBytes];
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < cols / 32; b++)
            {
                int at = (r * cols / 32 + b) * BlockBytes;
                plain[at] = (byte)scales[(r + b) % 8];
                plain[at + 1] = (byte)(scales[(r + b) % 8] >> 8);
                for (int j = 0; j < 16; j++) plain[at + 2 + j] = (byte)((r + b) % 2 == 0 ? 0x00 : 0xFF);
            }
        }
        var activations = new byte[tokens * cols / 32 * 34];
        sbyte[] fills = [127, -127, -127, 1, 0];   // no −128: no quantizer makes it, and the plain kernels' sign trick cannot take it
        for (int t = 0; t < tokens; t++)
        {
            for (int b = 0; b < cols / 32; b++)
            {
                int at = (t * cols / 32 + b) * 34;
                ushort d = t == 4 ? (ushort)0x0001 : (ushort)0x2E66;   // a subnormal activation scale too
                activations[at] = (byte)d;
                activations[at + 1] = (byte)(d >> 8);
                for (int k = 0; k < 32; k++) activations[at + 2 + k] = (byte)(k % 3 == 0 ? fills[t] : fills[(t + b) % 3]);
            }
        }
        var packed = Pack(plain, rows, cols);
        var output = new float[rows * tokens];
        fixed (byte* w = plain)
        fixed (byte* p = packed)
        fixed (byte* x = activations)
        fixed (float* o = output)
        {
            Q4_0Packed.Tile(new DotTile { Weights = p, WeightStride = cols / 32 * BlockBytes, Rows = rows, Activations = x, ActivationStride = cols / 32 * 34, Tokens = tokens, Cols = cols, Output = o, OutputStride = rows });
            for (int t = 0; t < tokens; t++)
                for (int r = 0; r < rows; r++)
                    Assert.Equal(BitConverter.SingleToInt32Bits(Q4_0.DotRowGroups(w + r * (cols / 32 * BlockBytes), x + t * (cols / 32 * 34), cols)),
                        BitConverter.SingleToInt32Bits(o[t * rows + r]));
        }
    }

    [Fact]
    public void The_scale_shortcut_widens_every_finite_half_exactly()
    {
        if (!Avx2.IsSupported) return;   // the shortcut is an AVX2 kernel piece; nothing to compare without it
        var halves = new ushort[8];
        fixed (ushort* h = halves)
        {
            for (int bits = 0; bits < 65536; bits += 8)
            {
                for (int k = 0; k < 8; k++) h[k] = (ushort)(bits + k);
                var widened = RowGroups.WidenScales((byte*)h);
                for (int k = 0; k < 8; k++)
                {
                    if ((h[k] & 0x7C00) == 0x7C00) continue;   // inf/NaN: packing refuses those matrices
                    Assert.Equal(BitConverter.SingleToInt32Bits(Fp16Bits.ToSingle(h[k])), BitConverter.SingleToInt32Bits(widened.GetElement(k)));
                }
            }
        }
    }

    [Fact]
    public void Unpackable_matrices_and_tiles_are_refused()
    {
        var plain = RandomMatrix(16, 64, new Random(3));
        fixed (byte* pinned = plain)
        {
            nint address = (nint)pinned;   // lambdas cannot capture a fixed local
            byte* w = pinned;
            Assert.True(Q4_0Packed.CanPack(w, 16, 64));
            Assert.False(Q4_0Packed.CanPack(w, 12, 64));              // not whole groups of 8 rows
            Assert.False(Q4_0Packed.CanPack(w, 16, 48));              // not whole blocks
            *(ushort*)(w + 7 * BlockBytes) = 0xFE00;                  // a NaN scale
            Assert.False(Q4_0Packed.CanPack(w, 16, 64));
            var shape = Assert.Throws<ArgumentException>(() => Q4_0Packed.Pack((byte*)address, (byte*)address, 12, 64));
            Assert.Contains("multiple of 8", shape.Message);
            var tile = Assert.Throws<ArgumentException>(() =>
            {
                float output = 0;
                Q4_0Packed.Tile(new DotTile { Weights = (byte*)address, WeightStride = 36, Rows = 4, Activations = (byte*)address, ActivationStride = 68, Tokens = 1, Cols = 64, Output = &output, OutputStride = 4 });
            });
            Assert.Contains("4 rows is not a whole number of 8-row groups", tile.Message);
        }
    }

    [Fact]
    public void The_table_offers_packing_for_Q4_0_and_Q8_0_only()
    {
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q8_0 })
        {
            var kernels = QuantKernels.Get(type);
            Assert.True(kernels.Pack != null && kernels.TilePacked != null && kernels.ShouldPack != null, $"{type} packs");
        }
        foreach (var type in new[] { GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.F16 })
            Assert.True(QuantKernels.Get(type).Pack == null, $"{type} has no packed layout");
    }

    // ---- Q8_0: runs of 4 blocks (a line of scales, then 8 rows × 32 quants per block), lane order kept ----

    private const int Q8BlockBytes = 34;

    private static byte[] Q8Matrix(int rows, int cols, Random rng) => KernelTestSupport.RandomBlocks(GgmlType.Q8_0, rows * cols / 32, rng);

    private static byte[] Q8Pack(byte[] plain, int rows, int cols)
    {
        var packed = new byte[plain.Length];
        fixed (byte* source = plain)
        fixed (byte* target = packed) Q8_0Packed.Pack(source, target, rows, cols);
        return packed;
    }

    [Fact]
    public void Q8_0_packing_is_lossless_and_laid_out_as_documented()
    {
        const int rows = 16, cols = 256;
        var plain = Q8Matrix(rows, cols, new Random(11));
        var packed = Q8Pack(plain, rows, cols);
        int blocks = cols / 32;
        long rowBytes = blocks * Q8BlockBytes;
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                long run = (r / 8) * 8 * rowBytes + (b / 4) * 1088;
                int i = r % 8, j = b % 4;
                long block = r * rowBytes + b * Q8BlockBytes;
                Assert.Equal(plain[block], packed[run + 16 * j + 2 * i]);            // d[j][i], little-endian fp16
                Assert.Equal(plain[block + 1], packed[run + 16 * j + 2 * i + 1]);
                for (int k = 0; k < 32; k++)                                         // qs block j, row i, quant k
                    Assert.Equal(plain[block + 2 + k], packed[run + 64 + 256 * j + 32 * i + k]);
            }
        }
        var back = new byte[plain.Length];
        fixed (byte* source = packed)
        fixed (byte* target = back) Q8_0Packed.Unpack(source, target, rows, cols);
        Assert.Equal(plain, back);
    }

    public static TheoryData<int, int, int> Q8Shapes => new()
    {
        { 8, 1, 128 }, { 16, 3, 256 }, { 8, 4, 640 }, { 24, 5, 128 }, { 16, 20, 256 }, { 40, 23, 384 }, { 8, 64, 2048 },
    };

    [Theory]
    [MemberData(nameof(Q8Shapes))]
    public void Both_Q8_0_packed_tiles_give_the_bits_of_the_plain_dot(int rows, int tokens, int cols)
    {
        var rng = new Random(rows * 100 + tokens * 10 + cols);
        var plain = Q8Matrix(rows, cols, rng);
        AssertPackedTiles("Q8_0", plain, Q8Pack(plain, rows, cols), Activations(tokens, cols, rng), rows, tokens, cols,
            GgmlTypes.Info(GgmlType.Q8_0).RowBytes(cols), &Q8_0.DotScalar, "dot", t => Q8_0Packed.TileScalar(t), t => Q8_0Packed.Tile(t));
    }

    [Theory]
    [InlineData(1)]    // decode: one token streams each group (the 512-bit row-pair kernel where AVX-512 is on)
    [InlineData(2)]    // two tokens per pass
    [InlineData(24)]   // 2-row × 4-token blocks
    public void Q8_0_packed_tiles_stay_exact_at_the_extremes(int tokens)
    {
        // Quants −128, −127, 127 and 0 against activations of ±127 reach the int16 bound of the pairwise products
        // (2 · 128 · 127); scales span zero, −0, subnormal and the largest finite halves. −128 only in the weights:
        // no activation quantizer makes it, and ggml's sign trick cannot take it there either.
        const int rows = 16, cols = 256;
        ushort[] scales = [0x0000, 0x8000, 0x0001, 0x83FF, 0x7BFF, 0xFBFF, 0x3C00, 0x0400];
        sbyte[] quants = [-128, -127, 127, 0];
        var plain = new byte[rows * cols / 32 * Q8BlockBytes];
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < cols / 32; b++)
            {
                int at = (r * cols / 32 + b) * Q8BlockBytes;
                plain[at] = (byte)scales[(r + b) % 8];
                plain[at + 1] = (byte)(scales[(r + b) % 8] >> 8);
                for (int k = 0; k < 32; k++) plain[at + 2 + k] = (byte)quants[(r + b + k / 4) % 4];
            }
        }
        var activations = new byte[tokens * cols / 32 * Q8BlockBytes];
        for (int t = 0; t < tokens; t++)
        {
            for (int b = 0; b < cols / 32; b++)
            {
                int at = (t * cols / 32 + b) * Q8BlockBytes;
                ushort d = t % 5 == 4 ? (ushort)0x0001 : (ushort)0x2E66;   // a subnormal activation scale too
                activations[at] = (byte)d;
                activations[at + 1] = (byte)(d >> 8);
                for (int k = 0; k < 32; k++) activations[at + 2 + k] = (byte)(sbyte)((t + b + k) % 3 == 0 ? -127 : 127);
            }
        }
        AssertPackedTiles("Q8_0", plain, Q8Pack(plain, rows, cols), activations, rows, tokens, cols,
            GgmlTypes.Info(GgmlType.Q8_0).RowBytes(cols), &Q8_0.DotScalar, "dot", t => Q8_0Packed.TileScalar(t), t => Q8_0Packed.Tile(t));
    }

    [Fact]
    public void Q8_0_matrices_that_are_not_whole_runs_are_not_packed()
    {
        var plain = Q8Matrix(16, 128, new Random(4));
        fixed (byte* pinned = plain)
        {
            nint address = (nint)pinned;
            Assert.True(Q8_0Packed.CanPack(pinned, 16, 128));
            Assert.False(Q8_0Packed.CanPack(pinned, 16, 96));            // 3 blocks: not a whole run of 4
            Assert.False(Q8_0Packed.CanPack(pinned, 12, 128));           // not whole groups of 8 rows
            *(ushort*)(pinned + 9 * Q8BlockBytes) = 0x7C00;              // an infinite scale
            Assert.False(Q8_0Packed.CanPack(pinned, 16, 128));
            var error = Assert.Throws<ArgumentException>(() => Q8_0Packed.Pack((byte*)address, (byte*)address, 8, 96));
            Assert.Contains("96 columns", error.Message);
        }
    }
}
