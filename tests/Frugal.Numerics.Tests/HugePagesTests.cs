using System.Runtime.InteropServices;
using Xunit;

namespace Frugal.Numerics.Tests;

public sealed unsafe class HugePagesTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(HugePages.Bytes - 1)]
    [InlineData(HugePages.Bytes)]
    [InlineData(3 * HugePages.Bytes + 4097)]
    public void Buffers_are_zeroed_aligned_and_writable_to_their_last_byte(long bytes)
    {
        byte* data = (byte*)HugePages.AllocateZeroed((nuint)bytes, 64);
        try
        {
            long alignment = OperatingSystem.IsLinux() && bytes >= HugePages.Bytes ? HugePages.Bytes : 64;
            Assert.Equal(0, (long)data % alignment);
            var span = new Span<byte>(data, checked((int)bytes));
            Assert.Equal(-1, span.IndexOfAnyExcept((byte)0));
            span.Fill(0xA5);
            Assert.Equal(0xA5, data[bytes - 1]);
        }
        finally
        {
            NativeMemory.AlignedFree(data);
        }
    }

    [Fact]
    public void A_large_buffer_lands_on_huge_pages_where_the_kernel_offers_them_on_request()
    {
        const string mode = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (!OperatingSystem.IsLinux() || !File.Exists(mode) || File.ReadAllText(mode).Contains("[never]"))
        {
            Console.WriteLine("HugePagesTests: transparent huge pages are off or absent here; nothing to check");
            return;
        }
        long bytes = 16 * HugePages.Bytes;
        long before = AnonHugePagesKb();
        byte* data = (byte*)HugePages.AllocateZeroed((nuint)bytes, 64);
        try
        {
            // The kernel may lack free 2 MB frames at the moment, so ask for a share, not all 32 MB.
            Assert.True(AnonHugePagesKb() - before >= 2 * HugePages.Bytes / 1024,
                $"AnonHugePages grew by {AnonHugePagesKb() - before} kB after a {bytes >> 20} MB advised buffer");
        }
        finally
        {
            NativeMemory.AlignedFree(data);
        }
    }

    private static long AnonHugePagesKb()
    {
        foreach (var line in File.ReadLines("/proc/self/smaps_rollup"))
        {
            if (line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        return 0;
    }
}
