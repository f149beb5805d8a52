namespace Frugal.Quants;

/// <summary>
/// The compute kernels of one weight type. Every pointer may be null where the type has no such kernel.
/// Activations are quantized once into <see cref="VecDotType"/> and every weight row is dotted against them,
/// as llama.cpp does (Q8_0 for the 32-element blocks, Q8_K for the K-quants, F16/BF16 for half floats).
/// </summary>
public readonly unsafe struct TypeKernels
{
    public GgmlType Type { get; init; }

    /// <summary>The type activations are converted to before a dot product with a row of <see cref="Type"/>.</summary>
    public GgmlType VecDotType { get; init; }

    /// <summary>Reference dequantization of n elements (n a multiple of the block size): (src, dst, n).</summary>
    public delegate*<byte*, float*, int, void> Dequantize { get; init; }

    /// <summary>Quantization of n floats into this type (used for activation types): (src, dst, n).</summary>
    public delegate*<float*, byte*, int, void> Quantize { get; init; }

    /// <summary>Dot of one weight row of this type with n activations in <see cref="VecDotType"/>: (w, x, n) → sum.</summary>
    public delegate*<byte*, byte*, int, float> VecDot { get; init; }

    /// <summary>
    /// The dot for matrices whose row count is a multiple of 8, where this type has one: llama.cpp repacks such
    /// matrices into interleaved groups of 8 rows at load (Q4_0 on AVX2) and multiplies them with a kernel that sums
    /// each block in full before scaling, a different float order from <see cref="VecDot"/>. Null: use VecDot.
    /// </summary>
    public delegate*<byte*, byte*, int, float> VecDotRowGroups { get; init; }

    /// <summary>
    /// Tile kernel of <see cref="VecDot"/>: many rows × many tokens per call with each result bit-identical to VecDot
    /// (see <see cref="Tiles.DotTile"/>). Null where the type has none: call the dot per (row, token).
    /// </summary>
    public delegate*<in Tiles.DotTile, void> Tile { get; init; }

    /// <summary>Tile kernel of <see cref="VecDotRowGroups"/> (null where that is null).</summary>
    public delegate*<in Tiles.DotTile, void> TileRowGroups { get; init; }

    /// <summary>
    /// Load-time repacking into the type's 8-row-group layout (<see cref="Block32.Q4_0Packed"/>,
    /// <see cref="Block32.Q8_0Packed"/>), where this type has one: (plain, rows, cols) → whether it pays to pack that
    /// matrix here (shape, data and SIMD level allow it). Null: never packed.
    /// </summary>
    public delegate*<byte*, int, int, bool> ShouldPack { get; init; }

    /// <summary>Writes the packed form of a plain matrix: (plain, packed, rows, cols); same size as the plain matrix.</summary>
    public delegate*<byte*, byte*, int, int, void> Pack { get; init; }

    /// <summary>
    /// Tile kernel over a packed matrix: DotTile.Weights is the packed data of the tile's first row group, groups lie
    /// 8·WeightStride bytes apart (WeightStride = the plain row's bytes), Rows a multiple of 8. Every result has the
    /// bits of <see cref="DotForRows"/> on the plain rows (Q4_0: the row-group dot; Q8_0: its VecDot).
    /// </summary>
    public delegate*<in Tiles.DotTile, void> TilePacked { get; init; }

    public bool HasDot => VecDot != null;

    /// <summary>The dot llama.cpp would use for a matrix of <paramref name="rows"/> rows of this type.</summary>
    public delegate*<byte*, byte*, int, float> DotForRows(int rows) =>
        VecDotRowGroups != null && rows % 8 == 0 ? VecDotRowGroups : VecDot;

    /// <summary>The tile kernel matching <see cref="DotForRows"/> for a matrix of <paramref name="rows"/> rows; null when there is none.</summary>
    public delegate*<in Tiles.DotTile, void> TileForRows(int rows) =>
        VecDotRowGroups != null && rows % 8 == 0 ? TileRowGroups : Tile;
}

/// <summary>
/// Per-type kernel table. Each family of block formats registers its kernels from its own file
/// (partial methods below), so adding a type is a new file plus one line there.
/// </summary>
public static unsafe partial class QuantKernels
{
    private static readonly TypeKernels[] Table = BuildTable();

    private static TypeKernels[] BuildTable()
    {
        var table = new TypeKernels[64];
        RegisterFloatTypes(table);
        RegisterBlock32Types(table);
        RegisterKQuantTypes(table);
        return table;
    }

    static partial void RegisterFloatTypes(TypeKernels[] table);

    static partial void RegisterBlock32Types(TypeKernels[] table);

    static partial void RegisterKQuantTypes(TypeKernels[] table);

    /// <summary>
    /// Enters one type's kernels in the table. <paramref name="vecDot"/> is null for activation-only types
    /// (Q8_1, Q8_K), which convert but are never a weight row.
    /// </summary>
    private static void Register(TypeKernels[] table, GgmlType type, GgmlType vecDotType,
        delegate*<byte*, float*, int, void> dequantize, delegate*<float*, byte*, int, void> quantize,
        delegate*<byte*, byte*, int, float> vecDot, delegate*<byte*, byte*, int, float> vecDotRowGroups = null,
        delegate*<in Tiles.DotTile, void> tile = null, delegate*<in Tiles.DotTile, void> tileRowGroups = null,
        delegate*<byte*, int, int, bool> shouldPack = null, delegate*<byte*, byte*, int, int, void> pack = null,
        delegate*<in Tiles.DotTile, void> tilePacked = null)
    {
        table[(int)type] = new TypeKernels
        {
            Type = type,
            VecDotType = vecDotType,
            Dequantize = dequantize,
            Quantize = quantize,
            VecDot = vecDot,
            VecDotRowGroups = vecDotRowGroups,
            Tile = tile,
            TileRowGroups = tileRowGroups,
            ShouldPack = shouldPack,
            Pack = pack,
            TilePacked = tilePacked,
        };
    }

    /// <summary>A block struct's size must be ggml's bytes per block, or every row offset would be wrong.</summary>
    private static void CheckBlockBytes(GgmlType type, int structBytes)
    {
        int expected = GgmlTypes.Info(type).BlockBytes;
        if (structBytes != expected)
            throw new InvalidOperationException($"{GgmlTypes.Name(type)} block struct is {structBytes} bytes, ggml's is {expected}");
    }

    /// <summary>Kernels for a type; throws a clear error when the type has none here.</summary>
    public static ref readonly TypeKernels For(GgmlType type)
    {
        if ((uint)type < Table.Length && Table[(int)type].VecDot != null) return ref Table[(int)type];
        throw new NotSupportedException($"tensor type {GgmlTypes.Name(type)} has no compute kernels in Frugal");
    }

    /// <summary>True when matrices of this type can be multiplied here.</summary>
    public static bool Supports(GgmlType type) => (uint)type < Table.Length && Table[(int)type].VecDot != null;

    /// <summary>Kernels registered for a type, including types without a dot (activation-only types).</summary>
    public static TypeKernels Get(GgmlType type) => (uint)type < Table.Length ? Table[(int)type] : default;
}
