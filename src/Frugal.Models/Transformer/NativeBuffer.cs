using System.Runtime.InteropServices;
using Frugal.Numerics;

namespace Frugal.Models.Transformer;

/// <summary>
/// A 64-byte aligned, zeroed native buffer of T: activations, caches and packed weights live here, outside the GC
/// heap. Buffers of 2 MB and more are 2 MB-aligned and asked onto huge pages (<see cref="HugePages"/>).
/// </summary>
public sealed unsafe class NativeBuffer<T> : IDisposable where T : unmanaged
{
    private T* _data;

    public NativeBuffer(long length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        Length = length;
        nuint bytes = (nuint)Math.Max(1, length * sizeof(T));
        _data = (T*)HugePages.AllocateZeroed(bytes, 64);   // 2 MB and larger: 2 MB-aligned, on huge pages where Linux allows
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
