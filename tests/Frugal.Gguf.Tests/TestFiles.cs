using System.Text;

namespace Frugal.Gguf.Tests;

/// <summary>A fresh temporary folder per test, deleted afterwards.</summary>
public sealed class TempDir : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("frugal-gguf-").FullName;

    public string File(string name) => Path.Combine(Root, name);

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// Writes GGUF bytes field by field with no validation at all, to build files the real writer refuses
/// (deep nesting, huge sparse tensors).
/// </summary>
public sealed class RawGguf
{
    private readonly MemoryStream _bytes = new();
    private readonly BinaryWriter _out;

    public RawGguf() => _out = new BinaryWriter(_bytes);

    public RawGguf U8(byte v) { _out.Write(v); return this; }
    public RawGguf U32(uint v) { _out.Write(v); return this; }
    public RawGguf U64(ulong v) { _out.Write(v); return this; }

    public RawGguf Str(string s)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(s);
        _out.Write((ulong)utf8.Length);
        _out.Write(utf8);
        return this;
    }

    /// <summary>magic, version, tensor count, metadata count.</summary>
    public RawGguf Header(ulong tensors, ulong keys, uint version = 3) =>
        U32(GgufFile.Magic).U32(version).U64(tensors).U64(keys);

    public RawGguf PadTo(int alignment)
    {
        while (_bytes.Length % alignment != 0) _out.Write((byte)0);
        return this;
    }

    public long Length => _bytes.Length;

    public byte[] ToArray()
    {
        _out.Flush();
        return _bytes.ToArray();
    }
}

/// <summary>Locates fields inside a GGUF file's bytes, to patch a valid file into a specific corrupt one.</summary>
public static class Bytes
{
    /// <summary>Offset of the first byte after the GGUF string <paramref name="text"/> (its u64 length + UTF-8 bytes).</summary>
    public static int After(byte[] file, string text)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        byte[] encoded = [.. BitConverter.GetBytes((ulong)utf8.Length), .. utf8];
        int at = file.AsSpan().IndexOf(encoded);
        if (at < 0) throw new InvalidOperationException($"string '{text}' not found");
        return at + encoded.Length;
    }

    /// <summary>Offset of the first byte of the GGUF string <paramref name="text"/> (its u64 length).</summary>
    public static int At(byte[] file, string text) => After(file, text) - 8 - Encoding.UTF8.GetByteCount(text);

    public static void PutU32(byte[] file, int at, uint v) => BitConverter.TryWriteBytes(file.AsSpan(at), v);
    public static void PutU64(byte[] file, int at, ulong v) => BitConverter.TryWriteBytes(file.AsSpan(at), v);
    public static ulong GetU64(byte[] file, int at) => BitConverter.ToUInt64(file, at);
}
