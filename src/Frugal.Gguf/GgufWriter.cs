using System.Numerics;
using System.Text;
using Frugal.Quants;

namespace Frugal.Gguf;

/// <summary>
/// Builds a GGUF v2/v3 file: metadata in insertion order, then tensors laid out in insertion order, each at a
/// multiple of the alignment. <see cref="WriteTo"/> writes "&lt;path&gt;.tmp" and renames it over the target, so a
/// failed write never leaves a half-written file at the target path.
/// Tensor data added from a span is copied; tensors added from an open <see cref="GgufFile"/> are streamed from
/// its mapping at write time (keep that file open until <see cref="WriteTo"/> returns).
/// </summary>
public sealed unsafe class GgufWriter
{
    private readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);

    /// <summary>One tensor to write: its bytes are either owned (Data) or borrowed from an open file's mapping.</summary>
    private sealed record PendingTensor(string Name, long[] Shape, GgmlTypeInfo TypeInfo, long ByteSize,
        byte[]? Data, GgufFile? SourceFile, GgufTensorInfo? SourceTensor);

    public uint Version { get; }
    public uint Alignment { get; }

    public GgufWriter(uint version = 3, uint alignment = GgufFile.DefaultAlignment)
    {
        if (version is not (2 or 3))
            throw new ArgumentOutOfRangeException(nameof(version), version, "GGUF version must be 2 or 3");
        if (alignment == 0 || !BitOperations.IsPow2(alignment))
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "alignment must be a power of two");
        Version = version;
        Alignment = alignment;
    }

    /// <summary>
    /// A writer holding every metadata entry and tensor of <paramref name="source"/> (same version and alignment
    /// unless given); tensors are streamed from the source mapping at write time. Edit it, then <see cref="WriteTo"/>.
    /// </summary>
    public static GgufWriter CopyFrom(GgufFile source, uint? version = null, uint? alignment = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        var writer = new GgufWriter(version ?? source.Version, alignment ?? (uint)source.Alignment);
        foreach (var (key, value) in source.MetadataInOrder)
        {
            // The alignment key is derived from the writer's alignment, which may differ from the source's.
            if (key == GgufFile.AlignmentKey) continue;
            writer.AddMetadata(key, value);
        }
        foreach (var tensor in source.Tensors) writer.AddTensorFrom(source, tensor);
        return writer;
    }

    // ---- metadata ----

    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata => _metadata;

    /// <summary>Appends a key; order is preserved in the file. A duplicate key is an <see cref="ArgumentException"/>.</summary>
    public void AddMetadata(string key, GgufValue value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (IndexOfKey(key) >= 0) throw new ArgumentException($"duplicate metadata key '{key}'", nameof(key));
        CheckValue(key, value);
        _metadata.Add(new(key, value));
    }

    /// <summary>Replaces a key's value in place, or appends the key when it is new.</summary>
    public void SetMetadata(string key, GgufValue value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        CheckValue(key, value);
        int index = IndexOfKey(key);
        if (index >= 0) _metadata[index] = new(key, value);
        else _metadata.Add(new(key, value));
    }

    public bool RemoveMetadata(string key)
    {
        int index = IndexOfKey(key);
        if (index < 0) return false;
        _metadata.RemoveAt(index);
        return true;
    }

    private int IndexOfKey(string key) => _metadata.FindIndex(kv => string.Equals(kv.Key, key, StringComparison.Ordinal));

    /// <summary>Refuses values readers would refuse; general.alignment decides the layout, so it must agree with the writer's alignment.</summary>
    private void CheckValue(string key, GgufValue value)
    {
        if (value.Value is GgufArray array && NestingDepth(array) > GgufHeaderParser.MaxArrayDepth)
            throw new ArgumentException($"metadata key '{key}' nests arrays more than {GgufHeaderParser.MaxArrayDepth} deep, which readers refuse", nameof(value));
        if (key != GgufFile.AlignmentKey) return;
        if (value.Type != GgufValueType.UInt32 || (uint)value.Value != Alignment)
            throw new ArgumentException($"{GgufFile.AlignmentKey} must be the uint32 {Alignment} given to this writer, not {GgufValueTypes.Name(value.Type)} {value}", nameof(value));
    }

    private static int NestingDepth(GgufArray array)
    {
        int deepest = 0;
        foreach (var inner in array.ArrayElements) deepest = Math.Max(deepest, NestingDepth(inner));
        return 1 + deepest;
    }

    // ---- tensors ----

    public IReadOnlyList<string> TensorNames => _tensors.Select(t => t.Name).ToArray();

    /// <summary>
    /// Adds a tensor of <paramref name="shape"/> (ggml order, shape[0] = row length) whose bytes are copied from
    /// <paramref name="data"/>, which must hold exactly the bytes that shape and type need.
    /// </summary>
    public void AddTensor(string name, long[] shape, GgmlType type, ReadOnlySpan<byte> data)
    {
        var (info, byteSize) = CheckTensor(name, shape, type);
        if (data.Length != byteSize)
            throw new ArgumentException($"tensor '{name}' {info.Name} [{string.Join(", ", shape)}] needs {byteSize} bytes, but {data.Length} were given", nameof(data));
        AddPending(new PendingTensor(name, (long[])shape.Clone(), info, byteSize, data.ToArray(), null, null));
    }

    /// <summary>Adds a tensor of an open file (optionally renamed) without copying it now; its bytes are read at write time.</summary>
    public void AddTensorFrom(GgufFile source, GgufTensorInfo tensor, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(tensor);
        if (!ReferenceEquals(source.FindTensor(tensor.Name), tensor))
            throw new ArgumentException($"tensor '{tensor.Name}' does not belong to {source.Path}", nameof(tensor));
        name ??= tensor.Name;
        var (info, byteSize) = CheckTensor(name, tensor.Shape, tensor.Type);
        AddPending(new PendingTensor(name, tensor.Shape, info, byteSize, null, source, tensor));
    }

    public bool RemoveTensor(string name)
    {
        int index = _tensors.FindIndex(t => t.Name == name);
        if (index < 0) return false;
        _tensors.RemoveAt(index);
        _tensorNames.Remove(name);
        return true;
    }

    private (GgmlTypeInfo Info, long ByteSize) CheckTensor(string name, long[] shape, GgmlType type)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name.Length == 0) throw new ArgumentException("tensor name is empty", nameof(name));
        if (_tensorNames.Contains(name)) throw new ArgumentException($"duplicate tensor name '{name}'", nameof(name));
        if (!GgmlTypes.TryInfo((uint)type, out var info))
            throw new ArgumentOutOfRangeException(nameof(type), type, $"tensor '{name}' has unknown type id {(uint)type}");
        string? problem = GgufTensorInfo.CheckGeometry(shape, info, out _, out _, out long byteSize);
        if (problem is not null) throw new ArgumentException($"tensor '{name}' {problem}", nameof(shape));
        return (info, byteSize);
    }

    private void AddPending(PendingTensor tensor)
    {
        _tensors.Add(tensor);
        _tensorNames.Add(tensor.Name);
    }

    // ---- output ----

    /// <summary>
    /// Writes the file to "&lt;path&gt;.tmp", flushes it to disk and renames it to <paramref name="path"/>
    /// (replacing an existing file). On any failure the temporary file is deleted and the target is untouched.
    /// </summary>
    public void WriteTo(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        foreach (var t in _tensors)
            if (t.SourceFile is { IsDisposed: true })
                throw new ObjectDisposedException(t.SourceFile.Path, $"tensor '{t.Name}' comes from {t.SourceFile.Path}, which was disposed before WriteTo");

        string temporary = path + ".tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
            {
                Write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temporary); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes the whole file to <paramref name="stream"/> (positioned at its start).</summary>
    public void Write(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var output = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);

        var metadata = new List<KeyValuePair<string, GgufValue>>(_metadata);
        if (Alignment != GgufFile.DefaultAlignment && IndexOfKey(GgufFile.AlignmentKey) < 0)
            metadata.Insert(0, new(GgufFile.AlignmentKey, GgufValue.FromUInt32(Alignment)));

        output.Write(GgufFile.Magic);
        output.Write(Version);
        output.Write((ulong)_tensors.Count);
        output.Write((ulong)metadata.Count);
        foreach (var (key, value) in metadata)
        {
            WriteString(output, key);
            output.Write((uint)value.Type);
            WriteValue(output, value.Type, value.Value);
        }

        // Offsets are relative to the data section, each rounded up to the alignment.
        ulong offset = 0;
        var offsets = new ulong[_tensors.Count];
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            offsets[i] = offset;
            WriteString(output, t.Name);
            output.Write((uint)t.Shape.Length);
            foreach (long dim in t.Shape) output.Write((ulong)dim);
            output.Write((uint)t.TypeInfo.Type);
            output.Write(offset);
            offset = AlignUp(offset + (ulong)t.ByteSize);
        }

        long headerEnd = output.BaseStream.Position;
        if (_tensors.Count > 0) WritePadding(output, (long)AlignUp((ulong)headerEnd) - headerEnd);

        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            if (t.Data is not null) output.Write(t.Data);
            else WriteFromMapping(output, t);
            WritePadding(output, (long)(AlignUp(offsets[i] + (ulong)t.ByteSize) - (offsets[i] + (ulong)t.ByteSize)));
        }
        output.Flush();
    }

    private static void WriteFromMapping(BinaryWriter output, PendingTensor t)
    {
        byte* source = t.SourceFile!.TensorData(t.SourceTensor!); // throws ObjectDisposedException once unmapped
        const int chunk = 1 << 24;
        for (long done = 0; done < t.ByteSize; done += chunk)
            output.Write(new ReadOnlySpan<byte>(source + done, (int)Math.Min(chunk, t.ByteSize - done)));
    }

    private ulong AlignUp(ulong value) => (value + Alignment - 1) / Alignment * Alignment;

    private static void WritePadding(BinaryWriter output, long count)
    {
        Span<byte> zeros = stackalloc byte[64];
        zeros.Clear();
        while (count > 0)
        {
            int n = (int)Math.Min(count, zeros.Length);
            output.Write(zeros[..n]);
            count -= n;
        }
    }

    private static void WriteString(BinaryWriter output, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        output.Write((ulong)bytes.Length);
        output.Write(bytes);
    }

    private static void WriteValue(BinaryWriter output, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.UInt8: output.Write((byte)value); break;
            case GgufValueType.Int8: output.Write((sbyte)value); break;
            case GgufValueType.UInt16: output.Write((ushort)value); break;
            case GgufValueType.Int16: output.Write((short)value); break;
            case GgufValueType.UInt32: output.Write((uint)value); break;
            case GgufValueType.Int32: output.Write((int)value); break;
            case GgufValueType.Float32: output.Write((float)value); break;
            case GgufValueType.Bool: output.Write((byte)((bool)value ? 1 : 0)); break;
            case GgufValueType.String: WriteString(output, (string)value); break;
            case GgufValueType.Array: WriteArray(output, (GgufArray)value); break;
            case GgufValueType.UInt64: output.Write((ulong)value); break;
            case GgufValueType.Int64: output.Write((long)value); break;
            case GgufValueType.Float64: output.Write((double)value); break;
            default: throw new InvalidOperationException($"unknown GGUF value type {(uint)type}");
        }
    }

    private static void WriteArray(BinaryWriter output, GgufArray array)
    {
        output.Write((uint)array.ElementType);
        output.Write((ulong)array.Count);
        switch (array.ElementType)
        {
            case GgufValueType.String:
                foreach (string s in array.StringElements) WriteString(output, s);
                break;
            case GgufValueType.Array:
                foreach (var inner in array.ArrayElements) WriteArray(output, inner);
                break;
            default:
                output.Write(array.RawBytes); // already little-endian, FixedSize bytes per element
                break;
        }
    }
}
