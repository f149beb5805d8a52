using Frugal.Engine.Benchmarking;
using Frugal.Numerics.Threading;

namespace Frugal.Cli.Tests;

/// <summary>The bandwidth probe's vector read loops against their scalar reference, and the probe end to end.</summary>
public sealed unsafe class MemoryBandwidthProbeTests
{
    public static TheoryData<int> Lengths => new() { 0, 8, 56, 64, 72, 128, 248, 256, 264, 1000, 4096 + 24 };

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Every_vector_path_sums_like_the_scalar_reference(int bytes)
    {
        var data = new ulong[(bytes + 7) / 8];
        var random = new Random(bytes);
        for (int i = 0; i < data.Length; i++) data[i] = (ulong)random.NextInt64() * 3 + (ulong)i; // sums wrap around
        fixed (ulong* words = data)
        {
            ulong expected = MemoryBandwidthProbe.SumScalar((byte*)words, bytes);
            ulong naive = 0;
            for (int i = 0; i < bytes / 8; i++) naive += data[i];
            Assert.Equal(naive, expected);
            Assert.Equal(expected, MemoryBandwidthProbe.Sum128((byte*)words, bytes));
            Assert.Equal(expected, MemoryBandwidthProbe.Sum256((byte*)words, bytes));
            Assert.Equal(expected, MemoryBandwidthProbe.Sum512((byte*)words, bytes));
            Assert.Equal(expected, MemoryBandwidthProbe.Sum((byte*)words, bytes));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Probe_reads_the_whole_buffer_once_per_pass_across_the_threads(int threads)
    {
        using var pool = new WorkerPool(threads);
        using var probe = new MemoryBandwidthProbe(pool, bufferBytes: 4L << 20);
        double bytesPerSecond = probe.Measure(passes: 3);
        Assert.True(double.IsFinite(bytesPerSecond) && bytesPerSecond > 1e8, $"{bytesPerSecond} B/s");
        Assert.Equal(probe.ReferenceChecksum(), probe.LastChecksum());
    }

    [Fact]
    public void Bad_sizes_are_refused()
    {
        using var pool = new WorkerPool(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryBandwidthProbe(pool, bufferBytes: 100));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryBandwidthProbe(pool, bufferBytes: 64));
        using var probe = new MemoryBandwidthProbe(pool, bufferBytes: 1 << 16);
        Assert.Throws<ArgumentOutOfRangeException>(() => probe.Measure(passes: 0));
    }
}
