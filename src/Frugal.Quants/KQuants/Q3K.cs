using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Numerics;

namespace Frugal.Quants.KQuants;

/// <summary>
/// Q3_K weights (<see cref="BlockQ3_K"/>) dotted with Q8_K activations. The vector levels multiply the
/// unsigned 3-bit q = low2 | hbit·4 and take the −4 offset off through the bsums; every level ends with the
/// same integer Σ (scale[j] − 32)·Σ (q − 4)·y per super-block, so all return bit-identical sums.
/// </summary>
public static unsafe class Q3K
{
    private const string Name = "Q3_K";

    /// <summary>Reference: w = d·(scale[j] − 32)·(q − 4) for n weights.</summary>
    public static void Dequantize(byte* src, float* dst, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ3_K*)src + i;
            float d = KQuant.HalfToFloat(b->D);
            for (int h = 0; h < 2; h++)            // two halves of 128 weights, 32 quant bytes each
            for (int k = 0; k < 4; k++)            // bit pair k of those bytes: 32 consecutive weights
            for (int s = 0; s < 2; s++)            // first / second 16 of them: one sub-block each
            {
                float dl = d * (KQuant.Q3Scale(8 * h + 2 * k + s, b->Scales) - 32);
                byte* q = b->Qs + 32 * h + 16 * s;
                byte* high = b->HMask + 16 * s;
                int bit = 1 << (4 * h + k);
                for (int l = 0; l < 16; l++)
                {
                    int value = ((q[l] >> (2 * k)) & 3) - ((high[l] & bit) != 0 ? 0 : 4);
                    *dst++ = dl * value;
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
        byte* scales = stackalloc byte[16];
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ3_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            KQuant.UnpackQ3Scales(b->Scales, scales);

            int sumQ = 0;
            for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
            for (int s = 0; s < 2; s++)
            {
                byte* q = b->Qs + 32 * h + 16 * s;
                byte* high = b->HMask + 16 * s;
                sbyte* a = y->Qs + 128 * h + 32 * k + 16 * s;
                int bit = 1 << (4 * h + k);
                int dot = 0;
                for (int l = 0; l < 16; l++)
                    dot += (((q[l] >> (2 * k)) & 3) - ((high[l] & bit) != 0 ? 0 : 4)) * a[l];
                sumQ += (scales[8 * h + 2 * k + s] - 32) * dot;
            }
            sum += Combine(b, y, sumQ);
        }
        return sum;
    }

    public static float Dot128(byte* w, byte* x, int n)
    {
        if (!Ssse3.IsSupported) return DotScalar(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* scales = stackalloc byte[16];
        var two = Vector128.Create((byte)3);
        var four = Vector128.Create((byte)4);
        var bias = Vector128.Create((short)32);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ3_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            KQuant.UnpackQ3Scales(b->Scales, scales);

            // Σ (scale[j] − 32)·bsum[j]: the −4 offset of every q, taken off once at the end.
            var packed = Vector128.Load(scales);
            int sumOffsets = Vector128.Sum(
                Sse2.MultiplyAddAdjacent(Vector128.Load(y->BSums), Sse2.UnpackLow(packed, Vector128<byte>.Zero).AsInt16() - bias)
              + Sse2.MultiplyAddAdjacent(Vector128.Load(y->BSums + 8), Sse2.UnpackHigh(packed, Vector128<byte>.Zero).AsInt16() - bias));

            var acc = Vector128<int>.Zero;
            for (int h = 0; h < 2; h++)
            for (int s = 0; s < 2; s++)
            {
                var bytes = Vector128.Load(b->Qs + 32 * h + 16 * s).AsUInt16();
                var high = Vector128.Load(b->HMask + 16 * s);
                for (int k = 0; k < 4; k++)
                {
                    var bit = Vector128.Create((byte)(1 << (4 * h + k)));
                    var q = ((bytes >>> (2 * k)).AsByte() & two) | (Vector128.Equals(high & bit, bit) & four);
                    acc += KSimd.MulAdd(q, Vector128.Load(y->Qs + 128 * h + 32 * k + 16 * s),
                        Vector128.Create((short)(scales[8 * h + 2 * k + s] - 32)));
                }
            }
            sum += Combine(b, y, Vector128.Sum(acc) - 4 * sumOffsets);
        }
        return sum;
    }

    public static float Dot256(byte* w, byte* x, int n)
    {
        if (!Avx2.IsSupported) return Dot128(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* packedScales = stackalloc byte[16];
        var two = Vector256.Create((byte)3);
        var four = Vector256.Create((byte)4);
        var bias = Vector256.Create((short)32);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ3_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            KQuant.UnpackQ3Scales(b->Scales, packedScales);
            var scales = Avx2.ConvertToVector256Int16(Vector128.Load(packedScales)) - bias;   // 16 × int16, −32..31
            int sumOffsets = Vector256.Sum(Avx2.MultiplyAddAdjacent(Vector256.Load(y->BSums), scales));

            var high = Vector256.Load(b->HMask);
            var acc = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var bytes = Vector256.Load(b->Qs + 32 * h).AsUInt16();
                for (int k = 0; k < 4; k++)
                {
                    var bit = Vector256.Create((byte)(1 << (4 * h + k)));
                    var q = ((bytes >>> (2 * k)).AsByte() & two) | (Vector256.Equals(high & bit, bit) & four);
                    acc += KSimd.MulAdd(q, Vector256.Load(y->Qs + 128 * h + 32 * k), KSimd.PairScales(scales, 4 * h + k));
                }
            }
            sum += Combine(b, y, Vector256.Sum(acc) - 4 * sumOffsets);
        }
        return sum;
    }

    public static float Dot512(byte* w, byte* x, int n) =>
        Avx512BW.IsSupported ? Dot512Body(w, x, n) : Dot256(w, x, n);

    /// <summary>
    /// All 64 quant bytes at once: bit pair k gives weights 32k … 32k+31 (low half, high bit k of hmask,
    /// sub-blocks 2k, 2k+1) and 128 + 32k … (high half, high bit 4+k, sub-blocks 8+2k, 9+2k).
    /// </summary>
    internal static float Dot512Body(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* packedScales = stackalloc byte[16];
        var two = Vector512.Create((byte)3);
        var four = Vector512.Create((byte)4);
        var bias = Vector256.Create((short)32);
        float sum = 0;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ3_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            KQuant.UnpackQ3Scales(b->Scales, packedScales);
            var scales = Avx2.ConvertToVector256Int16(Vector128.Load(packedScales)) - bias;
            int sumOffsets = Vector256.Sum(Avx2.MultiplyAddAdjacent(Vector256.Load(y->BSums), scales));
            var scales32 = Vector512.Create(scales, Vector256<short>.Zero);

            var bytes = Vector512.Load(b->Qs).AsUInt16();
            var high = KSimd.Twice(Vector256.Load(b->HMask));
            var acc = Vector512<int>.Zero;
            for (int k = 0; k < 4; k++)
            {
                var bit = Vector512.Create(Vector256.Create((byte)(1 << k)), Vector256.Create((byte)(1 << (4 + k))));
                var q = ((bytes >>> (2 * k)).AsByte() & two) | (Vector512.Equals(high & bit, bit) & four);
                var a = Vector512.Create(Vector256.Load(y->Qs + 32 * k), Vector256.Load(y->Qs + 128 + 32 * k));
                var lanes = KSimd.SubBlockLanes((short)(2 * k), (short)(2 * k + 1), (short)(8 + 2 * k), (short)(9 + 2 * k));
                acc += KSimd.MulAdd(q, a, KSimd.Permute(scales32, lanes));
            }
            sum += Combine(b, y, Vector512.Sum(acc) - 4 * sumOffsets);
        }
        return sum;
    }

    /// <summary>One super-block's contribution: d·dy·Σ(scale − 32)·(q − 4)·y.</summary>
    private static float Combine(BlockQ3_K* b, BlockQ8_K* y, int sumQ) => KQuant.HalfToFloat(b->D) * y->D * sumQ;
}
