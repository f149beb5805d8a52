using System.Buffers.Binary;
using System.Text;

namespace Frugal.Compression.Importance;

/// <summary>
/// llama.cpp's imatrix file (build 4748, the legacy binary format that llama-imatrix writes and llama-quantize
/// --imatrix reads), all integers little-endian int32:
/// <code>
/// int32 entries
/// entries × { int32 nameLength; byte name[nameLength]; int32 callCount; int32 columns; float32 values[columns] }
/// int32 chunkCount                       (optional trailer: the number of batches it was computed on)
/// int32 datasetLength; byte dataset[datasetLength]   (the calibration file's name)
/// </code>
/// values[j] = mean squared activation of column j × callCount.
/// </summary>
public static class ImportanceMatrixFile
{
    /// <summary>Longest tensor name accepted (GGUF names are at most 64 bytes in llama.cpp; this is generous).</summary>
    private const int MaxNameBytes = 1 << 16;

    public static ImportanceMatrix Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"importance matrix {path} not found", path);
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            return Parse(bytes);
        }
        catch (InvalidDataException error)
        {
            throw new InvalidDataException($"{path}: {error.Message}");
        }
    }

    /// <summary>Parses a whole file's bytes; throws <see cref="InvalidDataException"/> naming what is wrong.</summary>
    public static ImportanceMatrix Parse(ReadOnlySpan<byte> bytes)
    {
        var reader = new Reader(bytes);
        int count = reader.Int32("the entry count");
        if (count < 1) throw new InvalidDataException($"not an importance matrix: it declares {count} entries");
        var entries = new List<ImportanceEntry>(Math.Min(count, 4096));
        for (int i = 0; i < count; i++)
        {
            string what = $"entry {i + 1} of {count}";
            int nameLength = reader.Int32($"the name length of {what}");
            if (nameLength < 1 || nameLength > MaxNameBytes) throw new InvalidDataException($"{what} has a name of {nameLength} bytes");
            string name = Encoding.UTF8.GetString(reader.Bytes(nameLength, $"the name of {what}"));
            int calls = reader.Int32($"the call count of '{name}'");
            int columns = reader.Int32($"the value count of '{name}'");
            if (calls < 0) throw new InvalidDataException($"entry '{name}' has a negative call count {calls}");
            if (columns < 1) throw new InvalidDataException($"entry '{name}' has {columns} values");
            var valueBytes = reader.Bytes(checked(columns * 4), $"the {columns} values of '{name}'");
            var values = new float[columns];
            for (int j = 0; j < columns; j++) values[j] = BinaryPrimitives.ReadSingleLittleEndian(valueBytes[(4 * j)..]);
            if (values.Any(v => !float.IsFinite(v))) throw new InvalidDataException($"entry '{name}' holds a non-finite value");
            try
            {
                entries.Add(new ImportanceEntry(name, calls, values));
            }
            catch (ArgumentException error)
            {
                throw new InvalidDataException(error.Message);
            }
        }

        int chunks = 0;
        string dataset = "";
        if (!reader.AtEnd)
        {
            chunks = reader.Int32("the chunk count");
            int datasetLength = reader.Int32("the dataset name length");
            if (datasetLength < 0 || datasetLength > MaxNameBytes) throw new InvalidDataException($"the dataset name has {datasetLength} bytes");
            dataset = Encoding.UTF8.GetString(reader.Bytes(datasetLength, "the dataset name"));
        }
        if (!reader.AtEnd) throw new InvalidDataException($"{reader.Remaining} unexpected bytes after the dataset name");
        if (entries.Select(e => e.Name).Distinct(StringComparer.Ordinal).Count() != entries.Count)
            throw new InvalidDataException("two entries share a name");
        return new ImportanceMatrix(entries, chunks, dataset);
    }

    /// <summary>Writes the file through "&lt;path&gt;.tmp" and a rename, so a failure never leaves a half-written file.</summary>
    public static void Write(ImportanceMatrix matrix, string path)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes = ToBytes(matrix);
        string temporary = path + ".tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
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

    public static byte[] ToBytes(ImportanceMatrix matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (matrix.Entries.Count == 0) throw new ArgumentException("an importance matrix file needs at least one entry (llama.cpp refuses empty ones)", nameof(matrix));
        using var stream = new MemoryStream();
        using var output = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        output.Write(matrix.Entries.Count);
        foreach (var entry in matrix.OrderedEntries)
        {
            byte[] name = Encoding.UTF8.GetBytes(entry.Name);
            output.Write(name.Length);
            output.Write(name);
            output.Write(entry.CallCount);
            output.Write(entry.Columns);
            foreach (float value in entry.StoredValues) output.Write(value);
        }
        output.Write(matrix.ChunkCount);
        byte[] dataset = Encoding.UTF8.GetBytes(matrix.Dataset);
        output.Write(dataset.Length);
        output.Write(dataset);
        output.Flush();
        return stream.ToArray();
    }

    /// <summary>Sequential little-endian reads that name the missing field when the file is cut short.</summary>
    private ref struct Reader(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _position;

        public readonly bool AtEnd => _position == _bytes.Length;

        public readonly int Remaining => _bytes.Length - _position;

        public int Int32(string what) => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4, what));

        public ReadOnlySpan<byte> Bytes(int count, string what)
        {
            if (count > Remaining)
                throw new InvalidDataException($"the file ends at byte {_bytes.Length} while reading {what} ({count} bytes needed at offset {_position})");
            var slice = _bytes.Slice(_position, count);
            _position += count;
            return slice;
        }
    }
}
