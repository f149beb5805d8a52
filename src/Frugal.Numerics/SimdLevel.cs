using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Frugal.Numerics;

/// <summary>The widest vector path a kernel may take.</summary>
public enum SimdLevel
{
    Scalar = 0,
    V128 = 128,
    V256 = 256,
    V512 = 512,
}

/// <summary>
/// The one place that picks the instruction set. Chosen once at start-up from the hardware,
/// capped by the environment variable <c>FRUGAL_SIMD</c> (<c>scalar</c>, <c>128</c>, <c>256</c>, <c>512</c>)
/// so the test suite can be re-run with every path forced.
/// </summary>
public static class Simd
{
    public const string EnvironmentVariable = "FRUGAL_SIMD";

    /// <summary>The best level this machine supports.</summary>
    public static SimdLevel Hardware { get; } = DetectHardware();

    /// <summary>The level kernels use: the hardware level, capped by FRUGAL_SIMD.</summary>
    public static readonly SimdLevel Level = Cap(Hardware, Environment.GetEnvironmentVariable(EnvironmentVariable));

    /// <summary>True when 512-bit kernels run (AVX-512 F/BW present and not capped).</summary>
    public static bool Use512 => Level >= SimdLevel.V512;

    /// <summary>True when 256-bit kernels run (AVX2 + FMA present and not capped).</summary>
    public static bool Use256 => Level >= SimdLevel.V256;

    /// <summary>True when 128-bit kernels run.</summary>
    public static bool Use128 => Level >= SimdLevel.V128;

    public static SimdLevel Cap(SimdLevel hardware, string? setting)
    {
        if (string.IsNullOrWhiteSpace(setting)) return hardware;
        SimdLevel wanted = setting.Trim().ToLowerInvariant() switch
        {
            "scalar" or "0" or "none" => SimdLevel.Scalar,
            "128" or "v128" or "sse" => SimdLevel.V128,
            "256" or "v256" or "avx2" => SimdLevel.V256,
            "512" or "v512" or "avx512" => SimdLevel.V512,
            _ => throw new InvalidOperationException(
                $"{EnvironmentVariable}='{setting}' is not one of scalar, 128, 256, 512"),
        };
        return wanted < hardware ? wanted : hardware;
    }

    private static SimdLevel DetectHardware()
    {
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Avx512BW.IsSupported) return SimdLevel.V512;
        if (Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported) return SimdLevel.V256;
        if (Vector128.IsHardwareAccelerated) return SimdLevel.V128;
        return SimdLevel.Scalar;
    }

    public static string Describe() =>
        $"simd={Level} (hardware {Hardware}{(Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } s ? $", {EnvironmentVariable}={s}" : "")})";
}
