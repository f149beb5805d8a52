// A tile of a matrix product: many weight rows against many activation rows in one call, so each weight block
// is decoded once for several tokens and each activation block loaded once for several rows.
//
//   Weights      [Rows, WeightStride bytes]       row r at Weights + r·WeightStride, in the weight type
//   Activations  [Tokens, ActivationStride bytes] row t at Activations + t·ActivationStride, in the vec-dot type
//   Output       [Tokens, OutputStride floats]    Output[t·OutputStride + r] = dot(weight row r, activation row t)
//   ActivationScales, ActivationSums (optional, Q8_0 activations only)
//                [Tokens, Cols/32]                 each block's d_x widened and Σx (ActivationTables.cs), computed
//                                                  once per activation row instead of once per tile; null: absent
//
// Every (row, token) result has exactly the bits of the type's single dot for the same matrix (TypeKernels.DotForRows):
// the tile kernels work on several rows and tokens at once in separate registers, but each dot keeps ggml's
// float order (its own eight lanes or its own block-by-block sum, in the same sequence of fused multiply-adds).
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Frugal.Numerics;

namespace Frugal.Quants.Tiles;

/// <summary>The operands of one tile kernel call; see the layout at the top of DotTile.cs.</summary>
public unsafe struct DotTile
{
    public byte* Weights;
    public long WeightStride;
    public int Rows;
    public byte* Activations;
    public long ActivationStride;
    public int Tokens;
    /// <summary>Elements per row (a whole number of the weight type's blocks).</summary>
    public int Cols;
    public float* Output;
    public long OutputStride;
    /// <summary>Optional [Tokens, Cols/32]: each Q8_0 activation block's scale widened to float (null when absent).</summary>
    public float* ActivationScales;
    /// <summary>Optional [Tokens, Cols/32]: each Q8_0 activation block's sum of quants (null when absent).</summary>
    public int* ActivationSums;

    /// <summary>The same tile restricted to rows [first, first + count).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly DotTile RowRange(int first, int count) => this with
    {
        Weights = Weights + first * WeightStride,
        Rows = count,
        Output = Output + first,
    };

    /// <summary>The same tile restricted to tokens [first, first + count).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly DotTile TokenRange(int first, int count) => this with
    {
        Activations = Activations + first * ActivationStride,
        Tokens = count,
        Output = Output + first * OutputStride,
        ActivationScales = ActivationScales == null ? null : ActivationScales + (long)first * (Cols / 32),
        ActivationSums = ActivationSums == null ? null : ActivationSums + (long)first * (Cols / 32),
    };
}

/// <summary>Shared pieces of the tile kernels: argument checks and the per-dot reference every tile kernel equals.</summary>
public static unsafe class TileKernels
{
    /// <summary>
    /// Reference tile: one call of <paramref name="dot"/> per (row, token). The fast tile kernels are tested to
    /// return the same bits as this with the type's scalar dot.
    /// </summary>
    public static void PerDot(in DotTile tile, delegate*<byte*, byte*, int, float> dot)
    {
        Check(tile, 1, "tile");
        for (int r = 0; r < tile.Rows; r++)
        {
            byte* row = tile.Weights + r * tile.WeightStride;
            for (int t = 0; t < tile.Tokens; t++)
            {
                tile.Output[t * tile.OutputStride + r] = dot(row, tile.Activations + t * tile.ActivationStride, tile.Cols);
            }
        }
    }

    /// <summary>True when the 256-bit tile kernels may run (AVX2 + FMA present and not capped below 256 bits).</summary>
    internal static bool Use256 => Simd.Use256 && System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported;

    /// <summary>True when the 512-bit tile kernels may run (AVX-512 F and BW present and not capped below 512 bits).</summary>
    internal static bool Use512 => Simd.Use512 && Use256 && System.Runtime.Intrinsics.X86.Avx512F.IsSupported && System.Runtime.Intrinsics.X86.Avx512BW.IsSupported;

    /// <summary>Checks a tile's geometry once per call; <paramref name="blockSize"/> is the weight type's block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Blocks(in DotTile tile, int blockSize, string typeName)
    {
        Check(tile, blockSize, typeName);
        return tile.Cols / blockSize;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Check(in DotTile tile, int blockSize, string typeName)
    {
        if (tile.Rows < 0 || tile.Tokens < 0 || tile.Cols < 0 || tile.Cols % blockSize != 0) ThrowShape(tile, blockSize, typeName);
        if ((tile.Rows > 0 && tile.Tokens > 0) && (tile.Weights == null || tile.Activations == null || tile.Output == null)) ThrowNull(typeName);
    }

    [DoesNotReturn]
    private static void ThrowShape(in DotTile tile, int blockSize, string typeName) =>
        throw new ArgumentException(
            $"{typeName} tile: {tile.Rows} rows × {tile.Tokens} tokens × {tile.Cols} columns is not a valid tile " +
            $"(counts must be non-negative and columns a multiple of {blockSize})");

    [DoesNotReturn]
    private static void ThrowNull(string typeName) => throw new ArgumentNullException(null, $"{typeName} tile: null weight, activation or output pointer");
}
