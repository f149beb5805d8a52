// Bit-level conversions between float and the two 16-bit float formats stored in GGUF files.
//
//   fp16 (IEEE binary16):  s eeeee mmmmmmmmmm        bias 15, used by F16 tensors and every block scale
//   bf16 (bfloat16):       s eeeeeeee mmmmmmm        the upper half of a float32, used by BF16 tensors
//
// Both are carried as raw ushort bits so block structs stay blittable. Narrowing rounds to nearest-even,
// as ggml does (F16C's _cvtss_sh / its bit-exact software fallback; ggml_compute_fp32_to_bf16).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Frugal.Quants.Float;

/// <summary>IEEE half-precision (fp16) bits ↔ float.</summary>
public static class Fp16Bits
{
    /// <summary>
    /// Exact fp16 → float, inlined: the runtime's (float)Half is an out-of-line call that showed as ~9% of a
    /// prefill profile (activation and weight block scales). Normal and inf/NaN halves are re-biased in the
    /// integer domain as <see cref="ToSingle(Vector256{uint})"/> does; subnormals are m · 2^-24, exact in float.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits)
    {
        uint sign = (uint)(bits & 0x8000) << 16, magnitude = bits & 0x7FFFu;
        if (magnitude >= 0x0400)
        {
            uint widened = (magnitude << 13) + Rebias;
            if (magnitude >= 0x7C00) widened += Rebias;            // inf / NaN: exponent all ones, payload kept
            if (magnitude > 0x7C00) widened |= 0x0040_0000u;       // NaN comes out quiet, as from the runtime and F16C
            return BitConverter.UInt32BitsToSingle(sign | widened);
        }
        return BitConverter.UInt32BitsToSingle(sign | BitConverter.SingleToUInt32Bits(magnitude * (1.0f / 16777216.0f)));
    }

    /// <summary>The runtime's conversion, the reference <see cref="ToSingle(ushort)"/> is tested against.</summary>
    public static float ToSingleReference(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>
    /// Round-to-nearest-even narrowing; overflow gives ±inf. Any NaN becomes 0x7E00 with its sign, as in ggml's
    /// software ggml_compute_fp32_to_fp16 (what ggml_fp32_to_fp16_row runs to make F16 activations); finite
    /// values and infinities match it (and F16C's _cvtss_sh) for every float bit pattern.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value) =>
        float.IsNaN(value)
            ? (ushort)((BitConverter.SingleToUInt32Bits(value) >> 16 & 0x8000) | 0x7E00)
            : BitConverter.HalfToUInt16Bits((Half)value);

    // Vector widening: each uint lane holds one fp16 pattern in its low 16 bits. The exponent is re-biased
    // in the integer domain; subnormal halves are renormalised with one float subtraction (exact), and
    // inf/NaN get the exponent pushed to all ones. Bit-exact with the scalar conversion for all 65,536 inputs.
    private const uint ExponentMask = 0x7C00u << 13;   // fp16 exponent field once shifted into float position
    private const uint Rebias = (127u - 15u) << 23;     // 112 << 23: float bias minus half bias
    private const uint SubnormalMagic = 113u << 23;     // 2^-14 as float bits

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToSingle(Vector128<uint> bits)
    {
        var magnitude = (bits & Vector128.Create(0x7FFFu)) << 13;
        var exponent = magnitude & Vector128.Create(ExponentMask);
        magnitude += Vector128.Create(Rebias);
        magnitude += Vector128.Equals(exponent, Vector128.Create(ExponentMask)) & Vector128.Create(Rebias);
        var subnormal = (magnitude + Vector128.Create(1u << 23)).AsSingle() - Vector128.Create(SubnormalMagic).AsSingle();
        var value = Vector128.ConditionalSelect(Vector128.Equals(exponent, Vector128<uint>.Zero).AsSingle(), subnormal, magnitude.AsSingle());
        return (value.AsUInt32() | ((bits & Vector128.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> bits)
    {
        var magnitude = (bits & Vector256.Create(0x7FFFu)) << 13;
        var exponent = magnitude & Vector256.Create(ExponentMask);
        magnitude += Vector256.Create(Rebias);
        magnitude += Vector256.Equals(exponent, Vector256.Create(ExponentMask)) & Vector256.Create(Rebias);
        var subnormal = (magnitude + Vector256.Create(1u << 23)).AsSingle() - Vector256.Create(SubnormalMagic).AsSingle();
        var value = Vector256.ConditionalSelect(Vector256.Equals(exponent, Vector256<uint>.Zero).AsSingle(), subnormal, magnitude.AsSingle());
        return (value.AsUInt32() | ((bits & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    /// <summary>
    /// Widening for halves known to be finite (exponent below all ones), each lane holding one half sign-extended to
    /// 32 bits: a shift by 13 puts sign, exponent and mantissa in float position (the sign's copies above it are
    /// masked off but bit 31), and one multiplication by 2^112 re-biases the exponent exactly, also for subnormal
    /// halves (they arrive as float subnormals m·2^-136). Three vector operations after the sign-extending load.
    /// For inf/NaN the result is wrong: callers check the magnitudes (below <see cref="NonFiniteMagnitude"/>) and
    /// take <see cref="ToSingle(Vector256{uint})"/> otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FiniteToSingle(Vector256<int> signExtended) =>
        ((signExtended << 13) & Vector256.Create(FinitePlacement)).AsSingle() * Vector256.Create(FiniteScale);

    /// <inheritdoc cref="FiniteToSingle(Vector256{int})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FiniteToSingle(Vector512<int> signExtended) =>
        ((signExtended << 13) & Vector512.Create(FinitePlacement)).AsSingle() * Vector512.Create(FiniteScale);

    /// <summary>Bit 31 (the sign) and bits 27…13 (exponent and mantissa) of a half shifted into float position.</summary>
    private const int FinitePlacement = unchecked((int)0x8FFF_E000u);

    /// <summary>2^112 (float bias minus half bias), the factor of <see cref="FiniteToSingle"/>.</summary>
    private const float FiniteScale = 5.192296858534828e33f;

    /// <summary>Lowest magnitude bits (|half| as ushort) that are not finite: inf, then NaN.</summary>
    public const ushort NonFiniteMagnitude = 0x7C00;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector512<uint> bits)
    {
        var magnitude = (bits & Vector512.Create(0x7FFFu)) << 13;
        var exponent = magnitude & Vector512.Create(ExponentMask);
        magnitude += Vector512.Create(Rebias);
        magnitude += Vector512.Equals(exponent, Vector512.Create(ExponentMask)) & Vector512.Create(Rebias);
        var subnormal = (magnitude + Vector512.Create(1u << 23)).AsSingle() - Vector512.Create(SubnormalMagic).AsSingle();
        var value = Vector512.ConditionalSelect(Vector512.Equals(exponent, Vector512<uint>.Zero).AsSingle(), subnormal, magnitude.AsSingle());
        return (value.AsUInt32() | ((bits & Vector512.Create(0x8000u)) << 16)).AsSingle();
    }
}

/// <summary>bfloat16 bits ↔ float.</summary>
public static class Bf16Bits
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>
    /// ggml's narrowing: round to nearest-even on the dropped 16 bits; NaN is kept NaN by forcing the quiet bit
    /// (plain rounding could carry a signalling NaN's payload into the exponent and make it infinity).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToSingle(Vector128<uint> bits) => (bits << 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> bits) => (bits << 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector512<uint> bits) => (bits << 16).AsSingle();
}
