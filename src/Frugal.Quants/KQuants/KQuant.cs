using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Frugal.Quants.Float;

namespace Frugal.Quants.KQuants;

/// <summary>Helpers shared by the K-quant kernels: geometry checks, fp16, rounding and scale unpacking.</summary>
internal static unsafe class KQuant
{
    /// <summary>Weights per super-block (ggml's QK_K).</summary>
    public const int SuperBlock = 256;

    /// <summary>Number of super-blocks in n elements; throws when n is not a whole number of them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SuperBlocks(int n, string typeName)
    {
        if (n < 0 || n % SuperBlock != 0) ThrowBadLength(n, typeName);
        return n / SuperBlock;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowBadLength(int n, string typeName) =>
        throw new ArgumentException(
            $"{typeName}: {n} elements is not a whole number of {SuperBlock}-element super-blocks", nameof(n));

    /// <summary>fp16 → float, inlined (the runtime's (float)Half is an out-of-line call; see <see cref="Fp16Bits.ToSingle(ushort)"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfToFloat(ushort bits) => Fp16Bits.ToSingle(bits);

    /// <summary>Round to nearest even half float, as GGML_FP32_TO_FP16 does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FloatToHalf(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>
    /// ggml's nearest_int: adding 1.5·2²³ leaves the value rounded (ties to even) in the low mantissa bits.
    /// Valid for |value| ≤ 4194303, which every caller guarantees.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float value)
    {
        float shifted = value + 12582912f;
        return (BitConverter.SingleToInt32Bits(shifted) & 0x007fffff) - 0x00400000;
    }

    /// <summary>
    /// Scale and min of sub-block j (0..7) from the 12 packed bytes of Q4_K / Q5_K: the plain
    /// per-index rule (ggml's get_scale_min_k4), used by the reference dequantizers.
    /// </summary>
    public static void ScaleMinK4(int j, byte* packed, out byte scale, out byte min)
    {
        if (j < 4)
        {
            scale = (byte)(packed[j] & 63);
            min = (byte)(packed[j + 4] & 63);
        }
        else
        {
            scale = (byte)((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4));
            min = (byte)((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
        }
    }

    /// <summary>
    /// All 8 scales then all 8 mins of a Q4_K / Q5_K super-block into <paramref name="scalesThenMins"/> (16 bytes),
    /// with four 32-bit mask-and-shift steps instead of 16 per-index look-ups (the dot kernels use this).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void UnpackScalesMinsK4(byte* packed, byte* scalesThenMins)
    {
        const uint low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
        uint a0 = Unsafe.ReadUnaligned<uint>(packed);
        uint a1 = Unsafe.ReadUnaligned<uint>(packed + 4);
        uint a2 = Unsafe.ReadUnaligned<uint>(packed + 8);
        uint* o = (uint*)scalesThenMins;
        o[0] = a0 & low6;                                            // scales 0-3
        o[1] = (a2 & low4) | (((a0 >> 6) & low2) << 4);              // scales 4-7
        o[2] = a1 & low6;                                            // mins 0-3
        o[3] = ((a2 >> 4) & low4) | (((a1 >> 6) & low2) << 4);       // mins 4-7
    }

    /// <summary>Six-bit scale (0..63, still biased by 32) of Q3_K sub-block j (0..15): the plain per-index rule.</summary>
    public static byte Q3Scale(int j, byte* packed)
    {
        int low4 = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
        int high2 = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        return (byte)(low4 | (high2 << 4));
    }

    /// <summary>
    /// All 16 six-bit Q3_K scales (0..63, still biased by 32) into <paramref name="scales"/> (16 bytes),
    /// four 32-bit mask-and-shift steps instead of 16 per-index look-ups (the dot kernels use this).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void UnpackQ3Scales(byte* packed, byte* scales)
    {
        const uint low4 = 0x0f0f0f0f, low2 = 0x03030303;
        uint a0 = Unsafe.ReadUnaligned<uint>(packed);
        uint a1 = Unsafe.ReadUnaligned<uint>(packed + 4);
        uint high = Unsafe.ReadUnaligned<uint>(packed + 8);
        uint* o = (uint*)scales;
        o[0] = (a0 & low4) | (((high >> 0) & low2) << 4);          // scales 0-3
        o[1] = (a1 & low4) | (((high >> 2) & low2) << 4);          // scales 4-7
        o[2] = ((a0 >> 4) & low4) | (((high >> 4) & low2) << 4);   // scales 8-11
        o[3] = ((a1 >> 4) & low4) | (((high >> 6) & low2) << 4);   // scales 12-15
    }

    /// <summary>
    /// The four int32 lanes of ggml's Q4_K min term: lane m = Σ bsums[j]·mins[j/2] over j = 4m … 4m+3 (ggml adds
    /// bsum pairs with phaddw, then pmaddwd with the mins). Needs SSSE3.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> PairedMinLanes(short* bsums, byte* mins)
    {
        var m = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(mins)).AsByte();
        var paired = Sse2.UnpackLow(m, m);                                // m0 m0 m1 m1 … m7 m7
        var low = Sse2.UnpackLow(paired, Vector128<byte>.Zero).AsInt16(); // widen to int16
        var high = Sse2.UnpackHigh(paired, Vector128<byte>.Zero).AsInt16();
        return Ssse3.HorizontalAdd(Sse2.MultiplyAddAdjacent(Vector128.Load(bsums), low),
                                   Sse2.MultiplyAddAdjacent(Vector128.Load(bsums + 8), high));
    }

    /// <summary>Σ bsums[j]·mins[j/2] over the 16 bsums of a Q8_K block (the min term of Q4_K / Q5_K).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int BSumsTimesPairedMins(short* bsums, byte* mins)
    {
        if (Sse2.IsSupported)
        {
            var m = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(mins)).AsByte();
            var paired = Sse2.UnpackLow(m, m);                                // m0 m0 m1 m1 … m7 m7
            var low = Sse2.UnpackLow(paired, Vector128<byte>.Zero).AsInt16(); // widen to int16
            var high = Sse2.UnpackHigh(paired, Vector128<byte>.Zero).AsInt16();
            return Vector128.Sum(Sse2.MultiplyAddAdjacent(Vector128.Load(bsums), low)
                               + Sse2.MultiplyAddAdjacent(Vector128.Load(bsums + 8), high));
        }
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += bsums[j] * mins[j / 2];
        return sum;
    }
}
