// Per-block numbers of a Q8_0 activation row that the row-group kernels need for every weight row they meet:
//   scales[b] = d_x of block b widened to float
//   sums[b]   = Σ of block b's 32 quants (Q4_0 kernels subtract 8·Σx once per block for the quants' −8)
// Tile kernels used to derive them from the activation row in every tile; a prefill product of a 2048-row matrix
// has 32 tiles, so the activation quantizer now computes them once per row and passes them in DotTile. Both are
// exact (a widening and an integer sum), so where they come from never changes a result.
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Quants.Float;
using Frugal.Quants.Tiles;

namespace Frugal.Quants.Block32;

/// <summary>The per-block scale and quant sum of Q8_0 activation rows (see the top of ActivationTables.cs).</summary>
public static unsafe class ActivationTables
{
    /// <summary>scales[b] and sums[b] for the <paramref name="blocks"/> blocks of one Q8_0 row.</summary>
    public static void Compute(byte* row, int blocks, float* scales, int* sums)
    {
        for (int b = 0; b < blocks; b++, row += BlockQ8_0.Size)
        {
            scales[b] = Fp16Bits.ToSingle(*(ushort*)row);
            sums[b] = Sum((sbyte*)row + 2);
        }
    }

    /// <summary>
    /// A tile's token t: scales[b·step] = d_x and offsets[b·step] = 8·Σx for every block, from the tile's tables when
    /// it carries them, else from the activation row itself.
    /// </summary>
    internal static void ForToken(in DotTile tile, int t, int blocks, float* scales, int* offsets, int step)
    {
        if (tile.ActivationScales != null && tile.ActivationSums != null)
        {
            float* rowScales = tile.ActivationScales + (long)t * blocks;
            int* rowSums = tile.ActivationSums + (long)t * blocks;
            for (int b = 0; b < blocks; b++)
            {
                scales[b * step] = rowScales[b];
                offsets[b * step] = rowSums[b] << 3;
            }
            return;
        }
        byte* x = tile.Activations + t * tile.ActivationStride;
        for (int b = 0; b < blocks; b++, x += BlockQ8_0.Size)
        {
            scales[b * step] = Fp16Bits.ToSingle(*(ushort*)x);
            offsets[b * step] = Sum((sbyte*)x + 2) << 3;
        }
    }

    /// <summary>Σ of 32 int8 quants, exact.</summary>
    private static int Sum(sbyte* quants)
    {
        if (Avx2.IsSupported)
        {
            var pairs = Avx2.MultiplyAddAdjacent(Vector256.Create((byte)1), Vector256.Load(quants));   // |pair| ≤ 256
            return Vector256.Sum(Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1)));
        }
        int sum = 0;
        for (int k = 0; k < 32; k++) sum += quants[k];
        return sum;
    }
}
