using Frugal.Numerics.Threading;

namespace Frugal.Numerics.Tests;

public sealed class WorkerPoolTests
{
    private sealed class RecordThreads(int threads) : IParallelWork
    {
        public readonly int[] ManagedThreadIds = new int[threads];
        public int Calls;

        public void Execute(int threadIndex, int threadCount)
        {
            ManagedThreadIds[threadIndex] = Environment.CurrentManagedThreadId;
            Interlocked.Increment(ref Calls);
        }
    }

    private sealed class Throwing : IParallelWork
    {
        public void Execute(int threadIndex, int threadCount)
        {
            if (threadIndex == 1) throw new InvalidOperationException("worker failed");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Every_thread_takes_part_in_every_run(int threads)
    {
        using var pool = new WorkerPool(threads);
        var work = new RecordThreads(threads);
        for (int run = 0; run < 200; run++) pool.Run(work);
        Assert.Equal(200 * threads, work.Calls);
        Assert.Equal(threads, work.ManagedThreadIds.Distinct().Count());
    }

    [Fact]
    public void Runs_after_workers_went_to_sleep_still_complete()
    {
        using var pool = new WorkerPool(2);
        var work = new RecordThreads(2);
        pool.Run(work);
        Thread.Sleep(300); // long enough for the workers to stop spinning and block
        pool.Run(work);
        Assert.Equal(4, work.Calls);
    }

    [Fact]
    public void A_failing_worker_surfaces_its_exception_and_the_pool_keeps_working()
    {
        using var pool = new WorkerPool(2);
        var error = Assert.Throws<InvalidOperationException>(() => pool.Run(new Throwing()));
        Assert.Equal("worker failed", error.Message);
        var work = new RecordThreads(2);
        pool.Run(work);
        Assert.Equal(2, work.Calls);
    }

    [Fact]
    public void Run_allocates_nothing()
    {
        using var pool = new WorkerPool(2);
        var work = new RecordThreads(2);
        for (int i = 0; i < 100; i++) pool.Run(work);
        long[] before = new long[2], after = new long[2];
        pool.ReadAllocatedBytes(before);
        for (int i = 0; i < 1000; i++) pool.Run(work);
        pool.ReadAllocatedBytes(after);
        Assert.Equal(before, after);
    }

    [Fact]
    public void Zero_threads_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new WorkerPool(0));
    }
}
