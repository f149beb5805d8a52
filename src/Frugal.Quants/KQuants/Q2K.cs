using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Numerics;

namespace Frugal.Quants.KQuants;

/// <summary>
/// Q2_K weights (<see cref="BlockQ2_K"/>) dotted with Q8_K activations. Every level computes the same two
/// integers per super-block — Σ scale[j]·Σ q·y and Σ min[j]·bsum[j] — and combines them with the same float
/// steps, so all levels return bit-identical sums.
/// </summary>
public static unsafe class Q2K
{
    private const string Name = "Q2_K";

    /// <summary>Reference: w = d·scale[j]·q − dmin·min[j] for n weights.</summary>
    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ2_K*)src + i;
            float d = KQuant.HalfToFloat(b->D), dmin = KQuant.HalfToFloat(b->DMin);
            for (int h = 0; h < 2; h++)            // two halves of 128 weights, 32 quant bytes each
            for (int k = 0; k < 4; k++)            // bit pair k of those bytes: 32 consecutive weights
            for (int s = 0; s < 2; s++)            // first / second 16 of them: one sub-block each
            {
                byte packed = b->Scales[8 * h + 2 * k + s];
                float dl = d * (packed & 0xF), ml = dmin * (packed >> 4);
                byte* q = b->Qs + 32 * h + 16 * s;
                for (int l = 0; l < 16; l++) *dst++ = dl * ((q[l] >> (2 * k)) & 3) - ml;
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
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ2_K*)w + i;
            var y = (BlockQ8_K*)x + i;

            int sumMins = 0;
            for (int j = 0; j < 16; j++) sumMins += y->BSums[j] * (b->Scales[j] >> 4);

            int sumQ = 0;
            for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
            for (int s = 0; s < 2; s++)
            {
                byte* q = b->Qs + 32 * h + 16 * s;
                sbyte* a = y->Qs + 128 * h + 32 * k + 16 * s;
                int dot = 0;
                for (int l = 0; l < 16; l++) dot += ((q[l] >> (2 * k)) & 3) * a[l];
                sumQ += (b->Scales[8 * h + 2 * k + s] & 0xF) * dot;
            }
            sum += Combine(b, y, sumQ, sumMins);
        }
        return sum;
    }

    public static float Dot128(byte* w, byte* x, int n)
    {
        if (!Ssse3.IsSupported) return DotScalar(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        var two = Vector128.Create((byte)3);
        var nibble = Vector128.Create((byte)0x0F);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ2_K*)w + i;
            var y = (BlockQ8_K*)x + i;

            var mins = (Vector128.Load(b->Scales).AsUInt16() >>> 4).AsByte() & nibble;
            int sumMins = Vector128.Sum(
                Sse2.MultiplyAddAdjacent(Vector128.Load(y->BSums), Sse2.UnpackLow(mins, Vector128<byte>.Zero).AsInt16())
              + Sse2.MultiplyAddAdjacent(Vector128.Load(y->BSums + 8), Sse2.UnpackHigh(mins, Vector128<byte>.Zero).AsInt16()));

            var acc = Vector128<int>.Zero;
            for (int h = 0; h < 2; h++)
            for (int s = 0; s < 2; s++)
            {
                var bytes = Vector128.Load(b->Qs + 32 * h + 16 * s).AsUInt16();
                for (int k = 0; k < 4; k++)
                {
                    var q = (bytes >>> (2 * k)).AsByte() & two;
                    acc += KSimd.MulAdd(q, Vector128.Load(y->Qs + 128 * h + 32 * k + 16 * s),
                        Vector128.Create((short)(b->Scales[8 * h + 2 * k + s] & 0xF)));
                }
            }
            sum += Combine(b, y, Vector128.Sum(acc), sumMins);
        }
        return sum;
    }

    public static float Dot256(byte* w, byte* x, int n)
    {
        if (!Avx2.IsSupported) return Dot128(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        var two = Vector256.Create((byte)3);
        var nibble = Vector128.Create((byte)0x0F);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ2_K*)w + i;
            var y = (BlockQ8_K*)x + i;

            var packed = Vector128.Load(b->Scales);
            var scales = Avx2.ConvertToVector256Int16(packed & nibble);                             // 16 × int16
            var mins = Avx2.ConvertToVector256Int16((packed.AsUInt16() >>> 4).AsByte() & nibble);
            int sumMins = Vector256.Sum(Avx2.MultiplyAddAdjacent(Vector256.Load(y->BSums), mins));

            var acc = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var bytes = Vector256.Load(b->Qs + 32 * h).AsUInt16();
                for (int k = 0; k < 4; k++)
                {
                    var q = (bytes >>> (2 * k)).AsByte() & two;   // weights 128h + 32k … +31: sub-blocks 8h+2k, 8h+2k+1
                    acc += KSimd.MulAdd(q, Vector256.Load(y->Qs + 128 * h + 32 * k), KSimd.PairScales(scales, 4 * h + k));
                }
            }
            sum += Combine(b, y, Vector256.Sum(acc), sumMins);
        }
        return sum;
    }

    public static float Dot512(byte* w, byte* x, int n) =>
        Avx512BW.IsSupported ? Dot512Body(w, x, n) : Dot256(w, x, n);

    /// <summary>
    /// All 64 quant bytes at once: bit pair k gives weights 32k … 32k+31 (low half, sub-blocks 2k, 2k+1) and
    /// 128 + 32k … (high half, sub-blocks 8+2k, 9+2k).
    /// </summary>
    internal static float Dot512Body(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        var two = Vector512.Create((byte)3);
        var nibble = Vector128.Create((byte)0x0F);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ2_K*)w + i;
            var y = (BlockQ8_K*)x + i;

            var packed = Vector128.Load(b->Scales);
            var scales = Avx2.ConvertToVector256Int16(packed & nibble);
            var mins = Avx2.ConvertToVector256Int16((packed.AsUInt16() >>> 4).AsByte() & nibble);
            int sumMins = Vector256.Sum(Avx2.MultiplyAddAdjacent(Vector256.Load(y->BSums), mins));
            var scales32 = Vector512.Create(scales, Vector256<short>.Zero);

            var bytes = Vector512.Load(b->Qs).AsUInt16();
            var acc = Vector512<int>.Zero;
            for (int k = 0; k < 4; k++)
            {
                var q = (bytes >>> (2 * k)).AsByte() & two;
                var a = Vector512.Create(Vector256.Load(y->Qs + 32 * k), Vector256.Load(y->Qs + 128 + 32 * k));
                var lanes = KSimd.SubBlockLanes((short)(2 * k), (short)(2 * k + 1), (short)(8 + 2 * k), (short)(9 + 2 * k));
                acc += KSimd.MulAdd(q, a, KSimd.Permute(scales32, lanes));
            }
            sum += Combine(b, y, Vector512.Sum(acc), sumMins);
        }
        return sum;
    }

    /// <summary>One super-block's contribution: d·dy·Σscale·q·y − dmin·dy·Σmin·bsum.</summary>
    private static float Combine(BlockQ2_K* b, BlockQ8_K* y, int sumQ, int sumMins) =>
        KQuant.HalfToFloat(b->D) * y->D * sumQ - KQuant.HalfToFloat(b->DMin) * y->D * sumMins;
}
