using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Frugal.Quants.KQuants;

/// <summary>
/// The integer multiply-add steps every K-quant dot is built from: unsigned quants × signed Q8_K quants
/// summed in adjacent pairs to int16 (pmaddubsw), then × a per-lane int16 scale summed in pairs to int32
/// (pmaddwd). Quants are at most 63 and Q8_K quants at most 128 in size, so no int16 step saturates.
/// </summary>
internal static class KSimd
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> MulAdd(Vector128<byte> quants, Vector128<sbyte> activations, Vector128<short> scales) =>
        Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(quants, activations), scales);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MulAdd(Vector256<byte> quants, Vector256<sbyte> activations, Vector256<short> scales) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(quants, activations), scales);

    /// <summary>
    /// For 32 quants made of the 16-quant sub-blocks 2p and 2p + 1: int16 lanes 0-7 (the pair sums of the first
    /// 16 quants) get scales16[2p], lanes 8-15 get scales16[2p + 1].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> PairScales(Vector256<short> scales16, int p)
    {
        var pair = Avx2.PermuteVar8x32(scales16.AsInt32(), Vector256.Create(p)); // every int32 lane = (s[2p], s[2p+1])
        var spread = Vector256.Create(
            (byte)0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,   // low 128 bits ← s[2p]
            2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);        // high 128 bits ← s[2p+1]
        return Avx2.Shuffle(pair.AsByte(), spread).AsInt16();
    }

    /// <summary>
    /// pmaddubsw(quants, activations) − pmaddubsw(offset, activations): the int16 pair sums of (q − offset)·y for
    /// quants stored with a positive bias (Q3_K: 4, Q6_K: 32), as ggml subtracts them lane by lane. Both terms and
    /// their difference stay within int16 (|q·y| ≤ 63·127 per element).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<short> MulAddOffset(Vector128<byte> quants, Vector128<byte> offset, Vector128<sbyte> activations) =>
        Ssse3.MultiplyAddAdjacent(quants, activations) - Ssse3.MultiplyAddAdjacent(offset, activations);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> MulAddOffset(Vector256<byte> quants, Vector256<byte> offset, Vector256<sbyte> activations) =>
        Avx2.MultiplyAddAdjacent(quants, activations) - Avx2.MultiplyAddAdjacent(offset, activations);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<short> MulAddOffset(Vector512<byte> quants, Vector512<byte> offset, Vector512<sbyte> activations)
    {
        if (Avx512BW.IsSupported)
            return Avx512BW.MultiplyAddAdjacent(quants, activations) - Avx512BW.MultiplyAddAdjacent(offset, activations);
        return Vector512.Create(
            MulAddOffset(quants.GetLower(), offset.GetLower(), activations.GetLower()),
            MulAddOffset(quants.GetUpper(), offset.GetUpper(), activations.GetUpper()));
    }

    /// <summary>int16 pair sums × int16 scales, summed in pairs to int32 (pmaddwd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Scale(Vector128<short> pairSums, Vector128<short> scales) => Sse2.MultiplyAddAdjacent(pairSums, scales);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Scale(Vector256<short> pairSums, Vector256<short> scales) => Avx2.MultiplyAddAdjacent(pairSums, scales);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Scale(Vector512<short> pairSums, Vector512<short> scales)
    {
        if (Avx512BW.IsSupported) return Avx512BW.MultiplyAddAdjacent(pairSums, scales);
        return Vector512.Create(Scale(pairSums.GetLower(), scales.GetLower()), Scale(pairSums.GetUpper(), scales.GetUpper()));
    }

    /// <summary>
    /// The eight ggml lanes of a 512-bit integer accumulator whose two 256-bit halves each took whole 32-quant
    /// chunks: int32 lanes l and 8 + l both hold elements 4l … 4l + 3 of their chunks, so they add up (exactly).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> FoldHalves(Vector512<int> lanes) => lanes.GetLower() + lanes.GetUpper();

    // The 512-bit steps run on AVX-512BW; elsewhere they are composed from two AVX2 halves so the tests can
    // check the 512-bit kernels' data movement on machines without AVX-512 (production never takes that
    // branch: the public Dot512 falls back to Dot256 instead). The 512-bit kernel bodies prepare their
    // per-block scales with AVX2, which every AVX-512 machine has.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> MulAdd(Vector512<byte> quants, Vector512<sbyte> activations, Vector512<short> scales)
    {
        if (Avx512BW.IsSupported)
            return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(quants, activations), scales);
        return Vector512.Create(
            MulAdd(quants.GetLower(), activations.GetLower(), scales.GetLower()),
            MulAdd(quants.GetUpper(), activations.GetUpper(), scales.GetUpper()));
    }

    /// <summary>result[i] = values[indices[i]] for indices in 0..31.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<short> Permute(Vector512<short> values, Vector512<short> indices) =>
        Avx512BW.IsSupported ? Avx512BW.PermuteVar32x16(values, indices) : Vector512.Shuffle(values, indices);

    /// <summary>
    /// The int16 lane → sub-block map for 64 quants made of four 16-quant sub-blocks a, b, c, d
    /// (lanes 0-7 ← a, 8-15 ← b, 16-23 ← c, 24-31 ← d), to pick scales with <see cref="Permute"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<short> SubBlockLanes(short a, short b, short c, short d) =>
        Vector512.Create(
            Vector256.Create(Vector128.Create(a), Vector128.Create(b)),
            Vector256.Create(Vector128.Create(c), Vector128.Create(d)));

    /// <summary>The same 256 bits in both halves of a 512-bit vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Twice<T>(Vector256<T> half) => Vector512.Create(half, half);
}
