using System.Globalization;
using System.Text;

namespace Frugal.Gguf;

/// <summary>Metadata value types, numbered as GGUF numbers them on disk.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>Facts about <see cref="GgufValueType"/> shared by the reader, the writer and messages.</summary>
public static class GgufValueTypes
{
    public static bool IsDefined(uint id) => id <= (uint)GgufValueType.Float64;

    /// <summary>Bytes one value of a fixed-size type takes on disk; 0 for strings and arrays.</summary>
    public static int FixedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>The fewest bytes one value of this type can take on disk (string: its u64 length; array: u32 type + u64 count).</summary>
    public static int MinEncodedSize(GgufValueType type) => type switch
    {
        GgufValueType.String => 8,
        GgufValueType.Array => 12,
        _ => FixedSize(type),
    };

    public static bool IsInteger(GgufValueType type) => type is GgufValueType.UInt8 or GgufValueType.Int8
        or GgufValueType.UInt16 or GgufValueType.Int16 or GgufValueType.UInt32 or GgufValueType.Int32
        or GgufValueType.UInt64 or GgufValueType.Int64;

    /// <summary>The lower-case name used in messages: uint8, int32, float32, bool, string, array, ...</summary>
    public static string Name(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => "uint8",
        GgufValueType.Int8 => "int8",
        GgufValueType.UInt16 => "uint16",
        GgufValueType.Int16 => "int16",
        GgufValueType.UInt32 => "uint32",
        GgufValueType.Int32 => "int32",
        GgufValueType.Float32 => "float32",
        GgufValueType.Bool => "bool",
        GgufValueType.String => "string",
        GgufValueType.Array => "array",
        GgufValueType.UInt64 => "uint64",
        GgufValueType.Int64 => "int64",
        GgufValueType.Float64 => "float64",
        _ => $"type{(uint)type}",
    };

    /// <summary>The CLR type a value of this GGUF type is boxed as.</summary>
    internal static Type ClrType(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.Array => typeof(GgufArray),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(type), $"unknown GGUF value type {(uint)type}"),
    };

    /// <summary>Widens a boxed integer of any GGUF integer type; false for non-integers.</summary>
    internal static bool TryWiden(object value, out Int128 wide)
    {
        switch (value)
        {
            case byte v: wide = v; return true;
            case sbyte v: wide = v; return true;
            case ushort v: wide = v; return true;
            case short v: wide = v; return true;
            case uint v: wide = v; return true;
            case int v: wide = v; return true;
            case ulong v: wide = v; return true;
            case long v: wide = v; return true;
            default: wide = 0; return false;
        }
    }

    /// <summary>Readable text of one scalar: strings quoted and escaped, numbers in invariant culture.</summary>
    internal static string FormatScalar(object value) => value switch
    {
        string s => Quote(s, 80),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        GgufArray a => a.ToString(),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Quotes a string for messages: control characters escaped, long strings cut with "...".</summary>
    internal static string Quote(string s, int maxChars)
    {
        var sb = new StringBuilder(Math.Min(s.Length, maxChars) + 8);
        sb.Append('"');
        int shown = 0;
        foreach (char c in s)
        {
            if (shown++ == maxChars) { sb.Append("..."); break; }
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
        return sb.ToString();
    }
}

/// <summary>
/// One metadata value. <see cref="Value"/> is a boxed primitive (byte, sbyte, ushort, short, uint, int, float,
/// bool, ulong, long, double), a string, or a <see cref="GgufArray"/>, matching <see cref="Type"/>.
/// Equality is structural (floats compare by bits, so NaN payloads round-trip).
/// </summary>
public sealed class GgufValue : IEquatable<GgufValue>
{
    public GgufValueType Type { get; }
    public object Value { get; }

    private GgufValue(GgufValueType type, object value)
    {
        Type = type;
        Value = value;
    }

    /// <summary>Wraps a boxed value whose CLR type must match <paramref name="type"/> exactly.</summary>
    public static GgufValue Create(GgufValueType type, object value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!GgufValueTypes.IsDefined((uint)type))
            throw new ArgumentOutOfRangeException(nameof(type), $"unknown GGUF value type {(uint)type}");
        Type expected = GgufValueTypes.ClrType(type);
        if (value.GetType() != expected)
            throw new ArgumentException($"a GGUF {GgufValueTypes.Name(type)} value must be a {expected.Name}, not a {value.GetType().Name}", nameof(value));
        return new GgufValue(type, value);
    }

    public static GgufValue FromUInt8(byte v) => new(GgufValueType.UInt8, v);
    public static GgufValue FromInt8(sbyte v) => new(GgufValueType.Int8, v);
    public static GgufValue FromUInt16(ushort v) => new(GgufValueType.UInt16, v);
    public static GgufValue FromInt16(short v) => new(GgufValueType.Int16, v);
    public static GgufValue FromUInt32(uint v) => new(GgufValueType.UInt32, v);
    public static GgufValue FromInt32(int v) => new(GgufValueType.Int32, v);
    public static GgufValue FromFloat32(float v) => new(GgufValueType.Float32, v);
    public static GgufValue FromBool(bool v) => new(GgufValueType.Bool, v);
    public static GgufValue FromUInt64(ulong v) => new(GgufValueType.UInt64, v);
    public static GgufValue FromInt64(long v) => new(GgufValueType.Int64, v);
    public static GgufValue FromFloat64(double v) => new(GgufValueType.Float64, v);

    public static GgufValue FromString(string v)
    {
        ArgumentNullException.ThrowIfNull(v);
        return new(GgufValueType.String, v);
    }

    public static GgufValue FromArray(GgufArray v)
    {
        ArgumentNullException.ThrowIfNull(v);
        return new(GgufValueType.Array, v);
    }

    /// <summary>Shorthand for an array of strings (e.g. tokenizer.ggml.tokens).</summary>
    public static GgufValue FromStrings(IEnumerable<string> v) => FromArray(GgufArray.FromStrings(v));
    public static GgufValue FromFloat32s(ReadOnlySpan<float> v) => FromArray(GgufArray.FromFloat32s(v));
    public static GgufValue FromInt32s(ReadOnlySpan<int> v) => FromArray(GgufArray.FromInt32s(v));

    /// <summary>Readable form: numbers as written, strings quoted, arrays summarized.</summary>
    public override string ToString() => GgufValueTypes.FormatScalar(Value);

    public bool Equals(GgufValue? other) =>
        other is not null && other.Type == Type && ValueEquals(Value, other.Value);

    public override bool Equals(object? obj) => Equals(obj as GgufValue);

    public override int GetHashCode() => HashCode.Combine(Type, ValueHash(Value));

    internal static bool ValueEquals(object a, object b) => (a, b) switch
    {
        (float x, float y) => BitConverter.SingleToInt32Bits(x) == BitConverter.SingleToInt32Bits(y),
        (double x, double y) => BitConverter.DoubleToInt64Bits(x) == BitConverter.DoubleToInt64Bits(y),
        (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
        (GgufArray x, GgufArray y) => x.Equals(y),
        _ => a.Equals(b),
    };

    internal static int ValueHash(object v) => v switch
    {
        float f => BitConverter.SingleToInt32Bits(f),
        double d => BitConverter.DoubleToInt64Bits(d).GetHashCode(),
        string s => StringComparer.Ordinal.GetHashCode(s),
        _ => v.GetHashCode(),
    };
}
