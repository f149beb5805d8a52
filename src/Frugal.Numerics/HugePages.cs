using System.Runtime.InteropServices;

namespace Frugal.Numerics;

/// <summary>
/// Large native buffers (the packed weight copies, the KV cache) on Linux transparent huge pages. Decode streams
/// every weight once per token; with 4 KB pages that is a TLB miss and a page walk every 4 KB of the stream, with
/// 2 MB pages one per 2 MB. Many distributions (this project's machine among them) run THP in "madvise" mode, so a
/// buffer gets huge pages only when it asks before its first touch: it is allocated 2 MB-aligned and advised.
/// Where the advice is not available (another OS, THP off) the buffer simply keeps small pages.
/// </summary>
public static unsafe partial class HugePages
{
    /// <summary>Size of one huge page on x86-64 and the smallest buffer worth advising.</summary>
    public const long Bytes = 2 << 20;

    private const int MadviseHugePage = 14;   // MADV_HUGEPAGE (linux/mman.h)

    /// <summary>Zeroed memory of <paramref name="bytes"/> bytes, huge-page backed where the system allows; free with NativeMemory.AlignedFree.</summary>
    public static void* AllocateZeroed(nuint bytes, nuint smallAlignment)
    {
        if (!OperatingSystem.IsLinux() || (long)bytes < Bytes)
        {
            void* small = NativeMemory.AlignedAlloc(bytes, smallAlignment);
            NativeMemory.Clear(small, bytes);
            return small;
        }
        void* data = NativeMemory.AlignedAlloc(bytes, (nuint)Bytes);
        try
        {
            _ = Madvise(data, bytes, MadviseHugePage);   // advice only: a refusal leaves small pages
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
        NativeMemory.Clear(data, bytes);   // the first touch, after the advice, faults the huge pages in
        return data;
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}
