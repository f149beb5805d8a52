using System.Runtime.InteropServices;

namespace Frugal.Quants.KQuants;

// Super-block layouts of llama.cpp's K-quants (ggml-common.h), byte for byte. Every super-block holds
// 256 weights; "fp16" fields are IEEE half floats stored as their bits. Sizes are checked against
// GgmlTypes.Info(type).BlockBytes when the kernels are registered.

/// <summary>
/// Q2_K: 16 sub-blocks of 16 weights, w = d·scale[j]·q − dmin·min[j], q ∈ 0..3 (2.625 bits per weight).
/// <code>
/// offset size  field
///      0   16  scales[16]  byte j: low nibble = 4-bit scale of sub-block j, high nibble = 4-bit min
///     16   64  qs[64]      2-bit quants: bits 2k..2k+1 of byte 32h + l hold element 128h + 32k + l
///     80    2  d           fp16, scale of the scales
///     82    2  dmin        fp16, scale of the mins
///                          = 84 bytes
/// </code>
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ2_K
{
    public fixed byte Scales[16];
    public fixed byte Qs[64];
    public ushort D;
    public ushort DMin;
}

/// <summary>
/// Q3_K: 16 sub-blocks of 16 weights, w = d·(scale[j] − 32)·(q − 4), q ∈ 0..7 (3.4375 bits per weight).
/// <code>
/// offset size  field
///      0   32  hmask[32]   third bit of q: bit 4h + k of byte l belongs to element 128h + 32k + l
///     32   64  qs[64]      low 2 bits of q: bits 2k..2k+1 of byte 32h + l hold element 128h + 32k + l
///     96   12  scales[12]  16 six-bit scales: low 4 bits of scale j in byte j (j &lt; 8, low nibble) or
///                          byte j − 8 (j ≥ 8, high nibble); its high 2 bits in bits 2(j/4).. of byte 8 + j%4
///    108    2  d           fp16, scale of the scales
///                          = 110 bytes
/// </code>
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ3_K
{
    public fixed byte HMask[32];
    public fixed byte Qs[64];
    public fixed byte Scales[12];
    public ushort D;
}

/// <summary>
/// Q4_K: 8 sub-blocks of 32 weights, w = d·scale[j]·q − dmin·min[j], q ∈ 0..15 (4.5 bits per weight).
/// <code>
/// offset size  field
///      0    2  d           fp16, scale of the scales
///      2    2  dmin        fp16, scale of the mins
///      4   12  scales[12]  8 six-bit scales and 8 six-bit mins (see <see cref="KQuant.ScaleMinK4"/>):
///                          bytes 0-3: scale 0-3 (bits 0-5) + high bits of scale 4-7 (bits 6-7)
///                          bytes 4-7: min 0-3 (bits 0-5)   + high bits of min 4-7 (bits 6-7)
///                          bytes 8-11: low nibble = low 4 bits of scale 4-7, high nibble = of min 4-7
///     16  128  qs[128]     4-bit quants: byte 32c + l holds element 64c + l (low nibble) and 64c + 32 + l (high)
///                          = 144 bytes
/// </code>
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ4_K
{
    public ushort D;
    public ushort DMin;
    public fixed byte Scales[12];
    public fixed byte Qs[128];
}

/// <summary>
/// Q5_K: like Q4_K plus a fifth bit per weight, q ∈ 0..31 (5.5 bits per weight).
/// <code>
/// offset size  field
///      0    2  d           fp16, scale of the scales
///      2    2  dmin        fp16, scale of the mins
///      4   12  scales[12]  six-bit scales and mins, packed as in Q4_K
///     16   32  qh[32]      fifth bit: bit 2c of byte l for element 64c + l, bit 2c + 1 for element 64c + 32 + l
///     48  128  qs[128]     low 4 bits, nibbles as in Q4_K
///                          = 176 bytes
/// </code>
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ5_K
{
    public ushort D;
    public ushort DMin;
    public fixed byte Scales[12];
    public fixed byte Qh[32];
    public fixed byte Qs[128];
}

/// <summary>
/// Q6_K: 16 sub-blocks of 16 weights, w = d·scale[j]·(q − 32), q ∈ 0..63 (6.5625 bits per weight).
/// <code>
/// offset size  field
///      0  128  ql[128]     low 4 bits, in halves h of 64 bytes: byte 64h + l (l &lt; 64) holds element
///                          128h + l (low nibble) and 128h + 64 + l (high nibble)
///    128   64  qh[64]      high 2 bits: bits 2e..2e+1 of byte 32h + l belong to element 128h + 32e + l
///    192   16  scales[16]  signed 8-bit scale of each sub-block
///    208    2  d           fp16, scale of the scales
///                          = 210 bytes
/// </code>
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ6_K
{
    public fixed byte Ql[128];
    public fixed byte Qh[64];
    public fixed sbyte Scales[16];
    public ushort D;
}

/// <summary>
/// Q8_K: the activation format the K-quant dot products consume, x = d·q, q ∈ −127..127.
/// <code>
/// offset size  field
///      0    4  d           float32 scale
///      4  256  qs[256]     signed 8-bit quants
///    260   32  bsums[16]   int16 sum of each group of 16 quants (feeds the min / offset terms of the dots)
///                          = 292 bytes
/// </code>
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct BlockQ8_K
{
    public float D;
    public fixed sbyte Qs[256];
    public fixed short BSums[16];
}
