// What the packed (row-group) layouts of the 32-element block formats share (Q4_0Packed.cs, Q8_0Packed.cs):
// a matrix is cut into groups of 8 consecutive rows, and block b of a group holds the eight rows' fp16 scales
// side by side (16 bytes) followed by the eight rows' quants in the format's own interleaving. A group's blocks
// lie end to end, so decode streams each group once from start to end; the whole copy is the plain matrix's size.
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Quants.Tiles;

namespace Frugal.Quants.Block32;

/// <summary>Shape checks and the scale widening shared by the packed 8-row-group layouts.</summary>
internal static unsafe class RowGroups
{
    /// <summary>Rows per interleaved group.</summary>
    public const int Rows = 8;

    /// <summary>Bytes of the eight fp16 scales at the start of each group block.</summary>
    public const int ScaleBytes = 2 * Rows;

    /// <summary>
    /// True when a plain [rows, cols] matrix of 32-element blocks (<paramref name="blockBytes"/> each, scale first)
    /// can be packed: rows a multiple of 8, whole blocks, and every block scale finite (the packed kernels widen
    /// scales with <see cref="WidenScales"/>, exact for every finite half).
    /// </summary>
    public static bool CanPack(byte* plain, int rows, int cols, int blockBytes)
    {
        if (rows <= 0 || cols <= 0 || rows % Rows != 0 || cols % 32 != 0 || plain == null) return false;
        long blocks = (long)rows * (cols / 32);
        for (long b = 0; b < blocks; b++)
        {
            if ((*(ushort*)(plain + b * blockBytes) & 0x7C00) == 0x7C00) return false;   // inf or NaN scale
        }
        return true;
    }

    /// <summary>Blocks per row of a matrix being packed or unpacked; throws a precise message for a shape that cannot be.</summary>
    public static int CheckShape(byte* from, byte* to, int rows, int cols, string name)
    {
        if (rows < 0 || cols < 0 || rows % Rows != 0 || cols % 32 != 0)
            throw new ArgumentException($"{name}: a {rows} × {cols} matrix cannot be packed (rows must be a multiple of {Rows}, columns of 32)");
        if ((from == null || to == null) && rows > 0 && cols > 0) throw new ArgumentNullException(null, $"{name}: null matrix pointer");
        return cols / 32;
    }

    /// <summary>Blocks per row of a packed tile; its rows must be whole groups.</summary>
    public static int CheckTile(in DotTile tile, string name)
    {
        int blocks = TileKernels.Blocks(tile, 32, name);
        if (tile.Rows % Rows != 0) ThrowRows(tile.Rows, name);
        return blocks;
    }

    [DoesNotReturn]
    private static void ThrowRows(int rows, string name) =>
        throw new ArgumentException($"{name} tile: {rows} rows is not a whole number of {Rows}-row groups");

    /// <summary>
    /// The eight fp16 scales at the start of a group block widened to float, exact for every finite half (packing
    /// refuses inf and NaN scales). Sign-extended to int32 and shifted left 13, a half's exponent and mantissa land
    /// in float position with the sign in bit 31 (bits 28..30 are cleared); read as a float that is the half's value
    /// × 2^−112, subnormal halves included (they become float subnormals), and the multiply by 2^112 is exact.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> WidenScales(byte* groupBlock)
    {
        var bits = Avx2.ConvertToVector256Int32((short*)groupBlock) << 13;
        var magnitude = (bits & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle();
        return magnitude * Vector256.Create(0x77800000).AsSingle();   // 2^112
    }

    /// <summary>
    /// <see cref="WidenScales"/> for two groups at once: lanes 0..7 from <paramref name="first"/>'s block, lanes 8..15
    /// from <paramref name="second"/>'s (same bits lane for lane).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> WidenScales(byte* first, byte* second)
    {
        var halves = Vector256.Create(Vector128.Load((short*)first), Vector128.Load((short*)second));
        var bits = Avx512F.ConvertToVector512Int32(halves) << 13;
        var magnitude = (bits & Vector512.Create(unchecked((int)0x8FFFE000))).AsSingle();
        return magnitude * Vector512.Create(0x77800000).AsSingle();   // 2^112
    }
}
