using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Numerics;

namespace Frugal.Quants.KQuants;

/// <summary>
/// Q6_K weights (<see cref="BlockQ6_K"/>) dotted with Q8_K activations. Every level returns exactly the float bits of
/// ggml-cpu's AVX2 ggml_vec_dot_q6_K_q8_K (see <see cref="GgmlLanes"/>). The vector levels multiply the unsigned
/// q (0..63) and subtract 32·y in the same int16 lanes (as ggml does), so every int32 lane holds exactly
/// Σ scale·(q − 32)·y over its elements.
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

    /// <summary>
    /// llama.cpp's quantize_row_q6_K_ref: a symmetric x²-weighted fit per sub-block of 16, the 16 scales
    /// quantized to signed 8 bits against the one of largest magnitude, then every weight re-rounded to −32..31.
    /// </summary>
    public static void QuantizeReference(float* src, byte* dst, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        sbyte* levels = stackalloc sbyte[KQuant.SuperBlock];
        float* scales = stackalloc float[16];

        for (int i = 0; i < blocks; i++)
        {
            float* x = src + i * KQuant.SuperBlock;
            var y = (BlockQ6_K*)dst + i;

            float maxScale = 0, maxAbsScale = 0;
            for (int j = 0; j < 16; j++)
            {
                scales[j] = KQuantFitting.MakeQxQuants(16, 32, x + 16 * j, levels + 16 * j, 1, null);
                float absScale = MathF.Abs(scales[j]);
                if (absScale > maxAbsScale) { maxAbsScale = absScale; maxScale = scales[j]; }
            }

            if (maxAbsScale < KQuantFitting.GroupMaxEps)
            {
                new Span<byte>(y, sizeof(BlockQ6_K)).Clear();
                continue;
            }

            float iscale = -128f / maxScale;
            y->D = KQuant.FloatToHalf(1 / iscale);
            for (int j = 0; j < 16; j++) y->Scales[j] = (sbyte)Math.Min(127, KQuant.NearestInt(iscale * scales[j]));

            for (int j = 0; j < 16; j++)
            {
                float d = KQuant.HalfToFloat(y->D) * y->Scales[j];
                if (d == 0) continue;
                for (int l = 0; l < 16; l++)
                    levels[16 * j + l] = (sbyte)(Math.Clamp(KQuant.NearestInt(x[16 * j + l] / d), -32, 31) + 32);
            }

            // Half h: ql[64h + l] holds weights 128h + l (low nibble) and 128h + 64 + l (high), for l < 64;
            // qh[32h + l] holds the top two bits of weights 128h + 32e + l in bits 2e, 2e + 1.
            for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++)
            {
                byte* L = (byte*)levels + 128 * h + l;   // all levels are non-negative by now
                y->Ql[64 * h + l] = (byte)((L[0] & 0xF) | ((L[64] & 0xF) << 4));
                y->Ql[64 * h + 32 + l] = (byte)((L[32] & 0xF) | ((L[96] & 0xF) << 4));
                y->Qh[32 * h + l] = (byte)((L[0] >> 4) | ((L[32] >> 4) << 2) | ((L[64] >> 4) << 4) | ((L[96] >> 4) << 6));
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

    /// <summary>Canonical kernel: per super-block acc[l] = fma(d, lane[l], acc[l]) over <see cref="GgmlLanes"/>' integer lanes, then hsum_float_8.</summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        int* scales = stackalloc int[16];                  // signed scale of each 16-quant sub-block
        sbyte* q = stackalloc sbyte[KQuant.SuperBlock];   // q − 32 (−32..31) in element order
        int* lanes = stackalloc int[GgmlLanes.Count];
        float* acc = stackalloc float[GgmlLanes.Count];
        new Span<float>(acc, GgmlLanes.Count).Clear();
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ6_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);

            for (int j = 0; j < 16; j++) scales[j] = b->Scales[j];
            for (int h = 0; h < 2; h++)            // two halves of 128 weights
            for (int e = 0; e < 4; e++)            // 32 consecutive weights each: 128h + 32e + l
            {
                byte* low = b->Ql + 64 * h + 32 * (e % 2);   // nibble e/2 of these bytes
                byte* high = b->Qh + 32 * h;                 // bits 2e, 2e+1 of these
                for (int l = 0; l < 32; l++)
                    q[128 * h + 32 * e + l] = (sbyte)((((low[l] >> (4 * (e / 2))) & 0xF) | (((high[l] >> (2 * e)) & 3) << 4)) - 32);
            }
            new Span<int>(lanes, GgmlLanes.Count).Clear();
            GgmlLanes.AddLanes16(q, scales, y->Qs, lanes);
            GgmlLanes.FusedMultiplyAdd(acc, d, lanes, GgmlLanes.Count);
        }
        return GgmlLanes.HorizontalSum8(acc);
    }

    /// <summary>Each 16-byte half of a 32-quant chunk feeds its own accumulator: the first ggml lanes 0-3, the second 4-7.</summary>
    public static float Dot128(byte* w, byte* x, int n)
    {
        if (!Ssse3.IsSupported) return DotScalar(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        var nibble = Vector128.Create((byte)0x0F);
        var twoBits = Vector128.Create((ushort)0x0303);
        var offset = Vector128.Create((byte)32);
        var accLow = Vector128<float>.Zero;
        var accHigh = Vector128<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ6_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);

            var sumLow = Vector128<int>.Zero;
            var sumHigh = Vector128<int>.Zero;
            for (int h = 0; h < 2; h++)
            for (int s = 0; s < 2; s++)
            {
                var low0 = Vector128.Load(b->Ql + 64 * h + 16 * s);
                var low1 = Vector128.Load(b->Ql + 64 * h + 32 + 16 * s);
                var high = Vector128.Load(b->Qh + 32 * h + 16 * s).AsUInt16();
                var sum = Vector128<int>.Zero;
                for (int e = 0; e < 4; e++)
                {
                    var bytes = e % 2 == 0 ? low0 : low1;
                    var lowBits = e < 2 ? bytes & nibble : (bytes.AsUInt16() >>> 4).AsByte() & nibble;
                    var highBits = (((high >>> (2 * e)) & twoBits) << 4).AsByte();
                    sum += KSimd.Scale(KSimd.MulAddOffset(lowBits | highBits, offset, Vector128.Load(y->Qs + 128 * h + 32 * e + 16 * s)),
                        Vector128.Create((short)b->Scales[8 * h + 2 * e + s]));
                }
                if (s == 0) sumLow += sum; else sumHigh += sum;
            }
            accLow = GgmlLanes.FusedMultiplyAdd(d, sumLow, accLow);
            accHigh = GgmlLanes.FusedMultiplyAdd(d, sumHigh, accHigh);
        }
        return GgmlLanes.HorizontalSum8(Vector256.Create(accLow, accHigh));
    }

    public static float Dot256(byte* w, byte* x, int n)
    {
        if (!Avx2.IsSupported) return Dot128(w, x, n);
        int blocks = KQuant.SuperBlocks(n, Name);
        var nibble = Vector256.Create((byte)0x0F);
        var twoBits = Vector256.Create((ushort)0x0303);
        var offset = Vector256.Create((byte)32);
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ6_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            var scales = Avx2.ConvertToVector256Int16(Vector128.Load(b->Scales));   // 16 × int16

            var sum = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var low0 = Vector256.Load(b->Ql + 64 * h);
                var low1 = Vector256.Load(b->Ql + 64 * h + 32);
                var high = Vector256.Load(b->Qh + 32 * h).AsUInt16();
                for (int e = 0; e < 4; e++)
                {
                    var bytes = e % 2 == 0 ? low0 : low1;
                    var lowBits = e < 2 ? bytes & nibble : (bytes.AsUInt16() >>> 4).AsByte() & nibble;
                    var highBits = (((high >>> (2 * e)) & twoBits) << 4).AsByte();
                    sum += KSimd.Scale(KSimd.MulAddOffset(lowBits | highBits, offset, Vector256.Load(y->Qs + 128 * h + 32 * e)),
                        KSimd.PairScales(scales, 4 * h + e));
                }
            }
            acc = GgmlLanes.FusedMultiplyAdd(d, sum, acc);
        }
        return GgmlLanes.HorizontalSum8(acc);
    }

    public static float Dot512(byte* w, byte* x, int n) =>
        Avx512BW.IsSupported ? Dot512Body(w, x, n) : Dot256(w, x, n);

    /// <summary>
    /// 64 low-bit bytes of a half h at a time: their low nibbles are weights 128h … 128h+63 (sub-blocks
    /// 8h … 8h+3, high bits 0-1 then 2-3 of qh), their high nibbles weights 128h+64 … (sub-blocks 8h+4 …,
    /// high bits 4-5 then 6-7); the halves fold into ggml's eight lanes.
    /// </summary>
    internal static float Dot512Body(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        var nibble = Vector512.Create((byte)0x0F);
        var twoBits = Vector512.Create((ushort)0x0303);
        var offset = Vector512.Create((byte)32);
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ6_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            var scales = Avx2.ConvertToVector256Int16(Vector128.Load(b->Scales));
            var scales32 = Vector512.Create(scales, Vector256<short>.Zero);

            var sum = Vector512<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var bytes = Vector512.Load(b->Ql + 64 * h);
                var high = Vector256.Load(b->Qh + 32 * h).AsUInt16();
                var highFirst = ((Vector512.Create(high, high >>> 2) & twoBits) << 4).AsByte();
                var highSecond = ((Vector512.Create(high >>> 4, high >>> 6) & twoBits) << 4).AsByte();
                short first = (short)(8 * h);
                sum += KSimd.Scale(KSimd.MulAddOffset((bytes & nibble) | highFirst, offset, Vector512.Load(y->Qs + 128 * h)),
                    KSimd.Permute(scales32, KSimd.SubBlockLanes(first, (short)(first + 1), (short)(first + 2), (short)(first + 3))));
                sum += KSimd.Scale(KSimd.MulAddOffset(((bytes.AsUInt16() >>> 4).AsByte() & nibble) | highSecond, offset, Vector512.Load(y->Qs + 128 * h + 64)),
                    KSimd.Permute(scales32, KSimd.SubBlockLanes((short)(first + 4), (short)(first + 5), (short)(first + 6), (short)(first + 7))));
            }
            acc = GgmlLanes.FusedMultiplyAdd(d, KSimd.FoldHalves(sum), acc);
        }
        return GgmlLanes.HorizontalSum8(acc);
    }
}
