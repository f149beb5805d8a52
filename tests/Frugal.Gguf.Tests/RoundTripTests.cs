using System.Runtime.InteropServices;
using Frugal.Quants;

namespace Frugal.Gguf.Tests;

/// <summary>Writer → reader round trips; self-contained (no ../shared).</summary>
public sealed class RoundTripTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>Every value type, edge values, strings with odd content, arrays of each type, nested arrays.</summary>
    private static List<KeyValuePair<string, GgufValue>> AllValueKinds() =>
    [
        new("general.architecture", GgufValue.FromString("llama")),
        new("t.u8", GgufValue.FromUInt8(byte.MaxValue)),
        new("t.i8", GgufValue.FromInt8(sbyte.MinValue)),
        new("t.u16", GgufValue.FromUInt16(ushort.MaxValue)),
        new("t.i16", GgufValue.FromInt16(short.MinValue)),
        new("t.u32", GgufValue.FromUInt32(uint.MaxValue)),
        new("t.i32", GgufValue.FromInt32(int.MinValue)),
        new("t.f32", GgufValue.FromFloat32(-0.0f)),
        new("t.f32nan", GgufValue.FromFloat32(BitConverter.Int32BitsToSingle(0x7fc01234))),
        new("t.bool_true", GgufValue.FromBool(true)),
        new("t.bool_false", GgufValue.FromBool(false)),
        new("t.str_empty", GgufValue.FromString("")),
        new("t.str_odd", GgufValue.FromString("línea 1\nline\t2 \0 中文 🦙 \"quoted\"")),
        new("t.u64", GgufValue.FromUInt64(ulong.MaxValue)),
        new("t.i64", GgufValue.FromInt64(long.MinValue)),
        new("t.f64", GgufValue.FromFloat64(double.Epsilon)),
        new("t.arr_u8", GgufValue.FromArray(GgufArray.FromUInt8s([0, 1, 255]))),
        new("t.arr_i8", GgufValue.FromArray(GgufArray.FromInt8s([-128, 0, 127]))),
        new("t.arr_u16", GgufValue.FromArray(GgufArray.FromUInt16s([0, 65535]))),
        new("t.arr_i16", GgufValue.FromArray(GgufArray.FromInt16s([-32768, 32767]))),
        new("t.arr_u32", GgufValue.FromArray(GgufArray.FromUInt32s([0, uint.MaxValue]))),
        new("t.arr_i32", GgufValue.FromInt32s([-1, 0, int.MaxValue])),
        new("t.arr_f32", GgufValue.FromFloat32s([1.5f, float.NegativeInfinity, 3e-38f])),
        new("t.arr_bool", GgufValue.FromArray(GgufArray.FromBools([true, false, true]))),
        new("t.arr_u64", GgufValue.FromArray(GgufArray.FromUInt64s([ulong.MaxValue]))),
        new("t.arr_i64", GgufValue.FromArray(GgufArray.FromInt64s([long.MinValue, 5]))),
        new("t.arr_f64", GgufValue.FromArray(GgufArray.FromFloat64s([Math.PI, -1e300]))),
        new("t.arr_empty", GgufValue.FromArray(GgufArray.FromInt32s([]))),
        new("t.arr_str", GgufValue.FromStrings(["<unk>", "", "Ġthe", "▁hello", "\u00ff\n"])),
        new("t.arr_nested", GgufValue.FromArray(GgufArray.FromArrays(
        [
            GgufArray.FromStrings(["a", "b"]),
            GgufArray.FromFloat32s([1f]),
            GgufArray.FromArrays([GgufArray.FromInt64s([7, 8]), GgufArray.FromArrays([])]),
            GgufArray.FromUInt8s([]),
        ]))),
    ];

    /// <summary>(name, shape, type) of tensors in several formats and ranks.</summary>
    private static readonly (string Name, long[] Shape, GgmlType Type)[] SomeTensors =
    [
        ("f32.matrix", [3, 2], GgmlType.F32),
        ("f16.vector", [5], GgmlType.F16),
        ("q4_0.matrix", [64, 3], GgmlType.Q4_0),
        ("q8_0.cube", [32, 1, 2], GgmlType.Q8_0),
        ("q4_k.matrix", [256, 2], GgmlType.Q4_K),
        ("q6_k.vector", [256], GgmlType.Q6_K),
        ("i32.4d", [2, 2, 2, 2], GgmlType.I32),
        ("bf16.matrix", [7, 3], GgmlType.BF16),
    ];

    private static byte[] RandomBytes(long count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static long ByteSize(long[] shape, GgmlType type)
    {
        var info = GgmlTypes.Info(type);
        return shape.Aggregate(1L, (a, b) => a * b) / info.BlockSize * info.BlockBytes;
    }

    public static TheoryData<uint, uint> VersionsAndAlignments() => new()
    {
        { 3, 32 }, { 2, 32 }, { 3, 1 }, { 3, 64 }, { 2, 256 }, { 3, 4096 },
    };

    [Theory]
    [MemberData(nameof(VersionsAndAlignments))]
    public void EverythingWrittenIsReadBack(uint version, uint alignment)
    {
        var writer = new GgufWriter(version, alignment);
        var metadata = AllValueKinds();
        foreach (var (key, value) in metadata) writer.AddMetadata(key, value);
        var data = new Dictionary<string, byte[]>();
        for (int i = 0; i < SomeTensors.Length; i++)
        {
            var (name, shape, type) = SomeTensors[i];
            data[name] = RandomBytes(ByteSize(shape, type), seed: i);
            writer.AddTensor(name, shape, type, data[name]);
        }
        string path = _dir.File($"rt-v{version}-a{alignment}.gguf");
        writer.WriteTo(path);
        Assert.False(File.Exists(path + ".tmp"));

        using var file = GgufFile.Open(path);
        Assert.Equal(version, file.Version);
        Assert.Equal(alignment, file.Alignment);
        Assert.Equal(0, file.DataOffset % alignment);

        // Metadata: same order, same values; the alignment key is added first when it is not the default.
        var read = file.MetadataInOrder.ToList();
        if (alignment != 32)
        {
            Assert.Equal("general.alignment", read[0].Key);
            Assert.Equal(GgufValue.FromUInt32(alignment), read[0].Value);
            read.RemoveAt(0);
        }
        else Assert.False(file.Contains("general.alignment"));
        Assert.Equal(metadata.Select(kv => kv.Key), read.Select(kv => kv.Key));
        for (int i = 0; i < metadata.Count; i++)
        {
            Assert.Equal(metadata[i].Value.Type, read[i].Value.Type);
            Assert.True(metadata[i].Value.Equals(read[i].Value), $"{metadata[i].Key}: wrote {metadata[i].Value}, read {read[i].Value}");
            Assert.Equal(metadata[i].Value.GetHashCode(), read[i].Value.GetHashCode());
        }

        // Tensors: same order, shape, type and bytes; every offset aligned; the file ends after the padded last tensor.
        Assert.Equal(SomeTensors.Select(t => t.Name), file.Tensors.Select(t => t.Name));
        foreach (var (name, shape, type) in SomeTensors)
        {
            var t = file.GetTensor(name);
            Assert.Equal(shape, t.Shape);
            Assert.Equal(type, t.Type);
            Assert.Equal(0ul, t.Offset % alignment);
            Assert.Equal(data[name].Length, t.ByteSize);
            Assert.Equal(shape.Aggregate(1L, (a, b) => a * b), t.ElementCount);
            Assert.Equal(data[name], file.TensorBytes(t).ToArray());
            unsafe { Assert.Equal(data[name], new ReadOnlySpan<byte>(file.TensorData(t), data[name].Length).ToArray()); }
        }
        var last = file.Tensors[^1];
        long end = file.DataOffset + (long)last.Offset + last.ByteSize;
        Assert.Equal((end + alignment - 1) / alignment * alignment, file.FileSize);
    }

    [Fact]
    public void ScalarValuesKeepTheirExactClrTypes()
    {
        string path = Write(w => { foreach (var (k, v) in AllValueKinds()) w.AddMetadata(k, v); });
        using var file = GgufFile.Open(path);
        Assert.IsType<byte>(file.Metadata["t.u8"].Value);
        Assert.IsType<sbyte>(file.Metadata["t.i8"].Value);
        Assert.IsType<ushort>(file.Metadata["t.u16"].Value);
        Assert.IsType<short>(file.Metadata["t.i16"].Value);
        Assert.IsType<uint>(file.Metadata["t.u32"].Value);
        Assert.IsType<int>(file.Metadata["t.i32"].Value);
        Assert.IsType<float>(file.Metadata["t.f32"].Value);
        Assert.IsType<bool>(file.Metadata["t.bool_true"].Value);
        Assert.IsType<ulong>(file.Metadata["t.u64"].Value);
        Assert.IsType<long>(file.Metadata["t.i64"].Value);
        Assert.IsType<double>(file.Metadata["t.f64"].Value);
        Assert.True(float.IsNegative((float)file.Metadata["t.f32"].Value)); // -0.0 kept
        Assert.Equal(0x7fc01234, BitConverter.SingleToInt32Bits((float)file.Metadata["t.f32nan"].Value));
        Assert.Equal("línea 1\nline\t2 \0 中文 🦙 \"quoted\"", file.GetString("t.str_odd"));
        Assert.Equal("", file.GetString("t.str_empty"));

        var nested = file.GetArray("t.arr_nested");
        Assert.Equal(GgufValueType.Array, nested.ElementType);
        Assert.Equal(4, nested.Count);
        var inner = nested.AsArrays();
        Assert.Equal(["a", "b"], inner[0].AsStrings());
        Assert.Equal([1f], inner[1].AsFloat32s());
        Assert.Equal([7L, 8L], inner[2].AsArrays()[0].AsInt64s());
        Assert.Equal(0, inner[2].AsArrays()[1].Count);
        Assert.IsType<GgufArray>(nested.Items[2]);
        Assert.Equal(GgufValueType.UInt8, inner[3].ElementType);

        Assert.Equal(new object[] { (byte)0, (byte)1, (byte)255 }, file.GetArray("t.arr_u8").Items);
        Assert.Equal([true, false, true], file.GetArray("t.arr_bool").AsBools());
        Assert.Equal((sbyte)-128, file.GetArray("t.arr_i8")[0]);
        Assert.Equal((short)32767, file.GetArray("t.arr_i16")[1]);
    }

    [Fact]
    public void TypedGettersConvertWhereSafeAndNameTheProblemOtherwise()
    {
        string path = Write(w =>
        {
            w.AddMetadata("small.u8", GgufValue.FromUInt8(7));
            w.AddMetadata("small.i64", GgufValue.FromInt64(123));
            w.AddMetadata("negative", GgufValue.FromInt32(-5));
            w.AddMetadata("huge", GgufValue.FromUInt64(1UL << 40));
            w.AddMetadata("double", GgufValue.FromFloat64(0.25));
            w.AddMetadata("name", GgufValue.FromString("x"));
            w.AddMetadata("flag", GgufValue.FromBool(true));
            w.AddMetadata("ids", GgufValue.FromArray(GgufArray.FromUInt64s([1, 2, 1UL << 33])));
            w.AddMetadata("halves", GgufValue.FromArray(GgufArray.FromFloat64s([0.5, 1.5])));
            w.AddMetadata("u16s", GgufValue.FromArray(GgufArray.FromUInt16s([1, 65535])));
        });
        using var file = GgufFile.Open(path);

        Assert.Equal(7u, file.GetUInt32("small.u8"));
        Assert.Equal(7, file.GetInt32("small.u8"));
        Assert.Equal(123u, file.GetUInt32("small.i64"));
        Assert.Equal(-5, file.GetInt32("negative"));
        Assert.Equal(1UL << 40, file.GetUInt64("huge"));
        Assert.Equal(0.25f, file.GetFloat32("double"));
        Assert.True(file.GetBool("flag"));
        Assert.Equal([0.5f, 1.5f], file.GetArray("halves").AsFloat32s());
        Assert.Equal([1, 65535], file.GetArray("u16s").AsInt32s());
        Assert.Equal([1L, 2L, 1L << 33], file.GetArray("ids").AsInt64s());

        Assert.Null(file.TryGetString("absent"));
        Assert.Null(file.TryGetUInt32("absent"));
        Assert.Null(file.TryGetInt32("absent"));
        Assert.Null(file.TryGetFloat32("absent"));
        Assert.Null(file.TryGetBool("absent"));
        Assert.Null(file.TryGetArray("absent"));
        Assert.Equal(7u, file.TryGetUInt32("small.u8"));
        Assert.False(file.Contains("absent"));
        Assert.True(file.Contains("flag"));

        AssertProblem(path, "missing required key 'absent'", () => file.GetString("absent"));
        AssertProblem(path, "missing required key 'absent'", () => file.GetUInt32("absent"));
        AssertProblem(path, "key 'name' is string, expected uint32", () => file.GetUInt32("name"));
        AssertProblem(path, "key 'small.u8' is uint8, expected string", () => file.GetString("small.u8"));
        AssertProblem(path, "key 'name' is string, expected float32", () => file.GetFloat32("name"));
        AssertProblem(path, "key 'flag' is bool, expected array", () => file.GetArray("flag"));
        AssertProblem(path, "key 'ids' is array of uint64, expected bool", () => file.GetBool("ids"));
        AssertProblem(path, "key 'negative' has value -5, which does not fit in uint32", () => file.GetUInt32("negative"));
        AssertProblem(path, "key 'huge' has value 1099511627776, which does not fit in int32", () => file.GetInt32("huge"));
        AssertProblem(path, "key 'name' is string, expected int32", () => file.TryGetInt32("name"));
        AssertProblem(path, "key 'ids' element #2 is 8589934592, which does not fit in int32", () => file.GetArray("ids").AsInt32s());
        AssertProblem(path, "key 'ids' is array of uint64, expected array of string", () => file.GetArray("ids").AsStrings());
        AssertProblem(path, "key 'ids' is array of uint64, expected array of float32 or float64", () => file.GetArray("ids").AsFloat32s());
    }

    [Fact]
    public void ArraysBuiltInCodeThrowOrdinaryExceptions()
    {
        Assert.Throws<OverflowException>(() => GgufArray.FromInt64s([1L << 40]).AsInt32s());
        Assert.Throws<InvalidCastException>(() => GgufArray.FromInt32s([1]).AsStrings());
        Assert.Throws<ArgumentOutOfRangeException>(() => GgufArray.FromInt32s([1])[1]);
        Assert.Equal([1, -2], GgufArray.FromInt8s([1, -2]).AsInt32s());
    }

    [Fact]
    public void ValuesPrintReadably()
    {
        Assert.Equal("\"llama\"", GgufValue.FromString("llama").ToString());
        Assert.Equal("\"a\\nb\"", GgufValue.FromString("a\nb").ToString());
        Assert.Equal("64", GgufValue.FromUInt32(64).ToString());
        Assert.Equal("1E-05", GgufValue.FromFloat32(1e-5f).ToString());
        Assert.Equal("true", GgufValue.FromBool(true).ToString());
        Assert.Equal("[string × 2: \"<s>\", \"</s>\"]", GgufValue.FromStrings(["<s>", "</s>"]).ToString());
        Assert.Equal("[int32 × 8: 0, 1, 2, 3, 4, 5, ...]", GgufValue.FromInt32s([0, 1, 2, 3, 4, 5, 6, 7]).ToString());
        Assert.Equal("[uint8 × 0]", GgufValue.FromArray(GgufArray.FromUInt8s([])).ToString());
        Assert.Equal("[array × 1: [float32 × 1: 0.5]]", GgufValue.FromArray(GgufArray.FromArrays([GgufArray.FromFloat32s([0.5f])])).ToString());
    }

    [Fact]
    public void CopyFromRewritesAFileByteForByte()
    {
        string original = Write(w =>
        {
            foreach (var (k, v) in AllValueKinds()) w.AddMetadata(k, v);
            foreach (var (name, shape, type) in SomeTensors) w.AddTensor(name, shape, type, RandomBytes(ByteSize(shape, type), 42));
        }, alignment: 64);
        string copy = _dir.File("copy.gguf");
        using (var source = GgufFile.Open(original)) GgufWriter.CopyFrom(source).WriteTo(copy);
        Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(copy));

        // Re-laid-out as v2 with another alignment: same content, new offsets.
        string relaid = _dir.File("relaid.gguf");
        using (var source = GgufFile.Open(original))
        {
            var writer = GgufWriter.CopyFrom(source, version: 2, alignment: 16);
            writer.SetMetadata("general.architecture", GgufValue.FromString("changed"));
            Assert.True(writer.RemoveMetadata("t.u8"));
            Assert.True(writer.RemoveTensor("f16.vector"));
            writer.WriteTo(relaid);
        }
        using var a = GgufFile.Open(original);
        using var b = GgufFile.Open(relaid);
        Assert.Equal(2u, b.Version);
        Assert.Equal(16ul, b.Alignment);
        Assert.Equal("changed", b.GetString("general.architecture"));
        Assert.False(b.Contains("t.u8"));
        Assert.Null(b.FindTensor("f16.vector"));
        Assert.Equal(a.Tensors.Count - 1, b.Tensors.Count);
        foreach (var t in b.Tensors)
            Assert.Equal(a.TensorBytes(a.GetTensor(t.Name)).ToArray(), b.TensorBytes(t).ToArray());
        Assert.Equal(a.Metadata.Count - 1, b.Metadata.Count); // t.u8 removed; the alignment key stays (16 ≠ 32)
    }

    [Fact]
    public void AFileWithoutTensorsOrMetadataIsValid()
    {
        string path = Write(_ => { });
        using var file = GgufFile.Open(path);
        Assert.Empty(file.Tensors);
        Assert.Empty(file.Metadata);
        Assert.Equal(24, file.FileSize);
    }

    [Fact]
    public void WriterRefusesInvalidInput()
    {
        var w = new GgufWriter();
        w.AddMetadata("k", GgufValue.FromBool(true));
        Assert.Contains("duplicate metadata key 'k'", Assert.Throws<ArgumentException>(() => w.AddMetadata("k", GgufValue.FromBool(false))).Message);
        w.AddTensor("t", [32], GgmlType.Q8_0, new byte[34]);
        Assert.Contains("duplicate tensor name 't'", Assert.Throws<ArgumentException>(() => w.AddTensor("t", [1], GgmlType.F32, new byte[4])).Message);
        Assert.Contains("needs 68 bytes, but 67 were given", Assert.Throws<ArgumentException>(() => w.AddTensor("u", [32, 2], GgmlType.Q8_0, new byte[67])).Message);
        Assert.Contains("row length 16 is not a multiple of the Q4_0 block size 32", Assert.Throws<ArgumentException>(() => w.AddTensor("u", [16], GgmlType.Q4_0, new byte[9])).Message);
        Assert.Contains("dimension 1 is 0", Assert.Throws<ArgumentException>(() => w.AddTensor("u", [4, 0], GgmlType.F32, [])).Message);
        Assert.Contains("has 5 dimensions", Assert.Throws<ArgumentException>(() => w.AddTensor("u", [1, 1, 1, 1, 1], GgmlType.F32, new byte[4])).Message);
        Assert.Contains("has 0 dimensions", Assert.Throws<ArgumentException>(() => w.AddTensor("u", [], GgmlType.F32, [])).Message);
        Assert.Contains("overflows", Assert.Throws<ArgumentException>(() => w.AddTensor("u", [1L << 40, 1L << 40], GgmlType.F32, [])).Message);
        Assert.Contains("unknown type id 31", Assert.Throws<ArgumentOutOfRangeException>(() => w.AddTensor("u", [4], (GgmlType)31, new byte[4])).Message);
        Assert.Throws<ArgumentException>(() => w.AddTensor("", [1], GgmlType.F32, new byte[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter(version: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter(alignment: 48));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter(alignment: 0));
        Assert.Contains("general.alignment must be the uint32 32", Assert.Throws<ArgumentException>(() => w.AddMetadata("general.alignment", GgufValue.FromUInt32(64))).Message);
        w.AddMetadata("general.alignment", GgufValue.FromUInt32(32)); // agreeing is fine

        GgufArray deep = GgufArray.FromInt32s([1]);
        for (int i = 0; i < 8; i++) deep = GgufArray.FromArrays([deep]);
        Assert.Contains("nests arrays more than 8 deep", Assert.Throws<ArgumentException>(() => w.AddMetadata("deep", GgufValue.FromArray(deep))).Message);
        Assert.Throws<ArgumentException>(() => GgufValue.Create(GgufValueType.UInt32, 5));
        Assert.Equal(GgufValue.FromUInt32(5), GgufValue.Create(GgufValueType.UInt32, 5u));
    }

    private string Write(Action<GgufWriter> build, uint version = 3, uint alignment = 32)
    {
        var writer = new GgufWriter(version, alignment);
        build(writer);
        string path = _dir.File($"file{Guid.NewGuid():N}.gguf");
        writer.WriteTo(path);
        return path;
    }

    internal static void AssertProblem(string path, string problem, Action action)
    {
        var e = Assert.Throws<GgufException>(action);
        Assert.Equal(path, e.FilePath);
        Assert.Equal($"{path}: {problem}", e.Message);
    }

    internal static void AssertProblem(string path, string problem, Func<object?> action) => AssertProblem(path, problem, () => { action(); });
}
