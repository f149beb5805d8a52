using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Frugal.Numerics;
using Frugal.Numerics.Threading;

namespace Frugal.Engine.Benchmarking;

/// <summary>
/// Measures how fast this machine streams memory into the cores: every thread of a <see cref="WorkerPool"/> reads
/// its own contiguous slice of a buffer far larger than the last-level cache with the widest vector loads, as a
/// decode step streams the weights. The figure is the roofline for single-stream decoding.
/// </summary>
public sealed unsafe class MemoryBandwidthProbe : IDisposable
{
    /// <summary>256 MiB: eight times the 32 MiB L3 of the machines this was tuned on, so the reads come from DRAM.</summary>
    public const long DefaultBufferBytes = 256L << 20;

    /// <summary>Each slice starts on a cache line, so no two threads read the same line.</summary>
    private const int SliceAlignment = 64;

    /// <summary>Partial sums are 8 ulongs (one cache line) apart so the threads never write the same line.</summary>
    private const int SumStride = 8;

    private readonly byte* _buffer;   // [BufferBytes], 64-byte aligned (2 MB, on huge pages where Linux allows), filled with a pattern (so every page is resident)
    private readonly ulong[] _sums;   // [threads × SumStride]: thread i's sum at i × SumStride
    private readonly WorkerPool _pool;
    private readonly ReadSweep _sweep;

    public long BufferBytes { get; }

    public MemoryBandwidthProbe(WorkerPool pool, long bufferBytes = DefaultBufferBytes)
    {
        ArgumentNullException.ThrowIfNull(pool);
        if (bufferBytes < SliceAlignment * pool.ThreadCount || bufferBytes % SliceAlignment != 0)
            throw new ArgumentOutOfRangeException(nameof(bufferBytes), bufferBytes, $"the buffer must be a multiple of {SliceAlignment} bytes, at least {SliceAlignment} per thread");
        _pool = pool;
        BufferBytes = bufferBytes;
        _buffer = (byte*)HugePages.AllocateZeroed((nuint)bufferBytes, SliceAlignment);   // the page size the engine's weights get
        var words = (ulong*)_buffer;
        for (long i = 0; i < bufferBytes / sizeof(ulong); i++) words[i] = (ulong)i * 0x9E3779B97F4A7C15UL;
        _sums = new ulong[pool.ThreadCount * SumStride];
        _sweep = new ReadSweep(this);
    }

    /// <summary>
    /// Reads the whole buffer once to warm up, then <paramref name="passes"/> times, timed; returns the median pass
    /// in bytes per second (the median resists other processes' bursts on a shared machine).
    /// </summary>
    public double Measure(int passes = 5)
    {
        if (passes < 1) throw new ArgumentOutOfRangeException(nameof(passes), passes, "at least one pass");
        _pool.Run(_sweep);
        var seconds = new double[passes];
        for (int pass = 0; pass < passes; pass++)
        {
            long start = Stopwatch.GetTimestamp();
            _pool.Run(_sweep);
            seconds[pass] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(seconds);
        return BufferBytes / seconds[passes / 2];
    }

    /// <summary>The wrap-around sum of the buffer's 64-bit words, as the last pass computed it (proves the reads happened).</summary>
    public ulong LastChecksum()
    {
        ulong total = 0;
        for (int i = 0; i < _pool.ThreadCount; i++) total += _sums[i * SumStride];
        return total;
    }

    /// <summary>The same checksum computed by <see cref="SumScalar"/> over the whole buffer on the calling thread.</summary>
    public ulong ReferenceChecksum() => SumScalar(_buffer, BufferBytes);

    /// <summary>Thread <c>chunk</c> of <c>chunks</c> reads the slice [start, end) of the buffer, cut at cache lines.</summary>
    private sealed class ReadSweep(MemoryBandwidthProbe probe) : IParallelWork
    {
        public void Execute(int chunkIndex, int chunkCount)
        {
            long lines = probe.BufferBytes / SliceAlignment;
            long start = lines * chunkIndex / chunkCount * SliceAlignment;
            long end = lines * (chunkIndex + 1) / chunkCount * SliceAlignment;
            probe._sums[chunkIndex * SumStride] = Sum(probe._buffer + start, end - start);
        }
    }

    /// <summary>Wrap-around sum of <paramref name="bytes"/> / 8 words with the widest loads <see cref="Simd.Level"/> allows.</summary>
    public static ulong Sum(byte* data, long bytes) => Simd.Level switch
    {
        SimdLevel.V512 => Sum512(data, bytes),
        SimdLevel.V256 => Sum256(data, bytes),
        SimdLevel.V128 => Sum128(data, bytes),
        _ => SumScalar(data, bytes),
    };

    /// <summary>The reference: one word at a time. Integer addition is associative, so every path gives the same sum.</summary>
    public static ulong SumScalar(byte* data, long bytes)
    {
        var words = (ulong*)data;
        long count = bytes / sizeof(ulong);
        ulong sum = 0;
        for (long i = 0; i < count; i++) sum += words[i];
        return sum;
    }

    // Four independent accumulators per path keep several loads in flight.

    public static ulong Sum512(byte* data, long bytes)
    {
        Vector512<ulong> a = default, b = default, c = default, d = default;
        long i = 0;
        for (; i + 256 <= bytes; i += 256)
        {
            a += Vector512.Load((ulong*)(data + i));
            b += Vector512.Load((ulong*)(data + i + 64));
            c += Vector512.Load((ulong*)(data + i + 128));
            d += Vector512.Load((ulong*)(data + i + 192));
        }
        return Vector512.Sum(a + b + c + d) + SumScalar(data + i, bytes - i);
    }

    public static ulong Sum256(byte* data, long bytes)
    {
        Vector256<ulong> a = default, b = default, c = default, d = default;
        long i = 0;
        for (; i + 128 <= bytes; i += 128)
        {
            a += Vector256.Load((ulong*)(data + i));
            b += Vector256.Load((ulong*)(data + i + 32));
            c += Vector256.Load((ulong*)(data + i + 64));
            d += Vector256.Load((ulong*)(data + i + 96));
        }
        return Vector256.Sum(a + b + c + d) + SumScalar(data + i, bytes - i);
    }

    public static ulong Sum128(byte* data, long bytes)
    {
        Vector128<ulong> a = default, b = default, c = default, d = default;
        long i = 0;
        for (; i + 64 <= bytes; i += 64)
        {
            a += Vector128.Load((ulong*)(data + i));
            b += Vector128.Load((ulong*)(data + i + 16));
            c += Vector128.Load((ulong*)(data + i + 32));
            d += Vector128.Load((ulong*)(data + i + 48));
        }
        return Vector128.Sum(a + b + c + d) + SumScalar(data + i, bytes - i);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        NativeMemory.AlignedFree(_buffer);
    }

    private bool _disposed;
}
