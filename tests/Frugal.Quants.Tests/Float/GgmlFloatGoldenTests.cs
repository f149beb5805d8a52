using Frugal.Numerics;
using Frugal.Quants.Float;
using Frugal.Quants.Tests.Block32;
using static Frugal.Quants.Tests.Block32.KernelTestSupport;

namespace Frugal.Quants.Tests.Float;

/// <summary>
/// Bit-exactness with llama.cpp: the F32/F16/BF16 dots, at every SIMD level and through the pointer entry points
/// the attention code uses, must return exactly what ggml-cpu's AVX2+FMA+F16C kernels (build 4748) returned on
/// the same rows; F16/BF16 conversion must produce ggml's bytes. See Block32/GgmlTestRows.cs for the rows.
/// </summary>
public unsafe class GgmlFloatGoldenTests
{
    /// <summary>
    /// (type, n, seed, ggml vec_dot result bits, FNV-1a of ggml's activation row (from_float; F32: the floats),
    /// FNV-1a of ggml's to_float of the weight row), from ggml-cpu build 4748's ggml_vec_dot_f32, _f16, _bf16.
    /// The lengths put every leftover count class after the 32-element main loop to work (0, 1, 3, 4, 7, 15, 8+…).
    /// </summary>
    public static TheoryData<GgmlType, int, ulong, uint, uint, uint> GgmlVectors => new()
    {
        { GgmlType.F32, 0, 0x9E3779B97F4A7C15UL, 0x00000000u, 0x811C9DC5u, 0x811C9DC5u },
        { GgmlType.F32, 1, 0x9E3779B97F59BE58UL, 0x40B62C52u, 0xA3446EB8u, 0x5063D1D1u },
        { GgmlType.F32, 5, 0x9E3779B97F69009BUL, 0xBE2222EFu, 0x59DC7325u, 0xD1C72ECDu },
        { GgmlType.F32, 31, 0x9E3779B97F7842DEUL, 0x43DA3912u, 0x52DEE469u, 0xEF295865u },
        { GgmlType.F32, 32, 0x9E3779B97F878521UL, 0x3BD7EF64u, 0xB0E80F1Bu, 0x1A9A2062u },
        { GgmlType.F32, 33, 0x9E3779B97F96C764UL, 0x3EF1C352u, 0xFDB0D78Cu, 0x5B9963BBu },
        { GgmlType.F32, 36, 0x9E3779B97FA609A7UL, 0xBF2A603Bu, 0xDD2A1BADu, 0x235A1A98u },
        { GgmlType.F32, 39, 0x9E3779B97FB54BEAUL, 0x40C3B78Bu, 0xDD1A0EA6u, 0xA128EEB1u },
        { GgmlType.F32, 47, 0x9E3779B97FC48E2DUL, 0xC088F71Cu, 0x63E222B4u, 0x686FEB9Eu },
        { GgmlType.F32, 64, 0x9E3779B97FD3D070UL, 0xC10F49C8u, 0x9AD2D224u, 0x63DAD7C7u },
        { GgmlType.F32, 100, 0x9E3779B97FE312B3UL, 0x4072E5C8u, 0x3DA1FE67u, 0xDD70559Fu },
        { GgmlType.F32, 256, 0x9E3779B97FF254F6UL, 0x4104966Au, 0xD844647Cu, 0xC7481B07u },
        { GgmlType.F32, 259, 0x9E3779B980019739UL, 0xC28950DBu, 0x1CA98940u, 0x572B4EC2u },
        { GgmlType.F32, 1000, 0x9E3779B98010D97CUL, 0x4482CDA0u, 0x3DFAED55u, 0x42793A5Du },
        { GgmlType.F16, 0, 0x9E3779B985405E41UL, 0x00000000u, 0x811C9DC5u, 0x811C9DC5u },
        { GgmlType.F16, 1, 0x9E3779B9854FA084UL, 0x3B854B94u, 0x310CD4D0u, 0xF2C14B53u },
        { GgmlType.F16, 5, 0x9E3779B9855EE2C7UL, 0xC298D6FAu, 0x877C1683u, 0x94E11A90u },
        { GgmlType.F16, 31, 0x9E3779B9856E250AUL, 0x3EBF03F5u, 0xDFA815E7u, 0x33DEF6B6u },
        { GgmlType.F16, 32, 0x9E3779B9857D674DUL, 0x3E0A84D2u, 0x41CA8AD1u, 0x5E4629A7u },
        { GgmlType.F16, 33, 0x9E3779B9858CA990UL, 0x42985AB1u, 0x54869FE5u, 0x66C74789u },
        { GgmlType.F16, 36, 0x9E3779B9859BEBD3UL, 0x4067DBA6u, 0x4AF37A26u, 0x23177B79u },
        { GgmlType.F16, 39, 0x9E3779B985AB2E16UL, 0xBE263878u, 0x3B6F94D2u, 0xA6F07C9Cu },
        { GgmlType.F16, 47, 0x9E3779B985BA7059UL, 0x3EC1C0B6u, 0xDDB02B71u, 0xDBB86803u },
        { GgmlType.F16, 64, 0x9E3779B985C9B29CUL, 0xC2CD6A46u, 0x8F5554C9u, 0x1A6CFAC3u },
        { GgmlType.F16, 100, 0x9E3779B985D8F4DFUL, 0xC1858B2Fu, 0x3B6FB9C2u, 0x567C1B28u },
        { GgmlType.F16, 256, 0x9E3779B985E83722UL, 0xC23803C0u, 0x15ABA9E3u, 0x8496655Au },
        { GgmlType.F16, 259, 0x9E3779B985F77965UL, 0xC20EC82Cu, 0xCBA897CCu, 0xD243E96Bu },
        { GgmlType.F16, 1000, 0x9E3779B98606BBA8UL, 0x43926F09u, 0x4C560BC1u, 0x2C27E723u },
        { GgmlType.BF16, 0, 0x9E3779B98B36406DUL, 0x00000000u, 0x811C9DC5u, 0x811C9DC5u },
        { GgmlType.BF16, 1, 0x9E3779B98B4582B0UL, 0xBCA82C00u, 0x92B9EB9Fu, 0x1A3ABD1Fu },
        { GgmlType.BF16, 5, 0x9E3779B98B54C4F3UL, 0x3DA46080u, 0xC9C75C46u, 0x588BDFC7u },
        { GgmlType.BF16, 31, 0x9E3779B98B640736UL, 0xC1A7B7F2u, 0xD037AC19u, 0x7BFC2787u },
        { GgmlType.BF16, 32, 0x9E3779B98B734979UL, 0x42D4D57Au, 0x96C34926u, 0x4132A590u },
        { GgmlType.BF16, 33, 0x9E3779B98B828BBCUL, 0x3F93E46Eu, 0x9A8A404Fu, 0x0A543005u },
        { GgmlType.BF16, 36, 0x9E3779B98B91CDFFUL, 0xC2D91D72u, 0x84A84F3Bu, 0x7FC74B33u },
        { GgmlType.BF16, 39, 0x9E3779B98BA11042UL, 0xBE942337u, 0xE05271EAu, 0xECAA67FDu },
        { GgmlType.BF16, 47, 0x9E3779B98BB05285UL, 0x408ED186u, 0xF021DA04u, 0x1B202F0Bu },
        { GgmlType.BF16, 64, 0x9E3779B98BBF94C8UL, 0xBFD8D560u, 0x31434CFAu, 0x1E6BBC9Au },
        { GgmlType.BF16, 100, 0x9E3779B98BCED70BUL, 0xC097A0A3u, 0xF5611654u, 0x6612B739u },
        { GgmlType.BF16, 256, 0x9E3779B98BDE194EUL, 0xC186CCAAu, 0xB9F7D132u, 0xEF4BA985u },
        { GgmlType.BF16, 259, 0x9E3779B98BED5B91UL, 0xC31B97C8u, 0xE625D6D1u, 0x144BCF58u },
        { GgmlType.BF16, 1000, 0x9E3779B98BFC9DD4UL, 0xC320CEB5u, 0x6E50230Au, 0xCB315B43u },
    };

    [Theory]
    [MemberData(nameof(GgmlVectors))]
    public void Dot_and_conversions_reproduce_ggml_bits(GgmlType type, int n, ulong seed, uint dotBits, uint activationHash, uint dequantizedHash) =>
        GgmlGolden.Check(type, n, seed, dotBits, activationHash, dequantizedHash);

    [Theory]
    [MemberData(nameof(GgmlVectors))]
    public void Pointer_entry_points_reproduce_ggml_bits(GgmlType type, int n, ulong seed, uint dotBits, uint activationHash, uint dequantizedHash)
    {
        _ = activationHash; _ = dequantizedHash; // checked by the test above
        var rows = new GgmlTestRows(seed);
        float[] wf = rows.Floats(n), xf = rows.Floats(n);
        switch (type)
        {
            case GgmlType.F32:
                fixed (float* w = wf, x = xf) Assert.Equal(dotBits, BitConverter.SingleToUInt32Bits(F32.DotSingle(w, x, n)));
                break;
            case GgmlType.F16:
                // Half rows as the KV cache holds them: (Half)float rounds to nearest-even, as ggml's conversion does.
                Half[] wh = Array.ConvertAll(wf, v => (Half)v), xh = Array.ConvertAll(xf, v => (Half)v);
                fixed (Half* w = wh, x = xh) Assert.Equal(dotBits, BitConverter.SingleToUInt32Bits(F16.DotHalf(w, x, n)));
                break;
        }
    }

    public static TheoryData<GgmlType> Types() => new(FloatTypes);

    [Theory]
    [MemberData(nameof(Types))]
    public void Every_level_returns_the_scalar_bits(GgmlType type)
    {
        var rng = new Random(4000 + (int)type);
        for (int n = 0; n <= 200; n += n < 80 ? 1 : 7)
        {
            for (int rep = 0; rep < 2; rep++)
            {
                var wf = RandomFloats(n, rng);
                var xf = RandomFloats(n, rng);
                if (rep == 1) for (int i = 0; i < n; i++) xf[i] *= MathF.ScaleB(1, rng.Next(-30, 30));
                byte[] w = Encode(type, wf), x = Encode(type, xf);
                fixed (byte* wp = w, xp = x)
                {
                    uint scalar = BitConverter.SingleToUInt32Bits(Dot(type, SimdLevel.Scalar)(wp, xp, n));
                    foreach (var level in Levels)
                        Assert.True(scalar == BitConverter.SingleToUInt32Bits(Dot(type, level)(wp, xp, n)), $"{type} n={n} {level}");
                }
            }
        }
    }

    [Fact]
    public void F32_leftovers_round_the_first_multiples_of_four_and_fuse_the_rest()
    {
        // ggml's `sumf += x[i]*y[i]` tail was vectorised by gcc: with 7 leftovers (n = 39), products 0..3 are
        // rounded before being added and products 4..6 are fused. With t = 1 + 2^-12, t² = 1 + 2^-11 + 2^-24:
        //   leftovers 0, 1: −1 each → −2;  leftover 3: t² rounded (1 + 2^-11) → −1 + 2^-11;
        //   leftover 4: t² fused → 2^-10 + 2^-24.
        // All fused would give 2^-10 + 2^-23, none fused 2^-10.
        var a = new float[39];
        var b = new float[39];
        float t = 1 + MathF.ScaleB(1, -12);
        a[32] = -1; b[32] = 1;
        a[33] = -1; b[33] = 1;
        a[35] = t; b[35] = t;
        a[36] = t; b[36] = t;
        float expected = MathF.ScaleB(1, -10) + MathF.ScaleB(1, -24);
        fixed (float* ap = a, bp = b)
            foreach (var level in Levels)
                Assert.Equal(expected, Dot(GgmlType.F32, level)((byte*)ap, (byte*)bp, 39));
    }

    [Fact]
    public void Half_conversions_match_ggml_on_a_million_bit_patterns()
    {
        // Floats with bits i·4099 for i < 2^20 (every exponent, NaNs and infinities included), converted by
        // F16.Quantize / BF16.Quantize; the hashes are FNV-1a of what ggml_fp32_to_fp16_row / ggml_fp32_to_bf16_row
        // (build 4748) produced. (The same holds over all 2^32 patterns; that sweep is too slow for a unit test.)
        const int Count = 1 << 20;
        var input = new uint[Count];
        for (uint i = 0; i < Count; i++) input[i] = i * 4099u;
        var output = new byte[2 * Count];
        fixed (uint* ip = input)
        fixed (byte* op = output)
        {
            F16.Quantize((float*)ip, op, Count);
            Assert.Equal(0x0D47F57Bu, GgmlTestRows.Fnv1a(output));
            BF16.Quantize((float*)ip, op, Count);
            Assert.Equal(0xF5E04765u, GgmlTestRows.Fnv1a(output));
        }
    }

    [Fact]
    public void Fp16_narrowing_turns_every_NaN_into_ggmls_quiet_NaN()
    {
        Assert.Equal(0x7E00, Fp16Bits.FromSingle(BitConverter.UInt32BitsToSingle(0x7F800001)));
        Assert.Equal(0x7E00, Fp16Bits.FromSingle(BitConverter.UInt32BitsToSingle(0x7FFFFFFF)));
        Assert.Equal(0xFE00, Fp16Bits.FromSingle(BitConverter.UInt32BitsToSingle(0xFFC00000)));
        Assert.Equal(0x7C00, Fp16Bits.FromSingle(float.PositiveInfinity));
        Assert.Equal(0x7BFF, Fp16Bits.FromSingle(65519.99f));   // below the rounding midpoint to infinity
        Assert.Equal(0x7C00, Fp16Bits.FromSingle(65520f));      // the midpoint rounds to even: infinity
    }

    [Fact]
    public void DotHalf_and_DotSingle_reject_bad_arguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => F16.DotHalf(null, null, -1));
        Assert.Throws<ArgumentNullException>(() => F32.DotSingle(null, null, 3));
        Assert.Equal(0f, F16.DotHalf(null, null, 0));
    }
}
