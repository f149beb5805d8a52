using static Frugal.Quants.Tests.KernelTestSupport;

namespace Frugal.Quants.Tests.Block32;

/// <summary>Reference dequantization of hand-built blocks whose values are worked out by hand.</summary>
public class DequantizeTests
{
    private const ushort Half = 0x3800;      // fp16 0.5
    private const ushort MinusOne = 0xBC00;  // fp16 −1
    private const ushort Two = 0x4000;       // fp16 2

    private static byte[] Bytes(params object[] parts)
    {
        var bytes = new List<byte>();
        foreach (var part in parts)
        {
            switch (part)
            {
                case ushort h: bytes.Add((byte)h); bytes.Add((byte)(h >> 8)); break;
                case uint u: bytes.AddRange(BitConverter.GetBytes(u)); break;
                case byte[] raw: bytes.AddRange(raw); break;
                default: throw new ArgumentException(part.GetType().Name);
            }
        }
        return bytes.ToArray();
    }

    private static byte[] Nibbles(Func<int, int> quant)
    {
        var qs = new byte[16];
        for (int j = 0; j < 16; j++) qs[j] = (byte)(quant(j) & 0xF | (quant(j + 16) & 0xF) << 4);
        return qs;
    }

    [Fact]
    public void Q4_0_is_quant_minus_8_times_d()
    {
        // quant k = k mod 16: element k = (k mod 16 − 8) · 0.5
        var values = Decode(GgmlType.Q4_0, Bytes(Half, Nibbles(k => k % 16)), 32);
        for (int k = 0; k < 32; k++) Assert.Equal((k % 16 - 8) * 0.5f, values[k]);
        Assert.Equal(-4f, values[0]);
        Assert.Equal(3.5f, values[31]);
    }

    [Fact]
    public void Q4_1_is_quant_times_d_plus_m()
    {
        // quant k = 15 − (k mod 16): element k = (15 − k mod 16) · 0.5 − 1
        var values = Decode(GgmlType.Q4_1, Bytes(Half, MinusOne, Nibbles(k => 15 - k % 16)), 32);
        for (int k = 0; k < 32; k++) Assert.Equal((15 - k % 16) * 0.5f - 1, values[k]);
        Assert.Equal(6.5f, values[0]);
    }

    [Fact]
    public void Q5_0_takes_the_fifth_bit_from_qh()
    {
        // low nibbles k mod 16, fifth bit set on odd k: q = k mod 16 + 16·(k odd); element = (q − 16) · 2
        const uint oddBits = 0xAAAAAAAA;
        var values = Decode(GgmlType.Q5_0, Bytes(Two, oddBits, Nibbles(k => k % 16)), 32);
        for (int k = 0; k < 32; k++) Assert.Equal((k % 16 + (k % 2 == 1 ? 16 : 0) - 16) * 2f, values[k]);
        Assert.Equal(-32f, values[0]);   // q = 0
        Assert.Equal(30f, values[31]);   // q = 31
    }

    [Fact]
    public void Q5_1_takes_the_fifth_bit_from_qh_and_adds_m()
    {
        // fifth bit only on elements 16..31: q = k mod 16 + 16·(k ≥ 16); element = q · 0.5 − 1
        const uint upperHalf = 0xFFFF0000;
        var values = Decode(GgmlType.Q5_1, Bytes(Half, MinusOne, upperHalf, Nibbles(k => k % 16)), 32);
        for (int k = 0; k < 32; k++) Assert.Equal(k * 0.5f - 1, values[k]);
    }

    [Fact]
    public void Q8_0_and_Q8_1_are_quant_times_d()
    {
        var quants = new byte[32];
        for (int k = 0; k < 32; k++) quants[k] = (byte)(sbyte)(k * 8 - 127);
        var q8_0 = Decode(GgmlType.Q8_0, Bytes(Half, quants), 32);
        var q8_1 = Decode(GgmlType.Q8_1, Bytes(Half, (ushort)0x7BFF /* s is ignored */, quants), 32);
        for (int k = 0; k < 32; k++)
        {
            Assert.Equal((k * 8 - 127) * 0.5f, q8_0[k]);
            Assert.Equal((k * 8 - 127) * 0.5f, q8_1[k]);
        }
    }

    [Fact]
    public void Rows_of_several_blocks_are_laid_end_to_end()
    {
        var row = Bytes(Half, Nibbles(_ => 9), Two, Nibbles(_ => 7));
        var values = Decode(GgmlType.Q4_0, row, 64);
        Assert.All(values[..32], v => Assert.Equal(0.5f, v));
        Assert.All(values[32..], v => Assert.Equal(-2f, v));
    }
}
