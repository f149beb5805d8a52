using Frugal.Numerics.Threading;

namespace Frugal.Numerics.Tests;

public sealed class WorkerPoolTests
{
    private sealed class RecordThreads(int chunks) : IParallelWork
    {
        public readonly int[] ChunkRuns = new int[chunks];
        public readonly HashSet<int> ManagedThreadIds = [];
        public int Calls;

        /// <summary>When set, a chunk run by this thread waits (up to a second) until another thread has run one in this run.</summary>
        public int WaitingThreadId = -1;
        private int _runsByOthers;

        public void StartRun() => Volatile.Write(ref _runsByOthers, 0);

        public void Execute(int chunkIndex, int chunkCount)
        {
            Interlocked.Increment(ref ChunkRuns[chunkIndex]);
            lock (ManagedThreadIds) ManagedThreadIds.Add(Environment.CurrentManagedThreadId);
            Interlocked.Increment(ref Calls);
            if (Environment.CurrentManagedThreadId != WaitingThreadId)
            {
                Interlocked.Increment(ref _runsByOthers);
                return;
            }
            var deadline = DateTime.UtcNow.AddSeconds(1);
            while (Volatile.Read(ref _runsByOthers) == 0 && DateTime.UtcNow < deadline && chunkCount > 1) Thread.SpinWait(100);
        }
    }

    private sealed class Throwing : IParallelWork
    {
        public void Execute(int chunkIndex, int chunkCount)
        {
            if (chunkIndex == 1) throw new InvalidOperationException("worker failed");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Every_chunk_runs_exactly_once_per_run_and_the_workers_take_part(int threads)
    {
        using var pool = new WorkerPool(threads);
        // Chunks are claimed, not assigned: the caller's chunk waits until another thread has run one, so a run
        // can only finish quickly if the workers really take part.
        var work = new RecordThreads(threads) { WaitingThreadId = Environment.CurrentManagedThreadId };
        for (int run = 0; run < 50; run++)
        {
            work.StartRun();
            pool.Run(work);
        }
        Assert.Equal(50 * threads, work.Calls);
        Assert.All(work.ChunkRuns, runs => Assert.Equal(50, runs));
        Assert.True(work.ManagedThreadIds.Count <= threads, "more threads than the pool has ran chunks");
        if (threads > 1) Assert.True(work.ManagedThreadIds.Count > 1, "no worker thread ran a chunk");
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
