using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Numerics;

namespace Frugal.Quants.KQuants;

/// <summary>
/// Q2_K weights (<see cref="BlockQ2_K"/>) dotted with Q8_K activations. Every level returns exactly the float bits of
/// ggml-cpu's AVX2 ggml_vec_dot_q2_K_q8_K: the same integer lanes, the same FMAs in the same order, the same final
/// horizontal sum (see <see cref="GgmlLanes"/>).
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

    /// <summary>
    /// llama.cpp's quantize_row_q2_K_ref (no importance matrix): a weighted asymmetric fit per sub-block of 16,
    /// the 16 scales and 16 mins quantized to 4 bits against their maxima, then every weight re-rounded
    /// against the quantized scale and min.
    /// </summary>
    public static void QuantizeReference(float* src, byte* dst, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        byte* levels = stackalloc byte[KQuant.SuperBlock];
        byte* scratch = stackalloc byte[16];
        float* weights = stackalloc float[16];
        float* mins = stackalloc float[16];
        float* scales = stackalloc float[16];
        const float q4scale = 15f;

        for (int i = 0; i < blocks; i++)
        {
            float* x = src + i * KQuant.SuperBlock;
            var y = (BlockQ2_K*)dst + i;

            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 16; j++)
            {
                for (int l = 0; l < 16; l++) weights[l] = MathF.Abs(x[16 * j + l]);
                scales[j] = KQuantFitting.MakeQkx2Quants(16, 3, x + 16 * j, weights, levels + 16 * j, out mins[j], scratch, -0.5f, 0.1f, 15, true);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }

            if (maxScale > 0)
            {
                float iscale = q4scale / maxScale;
                for (int j = 0; j < 16; j++) y->Scales[j] = (byte)KQuant.NearestInt(iscale * scales[j]);
                y->D = KQuant.FloatToHalf(maxScale / q4scale);
            }
            else
            {
                for (int j = 0; j < 16; j++) y->Scales[j] = 0;
                y->D = KQuant.FloatToHalf(0f);
            }
            if (maxMin > 0)
            {
                float iscale = q4scale / maxMin;
                for (int j = 0; j < 16; j++) y->Scales[j] |= (byte)(KQuant.NearestInt(iscale * mins[j]) << 4);
                y->DMin = KQuant.FloatToHalf(maxMin / q4scale);
            }
            else
            {
                y->DMin = KQuant.FloatToHalf(0f);
            }

            for (int j = 0; j < 16; j++)
            {
                float d = KQuant.HalfToFloat(y->D) * (y->Scales[j] & 0xF);
                if (d == 0) continue;
                float dm = KQuant.HalfToFloat(y->DMin) * (y->Scales[j] >> 4);
                for (int l = 0; l < 16; l++)
                    levels[16 * j + l] = (byte)Math.Clamp(KQuant.NearestInt((x[16 * j + l] + dm) / d), 0, 3);
            }

            for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++)
            {
                byte* L = levels + 128 * h + l;
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

    /// <summary>
    /// Canonical kernel, mirroring ggml_vec_dot_q2_K_q8_K's AVX2 branch: per super-block, the min term
    /// acc[l] = fma(dmin, Σ min·bsum over bsums 2l, 2l+1, acc[l]) first, then acc[l] = fma(d, lane[l], acc[l]) with
    /// the integer lanes of <see cref="GgmlLanes"/>; hsum_float_8 at the end.
    /// </summary>
    public static float DotScalar(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        sbyte* q = stackalloc sbyte[KQuant.SuperBlock];   // quants 0..3 in element order
        int* scales = stackalloc int[16];                  // 4-bit scale of each 16-quant sub-block
        int* lanes = stackalloc int[GgmlLanes.Count];
        int* minLanes = stackalloc int[GgmlLanes.Count];
        float* acc = stackalloc float[GgmlLanes.Count];
        new Span<float>(acc, GgmlLanes.Count).Clear();
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ2_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);

            for (int l = 0; l < GgmlLanes.Count; l++)
                minLanes[l] = (b->Scales[2 * l] >> 4) * y->BSums[2 * l] + (b->Scales[2 * l + 1] >> 4) * y->BSums[2 * l + 1];
            GgmlLanes.FusedMultiplyAdd(acc, dmin, minLanes, GgmlLanes.Count);

            for (int j = 0; j < 16; j++) scales[j] = b->Scales[j] & 0xF;
            for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++)
                q[128 * h + 32 * k + l] = (sbyte)((b->Qs[32 * h + l] >> (2 * k)) & 3);
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
        var twoBits = Vector128.Create((byte)3);
        var nibble = Vector128.Create((byte)0x0F);
        var accLow = Vector128<float>.Zero;
        var accHigh = Vector128<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ2_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);

            var mins = (Vector128.Load(b->Scales).AsUInt16() >>> 4).AsByte() & nibble;
            accLow = GgmlLanes.FusedMultiplyAdd(dmin,
                Sse2.MultiplyAddAdjacent(Vector128.Load(y->BSums), Sse2.UnpackLow(mins, Vector128<byte>.Zero).AsInt16()), accLow);
            accHigh = GgmlLanes.FusedMultiplyAdd(dmin,
                Sse2.MultiplyAddAdjacent(Vector128.Load(y->BSums + 8), Sse2.UnpackHigh(mins, Vector128<byte>.Zero).AsInt16()), accHigh);

            var sumLow = Vector128<int>.Zero;
            var sumHigh = Vector128<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var bytesLow = Vector128.Load(b->Qs + 32 * h).AsUInt16();
                var bytesHigh = Vector128.Load(b->Qs + 32 * h + 16).AsUInt16();
                for (int k = 0; k < 4; k++)
                {
                    sbyte* a = y->Qs + 128 * h + 32 * k;
                    sumLow += KSimd.MulAdd((bytesLow >>> (2 * k)).AsByte() & twoBits, Vector128.Load(a),
                        Vector128.Create((short)(b->Scales[8 * h + 2 * k] & 0xF)));
                    sumHigh += KSimd.MulAdd((bytesHigh >>> (2 * k)).AsByte() & twoBits, Vector128.Load(a + 16),
                        Vector128.Create((short)(b->Scales[8 * h + 2 * k + 1] & 0xF)));
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
        var twoBits = Vector256.Create((byte)3);
        var nibble = Vector128.Create((byte)0x0F);
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ2_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);

            var packed = Vector128.Load(b->Scales);
            var scales = Avx2.ConvertToVector256Int16(packed & nibble);                             // 16 × int16
            var mins = Avx2.ConvertToVector256Int16((packed.AsUInt16() >>> 4).AsByte() & nibble);
            acc = GgmlLanes.FusedMultiplyAdd(dmin, Avx2.MultiplyAddAdjacent(mins, Vector256.Load(y->BSums)), acc);

            var sum = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var bytes = Vector256.Load(b->Qs + 32 * h).AsUInt16();
                for (int k = 0; k < 4; k++)
                {
                    var q = (bytes >>> (2 * k)).AsByte() & twoBits;   // weights 128h + 32k … +31: sub-blocks 8h+2k, 8h+2k+1
                    sum += KSimd.MulAdd(q, Vector256.Load(y->Qs + 128 * h + 32 * k), KSimd.PairScales(scales, 4 * h + k));
                }
            }
            acc = GgmlLanes.FusedMultiplyAdd(d, sum, acc);
        }
        return GgmlLanes.HorizontalSum8(acc);
    }

    public static float Dot512(byte* w, byte* x, int n) =>
        Avx512BW.IsSupported ? Dot512Body(w, x, n) : Dot256(w, x, n);

    /// <summary>
    /// All 64 quant bytes at once: bit pair k gives weights 32k … 32k+31 (low half, sub-blocks 2k, 2k+1) and
    /// 128 + 32k … (high half, sub-blocks 8+2k, 9+2k); the halves fold into ggml's eight lanes.
    /// </summary>
    internal static float Dot512Body(byte* w, byte* x, int n)
    {
        int blocks = KQuant.SuperBlocks(n, Name);
        var twoBits = Vector512.Create((byte)3);
        var nibble = Vector128.Create((byte)0x0F);
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            var b = (BlockQ2_K*)w + i;
            var y = (BlockQ8_K*)x + i;
            float d = y->D * KQuant.HalfToFloat(b->D);
            float dmin = -y->D * KQuant.HalfToFloat(b->DMin);

            var packed = Vector128.Load(b->Scales);
            var scales = Avx2.ConvertToVector256Int16(packed & nibble);
            var mins = Avx2.ConvertToVector256Int16((packed.AsUInt16() >>> 4).AsByte() & nibble);
            acc = GgmlLanes.FusedMultiplyAdd(dmin, Avx2.MultiplyAddAdjacent(mins, Vector256.Load(y->BSums)), acc);
            var scales32 = Vector512.Create(scales, Vector256<short>.Zero);

            var bytes = Vector512.Load(b->Qs).AsUInt16();
            var sum = Vector512<int>.Zero;
            for (int k = 0; k < 4; k++)
            {
                var q = (bytes >>> (2 * k)).AsByte() & twoBits;
                var a = Vector512.Create(Vector256.Load(y->Qs + 32 * k), Vector256.Load(y->Qs + 128 + 32 * k));
                var lanes = KSimd.SubBlockLanes((short)(2 * k), (short)(2 * k + 1), (short)(8 + 2 * k), (short)(9 + 2 * k));
                sum += KSimd.MulAdd(q, a, KSimd.Permute(scales32, lanes));
            }
            acc = GgmlLanes.FusedMultiplyAdd(d, KSimd.FoldHalves(sum), acc);
        }
        return GgmlLanes.HorizontalSum8(acc);
    }
}
