using System.Runtime.CompilerServices;
using Frugal.Quants.Block32;
using Frugal.Quants.Float;

namespace Frugal.Compression.Quantization;

/// <summary>
/// Importance-weighted quantizers of the 32-element block formats (llama.cpp's quantize_row_q4_0_impl, _q4_1_impl,
/// _q5_0_impl, _q5_1_impl with quant_weights). With an importance matrix llama.cpp changes the algorithm itself:
/// instead of scaling each block to its extreme value, it searches the scale (and, for Q4_1/Q5_1, the minimum) that
/// minimises Σ w·(x − x̂)² with w = importance[j]·√(σ² + x[j]²), σ² the mean square of the whole row.
/// Each method quantizes one row of n elements (a multiple of 32) to n/32 blocks.
/// </summary>
internal static unsafe class Block32Weighted
{
    private const int BlockSize = 32;

    /// <summary>Per-element weights of one block: importance[j]·√(σ² + x[j]²).</summary>
    private static void BlockWeights(float* x, float* importance, float sigma2, float* weights)
    {
        for (int j = 0; j < BlockSize; j++) weights[j] = importance[j] * MathF.Sqrt(sigma2 + x[j] * x[j]);
    }

    /// <summary>Q4_0: symmetric 4-bit, d from the weighted search over levels −8..7 (stored biased, 0..15).</summary>
    public static void QuantizeQ4_0(float* x, byte* dst, int n, float* importance)
    {
        float* weights = stackalloc float[BlockSize];
        sbyte* levels = stackalloc sbyte[BlockSize];
        float sigma2 = WeightedFitting.MeanSquare(x, n);
        var block = (BlockQ4_0*)dst;
        for (int b = 0; b < n / BlockSize; b++, block++)
        {
            float* xb = x + BlockSize * b;
            BlockWeights(xb, importance + BlockSize * b, sigma2, weights);
            float d = WeightedFitting.MakeQxQuants(BlockSize, 8, xb, levels, weights);
            block->D = Fp16Bits.FromSingle(d);
            byte* biased = (byte*)levels; // 0..15 after the bias of 8
            for (int j = 0; j < 16; j++) block->Qs[j] = (byte)(biased[j] | (biased[j + 16] << 4));
        }
    }

    /// <summary>Q4_1: asymmetric 4-bit, d and m (the block minimum, ≤ 0) from the weighted search.</summary>
    public static void QuantizeQ4_1(float* x, byte* dst, int n, float* importance)
    {
        float* weights = stackalloc float[BlockSize];
        byte* levels = stackalloc byte[BlockSize];
        byte* scratch = stackalloc byte[BlockSize];
        float sigma2 = WeightedFitting.MeanSquare(x, n);
        var block = (BlockQ4_1*)dst;
        for (int b = 0; b < n / BlockSize; b++, block++)
        {
            float* xb = x + BlockSize * b;
            BlockWeights(xb, importance + BlockSize * b, sigma2, weights);
            float d = WeightedFitting.MakeQkx3Quants(BlockSize, 15, xb, weights, levels, out float negatedMin, scratch, -0.9f, 0.05f, 36, false);
            block->D = Fp16Bits.FromSingle(d);
            block->M = Fp16Bits.FromSingle(-negatedMin);
            for (int j = 0; j < 16; j++) block->Qs[j] = (byte)(levels[j] | (levels[j + 16] << 4));
        }
    }

    /// <summary>Q5_0: symmetric 5-bit, levels −16..15 stored biased (0..31): low nibbles in qs, fifth bits in qh.</summary>
    public static void QuantizeQ5_0(float* x, byte* dst, int n, float* importance)
    {
        float* weights = stackalloc float[BlockSize];
        sbyte* levels = stackalloc sbyte[BlockSize];
        float sigma2 = WeightedFitting.MeanSquare(x, n);
        var block = (BlockQ5_0*)dst;
        for (int b = 0; b < n / BlockSize; b++, block++)
        {
            float* xb = x + BlockSize * b;
            BlockWeights(xb, importance + BlockSize * b, sigma2, weights);
            float d = WeightedFitting.MakeQxQuants(BlockSize, 16, xb, levels, weights);
            block->D = Fp16Bits.FromSingle(d);
            Unsafe.WriteUnaligned(block->Qh, PackFiveBit((byte*)levels, block->Qs));
        }
    }

    /// <summary>Q5_1: asymmetric 5-bit, d and m from the weighted search; layout as Q5_0 plus m.</summary>
    public static void QuantizeQ5_1(float* x, byte* dst, int n, float* importance)
    {
        float* weights = stackalloc float[BlockSize];
        byte* levels = stackalloc byte[BlockSize];
        byte* scratch = stackalloc byte[BlockSize];
        float sigma2 = WeightedFitting.MeanSquare(x, n);
        var block = (BlockQ5_1*)dst;
        for (int b = 0; b < n / BlockSize; b++, block++)
        {
            float* xb = x + BlockSize * b;
            BlockWeights(xb, importance + BlockSize * b, sigma2, weights);
            float d = WeightedFitting.MakeQkx3Quants(BlockSize, 31, xb, weights, levels, out float negatedMin, scratch, -0.9f, 0.05f, 36, false);
            block->D = Fp16Bits.FromSingle(d);
            block->M = Fp16Bits.FromSingle(-negatedMin);
            Unsafe.WriteUnaligned(block->Qh, PackFiveBit(levels, block->Qs));
        }
    }

    /// <summary>
    /// Packs 32 five-bit levels: qs[j] = low nibble of level j | low nibble of level j+16 &lt;&lt; 4; returns qh with
    /// bit j = fifth bit of level j and bit j+16 = fifth bit of level j+16 (stored little-endian, as ggml's memcpy on x86/ARM).
    /// </summary>
    private static uint PackFiveBit(byte* levels, byte* qs)
    {
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            byte low = levels[j], high = levels[j + 16];
            qs[j] = (byte)((low & 0x0F) | ((high & 0x0F) << 4));
            qh |= (uint)((low & 0x10) >> 4) << j;
            qh |= (uint)((high & 0x10) >> 4) << (j + 16);
        }
        return qh;
    }
}
