using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Frugal.Gguf;

/// <summary>
/// A metadata array: <see cref="Count"/> elements of one <see cref="ElementType"/>. Elements are stored unboxed
/// (fixed-size types as their little-endian bytes, strings as a string[], nested arrays as a GgufArray[]) so that
/// 50k-entry vocabularies cost no per-element boxing; <see cref="Items"/> boxes lazily on first use.
/// Conversions (<see cref="AsInt32s"/>, ...) of an array read from a file throw <see cref="GgufException"/> naming
/// the file and key; for arrays built in code they throw <see cref="InvalidCastException"/> / <see cref="OverflowException"/>.
/// </summary>
public sealed class GgufArray : IEquatable<GgufArray>
{
    // Exactly one of these holds the elements, chosen by ElementType.
    private readonly byte[]? _raw;          // fixed-size elements: Count × FixedSize(ElementType) bytes, little-endian
    private readonly string[]? _strings;    // ElementType == String
    private readonly GgufArray[]? _arrays;  // ElementType == Array (each element may have its own element type)
    private IReadOnlyList<object>? _items;  // boxed view, built on demand

    // Where this array came from, for messages: the file and the metadata key (null when built in code).
    private readonly string? _filePath;
    private readonly string? _key;

    public GgufValueType ElementType { get; }
    public int Count { get; }

    internal GgufArray(GgufValueType elementType, int count, byte[]? raw, string[]? strings, GgufArray[]? arrays,
        string? filePath = null, string? key = null)
    {
        ElementType = elementType;
        Count = count;
        _raw = raw;
        _strings = strings;
        _arrays = arrays;
        _filePath = filePath;
        _key = key;
    }

    // ---- factories for the writer ----

    public static GgufArray FromStrings(IEnumerable<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        string[] copy = values.ToArray();
        for (int i = 0; i < copy.Length; i++)
            if (copy[i] is null) throw new ArgumentException($"string element #{i} is null", nameof(values));
        return new GgufArray(GgufValueType.String, copy.Length, null, copy, null);
    }

    /// <summary>An array of arrays; the inner arrays may differ in element type and length.</summary>
    public static GgufArray FromArrays(IEnumerable<GgufArray> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        GgufArray[] copy = values.ToArray();
        for (int i = 0; i < copy.Length; i++)
            if (copy[i] is null) throw new ArgumentException($"array element #{i} is null", nameof(values));
        return new GgufArray(GgufValueType.Array, copy.Length, null, null, copy);
    }

    public static GgufArray FromUInt8s(ReadOnlySpan<byte> values) => FromFixed(GgufValueType.UInt8, values);
    public static GgufArray FromInt8s(ReadOnlySpan<sbyte> values) => FromFixed(GgufValueType.Int8, values);
    public static GgufArray FromUInt16s(ReadOnlySpan<ushort> values) => FromFixed(GgufValueType.UInt16, values);
    public static GgufArray FromInt16s(ReadOnlySpan<short> values) => FromFixed(GgufValueType.Int16, values);
    public static GgufArray FromUInt32s(ReadOnlySpan<uint> values) => FromFixed(GgufValueType.UInt32, values);
    public static GgufArray FromInt32s(ReadOnlySpan<int> values) => FromFixed(GgufValueType.Int32, values);
    public static GgufArray FromFloat32s(ReadOnlySpan<float> values) => FromFixed(GgufValueType.Float32, values);
    public static GgufArray FromUInt64s(ReadOnlySpan<ulong> values) => FromFixed(GgufValueType.UInt64, values);
    public static GgufArray FromInt64s(ReadOnlySpan<long> values) => FromFixed(GgufValueType.Int64, values);
    public static GgufArray FromFloat64s(ReadOnlySpan<double> values) => FromFixed(GgufValueType.Float64, values);

    public static GgufArray FromBools(ReadOnlySpan<bool> values)
    {
        var raw = new byte[values.Length];
        for (int i = 0; i < raw.Length; i++) raw[i] = values[i] ? (byte)1 : (byte)0;
        return new GgufArray(GgufValueType.Bool, raw.Length, raw, null, null);
    }

    private static GgufArray FromFixed<T>(GgufValueType type, ReadOnlySpan<T> values) where T : unmanaged
    {
        byte[] raw = MemoryMarshal.AsBytes(values).ToArray();
        if (!BitConverter.IsLittleEndian) SwapToLittleEndian(raw, GgufValueTypes.FixedSize(type));
        return new GgufArray(type, values.Length, raw, null, null);
    }

    private static void SwapToLittleEndian(byte[] raw, int size)
    {
        if (size > 1)
            for (int i = 0; i < raw.Length; i += size) raw.AsSpan(i, size).Reverse();
    }

    // ---- element access ----

    /// <summary>Element i, boxed as in <see cref="GgufValue.Value"/> (a nested array is a GgufArray).</summary>
    public object this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), $"index {index} is outside the array of {Count}");
            if (_strings is not null) return _strings[index];
            if (_arrays is not null) return _arrays[index];
            return BoxFixed(index);
        }
    }

    /// <summary>All elements, boxed (built once, on first use).</summary>
    public IReadOnlyList<object> Items => _items ??= BuildItems();

    private IReadOnlyList<object> BuildItems()
    {
        var items = new object[Count];
        for (int i = 0; i < items.Length; i++) items[i] = this[i];
        return Array.AsReadOnly(items);
    }

    /// <summary>The raw little-endian bytes of a fixed-size element array (empty for strings and arrays).</summary>
    public ReadOnlySpan<byte> RawBytes => _raw;

    private object BoxFixed(int i)
    {
        ReadOnlySpan<byte> raw = _raw;
        return ElementType switch
        {
            GgufValueType.UInt8 => raw[i],
            GgufValueType.Int8 => (sbyte)raw[i],
            GgufValueType.Bool => raw[i] != 0,
            GgufValueType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]),
            GgufValueType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(raw[(i * 2)..]),
            GgufValueType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(raw[(i * 4)..]),
            GgufValueType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]),
            GgufValueType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]),
            GgufValueType.UInt64 => BinaryPrimitives.ReadUInt64LittleEndian(raw[(i * 8)..]),
            GgufValueType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]),
            GgufValueType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(raw[(i * 8)..]),
            _ => throw new InvalidOperationException($"array of {GgufValueTypes.Name(ElementType)} has no fixed-size elements"),
        };
    }

    /// <summary>Element i of an integer array widened to 128 bits (no range loss for any GGUF integer).</summary>
    private Int128 WideInteger(int i)
    {
        ReadOnlySpan<byte> raw = _raw;
        return ElementType switch
        {
            GgufValueType.UInt8 => raw[i],
            GgufValueType.Int8 => (sbyte)raw[i],
            GgufValueType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]),
            GgufValueType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(raw[(i * 2)..]),
            GgufValueType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(raw[(i * 4)..]),
            GgufValueType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]),
            GgufValueType.UInt64 => BinaryPrimitives.ReadUInt64LittleEndian(raw[(i * 8)..]),
            GgufValueType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]),
            _ => throw new InvalidOperationException("not an integer array"),
        };
    }

    // ---- typed conversions ----

    /// <summary>A copy of the elements of a string array.</summary>
    public string[] AsStrings()
    {
        if (_strings is null) throw WrongType("array of string");
        return (string[])_strings.Clone();
    }

    /// <summary>The nested arrays of an array of arrays.</summary>
    public GgufArray[] AsArrays()
    {
        if (_arrays is null) throw WrongType("array of array");
        return (GgufArray[])_arrays.Clone();
    }

    /// <summary>Elements of a float32 or float64 array as float32 (float64 rounded to nearest).</summary>
    public float[] AsFloat32s()
    {
        var result = new float[Count];
        ReadOnlySpan<byte> raw = _raw;
        switch (ElementType)
        {
            case GgufValueType.Float32:
                for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
                return result;
            case GgufValueType.Float64:
                for (int i = 0; i < result.Length; i++) result[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(raw[(i * 8)..]);
                return result;
            default:
                throw WrongType("array of float32 or float64");
        }
    }

    /// <summary>Elements of a float32 or float64 array as float64.</summary>
    public double[] AsFloat64s()
    {
        var result = new double[Count];
        ReadOnlySpan<byte> raw = _raw;
        switch (ElementType)
        {
            case GgufValueType.Float32:
                for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
                return result;
            case GgufValueType.Float64:
                for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadDoubleLittleEndian(raw[(i * 8)..]);
                return result;
            default:
                throw WrongType("array of float32 or float64");
        }
    }

    /// <summary>Elements of an array of any integer type as int32; every element must fit.</summary>
    public int[] AsInt32s()
    {
        if (!GgufValueTypes.IsInteger(ElementType)) throw WrongType("array of integers");
        var result = new int[Count];
        if (ElementType == GgufValueType.Int32)
        {
            ReadOnlySpan<byte> raw = _raw;
            for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]);
            return result;
        }
        for (int i = 0; i < result.Length; i++)
        {
            Int128 v = WideInteger(i);
            if (v < int.MinValue || v > int.MaxValue) throw OutOfRange(i, v, "int32");
            result[i] = (int)v;
        }
        return result;
    }

    /// <summary>Elements of an array of any integer type as int64; every element must fit.</summary>
    public long[] AsInt64s()
    {
        if (!GgufValueTypes.IsInteger(ElementType)) throw WrongType("array of integers");
        var result = new long[Count];
        for (int i = 0; i < result.Length; i++)
        {
            Int128 v = WideInteger(i);
            if (v < long.MinValue || v > long.MaxValue) throw OutOfRange(i, v, "int64");
            result[i] = (long)v;
        }
        return result;
    }

    /// <summary>Elements of a bool array.</summary>
    public bool[] AsBools()
    {
        if (ElementType != GgufValueType.Bool) throw WrongType("array of bool");
        var result = new bool[Count];
        for (int i = 0; i < result.Length; i++) result[i] = _raw![i] != 0;
        return result;
    }

    private Exception WrongType(string expected)
    {
        string problem = $"is array of {GgufValueTypes.Name(ElementType)}, expected {expected}";
        return _filePath is null
            ? new InvalidCastException($"array {problem}")
            : new GgufException(_filePath, $"key '{_key}' {problem}");
    }

    private Exception OutOfRange(int index, Int128 value, string target)
    {
        string problem = $"element #{index} is {value}, which does not fit in {target}";
        return _filePath is null
            ? new OverflowException($"array {problem}")
            : new GgufException(_filePath, $"key '{_key}' {problem}");
    }

    // ---- text and equality ----

    /// <summary>Summary such as: [string × 512: "&lt;unk&gt;", "&lt;s&gt;", "&lt;/s&gt;", ...]</summary>
    public override string ToString()
    {
        const int shown = 6;
        var sb = new StringBuilder();
        sb.Append('[').Append(GgufValueTypes.Name(ElementType)).Append(" × ").Append(Count);
        if (Count > 0) sb.Append(": ");
        for (int i = 0; i < Math.Min(Count, shown); i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(GgufValueTypes.FormatScalar(this[i]));
        }
        if (Count > shown) sb.Append(", ...");
        return sb.Append(']').ToString();
    }

    public bool Equals(GgufArray? other)
    {
        if (other is null || other.ElementType != ElementType || other.Count != Count) return false;
        if (ReferenceEquals(this, other)) return true;
        if (_raw is not null) return _raw.AsSpan().SequenceEqual(other._raw);
        if (_strings is not null)
        {
            for (int i = 0; i < Count; i++)
                if (!string.Equals(_strings[i], other._strings![i], StringComparison.Ordinal)) return false;
            return true;
        }
        for (int i = 0; i < Count; i++)
            if (!_arrays![i].Equals(other._arrays![i])) return false;
        return true;
    }

    public override bool Equals(object? obj) => Equals(obj as GgufArray);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(ElementType);
        hash.Add(Count);
        if (_raw is not null) hash.AddBytes(_raw.AsSpan(0, Math.Min(_raw.Length, 256)));
        else if (_strings is not null) { for (int i = 0; i < Math.Min(Count, 16); i++) hash.Add(_strings[i], StringComparer.Ordinal); }
        else { for (int i = 0; i < Math.Min(Count, 16); i++) hash.Add(_arrays![i]); }
        return hash.ToHashCode();
    }

    // ---- used by the writer ----

    internal IReadOnlyList<string> StringElements => _strings ?? [];
    internal IReadOnlyList<GgufArray> ArrayElements => _arrays ?? [];
}
