// GGUF in brief (all integers little-endian; versions 2 and 3 share this layout, v3 only allowed big-endian files):
//
//   u32 magic "GGUF" (0x46554747) | u32 version | u64 tensor_count | u64 metadata_kv_count
//   metadata_kv_count × { string key | u32 value_type | value }
//   tensor_count × { string name | u32 n_dims (1..4) | n_dims × u64 ne (ne[0] = row length) | u32 ggml_type | u64 offset }
//   zero padding up to a multiple of the alignment  -> the data section starts here
//   tensor data: each tensor at data_start + offset, offsets multiples of the alignment, rows of whole blocks
//
//   string = u64 byte length + UTF-8 bytes (no terminator)
//   value  = fixed-size little-endian scalar (u8 i8 u16 i16 u32 i32 f32 bool(1 byte) u64 i64 f64), a string,
//            or an array = u32 element type | u64 count | count × element (arrays may nest)
//   alignment = metadata "general.alignment" (u32, a power of two), 32 when absent.
//
// GgufFile maps the whole file read-only and parses the header out of the mapping with a bounds check on every
// read; tensor data is never copied: TensorData hands out pointers into the mapping.

using System.IO.MemoryMappedFiles;
using Frugal.Quants;

namespace Frugal.Gguf;

/// <summary>
/// A GGUF model or vocabulary file, memory-mapped read-only. Metadata and the tensor directory are parsed once
/// in <see cref="Open"/>; tensor bytes stay in the mapping until <see cref="Dispose"/>. Any problem with the file
/// is reported as one <see cref="GgufException"/> "&lt;path&gt;: &lt;problem&gt;". Safe for concurrent readers;
/// do not dispose while another thread uses a tensor pointer.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian u32
    public const uint DefaultAlignment = 32;
    public const string AlignmentKey = "general.alignment";

    /// <summary>Bytes of the fixed header: magic, version, tensor count, metadata count.</summary>
    internal const int FixedHeaderBytes = 24;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base; // start of the file in the mapping; null once disposed
    private readonly Dictionary<string, GgufValue> _metadata;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;

    public string Path { get; }
    public uint Version { get; }
    public ulong Alignment { get; }

    /// <summary>File offset of the tensor data section. For a file without tensors it may lie past the end.</summary>
    public long DataOffset { get; }
    public long FileSize { get; }

    public IReadOnlyDictionary<string, GgufValue> Metadata => _metadata;
    public IReadOnlyList<KeyValuePair<string, GgufValue>> MetadataInOrder { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    private GgufFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePtr, long fileSize, GgufHeaderParser.Result header)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePtr;
        FileSize = fileSize;
        Version = header.Version;
        Alignment = header.Alignment;
        DataOffset = header.DataOffset;
        MetadataInOrder = header.Metadata.AsReadOnly();
        _metadata = header.MetadataByKey;
        Tensors = header.Tensors.AsReadOnly();
        _tensorsByName = header.TensorsByName;
    }

    /// <summary>Memory-maps <paramref name="path"/> read-only and parses its header; tensor data is not read.</summary>
    public static GgufFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0) throw new GgufException(path, "empty file name");
        if (Directory.Exists(path)) throw new GgufException(path, "is a directory, not a GGUF file");

        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        }
        catch (FileNotFoundException) { throw new GgufException(path, "file not found"); }
        catch (DirectoryNotFoundException) { throw new GgufException(path, "file not found (its directory does not exist)"); }
        catch (UnauthorizedAccessException) { throw new GgufException(path, "cannot read file: permission denied"); }
        catch (Exception e) when (e is IOException or NotSupportedException or ArgumentException)
        {
            throw new GgufException(path, $"cannot open file: {e.Message}", e);
        }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        byte* basePtr = null;
        try
        {
            long size = stream.Length;
            CheckStart(path, stream, size);
            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            basePtr += view.PointerOffset;

            var header = new GgufHeaderParser(path, basePtr, size).Parse();
            return new GgufFile(path, map, view, basePtr, size, header);
        }
        catch (Exception e)
        {
            if (basePtr != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            stream.Dispose();
            if (e is GgufException) throw;
            if (e is IOException or UnauthorizedAccessException)
                throw new GgufException(path, $"cannot map file into memory: {e.Message}", e);
            throw;
        }
    }

    /// <summary>Refuses empty, tiny and non-GGUF files before mapping them (a zero-length file cannot be mapped).</summary>
    private static void CheckStart(string path, FileStream stream, long size)
    {
        Span<byte> head = stackalloc byte[FixedHeaderBytes];
        int got = 0;
        while (got < head.Length && got < size)
        {
            int n = stream.Read(head[got..]);
            if (n == 0) break;
            got += n;
        }
        if (got >= 4)
        {
            uint magic = BitConverter.ToUInt32(head);
            if (magic != Magic) throw new GgufException(path, $"not a GGUF file: magic is {DescribeMagic(head[..4])}, expected \"GGUF\"");
        }
        if (size < FixedHeaderBytes)
            throw new GgufException(path, $"file too small to be GGUF: {size} bytes, but the fixed header alone takes {FixedHeaderBytes}");
        stream.Position = 0;
    }

    private static string DescribeMagic(ReadOnlySpan<byte> magic)
    {
        bool printable = true;
        foreach (byte b in magic) printable &= b is >= 0x20 and < 0x7f;
        string hex = Convert.ToHexString(magic);
        return printable ? $"\"{System.Text.Encoding.ASCII.GetString(magic)}\" (bytes {hex})" : $"bytes {hex}";
    }

    // ---- tensors ----

    public GgufTensorInfo? FindTensor(string name) => _tensorsByName.GetValueOrDefault(name);

    public GgufTensorInfo GetTensor(string name) =>
        FindTensor(name) ?? throw new GgufException(Path, $"missing required tensor '{name}'");

    /// <summary>Pointer to the tensor's first byte inside the mapping; valid until <see cref="Dispose"/>.</summary>
    public byte* TensorData(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!_tensorsByName.TryGetValue(tensor.Name, out var own) || !ReferenceEquals(own, tensor))
            throw new ArgumentException($"tensor '{tensor.Name}' does not belong to {Path}", nameof(tensor));
        ObjectDisposedException.ThrowIf(_base == null, this);
        return _base + DataOffset + (long)tensor.Offset;
    }

    /// <summary>The tensor's bytes as a span over the mapping; for tensors up to int.MaxValue bytes.</summary>
    public ReadOnlySpan<byte> TensorBytes(GgufTensorInfo tensor)
    {
        byte* data = TensorData(tensor);
        if (tensor.ByteSize > int.MaxValue)
            throw new GgufException(Path, $"tensor '{tensor.Name}' is {tensor.ByteSize} bytes, too large for a span; use TensorData");
        return new ReadOnlySpan<byte>(data, (int)tensor.ByteSize);
    }

    // ---- metadata ----

    public bool Contains(string key) => _metadata.ContainsKey(key);

    public string GetString(string key) => TryGetString(key) ?? throw Missing(key);

    /// <summary>Null when the key is absent; a key of another type is an error, not an absence.</summary>
    public string? TryGetString(string key)
    {
        if (!_metadata.TryGetValue(key, out var v)) return null;
        return v.Value as string ?? throw WrongType(key, v, "string");
    }

    public uint GetUInt32(string key) => TryGetUInt32(key) ?? throw Missing(key);

    /// <summary>Accepts any integer type whose value fits in uint32.</summary>
    public uint? TryGetUInt32(string key)
    {
        if (!TryGetInteger(key, "uint32", out Int128 v)) return null;
        if (v < uint.MinValue || v > uint.MaxValue) throw OutOfRange(key, v, "uint32");
        return (uint)v;
    }

    public int GetInt32(string key) => TryGetInt32(key) ?? throw Missing(key);

    /// <summary>Accepts any integer type whose value fits in int32.</summary>
    public int? TryGetInt32(string key)
    {
        if (!TryGetInteger(key, "int32", out Int128 v)) return null;
        if (v < int.MinValue || v > int.MaxValue) throw OutOfRange(key, v, "int32");
        return (int)v;
    }

    public ulong GetUInt64(string key) => TryGetUInt64(key) ?? throw Missing(key);

    /// <summary>Accepts any integer type whose value fits in uint64.</summary>
    public ulong? TryGetUInt64(string key)
    {
        if (!TryGetInteger(key, "uint64", out Int128 v)) return null;
        if (v < ulong.MinValue || v > ulong.MaxValue) throw OutOfRange(key, v, "uint64");
        return (ulong)v;
    }

    public float GetFloat32(string key) => TryGetFloat32(key) ?? throw Missing(key);

    /// <summary>Accepts float32, or float64 rounded to the nearest float32.</summary>
    public float? TryGetFloat32(string key)
    {
        if (!_metadata.TryGetValue(key, out var v)) return null;
        return v.Value switch
        {
            float f => f,
            double d => (float)d,
            _ => throw WrongType(key, v, "float32"),
        };
    }

    public bool GetBool(string key) => TryGetBool(key) ?? throw Missing(key);

    public bool? TryGetBool(string key)
    {
        if (!_metadata.TryGetValue(key, out var v)) return null;
        return v.Value is bool b ? b : throw WrongType(key, v, "bool");
    }

    public GgufArray GetArray(string key) => TryGetArray(key) ?? throw Missing(key);

    public GgufArray? TryGetArray(string key)
    {
        if (!_metadata.TryGetValue(key, out var v)) return null;
        return v.Value as GgufArray ?? throw WrongType(key, v, "array");
    }

    private bool TryGetInteger(string key, string expected, out Int128 value)
    {
        value = 0;
        if (!_metadata.TryGetValue(key, out var v)) return false;
        if (!GgufValueTypes.TryWiden(v.Value, out value)) throw WrongType(key, v, expected);
        return true;
    }

    private GgufException Missing(string key) => new(Path, $"missing required key '{key}'");

    private GgufException WrongType(string key, GgufValue v, string expected) =>
        new(Path, $"key '{key}' is {DescribeType(v)}, expected {expected}");

    private GgufException OutOfRange(string key, Int128 v, string target) =>
        new(Path, $"key '{key}' has value {v}, which does not fit in {target}");

    private static string DescribeType(GgufValue v) =>
        v.Value is GgufArray a ? $"array of {GgufValueTypes.Name(a.ElementType)}" : GgufValueTypes.Name(v.Type);

    // ---- lifetime ----

    public bool IsDisposed => _base == null;

    /// <summary>Unmaps the file. Pointers from <see cref="TensorData"/> become invalid; metadata stays readable.</summary>
    public void Dispose()
    {
        if (_base == null) return;
        _base = null;
        _view!.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map!.Dispose();
    }

    public override string ToString() => $"{Path} (GGUF v{Version}, {MetadataInOrder.Count} keys, {Tensors.Count} tensors)";
}
