using System.Buffers.Binary;
using Frugal.Compression.Importance;
using Frugal.Compression.Tests.Quantization;

namespace Frugal.Compression.Tests.Importance;

/// <summary>llama.cpp's imatrix file format: exact layout, round trip, and precise refusal of broken files.</summary>
public class ImportanceMatrixFileTests
{
    private static ImportanceMatrix Sample() => new(
        [
            new ImportanceEntry("blk.1.ffn_down.weight", 3, [0.5f, 1.25f, 3f]),
            new ImportanceEntry("blk.0.attn_q.weight", 3, [6f, 0.75f]),
        ],
        chunkCount: 3, dataset: "calibration.txt");

    [Fact]
    public void The_layout_is_llama_cpps()
    {
        byte[] bytes = ImportanceMatrixFile.ToBytes(Sample());
        int offset = 0;
        int Int() { int v = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset)); offset += 4; return v; }
        float Float() { float v = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(offset)); offset += 4; return v; }
        string Text(int length) { string s = System.Text.Encoding.UTF8.GetString(bytes, offset, length); offset += length; return s; }

        Assert.Equal(2, Int());
        // Entries in llama.cpp's tensor order: layer 0 first.
        Assert.Equal("blk.0.attn_q.weight", Text(Int()));
        Assert.Equal(3, Int());
        Assert.Equal(2, Int());
        Assert.Equal(6f, Float());
        Assert.Equal(0.75f, Float());
        Assert.Equal("blk.1.ffn_down.weight", Text(Int()));
        Assert.Equal(3, Int());
        Assert.Equal(3, Int());
        Assert.Equal([0.5f, 1.25f, 3f], [Float(), Float(), Float()]);
        Assert.Equal(3, Int());
        Assert.Equal("calibration.txt", Text(Int()));
        Assert.Equal(bytes.Length, offset);
    }

    [Fact]
    public void A_file_round_trips_byte_for_byte()
    {
        using var directory = new TempDirectory();
        string path = directory.File("sample.imatrix");
        ImportanceMatrixFile.Write(Sample(), path);
        var read = ImportanceMatrixFile.Read(path);
        Assert.Equal(3, read.ChunkCount);
        Assert.Equal("calibration.txt", read.Dataset);
        Assert.Equal([2f, 0.25f], read.Entries["blk.0.attn_q.weight"].MeanSquares()); // stored ÷ call count
        string again = directory.File("again.imatrix");
        ImportanceMatrixFile.Write(read, again);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(again));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void Files_without_the_trailer_are_read_as_llama_cpp_reads_them()
    {
        byte[] bytes = ImportanceMatrixFile.ToBytes(Sample());
        int trailer = 4 + 4 + "calibration.txt".Length;
        var read = ImportanceMatrixFile.Parse(bytes.AsSpan(0, bytes.Length - trailer));
        Assert.Equal(0, read.ChunkCount);
        Assert.Equal("", read.Dataset);
        Assert.Equal(2, read.Entries.Count);
    }

    [Fact]
    public void Broken_files_are_refused_naming_the_problem()
    {
        byte[] bytes = ImportanceMatrixFile.ToBytes(Sample());
        var cut = Assert.Throws<InvalidDataException>(() => ImportanceMatrixFile.Parse(bytes.AsSpan(0, 30)));
        Assert.Contains("ends at byte 30", cut.Message);

        var empty = Assert.Throws<InvalidDataException>(() => ImportanceMatrixFile.Parse(new byte[4]));
        Assert.Contains("0 entries", empty.Message);

        byte[] badCount = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(badCount.AsSpan(4 + 4 + "blk.0.attn_q.weight".Length + 4), 0);
        Assert.Contains("0 values", Assert.Throws<InvalidDataException>(() => ImportanceMatrixFile.Parse(badCount)).Message);

        byte[] nan = (byte[])bytes.Clone();
        BinaryPrimitives.WriteSingleLittleEndian(nan.AsSpan(4 + 4 + "blk.0.attn_q.weight".Length + 8), float.NaN);
        Assert.Contains("non-finite", Assert.Throws<InvalidDataException>(() => ImportanceMatrixFile.Parse(nan)).Message);

        Assert.Contains("unexpected bytes", Assert.Throws<InvalidDataException>(() => ImportanceMatrixFile.Parse([.. bytes, 1, 2])).Message);

        string missing = Path.Combine(Path.GetTempPath(), $"frugal-missing-{Guid.NewGuid():N}.imatrix");
        Assert.Throws<FileNotFoundException>(() => ImportanceMatrixFile.Read(missing));
    }
}
