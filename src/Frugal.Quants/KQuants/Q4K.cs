using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Numerics;

namespace Frugal.Quants.KQuants;

/// <summary>
/// Q4_K weights (<see cref="BlockQ4_K"/>) dotted with Q8_K activations. Every dot level computes the same two
/// integers per super-block — Σ scale[j]·Σ q·y over the sub-blocks and Σ min[j/2]·bsum[j] — and combines them
/// with the same float steps, so all levels return bit-identical sums.
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

    /// <summary>Picks the widest kernel <see cref="Simd.Level"/> allows.</summary>
    public static float Dot(byte* w, byte* x, int n) => Simd.Level switch
    {
        SimdLevel.V512 => Dot512(w, x, n),
        SimdLevel.V256 => Dot256(w, x, n),
        SimdLevel.V128 => Dot128(w, x, n),
        _ => DotScalar(w, x, n),
    };

    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ4_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);

            int sumMins = 0;
            for (int j = 0; j < 16; j++) sumMins += y->BSums[j] * scalesThenMins[8 + j / 2];

            int sumQ = 0;
            for (int j = 0; j < 8; j++)
            {
                byte* q = b->Qs + 32 * (j / 2);
                sbyte* a = y->Qs + 32 * j;
                int shift = 4 * (j % 2);
                int dot = 0;
                for (int l = 0; l < 32; l++) dot += ((q[l] >> shift) & 0xF) * a[l];
                sumQ += scalesThenMins[j] * dot;
            }
            sum += Combine(b, y, sumQ, sumMins);
        }
        return sum;
    }

    public static float Dot128(byte* w, byte* x, int n)
    {
        if (!Ssse3.IsSupported) return DotScalar(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        var nibble = Vector128.Create((byte)0x0F);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ4_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);

            var acc = Vector128<int>.Zero;
            for (int c = 0; c < 4; c++)
            {
                var scaleLow = Vector128.Create((short)scalesThenMins[2 * c]);
                var scaleHigh = Vector128.Create((short)scalesThenMins[2 * c + 1]);
                for (int h = 0; h < 32; h += 16)
                {
                    var bytes = Vector128.Load(b->Qs + 32 * c + h);
                    acc += KSimd.MulAdd(bytes & nibble, Vector128.Load(y->Qs + 64 * c + h), scaleLow);
                    acc += KSimd.MulAdd((bytes.AsUInt16() >>> 4).AsByte() & nibble, Vector128.Load(y->Qs + 64 * c + 32 + h), scaleHigh);
                }
            }
            sum += Combine(b, y, Vector128.Sum(acc), KQuant.BSumsTimesPairedMins(y->BSums, scalesThenMins + 8));
        }
        return sum;
    }

    public static float Dot256(byte* w, byte* x, int n)
    {
        if (!Avx2.IsSupported) return Dot128(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        var nibble = Vector256.Create((byte)0x0F);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ4_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);

            var acc = Vector256<int>.Zero;
            for (int c = 0; c < 4; c++)
            {
                var bytes = Vector256.Load(b->Qs + 32 * c);
                acc += KSimd.MulAdd(bytes & nibble, Vector256.Load(y->Qs + 64 * c),
                    Vector256.Create((short)scalesThenMins[2 * c]));
                acc += KSimd.MulAdd((bytes.AsUInt16() >>> 4).AsByte() & nibble, Vector256.Load(y->Qs + 64 * c + 32),
                    Vector256.Create((short)scalesThenMins[2 * c + 1]));
            }
            sum += Combine(b, y, Vector256.Sum(acc), KQuant.BSumsTimesPairedMins(y->BSums, scalesThenMins + 8));
        }
        return sum;
    }

    public static float Dot512(byte* w, byte* x, int n) =>
        Avx512BW.IsSupported ? Dot512Body(w, x, n) : Dot256(w, x, n);

    /// <summary>
    /// 64 bytes of quants (chunks 2m, 2m+1) at a time: low nibbles are sub-blocks 4m (low half) and 4m+2
    /// (high half), high nibbles sub-blocks 4m+1 and 4m+3.
    /// </summary>
    internal static float Dot512Body(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scalesThenMins = stackalloc byte[16];
        var nibble = Vector512.Create((byte)0x0F);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ4_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            KQuant.UnpackScalesMinsK4(b->Scales, scalesThenMins);

            var acc = Vector512<int>.Zero;
            for (int m = 0; m < 2; m++)
            {
                var bytes = Vector512.Load(b->Qs + 64 * m);
                sbyte* a = y->Qs + 128 * m;
                var low = bytes & nibble;
                var high = (bytes.AsUInt16() >>> 4).AsByte() & nibble;
                acc += KSimd.MulAdd(low,
                    Vector512.Create(Vector256.Load(a), Vector256.Load(a + 64)),
                    Vector512.Create(Vector256.Create((short)scalesThenMins[4 * m]), Vector256.Create((short)scalesThenMins[4 * m + 2])));
                acc += KSimd.MulAdd(high,
                    Vector512.Create(Vector256.Load(a + 32), Vector256.Load(a + 96)),
                    Vector512.Create(Vector256.Create((short)scalesThenMins[4 * m + 1]), Vector256.Create((short)scalesThenMins[4 * m + 3])));
            }
            sum += Combine(b, y, Vector512.Sum(acc), KQuant.BSumsTimesPairedMins(y->BSums, scalesThenMins + 8));
        }
        return sum;
    }

    /// <summary>One super-block's contribution: d·dy·Σscale·q·y − dmin·dy·Σmin·bsum.</summary>
    private static float Combine(BlockQ4_K* b, BlockQ8_K* y, int sumQ, int sumMins) =>
        KQuant.HalfToFloat(b->D) * y->D * sumQ - KQuant.HalfToFloat(b->DMin) * y->D * sumMins;
}
