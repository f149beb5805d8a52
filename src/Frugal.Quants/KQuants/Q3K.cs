using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Numerics;

namespace Frugal.Quants.KQuants;

/// <summary>
/// Q3_K weights (<see cref="BlockQ3_K"/>) dotted with Q8_K activations. Every level returns exactly the float bits of
/// ggml-cpu's AVX2 ggml_vec_dot_q3_K_q8_K (see <see cref="GgmlLanes"/>). The vector levels multiply the unsigned
/// q = low2 | hbit·4 and subtract 4·y in the same int16 lanes (as ggml does), so every int32 lane holds exactly
/// Σ (scale − 32)·(q − 4)·y over its elements.
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

    /// <summary>
    /// llama.cpp's quantize_row_q3_K_ref: a symmetric x²-weighted fit per sub-block of 16, the 16 scales
    /// quantized to 6 bits against the one of largest magnitude, then every weight re-rounded to −4..3.
    /// </summary>
    public static void QuantizeReference(float* src, byte* dst, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        sbyte* levels = stackalloc sbyte[KQuant.SuperBlock];
        float* scales = stackalloc float[16];

        for (int i = 0; i < blocks; i++)
        {
            float* x = src + i * KQuant.SuperBlock;
            var y = (BlockQ3_K*)dst + i;

            float maxScale = 0, amax = 0;
            for (int j = 0; j < 16; j++)
            {
                scales[j] = KQuantFitting.MakeQ3Quants(16, 4, x + 16 * j, levels + 16 * j, true);
                float scale = MathF.Abs(scales[j]);
                if (scale > amax) { amax = scale; maxScale = scales[j]; }
            }

            for (int j = 0; j < 12; j++) y->Scales[j] = 0;
            if (maxScale != 0)
            {
                float iscale = -32f / maxScale;
                for (int j = 0; j < 16; j++)
                {
                    int l = Math.Clamp((int)(sbyte)KQuant.NearestInt(iscale * scales[j]), -32, 31) + 32;   // six bits
                    if (j < 8) y->Scales[j] = (byte)(l & 0xF);
                    else y->Scales[j - 8] |= (byte)((l & 0xF) << 4);
                    y->Scales[8 + j % 4] |= (byte)((l >> 4) << (2 * (j / 4)));
                }
                y->D = KQuant.FloatToHalf(1 / iscale);
            }
            else
            {
                y->D = KQuant.FloatToHalf(0f);
            }

            for (int j = 0; j < 16; j++)
            {
                float d = KQuant.HalfToFloat(y->D) * (KQuant.Q3Scale(j, y->Scales) - 32);
                if (d == 0) continue;
                for (int l = 0; l < 16; l++)
                    levels[16 * j + l] = (sbyte)(Math.Clamp(KQuant.NearestInt(x[16 * j + l] / d), -4, 3) + 4);
            }

            // The third bit of weight j goes to bit j / 32 of hmask[j % 32]; the low two bits stay in levels.
            for (int j = 0; j < 32; j++) y->HMask[j] = 0;
            for (int j = 0; j < KQuant.SuperBlock; j++)
            {
                if (levels[j] > 3)
                {
                    y->HMask[j % 32] |= (byte)(1 << (j / 32));
                    levels[j] -= 4;
                }
            }
            for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++)
            {
                byte* L = (byte*)levels + 128 * h + l;   // all levels are non-negative by now
                y->Qs[32 * h + l] = (byte)(L[0] | (L[32] << 2) | (L[64] << 4) | (L[96] << 6));
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
        byte* packedScales = stackalloc byte[16];
        int* scales = stackalloc int[16];                  // scale − 32 of each 16-quant sub-block
        sbyte* q = stackalloc sbyte[KQuant.SuperBlock];   // q − 4 (−4..3) in element order
        int* lanes = stackalloc int[GgmlLanes.Count];
        float* acc = stackalloc float[GgmlLanes.Count];
        new Span<float>(acc, GgmlLanes.Count).Clear();
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ3_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);

            KQuant.UnpackQ3Scales(b->Scales, packedScales);
            for (int j = 0; j < 16; j++) scales[j] = packedScales[j] - 32;
            for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
            {
                int bit = 1 << (4 * h + k);
                for (int l = 0; l < 32; l++)
                    q[128 * h + 32 * k + l] = (sbyte)(((b->Qs[32 * h + l] >> (2 * k)) & 3) - ((b->HMask[l] & bit) != 0 ? 0 : 4));
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
        byte* scales = stackalloc byte[16];
        var twoBits = Vector128.Create((byte)3);
        var four = Vector128.Create((byte)4);
        var accLow = Vector128<float>.Zero;
        var accHigh = Vector128<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ3_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            KQuant.UnpackQ3Scales(b->Scales, scales);

            var sumLow = Vector128<int>.Zero;
            var sumHigh = Vector128<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var bytesLow = Vector128.Load(b->Qs + 32 * h).AsUInt16();
                var bytesHigh = Vector128.Load(b->Qs + 32 * h + 16).AsUInt16();
                var hbitsLow = Vector128.Load(b->HMask);
                var hbitsHigh = Vector128.Load(b->HMask + 16);
                for (int k = 0; k < 4; k++)
                {
                    var bit = Vector128.Create((byte)(1 << (4 * h + k)));
                    sbyte* a = y->Qs + 128 * h + 32 * k;
                    var qLow = ((bytesLow >>> (2 * k)).AsByte() & twoBits) | (Vector128.Equals(hbitsLow & bit, bit) & four);
                    var qHigh = ((bytesHigh >>> (2 * k)).AsByte() & twoBits) | (Vector128.Equals(hbitsHigh & bit, bit) & four);
                    sumLow += KSimd.Scale(KSimd.MulAddOffset(qLow, four, Vector128.Load(a)),
                        Vector128.Create((short)(scales[8 * h + 2 * k] - 32)));
                    sumHigh += KSimd.Scale(KSimd.MulAddOffset(qHigh, four, Vector128.Load(a + 16)),
                        Vector128.Create((short)(scales[8 * h + 2 * k + 1] - 32)));
                }
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
        byte* packedScales = stackalloc byte[16];
        var twoBits = Vector256.Create((byte)3);
        var four = Vector256.Create((byte)4);
        var bias = Vector256.Create((short)32);
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ3_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            KQuant.UnpackQ3Scales(b->Scales, packedScales);
            var scales = Avx2.ConvertToVector256Int16(Vector128.Load(packedScales)) - bias;   // 16 × int16, −32..31

            var high = Vector256.Load(b->HMask);
            var sum = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var bytes = Vector256.Load(b->Qs + 32 * h).AsUInt16();
                for (int k = 0; k < 4; k++)
                {
                    var bit = Vector256.Create((byte)(1 << (4 * h + k)));
                    var q = ((bytes >>> (2 * k)).AsByte() & twoBits) | (Vector256.Equals(high & bit, bit) & four);
                    sum += KSimd.Scale(KSimd.MulAddOffset(q, four, Vector256.Load(y->Qs + 128 * h + 32 * k)),
                        KSimd.PairScales(scales, 4 * h + k));
                }
            }
            acc = GgmlLanes.FusedMultiplyAdd(d, sum, acc);
        }
        return GgmlLanes.HorizontalSum8(acc);
    }

    public static float Dot512(byte* w, byte* x, int n) =>
        Avx512BW.IsSupported ? Dot512Body(w, x, n) : Dot256(w, x, n);

    /// <summary>
    /// All 64 quant bytes at once: bit pair k gives weights 32k … 32k+31 (low half, high bit k of hmask,
    /// sub-blocks 2k, 2k+1) and 128 + 32k … (high half, high bit 4+k, sub-blocks 8+2k, 9+2k); the halves fold
    /// into ggml's eight lanes.
    /// </summary>
    internal static float Dot512Body(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* packedScales = stackalloc byte[16];
        var twoBits = Vector512.Create((byte)3);
        var four = Vector512.Create((byte)4);
        var bias = Vector256.Create((short)32);
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ3_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            KQuant.UnpackQ3Scales(b->Scales, packedScales);
            var scales = Avx2.ConvertToVector256Int16(Vector128.Load(packedScales)) - bias;
            var scales32 = Vector512.Create(scales, Vector256<short>.Zero);

            var bytes = Vector512.Load(b->Qs).AsUInt16();
            var high = KSimd.Twice(Vector256.Load(b->HMask));
            var sum = Vector512<int>.Zero;
            for (int k = 0; k < 4; k++)
            {
                var bit = Vector512.Create(Vector256.Create((byte)(1 << k)), Vector256.Create((byte)(1 << (4 + k))));
                var q = ((bytes >>> (2 * k)).AsByte() & twoBits) | (Vector512.Equals(high & bit, bit) & four);
                var a = Vector512.Create(Vector256.Load(y->Qs + 32 * k), Vector256.Load(y->Qs + 128 + 32 * k));
                var lanes = KSimd.SubBlockLanes((short)(2 * k), (short)(2 * k + 1), (short)(8 + 2 * k), (short)(9 + 2 * k));
                sum += KSimd.Scale(KSimd.MulAddOffset(q, four, a), KSimd.Permute(scales32, lanes));
            }
            acc = GgmlLanes.FusedMultiplyAdd(d, KSimd.FoldHalves(sum), acc);
        }
        return GgmlLanes.HorizontalSum8(acc);
    }
}
