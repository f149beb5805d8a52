// Shared helpers for the Float and Block32 kernel tests: per-level kernel lookup, random rows in every
// type, and the reference dot (dequantize both rows with the plain reference kernels, dot in double).
using Frugal.Numerics;
using Frugal.Quants.Block32;
using Frugal.Quants.Float;

namespace Frugal.Quants.Tests;

public unsafe delegate float DotKernel(byte* w, byte* x, int n);

public unsafe delegate void QuantizeKernel(float* src, byte* dst, int n);

public unsafe delegate void DequantizeKernel(byte* src, float* dst, int n);

internal static unsafe class KernelTestSupport
{
    public static readonly GgmlType[] FloatTypes = [GgmlType.F32, GgmlType.F16, GgmlType.BF16];

    public static readonly GgmlType[] BlockWeightTypes = [GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0];

    /// <summary>
    /// Every level is tested on every machine: the vector kernels use portable Vector128/256/512 operations
    /// (emulated in software where the hardware lacks the width) and pick the x86 int8 instructions only
    /// where present, so a level's structure is checked everywhere and its fast instructions where they exist.
    /// </summary>
    public static readonly SimdLevel[] Levels = [SimdLevel.Scalar, SimdLevel.V128, SimdLevel.V256, SimdLevel.V512];

    private static readonly Dictionary<GgmlType, DotKernel[]> DotByLevel = new()
    {
        [GgmlType.F32] = [F32.DotScalar, F32.Dot128, F32.Dot256, F32.Dot512],
        [GgmlType.F16] = [F16.DotScalar, F16.Dot128, F16.Dot256, F16.Dot512],
        [GgmlType.BF16] = [BF16.DotScalar, BF16.Dot128, BF16.Dot256, BF16.Dot512],
        [GgmlType.Q4_0] = [Q4_0.DotScalar, Q4_0.Dot128, Q4_0.Dot256, Q4_0.Dot512],
        [GgmlType.Q4_1] = [Q4_1.DotScalar, Q4_1.Dot128, Q4_1.Dot256, Q4_1.Dot512],
        [GgmlType.Q5_0] = [Q5_0.DotScalar, Q5_0.Dot128, Q5_0.Dot256, Q5_0.Dot512],
        [GgmlType.Q5_1] = [Q5_1.DotScalar, Q5_1.Dot128, Q5_1.Dot256, Q5_1.Dot512],
        [GgmlType.Q8_0] = [Q8_0.DotScalar, Q8_0.Dot128, Q8_0.Dot256, Q8_0.Dot512],
    };

    public static DotKernel Dot(GgmlType type, SimdLevel level) => DotByLevel[type][level switch
    {
        SimdLevel.Scalar => 0,
        SimdLevel.V128 => 1,
        SimdLevel.V256 => 2,
        _ => 3,
    }];

    public static QuantizeKernel ReferenceQuantizer(GgmlType type) => type switch
    {
        GgmlType.Q4_0 => Q4_0.QuantizeReference,
        GgmlType.Q4_1 => Q4_1.QuantizeReference,
        GgmlType.Q5_0 => Q5_0.QuantizeReference,
        GgmlType.Q5_1 => Q5_1.QuantizeReference,
        GgmlType.Q8_0 => Q8_0.QuantizeReference,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no reference quantizer"),
    };

    public static DequantizeKernel Dequantizer(GgmlType type) => type switch
    {
        GgmlType.F32 => F32.Dequantize,
        GgmlType.F16 => F16.Dequantize,
        GgmlType.BF16 => BF16.Dequantize,
        GgmlType.Q4_0 => Q4_0.Dequantize,
        GgmlType.Q4_1 => Q4_1.Dequantize,
        GgmlType.Q5_0 => Q5_0.Dequantize,
        GgmlType.Q5_1 => Q5_1.Dequantize,
        GgmlType.Q8_0 => Q8_0.Dequantize,
        GgmlType.Q8_1 => Q8_1.Dequantize,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no dequantizer"),
    };

    public static long RowBytes(GgmlType type, int n) => GgmlTypes.Info(type).RowBytes(n);

    /// <summary>Gaussian-ish floats whose scale changes from block to block (as real weights and activations do).</summary>
    public static float[] RandomFloats(int n, Random rng)
    {
        var values = new float[n];
        float scale = 1;
        for (int i = 0; i < n; i++)
        {
            if (i % 32 == 0) scale = (float)Math.Exp(rng.NextDouble() * 6 - 3);
            values[i] = scale * (float)(rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5);
        }
        return values;
    }

    /// <summary>Converts floats to a row of <paramref name="type"/> with that type's own quantizer.</summary>
    public static byte[] Encode(GgmlType type, float[] values)
    {
        var row = new byte[RowBytes(type, values.Length)];
        fixed (float* src = values)
        fixed (byte* dst = row)
        {
            switch (type)
            {
                case GgmlType.F32: F32.Quantize(src, dst, values.Length); break;
                case GgmlType.F16: F16.Quantize(src, dst, values.Length); break;
                case GgmlType.BF16: BF16.Quantize(src, dst, values.Length); break;
                case GgmlType.Q8_1: Q8_1.Quantize(src, dst, values.Length); break;
                case GgmlType.Q8_0: Q8_0.Quantize(src, dst, values.Length); break; // activation quantizer
                default: ReferenceQuantizer(type)(src, dst, values.Length); break;
            }
        }
        return row;
    }

    /// <summary>Weight rows: the type's reference quantizer for block types (Q8_0 included), plain conversion for floats.</summary>
    public static byte[] EncodeWeights(GgmlType type, float[] values)
    {
        if (type == GgmlType.Q8_0)
        {
            var row = new byte[RowBytes(type, values.Length)];
            fixed (float* src = values)
            fixed (byte* dst = row) Q8_0.QuantizeReference(src, dst, values.Length);
            return row;
        }
        return Encode(type, values);
    }

    /// <summary>
    /// Blocks of random bytes with sane fp16 scales and minimums: every nibble and fifth-bit pattern occurs.
    /// Q8 quants avoid −128, which no quantizer produces.
    /// </summary>
    public static byte[] RandomBlocks(GgmlType type, int blocks, Random rng)
    {
        int size = GgmlTypes.Info(type).BlockBytes;
        var row = new byte[size * blocks];
        rng.NextBytes(row);
        for (int b = 0; b < blocks; b++)
        {
            int at = b * size;
            WriteHalf(row, at, (float)(rng.NextDouble() * 0.2 - 0.1));
            if (type is GgmlType.Q4_1 or GgmlType.Q5_1) WriteHalf(row, at + 2, (float)(rng.NextDouble() * 2 - 1));
            if (type == GgmlType.Q8_0)
                for (int k = at + 2; k < at + size; k++)
                    if (row[k] == 0x80) row[k] = 0x81;
        }
        return row;
    }

    public static void WriteHalf(byte[] row, int at, float value)
    {
        ushort bits = Fp16Bits.FromSingle(value);
        row[at] = (byte)bits;
        row[at + 1] = (byte)(bits >> 8);
    }

    public static float[] Decode(GgmlType type, byte[] row, int n)
    {
        var values = new float[n];
        fixed (byte* src = row)
        fixed (float* dst = values) Dequantizer(type)(src, dst, n);
        return values;
    }

    /// <summary>
    /// What the dot of a weight row with an activation row must be: Σ dequant(w)·dequant(x) in double.
    /// For Q8_1 activations ggml adds each block's minimum as m_w·s_x, with s_x = fp16(d·Σq) computed from the
    /// unrounded d; the difference m_w·(s_x − d_x·Σq_x) is part of the defined result and is added here exactly.
    /// Returns the value and Σ|terms| (the scale for the tolerance).
    /// </summary>
    public static (double Value, double Magnitude) ReferenceDot(GgmlType weightType, byte[] w, GgmlType activationType, byte[] x, int n)
    {
        float[] wf = Decode(weightType, w, n), xf = Decode(activationType, x, n);
        double sum = 0, magnitude = 0;
        for (int i = 0; i < n; i++)
        {
            double term = (double)wf[i] * xf[i];
            sum += term;
            magnitude += Math.Abs(term);
        }
        if (activationType == GgmlType.Q8_1)
        {
            int weightBlock = GgmlTypes.Info(weightType).BlockBytes;
            for (int b = 0; b < n / 32; b++)
            {
                double m = Fp16Bits.ToSingle(BitConverter.ToUInt16(w, b * weightBlock + 2));
                double d = Fp16Bits.ToSingle(BitConverter.ToUInt16(x, b * 36));
                double s = Fp16Bits.ToSingle(BitConverter.ToUInt16(x, b * 36 + 2));
                int quantSum = 0;
                for (int k = 0; k < 32; k++) quantSum += (sbyte)x[b * 36 + 4 + k];
                sum += m * (s - d * quantSum);
                magnitude += Math.Abs(m * s);
            }
        }
        return (sum, magnitude);
    }
}
