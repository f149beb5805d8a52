// Deterministic rows for the golden vectors taken from ggml-cpu (llama.cpp build 4748, AVX2+FMA+F16C).
// A small C harness linked against that build's libggml-cpu/libggml-base generated the same rows with the same
// generator, ran ggml's own from_float / vec_dot / to_float on them and printed the results; the tests rebuild
// the rows here and must reproduce those bits exactly.
//
// Generator (identical in the harness):
//   xorshift64 with shifts 13, 7, 17 on a 64-bit state (the seed);
//   Unit()   = (int)(Next() >> 40) − 2^23, times 2^−23: a uniform float in [−1, 1), exact;
//   Floats() = every 32 elements a new scale 2^(Next() % 9 − 4), then Unit() · scale per element;
//   Blocks() = every byte of the row = low 8 bits of one Next(); then per block the fp16 scale bits
//              d = 0x1800 + Next() % 0x1000; for Q4_1/Q5_1 a sign draw (Next() & 1 → 0x8000) then the minimum
//              m = sign | (0x1C00 + Next() % 0x1000); for Q8_0 any quant byte 0x80 (−128) becomes 0x81.
// A golden case draws the weights first (float types: Floats() converted with the type's quantizer; block
// types: Blocks()), then the activations Floats() from the same state.
namespace Frugal.Quants.Tests.Block32;

internal sealed class GgmlTestRows(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        ulong x = _state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return _state = x;
    }

    public float Unit() => ((int)(Next() >> 40) - 8388608) * (1.0f / 8388608.0f);

    public float[] Floats(int n)
    {
        var values = new float[n];
        float scale = 1;
        for (int i = 0; i < n; i++)
        {
            if (i % 32 == 0) scale = MathF.ScaleB(1.0f, (int)(Next() % 9) - 4);
            values[i] = Unit() * scale;
        }
        return values;
    }

    public byte[] Blocks(GgmlType type, int n)
    {
        int blockBytes = GgmlTypes.Info(type).BlockBytes;
        int blocks = n / 32;
        var row = new byte[blockBytes * blocks];
        for (int i = 0; i < row.Length; i++) row[i] = (byte)Next();
        for (int b = 0; b < blocks; b++)
        {
            int at = b * blockBytes;
            WriteUInt16(row, at, (ushort)(0x1800 + Next() % 0x1000));
            if (type is GgmlType.Q4_1 or GgmlType.Q5_1)
            {
                ushort sign = (Next() & 1) != 0 ? (ushort)0x8000 : (ushort)0;
                WriteUInt16(row, at + 2, (ushort)(sign | (ushort)(0x1C00 + Next() % 0x1000)));
            }
            if (type == GgmlType.Q8_0)
                for (int k = at + 2; k < at + blockBytes; k++)
                    if (row[k] == 0x80) row[k] = 0x81;
        }
        return row;
    }

    private static void WriteUInt16(byte[] row, int at, ushort value)
    {
        row[at] = (byte)value;
        row[at + 1] = (byte)(value >> 8);
    }

    /// <summary>32-bit FNV-1a, how the harness fingerprints whole rows of bytes.</summary>
    public static uint Fnv1a(ReadOnlySpan<byte> bytes, uint hash = 2166136261u)
    {
        foreach (byte b in bytes)
        {
            hash ^= b;
            hash *= 16777619u;
        }
        return hash;
    }
}

/// <summary>Rebuilds one golden case and checks it at every SIMD level.</summary>
internal static unsafe class GgmlGolden
{
    /// <summary>
    /// <paramref name="dotBits"/>: ggml's vec_dot result; <paramref name="activationHash"/>: FNV-1a of the activation
    /// row ggml's from_float made (F32 rows are the floats themselves); <paramref name="dequantizedHash"/>: FNV-1a of
    /// ggml's to_float of the weight row.
    /// </summary>
    public static void Check(GgmlType type, int n, ulong seed, uint dotBits, uint activationHash, uint dequantizedHash)
    {
        var rows = new GgmlTestRows(seed);
        bool isFloat = type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16;
        byte[] w = isFloat ? KernelTestSupport.Encode(type, rows.Floats(n)) : rows.Blocks(type, n);
        var kernels = QuantKernels.For(type);
        byte[] x = KernelTestSupport.Encode(kernels.VecDotType, rows.Floats(n));

        Assert.Equal(activationHash, GgmlTestRows.Fnv1a(x));
        float[] dequantized = KernelTestSupport.Decode(type, w, n);
        fixed (float* d = dequantized) Assert.Equal(dequantizedHash, GgmlTestRows.Fnv1a(new ReadOnlySpan<byte>(d, 4 * n)));

        fixed (byte* wp = w, xp = x)
        {
            foreach (var level in KernelTestSupport.Levels)
            {
                uint got = BitConverter.SingleToUInt32Bits(KernelTestSupport.Dot(type, level)(wp, xp, n));
                Assert.True(dotBits == got,
                    $"{type} n={n} {level}: got 0x{got:X8} ({BitConverter.UInt32BitsToSingle(got):R}), ggml 0x{dotBits:X8} ({BitConverter.UInt32BitsToSingle(dotBits):R})");
            }
            Assert.Equal(dotBits, BitConverter.SingleToUInt32Bits(kernels.VecDot(wp, xp, n)));
        }
    }
}
