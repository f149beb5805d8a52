using Frugal.Quants.KQuants;

namespace Frugal.Quants.Tests.KQuants;

/// <summary>Block sizes, the packed scale formats, and dequantization of hand-built blocks.</summary>
public unsafe class KQuantLayoutTests
{
    [Fact]
    public void Block_structs_have_ggml_sizes()
    {
        Assert.Equal(GgmlTypes.Info(GgmlType.Q2_K).BlockBytes, sizeof(BlockQ2_K));
        Assert.Equal(GgmlTypes.Info(GgmlType.Q3_K).BlockBytes, sizeof(BlockQ3_K));
        Assert.Equal(GgmlTypes.Info(GgmlType.Q4_K).BlockBytes, sizeof(BlockQ4_K));
        Assert.Equal(GgmlTypes.Info(GgmlType.Q5_K).BlockBytes, sizeof(BlockQ5_K));
        Assert.Equal(GgmlTypes.Info(GgmlType.Q6_K).BlockBytes, sizeof(BlockQ6_K));
        Assert.Equal(GgmlTypes.Info(GgmlType.Q8_K).BlockBytes, sizeof(BlockQ8_K));
        Assert.Equal(84, sizeof(BlockQ2_K));
        Assert.Equal(110, sizeof(BlockQ3_K));
        Assert.Equal(144, sizeof(BlockQ4_K));
        Assert.Equal(176, sizeof(BlockQ5_K));
        Assert.Equal(210, sizeof(BlockQ6_K));
        Assert.Equal(292, sizeof(BlockQ8_K));
    }

    [Fact]
    public void Fast_Q4_K_scale_unpacking_matches_the_per_index_rule()
    {
        var random = new Random(1);
        byte* packed = stackalloc byte[12];
        byte* unpacked = stackalloc byte[16];
        for (int trial = 0; trial < 2000; trial++)
        {
            random.NextBytes(new Span<byte>(packed, 12));
            KQuant.UnpackScalesMinsK4(packed, unpacked);
            for (int j = 0; j < 8; j++)
            {
                KQuant.ScaleMinK4(j, packed, out byte scale, out byte min);
                Assert.Equal(scale, unpacked[j]);
                Assert.Equal(min, unpacked[8 + j]);
            }
        }
    }

    [Fact]
    public void Fast_Q3_K_scale_unpacking_matches_the_per_index_rule()
    {
        var random = new Random(2);
        byte* packed = stackalloc byte[12];
        byte* unpacked = stackalloc byte[16];
        for (int trial = 0; trial < 2000; trial++)
        {
            random.NextBytes(new Span<byte>(packed, 12));
            KQuant.UnpackQ3Scales(packed, unpacked);
            for (int j = 0; j < 16; j++) Assert.Equal(KQuant.Q3Scale(j, packed), unpacked[j]);
        }
    }

    [Fact]
    public void NearestInt_rounds_half_to_even_like_ggml()
    {
        Assert.Equal(0, KQuant.NearestInt(0.5f));
        Assert.Equal(2, KQuant.NearestInt(1.5f));
        Assert.Equal(2, KQuant.NearestInt(2.5f));
        Assert.Equal(-2, KQuant.NearestInt(-2.5f));
        Assert.Equal(-3, KQuant.NearestInt(-2.7f));
        Assert.Equal(64, KQuant.NearestInt(63.5f));
        Assert.Equal(127, KQuant.NearestInt(127.2f));
    }

    /// <summary>d = 1, dmin = 0.5; six-bit scales/mins chosen to exercise the high bits of the packing.</summary>
    private static void FillQ4KHeader(ushort* d, ushort* dmin, byte* scales)
    {
        *d = 0x3C00;    // 1.0
        *dmin = 0x3800; // 0.5
        // Sub-block j: (scale, min) = (1,5) (2,6) (3,7) (4,8) (49,18) (3,4) (5,6) (7,8):
        //   bytes 0-3: scales 0-3 in bits 0-5, bits 6-7 of byte 0 (=3) are the high bits of scale 4;
        //   bytes 4-7: mins 0-3, bits 6-7 of byte 4 (=1) are the high bits of min 4;
        //   bytes 8-11: low nibble = low 4 bits of scale 4+i, high nibble = of min 4+i.
        byte[] packed = [0xC1, 0x02, 0x03, 0x04, 0x45, 0x06, 0x07, 0x08, 0x21, 0x43, 0x65, 0x87];
        for (int i = 0; i < 12; i++) scales[i] = packed[i];
    }

    private static readonly int[] Q4Scales = [1, 2, 3, 4, 49, 3, 5, 7];
    private static readonly int[] Q4Mins = [5, 6, 7, 8, 18, 4, 6, 8];

    [Fact]
    public void Q4_K_hand_built_block()
    {
        BlockQ4_K block;
        FillQ4KHeader(&block.D, &block.DMin, block.Scales);
        for (int i = 0; i < 128; i++) block.Qs[i] = (byte)i;   // low nibble i & 15, high nibble i >> 4

        float* w = stackalloc float[256];
        Q4K.Dequantize((byte*)&block, w, 256);

        Assert.Equal(-2.5f, w[0]);     // sub-block 0, byte 0 low nibble 0: 1·1·0 − 0.5·5
        Assert.Equal(12.5f, w[31]);    // byte 31 low nibble 15
        Assert.Equal(-3f, w[32]);      // sub-block 1, byte 0 high nibble 0: − 0.5·6
        Assert.Equal(-1f, w[63]);      // byte 31 = 0x1F high nibble 1: 2·1 − 3
        Assert.Equal(236f, w[133]);    // sub-block 4, byte 69 = 0x45 low nibble 5: 49·5 − 0.5·18
        Assert.Equal(45f, w[255]);     // sub-block 7, byte 127 = 0x7F high nibble 7: 7·7 − 0.5·8
        for (int e = 0; e < 256; e++)
        {
            int j = e / 32;
            byte packedByte = (byte)(32 * (j / 2) + e % 32);
            int q = j % 2 == 0 ? packedByte & 0xF : packedByte >> 4;
            Assert.Equal(Q4Scales[j] * q - 0.5f * Q4Mins[j], w[e]);
        }
    }

    [Fact]
    public void Q5_K_hand_built_block()
    {
        BlockQ5_K block;
        FillQ4KHeader(&block.D, &block.DMin, block.Scales);
        for (int i = 0; i < 128; i++) block.Qs[i] = (byte)i;
        for (int i = 0; i < 32; i++) block.Qh[i] = 0;
        block.Qh[0] = 0b0001_0001;   // fifth bit of weight 0 of sub-blocks 0 and 4
        block.Qh[31] = 0b1000_0000;  // fifth bit of weight 31 of sub-block 7

        float* w = stackalloc float[256];
        Q5K.Dequantize((byte*)&block, w, 256);

        Assert.Equal(13.5f, w[0]);     // q = 0 + 16: 16 − 2.5
        Assert.Equal(12.5f, w[31]);    // q = 15, no fifth bit
        Assert.Equal(-3f, w[32]);      // sub-block 1 has no fifth bit in qh[0]
        Assert.Equal(775f, w[128]);    // sub-block 4, byte 64 low nibble 0, +16: 49·16 − 9
        Assert.Equal(157f, w[255]);    // sub-block 7, nibble 7 + 16: 7·23 − 4
        Assert.Equal(236f, w[133]);    // as Q4_K where no fifth bit is set
    }

    [Fact]
    public void Q6_K_hand_built_block()
    {
        BlockQ6_K block;
        block.D = 0x3800; // 0.5
        for (int i = 0; i < 128; i++) block.Ql[i] = (byte)i;
        for (int i = 0; i < 64; i++) block.Qh[i] = 0;
        for (int j = 0; j < 16; j++) block.Scales[j] = (sbyte)(j - 8);
        block.Qh[0] = 0b11_10_01_00;   // high bits of weights 0, 32, 64, 96: 0, 1, 2, 3
        block.Qh[63] = 0xFF;           // weights 128 + 32e + 31 all get high bits 3

        float* w = stackalloc float[256];
        Q6K.Dequantize((byte*)&block, w, 256);

        Assert.Equal(128f, w[0]);      // q = 0: 0.5·(−8)·(0 − 32)
        Assert.Equal(48f, w[32]);      // ql[32] = 0x20 low nibble 0, high 1: q = 16, 0.5·(−6)·(−16)
        Assert.Equal(0f, w[64]);       // ql[0] high nibble 0, high 2: q = 32
        Assert.Equal(-18f, w[96]);     // ql[32] high nibble 2, high 3: q = 50, 0.5·(−2)·18
        Assert.Equal(80.5f, w[255]);   // ql[127] = 0x7F high nibble 7, high 3: q = 55, 0.5·7·23
        Assert.Equal(-15.5f, w[145]);  // ql[81] = 0x51 low nibble 1, high 0: q = 1, 0.5·1·(−31)
    }

    [Fact]
    public void Q3_K_hand_built_block()
    {
        BlockQ3_K block;
        block.D = 0x3C00; // 1.0
        // Six-bit scales 0, 63, then 32 + j for j = 2..15, i.e. signed −32, 31, 2, 3, …, 15.
        byte[] packed = [0x80, 0x9F, 0xA2, 0xB3, 0xC4, 0xD5, 0xE6, 0xF7, 0xA8, 0xAB, 0xAA, 0xAA];
        for (int i = 0; i < 12; i++) block.Scales[i] = packed[i];
        for (int i = 0; i < 64; i++) block.Qs[i] = 0b11_10_01_00;   // bit pair k holds k
        for (int i = 0; i < 32; i++) block.HMask[i] = 0;
        block.HMask[0] = 0x01;    // high bit of weight 0
        block.HMask[31] = 0x80;   // high bit of weight 128 + 96 + 31

        float* w = stackalloc float[256];
        Q3K.Dequantize((byte*)&block, w, 256);

        Assert.Equal(0f, w[0]);       // q = 0 with the high bit: 0
        Assert.Equal(128f, w[1]);     // q = 0 without it: −4, scale −32
        Assert.Equal(-124f, w[16]);   // sub-block 1, scale 31: −4·31
        Assert.Equal(-6f, w[37]);     // bit pair 1: 1 − 4, sub-block 2 scale 2
        Assert.Equal(45f, w[255]);    // bit pair 3 with the high bit: 3, sub-block 15 scale 15
        Assert.Equal(-15f, w[254]);   // 3 − 4
        for (int j = 0; j < 16; j++) Assert.Equal(j switch { 0 => -32, 1 => 31, _ => j }, KQuant.Q3Scale(j, block.Scales) - 32);
    }

    [Fact]
    public void Q2_K_hand_built_block()
    {
        BlockQ2_K block;
        block.D = 0x3800;    // 0.5
        block.DMin = 0x3400; // 0.25
        for (int j = 0; j < 16; j++) block.Scales[j] = (byte)(j | ((15 - j) << 4));   // scale j, min 15 − j
        for (int i = 0; i < 64; i++) block.Qs[i] = 0b11_10_01_00;                      // bit pair k holds k
        block.Qs[32 + 7] = 0b00_01_10_11;                                              // reversed for weights 128 + 32k + 7

        float* w = stackalloc float[256];
        Q2K.Dequantize((byte*)&block, w, 256);

        Assert.Equal(-3.75f, w[0]);    // 0.5·0·0 − 0.25·15
        Assert.Equal(-2.25f, w[40]);   // sub-block 2, q 1: 0.5·2·1 − 0.25·13
        Assert.Equal(22.5f, w[255]);   // sub-block 15, q 3: 0.5·15·3 − 0
        Assert.Equal(11.25f, w[200]);  // sub-block 12, q 2: 12 − 0.75
        Assert.Equal(10.25f, w[135]);  // reversed byte, q 3, sub-block 8: 12 − 1.75
        Assert.Equal(-0.25f, w[231]);  // reversed byte, q 0, sub-block 14
    }
}
