using Frugal.Numerics;
using Frugal.Quants.Block32;
using static Frugal.Quants.Tests.Block32.KernelTestSupport;

namespace Frugal.Quants.Tests.Block32;

/// <summary>
/// Bit-exactness with llama.cpp: every block dot, at every SIMD level, must return exactly the float that
/// ggml-cpu's AVX2 vec_dot (build 4748) returned on the same rows, and the activation quantizer and the
/// dequantizer must produce exactly ggml's bytes. See GgmlTestRows.cs for how the rows are made.
/// </summary>
public unsafe class GgmlBlockGoldenTests
{
    /// <summary>
    /// (type, n, seed, ggml vec_dot result bits, FNV-1a of ggml's activation row (Q8_0/Q8_1 from_float),
    /// FNV-1a of ggml's to_float of the weight row), from ggml-cpu build 4748's AVX2 kernels:
    /// ggml_vec_dot_q4_0_q8_0, _q4_1_q8_1, _q5_0_q8_0, _q5_1_q8_1, _q8_0_q8_0.
    /// </summary>
    public static TheoryData<GgmlType, int, ulong, uint, uint, uint> GgmlVectors => new()
    {
        { GgmlType.Q4_0, 32, 0x9E3779B9912C2299UL, 0x3F052461u, 0x76F658B5u, 0xE99B78CAu },
        { GgmlType.Q4_0, 64, 0x9E3779B9913B64DCUL, 0x3D93792Eu, 0xE01C3AE8u, 0x071B80DDu },
        { GgmlType.Q4_0, 96, 0x9E3779B9914AA71FUL, 0x3DD4176Eu, 0x64B42927u, 0xC6718D5Cu },
        { GgmlType.Q4_0, 256, 0x9E3779B99159E962UL, 0xBF8B91EBu, 0xA8B66DF6u, 0x883250AAu },
        { GgmlType.Q4_0, 288, 0x9E3779B991692BA5UL, 0xBF8CB470u, 0xC3F96B86u, 0x2C032C43u },
        { GgmlType.Q4_0, 2048, 0x9E3779B991786DE8UL, 0xC198784Eu, 0x08FF42CFu, 0x03D22569u },
        { GgmlType.Q4_1, 32, 0x9E3779B9972204C5UL, 0xC059AD5Eu, 0xDE6BF02Eu, 0xB26A3DDEu },
        { GgmlType.Q4_1, 64, 0x9E3779B997314708UL, 0x3DDDA856u, 0xD338CCA5u, 0x835E9E14u },
        { GgmlType.Q4_1, 96, 0x9E3779B99740894BUL, 0x3E5ADB03u, 0x903CBBA4u, 0xAE3B38B7u },
        { GgmlType.Q4_1, 256, 0x9E3779B9974FCB8EUL, 0xBF6627F3u, 0x3F8DAB4Fu, 0x039F3FAAu },
        { GgmlType.Q4_1, 288, 0x9E3779B9975F0DD1UL, 0xC0792A6Au, 0x80C25851u, 0x9DFF4E22u },
        { GgmlType.Q4_1, 2048, 0x9E3779B9976E5014UL, 0x40F026AEu, 0x69DC2620u, 0xDA28B1FBu },
        { GgmlType.Q5_0, 32, 0x9E3779B99D17E6F1UL, 0x4051F7ECu, 0x62B4CD28u, 0x23D45C38u },
        { GgmlType.Q5_0, 64, 0x9E3779B99D272934UL, 0xBEFA24DAu, 0x272348A8u, 0x30224478u },
        { GgmlType.Q5_0, 96, 0x9E3779B99D366B77UL, 0xC018A1A6u, 0x6287F54Eu, 0xA0BBA327u },
        { GgmlType.Q5_0, 256, 0x9E3779B99D45ADBAUL, 0x3FC58186u, 0xA325CB4Du, 0x85B2EC29u },
        { GgmlType.Q5_0, 288, 0x9E3779B99D54EFFDUL, 0x3FFC2EA6u, 0xB75D6473u, 0x8CBC6643u },
        { GgmlType.Q5_0, 2048, 0x9E3779B99D643240UL, 0x41DE3B50u, 0xB5416E15u, 0xAB6A34B7u },
        { GgmlType.Q5_1, 32, 0x9E3779B9A30DC91DUL, 0xBD0D5ACEu, 0xBA523C7Du, 0x6A1E8482u },
        { GgmlType.Q5_1, 64, 0x9E3779B9A31D0B60UL, 0xBF781399u, 0x0730D8F3u, 0xD00362B8u },
        { GgmlType.Q5_1, 96, 0x9E3779B9A32C4DA3UL, 0xBE51A893u, 0x2CC55D92u, 0x66C1661Bu },
        { GgmlType.Q5_1, 256, 0x9E3779B9A33B8FE6UL, 0xC1D2E364u, 0xCED4AFBBu, 0x249742B5u },
        { GgmlType.Q5_1, 288, 0x9E3779B9A34AD229UL, 0xC1327444u, 0xCD54E929u, 0x2B5A1566u },
        { GgmlType.Q5_1, 2048, 0x9E3779B9A35A146CUL, 0x42455215u, 0xCE569DE6u, 0xFFA6A15Au },
        { GgmlType.Q8_0, 32, 0x9E3779B9A903AB49UL, 0x4076D530u, 0x362BC599u, 0x8DA8599Cu },
        { GgmlType.Q8_0, 64, 0x9E3779B9A912ED8CUL, 0xC01463F0u, 0xAE4AFEF9u, 0xFBE92EF5u },
        { GgmlType.Q8_0, 96, 0x9E3779B9A9222FCFUL, 0xC138A0A6u, 0x5D2B90B5u, 0x7BF57BE5u },
        { GgmlType.Q8_0, 256, 0x9E3779B9A9317212UL, 0x422B6A10u, 0x48F46C2Fu, 0xB6A95BBBu },
        { GgmlType.Q8_0, 288, 0x9E3779B9A940B455UL, 0x423907D3u, 0x85CFF191u, 0xD27700D2u },
        { GgmlType.Q8_0, 2048, 0x9E3779B9A94FF698UL, 0xC2A96AA1u, 0xE943F882u, 0x4EB6DE31u },
    };

    [Theory]
    [MemberData(nameof(GgmlVectors))]
    public void Dot_quantizer_and_dequantizer_reproduce_ggml_bits(GgmlType type, int n, ulong seed, uint dotBits, uint activationHash, uint dequantizedHash) =>
        GgmlGolden.Check(type, n, seed, dotBits, activationHash, dequantizedHash);

    public static TheoryData<GgmlType> WeightTypes() => new(BlockWeightTypes);

    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void Every_level_returns_the_scalar_bits(GgmlType type)
    {
        // The scalar kernel spells out ggml's order; each vector level must agree with it exactly, on
        // quantizer-made rows, raw random blocks, ties and wide-range activations, odd and even block counts.
        var rng = new Random(3000 + (int)type);
        var activationType = QuantKernels.For(type).VecDotType;
        foreach (int blocks in new[] { 1, 2, 3, 4, 7, 8, 9, 16, 33, 64 })
        {
            int n = blocks * 32;
            for (int rep = 0; rep < 6; rep++)
            {
                byte[] w = rep % 2 == 0 ? EncodeWeights(type, RandomFloats(n, rng)) : RandomBlocks(type, blocks, rng);
                var xf = RandomFloats(n, rng);
                if (rep >= 4) for (int i = 0; i < n; i++) xf[i] *= MathF.ScaleB(1, rng.Next(-20, 20));
                byte[] x = Encode(activationType, xf);
                fixed (byte* wp = w, xp = x)
                {
                    uint scalar = BitConverter.SingleToUInt32Bits(Dot(type, SimdLevel.Scalar)(wp, xp, n));
                    foreach (var level in Levels)
                        Assert.Equal(scalar, BitConverter.SingleToUInt32Bits(Dot(type, level)(wp, xp, n)));
                }
            }
        }
    }

}
