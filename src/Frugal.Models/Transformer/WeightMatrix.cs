using Frugal.Gguf;
using Frugal.Quants;

namespace Frugal.Models.Transformer;

/// <summary>
/// A weight matrix in the memory-mapped file: Rows output features, each a row of Cols input features in
/// <see cref="Type"/>'s block format. GGUF shape [Cols, Rows] (ggml order: the contiguous dimension first).
/// <para>
/// Data is always the plain layout (rows one after another), which row lookups (embeddings) and the reference
/// path read. Matrices bound for the matrix product may also carry <see cref="Packed"/>: a copy repacked at load
/// into the type's row-group layout [Rows/8 groups] (see TypeKernels.Pack), same size, owned by this matrix
/// until <see cref="ReleasePacked"/>.
/// </para>
/// </summary>
public readonly unsafe struct WeightMatrix
{
    private readonly NativeBuffer<byte>? _packedCopy;

    public WeightMatrix(string name, byte* data, GgmlType type, int rows, int cols)
    {
        Name = name;
        Data = data;
        Type = type;
        Rows = rows;
        Cols = cols;
        RowBytes = GgmlTypes.Info(type).RowBytes(cols);
    }

    private WeightMatrix(in WeightMatrix plain, NativeBuffer<byte> packedCopy)
        : this(plain.Name, plain.Data, plain.Type, plain.Rows, plain.Cols) => _packedCopy = packedCopy;

    /// <summary>The repacked copy for the matrix product, or null when the matrix is used in its plain layout.</summary>
    public byte* Packed => _packedCopy is null ? null : _packedCopy.Pointer;

    public string Name { get; }
    public byte* Data { get; }
    public GgmlType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public long RowBytes { get; }

    public byte* Row(int row) => Data + row * RowBytes;

    public long ByteSize => RowBytes * Rows;

    /// <summary>
    /// This matrix with a packed copy for the matrix product when its type packs matrices of this shape and data at
    /// the current SIMD level; otherwise this matrix unchanged. The packed kernels keep the bits of the dot the plain
    /// matrix would get (<see cref="TypeKernels.DotForRows"/>), so packing changes speed, never results.
    /// The result owns the copy: call <see cref="ReleasePacked"/> on it when the weights are disposed.
    /// </summary>
    public WeightMatrix WithPackedCopy()
    {
        var kernels = QuantKernels.Get(Type);
        if (_packedCopy is not null || kernels.Pack == null || Rows % 8 != 0) return this;
        if (!kernels.ShouldPack(Data, Rows, Cols)) return this;
        var copy = new NativeBuffer<byte>(ByteSize);
        kernels.Pack(Data, copy.Pointer, Rows, Cols);
        return new WeightMatrix(this, copy);
    }

    /// <summary>Frees the packed copy, if any (the plain data belongs to the file). Safe to call more than once.</summary>
    public void ReleasePacked() => _packedCopy?.Dispose();

    /// <summary>A matrix of the matrix product: <see cref="Bind"/>, then <see cref="WithPackedCopy"/>.</summary>
    public static WeightMatrix BindForProduct(GgufFile file, string name, int cols, int rows) =>
        Bind(file, name, cols, rows).WithPackedCopy();

    /// <summary>Binds a 2-D tensor, checking its shape is [cols, rows] and that Frugal can multiply its type.</summary>
    public static WeightMatrix Bind(GgufFile file, string name, int cols, int rows)
    {
        var tensor = file.GetTensor(name);
        if (tensor.Shape.Length != 2 || tensor.Shape[0] != cols || tensor.Shape[1] != rows)
        {
            throw new ModelLoadException(file.Path,
                $"tensor '{name}' has shape [{string.Join(", ", tensor.Shape)}], expected [{cols}, {rows}]");
        }
        if (!QuantKernels.Supports(tensor.Type))
        {
            throw new ModelLoadException(file.Path,
                $"tensor '{name}' has type {GgmlTypes.Name(tensor.Type)}, which Frugal cannot compute yet");
        }
        return new WeightMatrix(name, file.TensorData(tensor), tensor.Type, rows, cols);
    }
}
