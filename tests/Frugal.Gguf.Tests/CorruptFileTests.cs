using System.Text;
using Frugal.Quants;

namespace Frugal.Gguf.Tests;

/// <summary>
/// Each way a file can be broken gets one GgufException "&lt;path&gt;: &lt;problem&gt;". Every corrupt file is built here,
/// by writing a valid file with GgufWriter and patching or truncating its bytes (or with RawGguf).
/// </summary>
public sealed class CorruptFileTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly byte[] _valid;
    private int _files;

    public CorruptFileTests() => _valid = BuildValid(alignment: 32);

    public void Dispose() => _dir.Dispose();

    /// <summary>3 tensors (F32 [4,2], Q4_0 [64,2], F16 [8]) and 4 keys, one a string array.</summary>
    private byte[] BuildValid(uint alignment)
    {
        var writer = new GgufWriter(3, alignment);
        writer.AddMetadata("general.architecture", GgufValue.FromString("llama"));
        writer.AddMetadata("test.count", GgufValue.FromUInt32(7));
        writer.AddMetadata("test.other", GgufValue.FromUInt32(8));
        writer.AddMetadata("test.tokens", GgufValue.FromStrings(["a", "bb", "ccc"]));
        writer.AddTensor("alpha", [4, 2], GgmlType.F32, new byte[32]);
        writer.AddTensor("beta", [64, 2], GgmlType.Q4_0, new byte[72]);
        writer.AddTensor("gamma", [8], GgmlType.F16, new byte[16]);
        string path = _dir.File($"valid{alignment}.gguf");
        writer.WriteTo(path);
        return File.ReadAllBytes(path);
    }

    private string Save(byte[] bytes)
    {
        string path = _dir.File($"corrupt{_files++}.gguf");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Patched(Action<byte[]> patch)
    {
        byte[] copy = (byte[])_valid.Clone();
        patch(copy);
        return Save(copy);
    }

    private string Truncated(int length) => Save(_valid[..length]);

    /// <summary>Open must fail with one GgufException naming the file and containing <paramref name="problem"/>.</summary>
    private static string Refused(string path, string problem)
    {
        var e = Assert.Throws<GgufException>(() => GgufFile.Open(path).Dispose());
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith(path + ": ", e.Message);
        Assert.True(e.Message.Contains(problem, StringComparison.Ordinal), $"expected \"{problem}\" in: {e.Message}");
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    // Field positions inside _valid, found from the strings that precede them.
    private int ValueTypeOf(string key) => Bytes.After(_valid, key);
    private int NDimsOf(string tensor) => Bytes.After(_valid, tensor);
    private int DimOf(string tensor, int d) => NDimsOf(tensor) + 4 + 8 * d;
    private int TypeOf(string tensor, int nDims) => NDimsOf(tensor) + 4 + 8 * nDims;
    private int OffsetOf(string tensor, int nDims) => TypeOf(tensor, nDims) + 4;
    private int HeaderEnd => OffsetOf("gamma", 1) + 8;

    [Fact]
    public void TheBaseFileIsValid()
    {
        using var file = GgufFile.Open(Save(_valid));
        Assert.Equal(3, file.Tensors.Count);
        Assert.Equal(4, file.Metadata.Count);
        Assert.True(HeaderEnd < file.DataOffset, "the truncated-data-section test needs padding after the header");
    }

    [Fact]
    public void MissingFile() =>
        Refused(_dir.File("nope.gguf"), "file not found");

    [Fact]
    public void MissingDirectory() =>
        Refused(Path.Combine(_dir.Root, "no-such-dir", "x.gguf"), "file not found");

    [Fact]
    public void UnreadablePathIsADirectory() =>
        Refused(_dir.Root, "is a directory, not a GGUF file");

    [Fact]
    public void EmptyFile() =>
        Refused(Save([]), "file too small to be GGUF: 0 bytes, but the fixed header alone takes 24");

    [Fact]
    public void FileTooSmall() =>
        Refused(Save(_valid[..20]), "file too small to be GGUF: 20 bytes");

    [Fact]
    public void WrongMagicShowsWhatWasFound()
    {
        Refused(Patched(b => Encoding.ASCII.GetBytes("ggjt").CopyTo(b, 0)), "not a GGUF file: magic is \"ggjt\" (bytes 67676A74), expected \"GGUF\"");
        Refused(Patched(b => { b[0] = 0x7f; b[1] = (byte)'E'; b[2] = (byte)'L'; b[3] = (byte)'F'; }), "magic is bytes 7F454C46");
        Refused(Save("hello"u8.ToArray()), "not a GGUF file: magic is \"hell\"");
    }

    [Theory]
    [InlineData(1u, "unsupported GGUF version 1 (the obsolete v1 layout with 32-bit counts)")]
    [InlineData(0u, "unsupported GGUF version 0; only versions 2 and 3 are supported")]
    [InlineData(4u, "unsupported GGUF version 4; only versions 2 and 3 are supported")]
    [InlineData(0x03000000u, "unsupported big-endian GGUF file")]
    public void UnsupportedVersion(uint version, string problem) =>
        Refused(Patched(b => Bytes.PutU32(b, 4, version)), problem);

    [Fact]
    public void Version2IsAccepted()
    {
        using var file = GgufFile.Open(Patched(b => Bytes.PutU32(b, 4, 2)));
        Assert.Equal(2u, file.Version);
    }

    [Fact]
    public void TruncatedHeaderSaysWhichPart()
    {
        int key1 = Bytes.At(_valid, "test.count");
        Refused(Truncated(key1 + 4), "truncated while reading metadata key #1: needed 8 bytes");
        Refused(Truncated(key1 + 8 + 3), "truncated while reading metadata key #1: string of 10 bytes");
        Refused(Truncated(ValueTypeOf("test.count") + 2), "truncated while reading the value type of metadata key #1 ('test.count')");
        Refused(Truncated(ValueTypeOf("test.count") + 4 + 1), "truncated while reading the value of metadata key #1 ('test.count')");
        Refused(Truncated(Bytes.After(_valid, "a") + 3), "truncated while reading the value of metadata key #3 ('test.tokens'): array of 3 string elements needs at least 24 bytes");
        Refused(Truncated(Bytes.After(_valid, "ccc") - 1), "truncated while reading the value of metadata key #3 ('test.tokens'), array element #2: string of 3 bytes");
        Refused(Truncated(Bytes.At(_valid, "alpha") + 2), "truncated while reading tensor info #0");
        Refused(Truncated(DimOf("beta", 1) + 5), "truncated while reading tensor info #1 ('beta')");
        Refused(Truncated(OffsetOf("gamma", 1) + 7), "truncated while reading tensor info #2 ('gamma')");
    }

    [Fact]
    public void EveryTruncationIsRefusedCleanly()
    {
        int dataEnd;
        using (var file = GgufFile.Open(Save(_valid)))
        {
            var last = file.Tensors[^1];
            dataEnd = (int)(file.DataOffset + (long)last.Offset + last.ByteSize);
        }
        // Only the zero padding after the last tensor may be cut off.
        using (var file = GgufFile.Open(Truncated(dataEnd))) Assert.Equal(dataEnd, file.FileSize);
        for (int length = 0; length < dataEnd; length++)
        {
            string message = Refused(Truncated(length), "");
            Assert.Matches("(too small|truncated|reaches past the end)", message);
        }
    }

    [Fact]
    public void StringLengthLongerThanTheFile()
    {
        int key0 = Bytes.At(_valid, "general.architecture");
        Refused(Patched(b => Bytes.PutU64(b, key0, 1UL << 40)),
            $"metadata key #0: string length 1099511627776 at byte {key0} is longer than the rest of the file");
        int value = ValueTypeOf("general.architecture") + 4;
        Refused(Patched(b => Bytes.PutU64(b, value, ulong.MaxValue)),
            "the value of metadata key #0 ('general.architecture'): string length 18446744073709551615");
        int name = Bytes.At(_valid, "beta");
        Refused(Patched(b => Bytes.PutU64(b, name, 1UL << 62)), "tensor info #1: string length 4611686018427387904");
    }

    [Fact]
    public void AbsurdCounts()
    {
        Refused(Patched(b => Bytes.PutU64(b, 8, 1UL << 40)), "tensor count 1099511627776 is larger than could fit in the file");
        Refused(Patched(b => Bytes.PutU64(b, 16, ulong.MaxValue)), "metadata key/value count 18446744073709551615 is larger than could fit in the file");
        int count = ValueTypeOf("test.tokens") + 8;
        Assert.Equal(3ul, Bytes.GetU64(_valid, count));
        Refused(Patched(b => Bytes.PutU64(b, count, 1UL << 50)), "array of 1125899906842624 string elements cannot fit in the");
    }

    [Fact]
    public void ArrayNestingTooDeep()
    {
        static byte[] Nested(int depth)
        {
            var raw = new RawGguf().Header(tensors: 0, keys: 1).Str("deep").U32((uint)GgufValueType.Array);
            for (int level = 1; level < depth; level++) raw.U32((uint)GgufValueType.Array).U64(1);
            return raw.U32((uint)GgufValueType.UInt32).U64(1).U32(5).ToArray();
        }
        using (var ok = GgufFile.Open(Save(Nested(8))))
        {
            var array = ok.GetArray("deep");
            for (int level = 1; level < 8; level++) array = array.AsArrays()[0];
            Assert.Equal([5], array.AsInt32s());
        }
        Refused(Save(Nested(9)), "array nesting too deep in the value of metadata key #0 ('deep'), array element #0: more than 8 levels");
        Refused(Save(Nested(100_000)), "array nesting too deep");
    }

    [Fact]
    public void UnknownMetadataValueType()
    {
        Refused(Patched(b => Bytes.PutU32(b, ValueTypeOf("test.count"), 13)), "metadata key 'test.count' (#1) has unknown value type 13");
        Refused(Patched(b => Bytes.PutU32(b, ValueTypeOf("test.tokens") + 4, 99)),
            "the value of metadata key #3 ('test.tokens'): array has unknown element type 99");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(5u)]
    [InlineData(0xFFFFFFFFu)]
    public void BadDimensionCount(uint nDims) =>
        Refused(Patched(b => Bytes.PutU32(b, NDimsOf("alpha"), nDims)), $"tensor 'alpha' has {nDims} dimensions; GGUF tensors have 1 to 4");

    [Fact]
    public void NonPositiveDimensions()
    {
        Refused(Patched(b => Bytes.PutU64(b, DimOf("alpha", 1), 0)), "tensor 'alpha' dimension 1 is 0; dimensions must be positive");
        Refused(Patched(b => Bytes.PutU64(b, DimOf("alpha", 0), ulong.MaxValue)), "tensor 'alpha' dimension 0 is -1; dimensions must be positive");
    }

    [Fact]
    public void ElementCountOverflow() =>
        Refused(Patched(b => { Bytes.PutU64(b, DimOf("alpha", 0), 1UL << 40); Bytes.PutU64(b, DimOf("alpha", 1), 1UL << 40); }),
            "tensor 'alpha' element count of shape [1099511627776, 1099511627776] overflows 64 bits");

    [Fact]
    public void RowLengthNotAMultipleOfTheBlockSize() =>
        Refused(Patched(b => Bytes.PutU64(b, DimOf("beta", 0), 48)), "tensor 'beta' row length 48 is not a multiple of the Q4_0 block size 32");

    [Theory]
    [InlineData(99u, "tensor 'alpha' has unknown type id 99")]
    [InlineData(39u, "tensor 'alpha' has unknown type id 39")]
    [InlineData(4u, "tensor 'alpha' has type 4 (Q4_2), which is unsupported")]
    [InlineData(31u, "tensor 'alpha' has type 31 (Q4_0_4_4), which is unsupported")]
    [InlineData(37u, "tensor 'alpha' has type 37 (IQ4_NL_4_8), which is unsupported")]
    public void UnknownOrUnsupportedTensorType(uint typeId, string problem) =>
        Refused(Patched(b => Bytes.PutU32(b, TypeOf("alpha", 2), typeId)), problem);

    [Fact]
    public void DuplicateTensorName() =>
        Refused(Patched(b => Encoding.ASCII.GetBytes("alpha").CopyTo(b, Bytes.After(_valid, "gamma") - 5)),
            "duplicate tensor name 'alpha' (tensor infos #0 and #2)");

    [Fact]
    public void DuplicateMetadataKey() =>
        Refused(Patched(b => Encoding.ASCII.GetBytes("test.count").CopyTo(b, Bytes.After(_valid, "test.other") - 10)),
            "duplicate metadata key 'test.count' (entries #1 and #2)");

    [Fact]
    public void BadAlignment()
    {
        byte[] aligned64 = BuildValid(alignment: 64);
        int type = Bytes.After(aligned64, "general.alignment");
        string Patch(Action<byte[]> patch)
        {
            byte[] copy = (byte[])aligned64.Clone();
            patch(copy);
            return Save(copy);
        }
        using (var ok = GgufFile.Open(Patch(_ => { }))) Assert.Equal(64ul, ok.Alignment);
        Refused(Patch(b => Bytes.PutU32(b, type + 4, 48)), "bad alignment: general.alignment is 48, must be a power of two");
        Refused(Patch(b => Bytes.PutU32(b, type + 4, 0)), "bad alignment: general.alignment is 0, must be a power of two");
        Refused(Patch(b => Bytes.PutU32(b, type, (uint)GgufValueType.Float32)), "bad alignment: general.alignment is float32, expected uint32");
        Refused(Patch(b => Bytes.PutU32(b, type + 4, 128)), "tensor 'beta' offset 64 is misaligned: not a multiple of the alignment 128");
    }

    [Fact]
    public void MisalignedOffset()
    {
        int offset = OffsetOf("beta", 2);
        ulong value = Bytes.GetU64(_valid, offset);
        Refused(Patched(b => Bytes.PutU64(b, offset, value + 4)), $"tensor 'beta' offset {value + 4} is misaligned: not a multiple of the alignment 32");
    }

    [Fact]
    public void TensorDataPastTheEndOfTheFileNamesTheTensor()
    {
        Refused(Patched(b => Bytes.PutU64(b, OffsetOf("gamma", 1), 1UL << 20)), "tensor 'gamma' data (file bytes");
        Refused(Patched(b => Bytes.PutU64(b, OffsetOf("beta", 2), ulong.MaxValue - 31)), "tensor 'beta' data");
        Refused(Truncated(_valid.Length - 17), "tensor 'gamma' data");
    }

    [Fact]
    public void TruncatedDataSection()
    {
        Refused(Truncated(HeaderEnd), $"truncated data section: the file ends at byte {HeaderEnd}, before the tensor data that starts at byte");
    }

    [Fact]
    public void RandomHeaderDamageNeverEscapesAsAnotherException()
    {
        string path = _dir.File("fuzz.gguf");
        byte[] replacements = [0x00, 0xFF, 0x80, 0x01, 0x20];
        int refused = 0;
        for (int at = 0; at < HeaderEnd; at++)
        {
            foreach (byte replacement in replacements)
            {
                if (_valid[at] == replacement) continue;
                byte[] copy = (byte[])_valid.Clone();
                copy[at] = replacement;
                File.WriteAllBytes(path, copy);
                try
                {
                    using var file = GgufFile.Open(path);
                    foreach (var t in file.Tensors) Assert.Equal(t.ByteSize, file.TensorBytes(t).Length);
                }
                catch (GgufException e)
                {
                    Assert.StartsWith(path + ": ", e.Message);
                    refused++;
                }
            }
        }
        Assert.True(refused > HeaderEnd, $"only {refused} damaged files were refused");
    }
}
