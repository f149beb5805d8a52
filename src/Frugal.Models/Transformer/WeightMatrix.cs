using Frugal.Gguf;
using Frugal.Quants;

namespace Frugal.Models.Transformer;

/// <summary>
/// A weight matrix in the memory-mapped file: Rows output features, each a row of Cols input features in
/// <see cref="Type"/>'s block format. GGUF shape [Cols, Rows] (ggml order: the contiguous dimension first).
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public WeightMatrix(string name, byte* data, GgmlType type, int rows, int cols)
    {
        Name = name;
        Data = data;
        Type = type;
        Rows = rows;
        Cols = cols;
        RowBytes = GgmlTypes.Info(type).RowBytes(cols);
    }

    public string Name { get; }
    public byte* Data { get; }
    public GgmlType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public long RowBytes { get; }

    public byte* Row(int row) => Data + row * RowBytes;

    public long ByteSize => RowBytes * Rows;

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
