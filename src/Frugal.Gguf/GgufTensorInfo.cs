using Frugal.Quants;

namespace Frugal.Gguf;

/// <summary>
/// One tensor's directory entry. <see cref="Shape"/> is in ggml order: Shape[0] is the contiguous row length
/// (ne0), Shape[1] the number of rows of a matrix, and so on. Data lives at <see cref="Offset"/> bytes into the
/// file's data section, as <see cref="Rows"/> rows of <see cref="RowBytes"/> bytes each.
/// </summary>
public sealed class GgufTensorInfo
{
    private readonly long[] _shape;

    public string Name { get; }

    /// <summary>A copy of the dimensions, ggml order (Shape[0] = row length).</summary>
    public long[] Shape => (long[])_shape.Clone();

    /// <summary>Number of dimensions (1 to 4).</summary>
    public int Rank => _shape.Length;

    /// <summary>Dimension i, or 1 past the rank (as ggml pads its ne[] with ones).</summary>
    public long Dim(int i) => i < _shape.Length ? _shape[i] : 1;

    public GgmlType Type { get; }
    public GgmlTypeInfo TypeInfo { get; }

    /// <summary>Byte offset relative to the start of the data section (a multiple of the file's alignment).</summary>
    public ulong Offset { get; }

    public long ElementCount { get; }
    public long ByteSize { get; }
    public long Rows => ElementCount / _shape[0];

    /// <summary>Bytes of one row of Shape[0] elements (whole blocks).</summary>
    public long RowBytes { get; }

    internal GgufTensorInfo(string name, long[] shape, GgmlTypeInfo typeInfo, ulong offset, long elementCount, long rowBytes, long byteSize)
    {
        Name = name;
        _shape = shape;
        Type = typeInfo.Type;
        TypeInfo = typeInfo;
        Offset = offset;
        ElementCount = elementCount;
        RowBytes = rowBytes;
        ByteSize = byteSize;
    }

    /// <summary>e.g. token_embd.weight Q4_K [256, 32000]</summary>
    public override string ToString() => $"{Name} {TypeInfo.Name} [{string.Join(", ", _shape)}]";

    /// <summary>
    /// Checks a shape against a type's block geometry and computes element count, row bytes and total bytes.
    /// Returns the problem in words, or null when the shape is valid. Shared by the reader and the writer.
    /// </summary>
    internal static string? CheckGeometry(ReadOnlySpan<long> shape, GgmlTypeInfo info, out long elementCount, out long rowBytes, out long byteSize)
    {
        elementCount = rowBytes = byteSize = 0;
        if (shape.Length is < 1 or > MaxDims) return $"has {shape.Length} dimensions; GGUF tensors have 1 to {MaxDims}";
        for (int d = 0; d < shape.Length; d++)
            if (shape[d] <= 0) return $"dimension {d} is {shape[d]}; dimensions must be positive";
        long count = 1;
        foreach (long dim in shape)
        {
            if (count > long.MaxValue / dim) return $"element count of shape [{string.Join(", ", shape.ToArray())}] overflows 64 bits";
            count *= dim;
        }
        if (shape[0] % info.BlockSize != 0)
            return $"row length {shape[0]} is not a multiple of the {info.Name} block size {info.BlockSize}";
        long row = shape[0] / info.BlockSize * info.BlockBytes;
        long rows = count / shape[0];
        if (rows > long.MaxValue / row) return $"byte size of shape [{string.Join(", ", shape.ToArray())}] overflows 64 bits";
        elementCount = count;
        rowBytes = row;
        byteSize = row * rows;
        return null;
    }

    /// <summary>GGML_MAX_DIMS.</summary>
    internal const int MaxDims = 4;

    /// <summary>
    /// Type ids ggml once assigned but that no longer name a storable format (removed, or repacked runtime-only
    /// layouts that llama.cpp no longer writes to files).
    /// </summary>
    internal static string? RetiredTypeName(uint id) => id switch
    {
        4 => "Q4_2",
        5 => "Q4_3",
        31 => "Q4_0_4_4",
        32 => "Q4_0_4_8",
        33 => "Q4_0_8_8",
        36 => "IQ4_NL_4_4",
        37 => "IQ4_NL_4_8",
        38 => "IQ4_NL_8_8",
        _ => null,
    };
}
