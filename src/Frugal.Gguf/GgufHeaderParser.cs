using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using Frugal.Quants;

namespace Frugal.Gguf;

/// <summary>
/// Parses a GGUF header out of mapped memory. Every read is bounds-checked against the file length and every
/// failure becomes one <see cref="GgufException"/> that says what was being read ("metadata key #12",
/// "tensor info #3 ('blk.0.attn_q.weight')") and what is wrong.
/// </summary>
internal sealed unsafe class GgufHeaderParser
{
    /// <summary>Deepest array-in-array nesting accepted (llama.cpp itself writes none).</summary>
    internal const int MaxArrayDepth = 8;

    // Smallest possible encodings, used to refuse counts that could not fit in the rest of the file.
    private const int MinMetadataEntryBytes = 8 + 4 + 1;     // empty key, value type, 1-byte value
    private const int MinTensorInfoBytes = 8 + 4 + 8 + 4 + 8; // empty name, n_dims, one dim, type, offset

    // Above these a count that does not fit in the file is called corrupt rather than the file truncated.
    private const ulong PlausibleHeaderCount = 1 << 20;
    private const ulong PlausibleArrayCount = 1 << 24;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly string _path;
    private readonly byte* _base;
    private readonly long _length;
    private long _pos;

    // What is being read, for messages; _part is set per entry (cheap), _element per array element (no allocation).
    private string _part = "header";
    private long _element = -1;
    private string? _currentKey;

    internal sealed class Result
    {
        public uint Version;
        public ulong Alignment;
        public long DataOffset;
        public List<KeyValuePair<string, GgufValue>> Metadata = [];
        public Dictionary<string, GgufValue> MetadataByKey = new(StringComparer.Ordinal);
        public List<GgufTensorInfo> Tensors = [];
        public Dictionary<string, GgufTensorInfo> TensorsByName = new(StringComparer.Ordinal);
    }

    public GgufHeaderParser(string path, byte* basePtr, long length)
    {
        _path = path;
        _base = basePtr;
        _length = length;
    }

    public Result Parse()
    {
        var result = new Result();
        _part = "the magic";
        uint magic = ReadU32();
        if (magic != GgufFile.Magic)
            throw Fail($"not a GGUF file: magic is bytes {Convert.ToHexString(new ReadOnlySpan<byte>(_base, 4))}, expected \"GGUF\"");

        _part = "the version";
        uint version = ReadU32();
        if (version is not (2 or 3))
        {
            if (version == 1) throw Fail("unsupported GGUF version 1 (the obsolete v1 layout with 32-bit counts); only versions 2 and 3 are supported");
            if (BinaryPrimitives.ReverseEndianness(version) is 2 or 3)
                throw Fail($"unsupported big-endian GGUF file (version field reads {version}); only little-endian files are supported");
            throw Fail($"unsupported GGUF version {version}; only versions 2 and 3 are supported");
        }
        result.Version = version;

        _part = "the tensor count";
        ulong tensorCount = ReadU64();
        _part = "the metadata count";
        ulong kvCount = ReadU64();
        // A count too large for the rest of the file means a truncated file or a corrupt count. Counts no real
        // file exceeds are refused now; smaller ones are left to the reads, which then name the entry cut short.
        long rest = _length - _pos;
        if (tensorCount > (ulong)(rest / MinTensorInfoBytes) && tensorCount > PlausibleHeaderCount)
            throw Fail($"tensor count {tensorCount} is larger than could fit in the file ({_length} bytes; each tensor info takes at least {MinTensorInfoBytes})");
        if (kvCount > (ulong)(rest / MinMetadataEntryBytes) && kvCount > PlausibleHeaderCount)
            throw Fail($"metadata key/value count {kvCount} is larger than could fit in the file ({_length} bytes; each entry takes at least {MinMetadataEntryBytes})");

        ReadMetadata(result, (long)kvCount);
        result.Alignment = ReadAlignment(result);
        ReadTensorInfos(result, (long)tensorCount);

        // The data section starts at the next multiple of the alignment after the tensor directory.
        ulong alignment = result.Alignment;
        ulong dataOffset = ((ulong)_pos + alignment - 1) / alignment * alignment;
        result.DataOffset = (long)dataOffset;
        CheckTensorPlacement(result);
        return result;
    }

    // ---- metadata ----

    private void ReadMetadata(Result result, long count)
    {
        var firstIndex = new Dictionary<string, long>(StringComparer.Ordinal);
        for (long i = 0; i < count; i++)
        {
            _part = $"metadata key #{i}";
            string key = ReadString();
            _currentKey = key;
            _part = $"the value type of metadata key #{i} ('{key}')";
            uint typeId = ReadU32();
            if (!GgufValueTypes.IsDefined(typeId))
                throw Fail($"metadata key '{key}' (#{i}) has unknown value type {typeId}");
            _part = $"the value of metadata key #{i} ('{key}')";
            GgufValue value = ReadValue((GgufValueType)typeId);

            if (!firstIndex.TryAdd(key, i))
                throw Fail($"duplicate metadata key '{key}' (entries #{firstIndex[key]} and #{i})");
            result.Metadata.Add(new KeyValuePair<string, GgufValue>(key, value));
            result.MetadataByKey.Add(key, value);
        }
        _currentKey = null;
    }

    private GgufValue ReadValue(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => GgufValue.FromUInt8(ReadU8()),
        GgufValueType.Int8 => GgufValue.FromInt8((sbyte)ReadU8()),
        GgufValueType.UInt16 => GgufValue.FromUInt16(BinaryPrimitives.ReadUInt16LittleEndian(Take(2))),
        GgufValueType.Int16 => GgufValue.FromInt16(BinaryPrimitives.ReadInt16LittleEndian(Take(2))),
        GgufValueType.UInt32 => GgufValue.FromUInt32(ReadU32()),
        GgufValueType.Int32 => GgufValue.FromInt32((int)ReadU32()),
        GgufValueType.Float32 => GgufValue.FromFloat32(BinaryPrimitives.ReadSingleLittleEndian(Take(4))),
        GgufValueType.Bool => GgufValue.FromBool(ReadU8() != 0),
        GgufValueType.String => GgufValue.FromString(ReadString()),
        GgufValueType.Array => GgufValue.FromArray(ReadArray(1)),
        GgufValueType.UInt64 => GgufValue.FromUInt64(ReadU64()),
        GgufValueType.Int64 => GgufValue.FromInt64((long)ReadU64()),
        GgufValueType.Float64 => GgufValue.FromFloat64(BinaryPrimitives.ReadDoubleLittleEndian(Take(8))),
        _ => throw Fail($"unknown value type {(uint)type}"),
    };

    private GgufArray ReadArray(int depth)
    {
        if (depth > MaxArrayDepth)
            throw Fail($"array nesting too deep in {Where()}: more than {MaxArrayDepth} levels");
        uint typeId = ReadU32();
        if (!GgufValueTypes.IsDefined(typeId))
            throw Fail($"{Where()}: array has unknown element type {typeId}");
        var type = (GgufValueType)typeId;
        ulong count = ReadU64();
        long rest = _length - _pos;
        int minSize = GgufValueTypes.MinEncodedSize(type);
        if (count > (ulong)(rest / minSize))
        {
            throw Fail(count <= PlausibleArrayCount
                ? $"truncated while reading {Where()}: array of {count} {GgufValueTypes.Name(type)} elements needs at least {count * (ulong)minSize} bytes, but only {rest} are left"
                : $"{Where()}: array of {count} {GgufValueTypes.Name(type)} elements cannot fit in the {rest} bytes left in the file");
        }
        if (count > (ulong)Array.MaxLength)
            throw Fail($"{_part}: array of {count} elements is too long to load");
        int n = (int)count;

        long outerElement = _element;
        try
        {
            switch (type)
            {
                case GgufValueType.String:
                {
                    var strings = new string[n];
                    for (int i = 0; i < n; i++)
                    {
                        _element = i;
                        strings[i] = ReadString();
                    }
                    return new GgufArray(type, n, null, strings, null, _path, _currentKey);
                }
                case GgufValueType.Array:
                {
                    var arrays = new GgufArray[n];
                    for (int i = 0; i < n; i++)
                    {
                        _element = i;
                        arrays[i] = ReadArray(depth + 1);
                    }
                    return new GgufArray(type, n, null, null, arrays, _path, _currentKey);
                }
                default:
                {
                    // Fixed-size elements: one bounds check, one copy of the little-endian bytes.
                    long bytes = (long)n * minSize;
                    if (bytes > Array.MaxLength) throw Fail($"{_part}: array of {n} elements is too large to load");
                    byte[] raw = Take((int)bytes).ToArray();
                    return new GgufArray(type, n, raw, null, null, _path, _currentKey);
                }
            }
        }
        finally
        {
            _element = outerElement;
        }
    }

    private ulong ReadAlignment(Result result)
    {
        if (!result.MetadataByKey.TryGetValue(GgufFile.AlignmentKey, out var value)) return GgufFile.DefaultAlignment;
        if (!GgufValueTypes.TryWiden(value.Value, out Int128 wide))
            throw Fail($"bad alignment: {GgufFile.AlignmentKey} is {GgufValueTypes.Name(value.Type)}, expected uint32");
        if (wide <= 0 || wide > uint.MaxValue || !BitOperations.IsPow2((ulong)wide))
            throw Fail($"bad alignment: {GgufFile.AlignmentKey} is {wide}, must be a power of two that fits in uint32");
        return (ulong)wide;
    }

    // ---- tensor directory ----

    private void ReadTensorInfos(Result result, long count)
    {
        var firstIndex = new Dictionary<string, long>(StringComparer.Ordinal);
        Span<long> dims = stackalloc long[GgufTensorInfo.MaxDims];
        for (long i = 0; i < count; i++)
        {
            _part = $"tensor info #{i}";
            string name = ReadString();
            _part = $"tensor info #{i} ('{name}')";
            uint nDims = ReadU32();
            if (nDims is 0 or > GgufTensorInfo.MaxDims)
                throw Fail($"tensor '{name}' has {nDims} dimensions; GGUF tensors have 1 to {GgufTensorInfo.MaxDims}");
            for (int d = 0; d < nDims; d++)
            {
                ulong dim = ReadU64();
                // ggml stores ne as int64: a u64 above long.MaxValue is a negative dimension.
                if (dim == 0 || dim > long.MaxValue)
                    throw Fail($"tensor '{name}' dimension {d} is {(long)dim}; dimensions must be positive");
                dims[d] = (long)dim;
            }
            uint typeId = ReadU32();
            ulong offset = ReadU64();

            if (!GgmlTypes.TryInfo(typeId, out GgmlTypeInfo typeInfo))
            {
                string? retired = GgufTensorInfo.RetiredTypeName(typeId);
                throw Fail(retired is not null
                    ? $"tensor '{name}' has type {typeId} ({retired}), which is unsupported: ggml no longer stores that layout in files"
                    : $"tensor '{name}' has unknown type id {typeId}");
            }
            long[] shape = dims[..(int)nDims].ToArray();
            string? problem = GgufTensorInfo.CheckGeometry(shape, typeInfo, out long elements, out long rowBytes, out long byteSize);
            if (problem is not null) throw Fail($"tensor '{name}' {problem}");
            if (offset % result.Alignment != 0)
                throw Fail($"tensor '{name}' offset {offset} is misaligned: not a multiple of the alignment {result.Alignment}");
            if (!firstIndex.TryAdd(name, i))
                throw Fail($"duplicate tensor name '{name}' (tensor infos #{firstIndex[name]} and #{i})");

            var info = new GgufTensorInfo(name, shape, typeInfo, offset, elements, rowBytes, byteSize);
            result.Tensors.Add(info);
            result.TensorsByName.Add(name, info);
        }
    }

    private void CheckTensorPlacement(Result result)
    {
        if (result.Tensors.Count == 0) return; // vocabulary-only files may end right after the header
        if (result.DataOffset > _length)
            throw Fail($"truncated data section: the file ends at byte {_length}, before the tensor data that starts at byte {result.DataOffset}");
        ulong available = (ulong)(_length - result.DataOffset);
        foreach (var t in result.Tensors)
        {
            if (t.Offset > available || (ulong)t.ByteSize > available - t.Offset)
            {
                ulong start = (ulong)result.DataOffset + t.Offset;
                throw Fail($"tensor '{t.Name}' data (file bytes {start} to {start + (ulong)t.ByteSize}) reaches past the end of the file ({_length} bytes): truncated data section or bad offset");
            }
        }
    }

    // ---- bounds-checked primitive reads ----

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _length - _pos) throw Truncated(count);
        var span = new ReadOnlySpan<byte>(_base + _pos, count);
        _pos += count;
        return span;
    }

    private byte ReadU8() => Take(1)[0];
    private uint ReadU32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    private ulong ReadU64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    private string ReadString()
    {
        long at = _pos;
        ulong length = ReadU64();
        long rest = _length - _pos;
        if (length > (ulong)rest)
        {
            // A length that would fit in a file of this size means the file was cut short; a larger one is garbage.
            throw Fail(length <= (ulong)_length
                ? $"truncated while reading {Where()}: string of {length} bytes at byte {at} runs past the end of the file ({rest} bytes left)"
                : $"{Where()}: string length {length} at byte {at} is longer than the rest of the file ({rest} bytes left)");
        }
        if (length > int.MaxValue)
            throw Fail($"{Where()}: string length {length} at byte {at} is too long to load");
        if (length == 0) return string.Empty;
        string s = Utf8.GetString(_base + _pos, (int)length);
        _pos += (long)length;
        return s;
    }

    private string Where() => _element >= 0 ? $"{_part}, array element #{_element}" : _part;

    private GgufException Truncated(int wanted) =>
        Fail($"truncated while reading {Where()}: needed {wanted} bytes at byte {_pos}, but the file ends at byte {_length}");

    private GgufException Fail(string problem) => new(_path, problem);
}
