using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Numerics;

namespace Frugal.Quants.KQuants;

/// <summary>
/// Q5_K weights (<see cref="BlockQ5_K"/>) dotted with Q8_K activations. Every level returns exactly the float bits of
/// ggml-cpu's AVX2 ggml_vec_dot_q5_K_q8_K: the eight <see cref="GgmlLanes"/> for Σ scale·q·y, plus one scalar float
/// for the min term, summs = fma(dmin, Σ min·bsum, summs) (gcc contracted ggml's summs += dmin·isum into one
/// vfmadd231ss), added after hsum_float_8.
/// </summary>
public static unsafe class Q5K
{
    private const string Name = "Q5_K";

    /// <summary>Reference: w = d·scale[j]·q − dmin·min[j] for n weights.</summary>
    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ5_K*)src + i;
            float d = KQuant.HalfToFloat(b->D), dmin = KQuant.HalfToFloat(b->DMin);
            for (int j = 0; j < 8; j++)
            {
                KQuant.ScaleMinK4(j, b->Scales, out byte scale, out byte min);
                float dl = d * scale, ml = dmin * min;
                byte* q = b->Qs + 32 * (j / 2);    // sub-blocks 2c and 2c+1 share the 32 bytes of chunk c
                int shift = 4 * (j % 2);            // even sub-block: low nibbles, odd: high nibbles
                for (int l = 0; l < 32; l++)
                    *dst++ = dl * (((q[l] >> shift) & 0xF) | (((b->Qh[l] >> j) & 1) << 4)) - ml;
            }
        }
    }

    /// <summary>
    /// llama.cpp's quantize_row_q5_K_ref: a weighted asymmetric fit per sub-block of 32 (weights √(mean x²) + |x|),
    /// the 8 scales and 8 mins quantized to 6 bits against their maxima, then every weight re-rounded against
    /// the quantized scale and min.
    /// </summary>
    public static void QuantizeReference(float* src, byte* dst, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* levels = stackalloc byte[KQuant.SuperBlock];
        for (int i = 0; i < blocks; i++)
        {
            float* x = src + i * KQuant.SuperBlock;
            var y = (BlockQ5_K*)dst + i;
            KQuantFitting.FitScalesMinsK4(x, 31, -0.5f, 15, levels, &y->D, &y->DMin, y->Scales);

            // As Q4_K, with the fifth bit of weight 64c + l in bit 2c of qh[l] and of 64c + 32 + l in bit 2c + 1.
            for (int l = 0; l < 32; l++) y->Qh[l] = 0;
            for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
            {
                int low = levels[64 * c + l], high = levels[64 * c + 32 + l];
                if (low > 15) { low -= 16; y->Qh[l] |= (byte)(1 << (2 * c)); }
                if (high > 15) { high -= 16; y->Qh[l] |= (byte)(2 << (2 * c)); }
                y->Qs[32 * c + l] = (byte)(low | (high << 4));
            }
        }
    }

    /// <summary>Picks the widest kernel <see cref="Simd.Level"/> allows.</summary>
    public static float Dot(byte* w, byte* x, int n) => Simd.Level switch
    {
        SimdLevel.V512 => Dot512(w, x, n),
        SimdLevel.V256 => Dot256(w, x, n),
        SimdLevel.V128 => Dot128(w, x, n),
        _ => DotScalar(w, x, n),
    };

    /// <summary>Canonical kernel: per super-block summs = fma(dmin, Σ min·bsum, summs) and acc[l] = fma(d, lane[l], acc[l]).</summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        int* scales = stackalloc int[8];                   // 6-bit scale of each 32-quant sub-block
        sbyte* q = stackalloc sbyte[KQuant.SuperBlock];   // quants 0..31 in element order
        int* lanes = stackalloc int[GgmlLanes.Count];
        float* acc = stackalloc float[GgmlLanes.Count];
        new Span<float>(acc, GgmlLanes.Count).Clear();
        float sumMins = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ5_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);

            int minTerm = 0;
            for (int j = 0; j < 16; j++) minTerm += y->BSums[j] * scalesThenMins[8 + j / 2];
            sumMins = MathF.FusedMultiplyAdd(dmin, minTerm, sumMins);

            for (int j = 0; j < 8; j++) scales[j] = scalesThenMins[j];
            for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
            {
                int fifth = b->Qh[l] >> (2 * c);
                q[64 * c + l] = (sbyte)((b->Qs[32 * c + l] & 0xF) | ((fifth & 1) << 4));
                q[64 * c + 32 + l] = (sbyte)((b->Qs[32 * c + l] >> 4) | ((fifth & 2) << 3));
            }
            new Span<int>(lanes, GgmlLanes.Count).Clear();
            GgmlLanes.AddLanes32(q, scales, y->Qs, lanes);
            GgmlLanes.FusedMultiplyAdd(acc, d, lanes, GgmlLanes.Count);
        }
        return GgmlLanes.HorizontalSum8(acc) + sumMins;
    }

    /// <summary>Each 16-byte half of a 32-quant chunk feeds its own accumulator: the first ggml lanes 0-3, the second 4-7.</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        if (!Ssse3.IsSupported) return DotScalar(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        var nibble = Vector128.Create((byte)0x0F);
        var sixteen = Vector128.Create((byte)16);
        var accLow = Vector128<float>.Zero;
        var accHigh = Vector128<float>.Zero;
        float sumMins = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ5_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);
            sumMins = MathF.FusedMultiplyAdd(dmin, KQuant.BSumsTimesPairedMins(y->BSums, scalesThenMins + 8), sumMins);

            var sumLow = Vector128<int>.Zero;
            var sumHigh = Vector128<int>.Zero;
            for (int h = 0; h < 32; h += 16)
            {
                var fifth = Vector128.Load(b->Qh + h);
                var sum = Vector128<int>.Zero;
                for (int c = 0; c < 4; c++)
                {
                    var bytes = Vector128.Load(b->Qs + 32 * c + h);
                    var bitLow = Vector128.Create((byte)(1 << (2 * c)));
                    var bitHigh = Vector128.Create((byte)(2 << (2 * c)));
                    var low = (bytes & nibble) | (Vector128.Equals(fifth & bitLow, bitLow) & sixteen);
                    var high = ((bytes.AsUInt16() >>> 4).AsByte() & nibble) | (Vector128.Equals(fifth & bitHigh, bitHigh) & sixteen);
                    sum += KSimd.MulAdd(low, Vector128.Load(y->Qs + 64 * c + h), Vector128.Create((short)scalesThenMins[2 * c]));
                    sum += KSimd.MulAdd(high, Vector128.Load(y->Qs + 64 * c + 32 + h), Vector128.Create((short)scalesThenMins[2 * c + 1]));
                }
                if (h == 0) sumLow = sum; else sumHigh = sum;
            }
            accLow = GgmlLanes.FusedMultiplyAdd(d, sumLow, accLow);
            accHigh = GgmlLanes.FusedMultiplyAdd(d, sumHigh, accHigh);
        }
        return GgmlLanes.HorizontalSum8(Vector256.Create(accLow, accHigh)) + sumMins;
    }

    public static float Dot256(byte* w, byte* x, int n)
    {
        if (!Avx2.IsSupported) return Dot128(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        var nibble = Vector256.Create((byte)0x0F);
        var sixteen = Vector256.Create((byte)16);
        var acc = Vector256<float>.Zero;
        float sumMins = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ5_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);
            sumMins = MathF.FusedMultiplyAdd(dmin, KQuant.BSumsTimesPairedMins(y->BSums, scalesThenMins + 8), sumMins);

            var fifth = Vector256.Load(b->Qh);
            var sum = Vector256<int>.Zero;
            for (int c = 0; c < 4; c++)
            {
                var bytes = Vector256.Load(b->Qs + 32 * c);
                var bitLow = Vector256.Create((byte)(1 << (2 * c)));
                var bitHigh = Vector256.Create((byte)(2 << (2 * c)));
                var low = (bytes & nibble) | (Vector256.Equals(fifth & bitLow, bitLow) & sixteen);
                var high = ((bytes.AsUInt16() >>> 4).AsByte() & nibble) | (Vector256.Equals(fifth & bitHigh, bitHigh) & sixteen);
                sum += KSimd.MulAdd(low, Vector256.Load(y->Qs + 64 * c), Vector256.Create((short)scalesThenMins[2 * c]));
                sum += KSimd.MulAdd(high, Vector256.Load(y->Qs + 64 * c + 32), Vector256.Create((short)scalesThenMins[2 * c + 1]));
            }
            acc = GgmlLanes.FusedMultiplyAdd(d, sum, acc);
        }
        return GgmlLanes.HorizontalSum8(acc) + sumMins;
    }

    public static float Dot512(byte* w, byte* x, int n) =>
        Avx512BW.IsSupported ? Dot512Body(w, x, n) : Dot256(w, x, n);

    /// <summary>
    /// 64 quant bytes (chunks 2m, 2m+1) at a time: low nibbles are sub-blocks 4m (low half, fifth bit 4m) and
    /// 4m+2 (high half, bit 4m+2); high nibbles sub-blocks 4m+1 and 4m+3; the halves fold into ggml's eight lanes.
    /// </summary>
    internal static float Dot512Body(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        var nibble = Vector512.Create((byte)0x0F);
        var sixteen = Vector512.Create((byte)16);
        var acc = Vector256<float>.Zero;
        float sumMins = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ5_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);
            sumMins = MathF.FusedMultiplyAdd(dmin, KQuant.BSumsTimesPairedMins(y->BSums, scalesThenMins + 8), sumMins);

            var fifth = KSimd.Twice(Vector256.Load(b->Qh));
            var sum = Vector512<int>.Zero;
            for (int m = 0; m < 2; m++)
            {
                var bytes = Vector512.Load(b->Qs + 64 * m);
                sbyte* a = y->Qs + 128 * m;
                var bitLow = Vector512.Create(Vector256.Create((byte)(1 << (4 * m))), Vector256.Create((byte)(4 << (4 * m))));
                var bitHigh = Vector512.Create(Vector256.Create((byte)(2 << (4 * m))), Vector256.Create((byte)(8 << (4 * m))));
                var low = (bytes & nibble) | (Vector512.Equals(fifth & bitLow, bitLow) & sixteen);
                var high = ((bytes.AsUInt16() >>> 4).AsByte() & nibble) | (Vector512.Equals(fifth & bitHigh, bitHigh) & sixteen);
                sum += KSimd.MulAdd(low,
                    Vector512.Create(Vector256.Load(a), Vector256.Load(a + 64)),
                    Vector512.Create(Vector256.Create((short)scalesThenMins[4 * m]), Vector256.Create((short)scalesThenMins[4 * m + 2])));
                sum += KSimd.MulAdd(high,
                    Vector512.Create(Vector256.Load(a + 32), Vector256.Load(a + 96)),
                    Vector512.Create(Vector256.Create((short)scalesThenMins[4 * m + 1]), Vector256.Create((short)scalesThenMins[4 * m + 3])));
            }
            acc = GgmlLanes.FusedMultiplyAdd(d, KSimd.FoldHalves(sum), acc);
        }
        return GgmlLanes.HorizontalSum8(acc) + sumMins;
    }
}
