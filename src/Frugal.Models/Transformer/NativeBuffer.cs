using System.Runtime.InteropServices;

namespace Frugal.Models.Transformer;

/// <summary>A 64-byte aligned, zeroed native buffer of T: activations and caches live here, outside the GC heap.</summary>
public sealed unsafe class NativeBuffer<T> : IDisposable where T : unmanaged
{
    private T* _data;

    public NativeBuffer(long length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        Length = length;
        nuint bytes = (nuint)Math.Max(1, length * sizeof(T));
        _data = (T*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_data, bytes);
    }

    public long Length { get; }

    public T* Pointer => _data != null ? _data : throw new ObjectDisposedException(nameof(NativeBuffer<T>));

    public Span<T> AsSpan() => new(Pointer, checked((int)Length));

    public void Dispose()
    {
        if (_data == null) return;
        NativeMemory.AlignedFree(_data);
        _data = null;
    }
}
