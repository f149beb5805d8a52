using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Numerics;

namespace Frugal.Quants.KQuants;

/// <summary>
/// Q4_K weights (<see cref="BlockQ4_K"/>) dotted with Q8_K activations. Every level returns exactly the float bits of
/// ggml-cpu's AVX2 ggml_vec_dot_q4_K_q8_K: the eight <see cref="GgmlLanes"/> for Σ scale·q·y, plus a separate
/// four-lane float accumulator for the min term (lane m: bsums 4m … 4m+3), added after hsum_float_8.
/// </summary>
public static unsafe class Q4K
{
    private const string Name = "Q4_K";

    /// <summary>Reference: w = d·scale[j]·q − dmin·min[j] for n weights.</summary>
    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ4_K*)src + i;
            float d = KQuant.HalfToFloat(b->D), dmin = KQuant.HalfToFloat(b->DMin);
            for (int j = 0; j < 8; j++)
            {
                KQuant.ScaleMinK4(j, b->Scales, out byte scale, out byte min);
                float dl = d * scale, ml = dmin * min;
                byte* q = b->Qs + 32 * (j / 2);    // sub-blocks 2c and 2c+1 share the 32 bytes of chunk c
                int shift = 4 * (j % 2);            // even sub-block: low nibbles, odd: high nibbles
                for (int l = 0; l < 32; l++) *dst++ = dl * ((q[l] >> shift) & 0xF) - ml;
            }
        }
    }

    /// <summary>
    /// llama.cpp's quantize_row_q4_K_ref: a weighted asymmetric fit per sub-block of 32 (weights √(mean x²) + |x|),
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
            var y = (BlockQ4_K*)dst + i;
            KQuantFitting.FitScalesMinsK4(x, 15, -1f, 20, levels, &y->D, &y->DMin, y->Scales);

            // Chunk c of 32 bytes: weights 64c + l in the low nibbles, 64c + 32 + l in the high ones.
            for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                y->Qs[32 * c + l] = (byte)(levels[64 * c + l] | (levels[64 * c + 32 + l] << 4));
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

    /// <summary>
    /// Canonical kernel: per super-block accMin[m] = fma(dmin, minLane[m], accMin[m]) and acc[l] = fma(d, lane[l], acc[l]);
    /// the result is hsum_float_8(acc) + ((accMin0 + accMin2) + (accMin1 + accMin3)).
    /// </summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        int* scales = stackalloc int[8];                   // 6-bit scale of each 32-quant sub-block
        sbyte* q = stackalloc sbyte[KQuant.SuperBlock];   // quants 0..15 in element order
        int* lanes = stackalloc int[GgmlLanes.Count];
        int* minLanes = stackalloc int[4];
        float* acc = stackalloc float[GgmlLanes.Count];
        float* accMin = stackalloc float[4];
        new Span<float>(acc, GgmlLanes.Count).Clear();
        new Span<float>(accMin, 4).Clear();
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ4_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);

            for (int m = 0; m < 4; m++)
            {
                minLanes[m] = 0;
                for (int j = 4 * m; j < 4 * m + 4; j++) minLanes[m] += y->BSums[j] * scalesThenMins[8 + j / 2];
            }
            GgmlLanes.FusedMultiplyAdd(accMin, dmin, minLanes, 4);

            for (int j = 0; j < 8; j++) scales[j] = scalesThenMins[j];
            for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
            {
                q[64 * c + l] = (sbyte)(b->Qs[32 * c + l] & 0xF);
                q[64 * c + 32 + l] = (sbyte)(b->Qs[32 * c + l] >> 4);
            }
            new Span<int>(lanes, GgmlLanes.Count).Clear();
            GgmlLanes.AddLanes32(q, scales, y->Qs, lanes);
            GgmlLanes.FusedMultiplyAdd(acc, d, lanes, GgmlLanes.Count);
        }
        return GgmlLanes.HorizontalSum8(acc) + GgmlLanes.HorizontalSum4(accMin);
    }

    /// <summary>Each 16-byte half of a 32-quant chunk feeds its own accumulator: the first ggml lanes 0-3, the second 4-7.</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        if (!Ssse3.IsSupported) return DotScalar(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        var nibble = Vector128.Create((byte)0x0F);
        var accLow = Vector128<float>.Zero;
        var accHigh = Vector128<float>.Zero;
        var accMin = Vector128<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ4_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);
            accMin = GgmlLanes.FusedMultiplyAdd(dmin, KQuant.PairedMinLanes(y->BSums, scalesThenMins + 8), accMin);

            var sumLow = Vector128<int>.Zero;
            var sumHigh = Vector128<int>.Zero;
            for (int c = 0; c < 4; c++)
            {
                var scaleLow = Vector128.Create((short)scalesThenMins[2 * c]);
                var scaleHigh = Vector128.Create((short)scalesThenMins[2 * c + 1]);
                var bytes0 = Vector128.Load(b->Qs + 32 * c);
                var bytes1 = Vector128.Load(b->Qs + 32 * c + 16);
                sbyte* a = y->Qs + 64 * c;
                sumLow += KSimd.MulAdd(bytes0 & nibble, Vector128.Load(a), scaleLow)
                        + KSimd.MulAdd((bytes0.AsUInt16() >>> 4).AsByte() & nibble, Vector128.Load(a + 32), scaleHigh);
                sumHigh += KSimd.MulAdd(bytes1 & nibble, Vector128.Load(a + 16), scaleLow)
                         + KSimd.MulAdd((bytes1.AsUInt16() >>> 4).AsByte() & nibble, Vector128.Load(a + 48), scaleHigh);
            }
            accLow = GgmlLanes.FusedMultiplyAdd(d, sumLow, accLow);
            accHigh = GgmlLanes.FusedMultiplyAdd(d, sumHigh, accHigh);
        }
        return GgmlLanes.HorizontalSum8(Vector256.Create(accLow, accHigh)) + GgmlLanes.HorizontalSum4(accMin);
    }

    public static float Dot256(byte* w, byte* x, int n)
    {
        if (!Avx2.IsSupported) return Dot128(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        var nibble = Vector256.Create((byte)0x0F);
        var acc = Vector256<float>.Zero;
        var accMin = Vector128<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ4_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);
            accMin = GgmlLanes.FusedMultiplyAdd(dmin, KQuant.PairedMinLanes(y->BSums, scalesThenMins + 8), accMin);

            var sum = Vector256<int>.Zero;
            for (int c = 0; c < 4; c++)
            {
                var bytes = Vector256.Load(b->Qs + 32 * c);
                sum += KSimd.MulAdd(bytes & nibble, Vector256.Load(y->Qs + 64 * c),
                    Vector256.Create((short)scalesThenMins[2 * c]));
                sum += KSimd.MulAdd((bytes.AsUInt16() >>> 4).AsByte() & nibble, Vector256.Load(y->Qs + 64 * c + 32),
                    Vector256.Create((short)scalesThenMins[2 * c + 1]));
            }
            acc = GgmlLanes.FusedMultiplyAdd(d, sum, acc);
        }
        return GgmlLanes.HorizontalSum8(acc) + GgmlLanes.HorizontalSum4(accMin);
    }

    public static float Dot512(byte* w, byte* x, int n) =>
        Avx512BW.IsSupported ? Dot512Body(w, x, n) : Dot256(w, x, n);

    /// <summary>
    /// 64 bytes of quants (chunks 2m, 2m+1) at a time: low nibbles are sub-blocks 4m (low half) and 4m+2
    /// (high half), high nibbles sub-blocks 4m+1 and 4m+3; the halves fold into ggml's eight lanes.
    /// </summary>
    internal static float Dot512Body(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        var nibble = Vector512.Create((byte)0x0F);
        var acc = Vector256<float>.Zero;
        var accMin = Vector128<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ4_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);
            accMin = GgmlLanes.FusedMultiplyAdd(dmin, KQuant.PairedMinLanes(y->BSums, scalesThenMins + 8), accMin);

            var sum = Vector512<int>.Zero;
            for (int m = 0; m < 2; m++)
            {
                var bytes = Vector512.Load(b->Qs + 64 * m);
                sbyte* a = y->Qs + 128 * m;
                var low = bytes & nibble;
                var high = (bytes.AsUInt16() >>> 4).AsByte() & nibble;
                sum += KSimd.MulAdd(low,
                    Vector512.Create(Vector256.Load(a), Vector256.Load(a + 64)),
                    Vector512.Create(Vector256.Create((short)scalesThenMins[4 * m]), Vector256.Create((short)scalesThenMins[4 * m + 2])));
                sum += KSimd.MulAdd(high,
                    Vector512.Create(Vector256.Load(a + 32), Vector256.Load(a + 96)),
                    Vector512.Create(Vector256.Create((short)scalesThenMins[4 * m + 1]), Vector256.Create((short)scalesThenMins[4 * m + 3])));
            }
            acc = GgmlLanes.FusedMultiplyAdd(d, KSimd.FoldHalves(sum), acc);
        }
        return GgmlLanes.HorizontalSum8(acc) + GgmlLanes.HorizontalSum4(accMin);
    }
}
