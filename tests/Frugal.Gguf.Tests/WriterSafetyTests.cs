using System.Diagnostics;
using Frugal.Quants;
using Frugal.TestSupport;

namespace Frugal.Gguf.Tests;

/// <summary>WriteTo never leaves a partial file; the mapping is lazy and its lifetime is enforced.</summary>
public sealed class WriterSafetyTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    private static GgufWriter SmallWriter()
    {
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("llama"));
        writer.AddTensor("w", [32, 2], GgmlType.Q8_0, new byte[68]);
        return writer;
    }

    private void AssertNoTemporaryFiles() =>
        Assert.Empty(Directory.GetFiles(_dir.Root, "*.tmp", SearchOption.AllDirectories));

    [Fact]
    public void MissingTargetDirectoryLeavesNothingBehind()
    {
        string path = Path.Combine(_dir.Root, "missing", "out.gguf");
        Assert.Throws<DirectoryNotFoundException>(() => SmallWriter().WriteTo(path));
        Assert.False(Directory.Exists(Path.GetDirectoryName(path)));
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Root));
    }

    [Fact]
    public void AFailedRenameRemovesTheTemporaryFile()
    {
        // The target is a non-empty directory: the whole file is written to .tmp, then the rename fails.
        string target = _dir.File("taken.gguf");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "keep.txt"), "x");
        Assert.ThrowsAny<IOException>(() => SmallWriter().WriteTo(target));
        AssertNoTemporaryFiles();
        Assert.True(File.Exists(Path.Combine(target, "keep.txt")));
    }

    [Fact]
    public void InvalidTensorDataIsRefusedBeforeAnythingIsWritten()
    {
        string path = _dir.File("out.gguf");
        var writer = SmallWriter();
        Assert.Throws<ArgumentException>(() => writer.AddTensor("bad", [32], GgmlType.Q8_0, new byte[33]));
        Assert.False(File.Exists(path));

        // The refused tensor left the writer as it was.
        writer.WriteTo(path);
        using var file = GgufFile.Open(path);
        Assert.Equal(["w"], file.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void AFailedWriteKeepsTheOldFileIntact()
    {
        string source = _dir.File("source.gguf");
        SmallWriter().WriteTo(source);
        string target = _dir.File("target.gguf");
        File.WriteAllText(target, "previous content");

        var open = GgufFile.Open(source);
        var writer = GgufWriter.CopyFrom(open);
        open.Dispose(); // the tensor bytes it would stream are gone
        Assert.Throws<ObjectDisposedException>(() => writer.WriteTo(target));
        Assert.Equal("previous content", File.ReadAllText(target));
        AssertNoTemporaryFiles();
    }

    [Fact]
    public void ASuccessfulWriteReplacesTheTarget()
    {
        string target = _dir.File("target.gguf");
        File.WriteAllText(target, "previous content");
        SmallWriter().WriteTo(target);
        using var file = GgufFile.Open(target);
        Assert.Equal("llama", file.GetString("general.architecture"));
        AssertNoTemporaryFiles();
    }

    [Fact]
    public unsafe void DisposeEndsTensorAccessButKeepsMetadata()
    {
        string path = _dir.File("a.gguf");
        SmallWriter().WriteTo(path);
        var file = GgufFile.Open(path);
        var tensor = file.GetTensor("w");
        Assert.True(file.TensorData(tensor) != null);
        file.Dispose();
        file.Dispose(); // twice is harmless
        Assert.True(file.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => { file.TensorData(tensor); });
        Assert.Equal("llama", file.GetString("general.architecture"));

        using var other = GgufFile.Open(path);
        Assert.Throws<ArgumentException>(() => { other.TensorData(tensor); }); // a tensor of another GgufFile
    }

    [Fact]
    public void AnOpenFileCanBeReplacedByTheWriter()
    {
        // Rewriting a model in place: the old mapping stays valid until disposed (rename, not overwrite in place).
        string path = _dir.File("model.gguf");
        SmallWriter().WriteTo(path);
        using var open = GgufFile.Open(path);
        var writer = GgufWriter.CopyFrom(open);
        writer.SetMetadata("general.name", GgufValue.FromString("renamed"));
        writer.WriteTo(path);
        Assert.Equal(68, open.TensorBytes(open.GetTensor("w")).Length);
        using var reopened = GgufFile.Open(path);
        Assert.Equal("renamed", reopened.GetString("general.name"));
    }

    [Fact]
    public unsafe void OpeningAHugeFileDoesNotReadItsPages()
    {
        // A 2 GiB tensor in a sparse file: opening maps it but must not read (or copy) the data.
        const long elements = 1L << 29;
        string path = _dir.File("huge.gguf");
        var header = new RawGguf().Header(tensors: 1, keys: 1)
            .Str("general.architecture").U32((uint)GgufValueType.String).Str("llama")
            .Str("huge").U32(1).U64(elements).U32((uint)GgmlType.F32).U64(0)
            .PadTo(32);
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            stream.Write(header.ToArray());
            stream.SetLength(header.Length + elements * 4); // sparse: no blocks allocated
        }

        using var process = Process.GetCurrentProcess();
        process.Refresh();
        long before = process.WorkingSet64;
        using var file = GgufFile.Open(path);
        var tensor = file.GetTensor("huge");
        byte* data = file.TensorData(tensor);
        Assert.Equal(0, data[tensor.ByteSize - 1]); // the last byte is reachable (one page touched)
        process.Refresh();
        long grown = process.WorkingSet64 - before;

        Assert.Equal(elements * 4, tensor.ByteSize);
        Assert.True(grown < 256L << 20, $"working set grew by {grown >> 20} MiB on opening a 2 GiB file");
        Assert.Throws<GgufException>(() => file.TensorBytes(tensor).Length); // too large for a span
    }

    [SharedFact]
    public void ARealModelSurvivesCopyFromByteForByte()
    {
        string target = _dir.File("copy.gguf");
        string source = SharedData.Model("stories260K.gguf");
        using (var file = GgufFile.Open(source)) GgufWriter.CopyFrom(file).WriteTo(target);
        Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(target));
    }
}
