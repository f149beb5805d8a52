using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Numerics;

namespace Frugal.Quants.KQuants;

/// <summary>
/// Q6_K weights (<see cref="BlockQ6_K"/>) dotted with Q8_K activations. The vector levels multiply the
/// unsigned q (0..63) and take the −32 offset off through the bsums; every level ends with the same integer
/// Σ scale[j]·Σ (q − 32)·y per super-block, so all return bit-identical sums.
/// </summary>
public static unsafe class Q6K
{
    private const string Name = "Q6_K";

    /// <summary>Reference: w = d·scale[j]·(q − 32) for n weights.</summary>
    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ6_K*)src + i;
            float d = KQuant.HalfToFloat(b->D);
            for (int h = 0; h < 2; h++)            // two halves of 128 weights
            for (int e = 0; e < 4; e++)            // 32 consecutive weights each: 128h + 32e + l
            {
                byte* low = b->Ql + 64 * h + 32 * (e % 2);   // nibble e/2 of these bytes
                byte* high = b->Qh + 32 * h;                 // bits 2e, 2e+1 of these
                for (int l = 0; l < 32; l++)
                {
                    int q = ((low[l] >> (4 * (e / 2))) & 0xF) | (((high[l] >> (2 * e)) & 3) << 4);
                    *dst++ = d * b->Scales[8 * h + 2 * e + l / 16] * (q - 32);
                }
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
            var b = (BlockQ6_K*)w + i;
            var y = (BlockQ8_K*)x + i;

            int sumQ = 0;
            for (int h = 0; h < 2; h++)
            for (int e = 0; e < 4; e++)
            for (int s = 0; s < 2; s++)
            {
                byte* low = b->Ql + 64 * h + 32 * (e % 2) + 16 * s;
                byte* high = b->Qh + 32 * h + 16 * s;
                sbyte* a = y->Qs + 128 * h + 32 * e + 16 * s;
                int dot = 0;
                for (int l = 0; l < 16; l++)
                    dot += ((((low[l] >> (4 * (e / 2))) & 0xF) | (((high[l] >> (2 * e)) & 3) << 4)) - 32) * a[l];
                sumQ += b->Scales[8 * h + 2 * e + s] * dot;
            }
            sum += Combine(b, y, sumQ);
        }
        return sum;
    }

    public static float Dot128(byte* w, byte* x, int n)
    {
        if (!Ssse3.IsSupported) return DotScalar(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        var nibble = Vector128.Create((byte)0x0F);
        var two = Vector128.Create((ushort)0x0303);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ6_K*)w + i;
            var y = (BlockQ8_K*)x + i;

            // Σ scale[j]·bsum[j]: the −32 offset of every q, taken off once at the end.
            var scales = Vector128.Load(b->Scales);
            int sumOffsets = Vector128.Sum(
                Sse2.MultiplyAddAdjacent(Vector128.Load(y->BSums), Vector128.WidenLower(scales))
              + Sse2.MultiplyAddAdjacent(Vector128.Load(y->BSums + 8), Vector128.WidenUpper(scales)));

            var acc = Vector128<int>.Zero;
            for (int h = 0; h < 2; h++)
            for (int s = 0; s < 2; s++)
            {
                var low0 = Vector128.Load(b->Ql + 64 * h + 16 * s);
                var low1 = Vector128.Load(b->Ql + 64 * h + 32 + 16 * s);
                var high = Vector128.Load(b->Qh + 32 * h + 16 * s).AsUInt16();
                for (int e = 0; e < 4; e++)
                {
                    var bytes = e % 2 == 0 ? low0 : low1;
                    var lowBits = e < 2 ? bytes & nibble : (bytes.AsUInt16() >>> 4).AsByte() & nibble;
                    var highBits = (((high >>> (2 * e)) & two) << 4).AsByte();
                    acc += KSimd.MulAdd(lowBits | highBits, Vector128.Load(y->Qs + 128 * h + 32 * e + 16 * s),
                        Vector128.Create((short)b->Scales[8 * h + 2 * e + s]));
                }
            }
            sum += Combine(b, y, Vector128.Sum(acc) - 32 * sumOffsets);
        }
        return sum;
    }

    public static float Dot256(byte* w, byte* x, int n)
    {
        if (!Avx2.IsSupported) return Dot128(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        var nibble = Vector256.Create((byte)0x0F);
        var two = Vector256.Create((ushort)0x0303);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ6_K*)w + i;
            var y = (BlockQ8_K*)x + i;

            var scales = Avx2.ConvertToVector256Int16(Vector128.Load(b->Scales));   // 16 × int16
            int sumOffsets = Vector256.Sum(Avx2.MultiplyAddAdjacent(Vector256.Load(y->BSums), scales));

            var acc = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var low0 = Vector256.Load(b->Ql + 64 * h);
                var low1 = Vector256.Load(b->Ql + 64 * h + 32);
                var high = Vector256.Load(b->Qh + 32 * h).AsUInt16();
                for (int e = 0; e < 4; e++)
                {
                    var bytes = e % 2 == 0 ? low0 : low1;
                    var lowBits = e < 2 ? bytes & nibble : (bytes.AsUInt16() >>> 4).AsByte() & nibble;
                    var highBits = (((high >>> (2 * e)) & two) << 4).AsByte();
                    acc += KSimd.MulAdd(lowBits | highBits, Vector256.Load(y->Qs + 128 * h + 32 * e), KSimd.PairScales(scales, 4 * h + e));
                }
            }
            sum += Combine(b, y, Vector256.Sum(acc) - 32 * sumOffsets);
        }
        return sum;
    }

    public static float Dot512(byte* w, byte* x, int n) =>
        Avx512BW.IsSupported ? Dot512Body(w, x, n) : Dot256(w, x, n);

    /// <summary>
    /// 64 low-bit bytes of a half h at a time: their low nibbles are weights 128h … 128h+63 (sub-blocks
    /// 8h … 8h+3, high bits 0-1 then 2-3 of qh), their high nibbles weights 128h+64 … (sub-blocks 8h+4 …,
    /// high bits 4-5 then 6-7).
    /// </summary>
    internal static float Dot512Body(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        var nibble = Vector512.Create((byte)0x0F);
        var two = Vector512.Create((ushort)0x0303);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ6_K*)w + i;
            var y = (BlockQ8_K*)x + i;

            var scales = Avx2.ConvertToVector256Int16(Vector128.Load(b->Scales));
            int sumOffsets = Vector256.Sum(Avx2.MultiplyAddAdjacent(Vector256.Load(y->BSums), scales));
            var scales32 = Vector512.Create(scales, Vector256<short>.Zero);

            var acc = Vector512<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var bytes = Vector512.Load(b->Ql + 64 * h);
                var high = Vector256.Load(b->Qh + 32 * h).AsUInt16();
                var highFirst = ((Vector512.Create(high, high >>> 2) & two) << 4).AsByte();
                var highSecond = ((Vector512.Create(high >>> 4, high >>> 6) & two) << 4).AsByte();
                short first = (short)(8 * h);
                acc += KSimd.MulAdd((bytes & nibble) | highFirst, Vector512.Load(y->Qs + 128 * h),
                    KSimd.Permute(scales32, KSimd.SubBlockLanes(first, (short)(first + 1), (short)(first + 2), (short)(first + 3))));
                acc += KSimd.MulAdd(((bytes.AsUInt16() >>> 4).AsByte() & nibble) | highSecond, Vector512.Load(y->Qs + 128 * h + 64),
                    KSimd.Permute(scales32, KSimd.SubBlockLanes((short)(first + 4), (short)(first + 5), (short)(first + 6), (short)(first + 7))));
            }
            sum += Combine(b, y, Vector512.Sum(acc) - 32 * sumOffsets);
        }
        return sum;
    }

    /// <summary>One super-block's contribution: d·dy·Σscale·(q − 32)·y.</summary>
    private static float Combine(BlockQ6_K* b, BlockQ8_K* y, int sumQ) => KQuant.HalfToFloat(b->D) * y->D * sumQ;
}
