using Frugal.Gguf;
using Frugal.Quants.KQuants;
using Frugal.TestSupport;

namespace Frugal.Quants.Tests.KQuants;

/// <summary>
/// Bit-exactness against ggml itself. Every expected value below was produced by llama.cpp build 4748's own
/// kernels (built with -march=native on an AVX2 + FMA + F16C machine): ggml-cpu's ggml_vec_dot_qX_K_q8_K (the AVX2
/// branch), quantize_row_q8_K (from_float) and ggml-base's dequantize_row_qX_K (to_float), fed with exactly the
/// inputs <see cref="GoldenInput"/> builds. Every one of our levels must return those bits.
/// </summary>
public unsafe class KQuantGgmlGoldenTests
{
    /// <summary>
    /// Marsaglia's xorshift32 (shifts 13, 17, 5). Inputs of one case come from one generator seeded with the case's
    /// seed: first the weight bytes, then the fp16 scale fields, then the activations.
    /// </summary>
    private struct XorShift32(uint seed)
    {
        private uint _state = seed;

        public uint Next()
        {
            _state ^= _state << 13;
            _state ^= _state >> 17;
            _state ^= _state << 5;
            return _state;
        }
    }

    /// <summary>Byte offsets of the fp16 scale fields (d, then dmin) inside one super-block of each type.</summary>
    private static int[] HalfFields(GgmlType type) => type switch
    {
        GgmlType.Q2_K => [80, 82],
        GgmlType.Q3_K => [108],
        GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
        GgmlType.Q6_K => [208],
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>
    /// The weights and float activations of one case:
    /// <list type="number">
    /// <item>every weight byte = top 8 bits of Next();</item>
    /// <item>then block by block, each fp16 field in <see cref="HalfFields"/> order = 0x1400 + (Next() &gt;&gt; 22)
    /// (a half in [2⁻¹⁰, 2⁻⁹)), negated (| 0x8000) when the next Next() has its top bit set;</item>
    /// <item>then activation i = ((int)Next() &gt;&gt; 8)·2⁻²³·2^k with k = 0, −6, 5 for super-blocks i/256 ≡ 0, 1, 2
    /// (mod 3): exact floats in [−1, 1) times a per-block power of two.</item>
    /// </list>
    /// </summary>
    private static (byte[] Weights, float[] Activations) GoldenInput(GgmlType type, int blocks, uint seed)
    {
        var random = new XorShift32(seed);
        int blockBytes = GgmlTypes.Info(type).BlockBytes;
        var weights = new byte[blocks * blockBytes];
        for (int i = 0; i < weights.Length; i++) weights[i] = (byte)(random.Next() >> 24);
        for (int b = 0; b < blocks; b++)
        foreach (int offset in HalfFields(type))
        {
            ushort half = (ushort)(0x1400 + (random.Next() >> 22));
            if ((random.Next() >> 31) != 0) half |= 0x8000;
            weights[b * blockBytes + offset] = (byte)half;
            weights[b * blockBytes + offset + 1] = (byte)(half >> 8);
        }
        int[] exponents = [0, -6, 5];
        var activations = new float[blocks * KQuant.SuperBlock];
        for (int i = 0; i < activations.Length; i++)
            activations[i] = ((int)random.Next() >> 8) * MathF.ScaleB(1f, -23 + exponents[i / KQuant.SuperBlock % 3]);
        return (weights, activations);
    }

    /// <summary>32-bit FNV-1a, to pin long byte strings with one number.</summary>
    private static uint Fnv1a(ReadOnlySpan<byte> bytes)
    {
        uint hash = 2166136261;
        foreach (byte b in bytes) hash = (hash ^ b) * 16777619;
        return hash;
    }

    /// <summary>
    /// type, super-blocks, seed; then from ggml: the dot's float bits, FNV-1a of the Q8_K activation bytes
    /// (quantize_row_q8_K) and FNV-1a of the dequantized weights' float bytes (dequantize_row_*).
    /// </summary>
    public static TheoryData<GgmlType, int, uint, uint, uint, uint> Cases() => new()
    {
        { GgmlType.Q2_K, 1, 0x1u, 0x3E421296u, 0x70E96981u, 0x8FDE1FABu }, // 0.18952402
        { GgmlType.Q2_K, 4, 0x2u, 0x40C8552Bu, 0xAD53CE1Bu, 0x4DFA0CE5u }, // 6.2603965
        { GgmlType.Q2_K, 16, 0x3u, 0x41F6E525u, 0x3C4C7C82u, 0x1417E47Cu }, // 30.861887
        { GgmlType.Q2_K, 7, 0xC0FFEEu, 0x418A4DFEu, 0xD8CDCC69u, 0x4689B981u }, // 17.288082
        { GgmlType.Q3_K, 1, 0x1u, 0x3E49B1A5u, 0x0336DEC0u, 0x43DAEDCCu }, // 0.19696672
        { GgmlType.Q3_K, 4, 0x2u, 0x40AECD56u, 0xB13C1E9Au, 0x9DA47555u }, // 5.4625654
        { GgmlType.Q3_K, 16, 0x3u, 0xC1D10DF4u, 0x529F7770u, 0x4D459A81u }, // -26.131813
        { GgmlType.Q3_K, 7, 0xC0FFEEu, 0x4208E8A6u, 0x2010A01Eu, 0x172562D1u }, // 34.227196
        { GgmlType.Q4_K, 1, 0x1u, 0xBF61EF64u, 0x6D5C2B37u, 0x18499286u }, // -0.88255906
        { GgmlType.Q4_K, 4, 0x2u, 0x434FC4E2u, 0xC9DCADD7u, 0xE73012A7u }, // 207.76907
        { GgmlType.Q4_K, 16, 0x3u, 0x4359EF66u, 0xFA5F1974u, 0xBCA5CA3Bu }, // 217.93515
        { GgmlType.Q4_K, 7, 0xC0FFEEu, 0xC341C986u, 0xB058A2DBu, 0x056D7191u }, // -193.7872
        { GgmlType.Q5_K, 1, 0x1u, 0xBFC8C91Eu, 0x12ED6E31u, 0x28D65A74u }, // -1.5686376
        { GgmlType.Q5_K, 4, 0x2u, 0xC308726Fu, 0x196D992Eu, 0x8EDBA45Eu }, // -136.447
        { GgmlType.Q5_K, 16, 0x3u, 0xC409A762u, 0x2F524D0Au, 0xFF44F94Eu }, // -550.61536
        { GgmlType.Q5_K, 7, 0xC0FFEEu, 0xC2C62752u, 0x758EFCDAu, 0x8A241A96u }, // -99.0768
        { GgmlType.Q6_K, 1, 0x1u, 0x4123F1E1u, 0xC8437929u, 0x733A110Du }, // 10.246552
        { GgmlType.Q6_K, 4, 0x2u, 0x446F3142u, 0x5E12A01Du, 0x93533EB0u }, // 956.76965
        { GgmlType.Q6_K, 16, 0x3u, 0x43995034u, 0x076C38FDu, 0x07F2FE52u }, // 306.6266
        { GgmlType.Q6_K, 7, 0xC0FFEEu, 0xC414196Cu, 0x33648E86u, 0x3ADED221u }, // -592.3972
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dot_returns_ggml_bits_at_every_level(GgmlType type, int blocks, uint seed, uint dotBits, uint q8Hash, uint dequantHash)
    {
        _ = q8Hash;
        _ = dequantHash;
        var (weights, activations) = GoldenInput(type, blocks, seed);
        byte[] q8 = KQuantFixture.QuantizeQ8K(activations);
        foreach (var level in KQuantFixture.Levels().Append("dispatch"))
        {
            float dot = KQuantFixture.Dot(type, level, weights, q8, activations.Length);
            Assert.True(BitConverter.SingleToUInt32Bits(dot) == dotBits,
                $"{type} {level} seed {seed}: 0x{BitConverter.SingleToUInt32Bits(dot):X8} ({dot:R}), ggml 0x{dotBits:X8} ({BitConverter.UInt32BitsToSingle(dotBits):R})");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Q8_K_quantization_is_ggml_byte_for_byte(GgmlType type, int blocks, uint seed, uint dotBits, uint q8Hash, uint dequantHash)
    {
        _ = dotBits;
        _ = dequantHash;
        var (_, activations) = GoldenInput(type, blocks, seed);
        Assert.Equal(q8Hash, Fnv1a(KQuantFixture.QuantizeQ8K(activations)));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dequantization_is_ggml_bit_for_bit(GgmlType type, int blocks, uint seed, uint dotBits, uint q8Hash, uint dequantHash)
    {
        _ = dotBits;
        _ = q8Hash;
        var (weights, activations) = GoldenInput(type, blocks, seed);
        float[] values = KQuantFixture.Dequantized(type, weights, activations.Length);
        Assert.Equal(dequantHash, Fnv1a(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan())));
    }

    /// <summary>
    /// Real rows: row r (0..3) of output.weight in synth-llama-tok512-TYPE.gguf (llama.cpp's own quantization) dotted
    /// with row r of token_embd.weight from synth-llama-tok512-F32.gguf quantized to Q8_K; the bits ggml returned.
    /// </summary>
    [SharedTheory]
    [InlineData(GgmlType.Q2_K, 0xBF0C4EB6u, 0xBF213F56u, 0x3F031D48u, 0x3E01B9E4u)]
    [InlineData(GgmlType.Q3_K, 0xBF00AE9Eu, 0xBF1FC8BDu, 0x3F2BB5E3u, 0x3DDCFC9Cu)]
    [InlineData(GgmlType.Q4_K, 0xBEF98C3Cu, 0xBF23EAEAu, 0x3F294AFCu, 0x3E372280u)]
    [InlineData(GgmlType.Q5_K, 0xBEFCEAE3u, 0xBF252581u, 0x3F2984E1u, 0x3E4EF400u)]
    [InlineData(GgmlType.Q6_K, 0xBEFAD499u, 0xBF2377D3u, 0x3F2C4859u, 0x3E4E2042u)]
    public void Real_rows_dot_to_ggml_bits(GgmlType type, uint row0, uint row1, uint row2, uint row3)
    {
        uint[] expected = [row0, row1, row2, row3];
        using var quantized = GgufFile.Open(SharedData.Model($"synth-llama-tok512-{GgmlTypes.Name(type)}.gguf"));
        using var source = GgufFile.Open(SharedData.Model("synth-llama-tok512-F32.gguf"));
        var output = quantized.GetTensor("output.weight");
        var embedding = source.GetTensor("token_embd.weight");
        Assert.Equal(type, output.Type);
        int n = checked((int)output.Dim(0));
        Assert.Equal(n, (int)embedding.Dim(0));

        for (int r = 0; r < expected.Length; r++)
        {
            var activations = new ReadOnlySpan<float>((float*)source.TensorData(embedding) + (long)r * n, n).ToArray();
            byte[] q8 = KQuantFixture.QuantizeQ8K(activations);
            byte* weights = quantized.TensorData(output) + r * output.RowBytes;
            fixed (byte* x = q8)
            {
                foreach (var level in KQuantFixture.Levels())
                {
                    uint bits = BitConverter.SingleToUInt32Bits(KQuantFixture.Dot(type, level, weights, x, n));
                    Assert.True(bits == expected[r], $"{type} {level} row {r}: 0x{bits:X8}, ggml 0x{expected[r]:X8}");
                }
            }
        }
    }
}
