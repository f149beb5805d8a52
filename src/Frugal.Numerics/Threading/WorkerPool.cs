namespace Frugal.Numerics.Threading;

/// <summary>A unit of parallel work: every thread of the pool calls Execute once with its own index.</summary>
public interface IParallelWork
{
    void Execute(int threadIndex, int threadCount);
}

/// <summary>
/// A persistent pool of worker threads for the per-token path. <see cref="Run"/> hands one work object to
/// every thread (the caller is thread 0) and returns when all have finished. Workers spin for a while
/// between runs (a decode step issues many runs back to back), then block so an idle model costs no CPU.
/// No allocation, no Task scheduling and no lock on the hot path: one atomic increment starts a run.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    private const int SpinIterationsBeforeBlocking = 200_000;

    private readonly Thread[] _workers;
    private readonly object _sleepLock = new();
    private IParallelWork? _work;
    private long _generation;      // bumped once per Run; workers start when they see it change
    private int _pending;          // workers still executing the current run
    private int _sleepers;         // workers blocked in Monitor.Wait
    private volatile bool _disposed;
    private Exception? _failure;
    private readonly AllocationProbe _allocationProbe;

    public WorkerPool(int threadCount)
    {
        if (threadCount < 1) throw new ArgumentOutOfRangeException(nameof(threadCount), $"thread count must be at least 1, got {threadCount}");
        ThreadCount = threadCount;
        _allocationProbe = new AllocationProbe(threadCount);
        _workers = new Thread[threadCount - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            int index = i + 1;
            _workers[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"frugal-worker-{index}" };
            _workers[i].Start();
        }
    }

    /// <summary>Threads taking part in a run, the caller included.</summary>
    public int ThreadCount { get; }

    /// <summary>Default thread count: every core this process may use.</summary>
    public static int DefaultThreadCount => Environment.ProcessorCount;

    /// <summary>Runs <paramref name="work"/> on every thread and waits for all of them.</summary>
    public void Run(IParallelWork work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_workers.Length == 0)
        {
            work.Execute(0, 1);
            return;
        }

        _work = work;
        Volatile.Write(ref _pending, _workers.Length);
        Interlocked.Increment(ref _generation);
        if (Volatile.Read(ref _sleepers) > 0)
        {
            lock (_sleepLock) Monitor.PulseAll(_sleepLock);
        }

        Exception? own = null;
        try { work.Execute(0, ThreadCount); }
        catch (Exception e) { own = e; }

        var spinner = new SpinWait();
        while (Volatile.Read(ref _pending) != 0) spinner.SpinOnce(sleep1Threshold: -1);
        _work = null;

        Exception? failure = own ?? Interlocked.Exchange(ref _failure, null);
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    /// <summary>
    /// Writes the bytes each thread of the pool (index 0 = the caller) has allocated so far into
    /// <paramref name="destination"/> [ThreadCount], allocating nothing itself: lets tests prove that the
    /// per-token path allocates nothing on any thread, whatever else the process is doing.
    /// </summary>
    public void ReadAllocatedBytes(Span<long> destination)
    {
        if (destination.Length < ThreadCount) throw new ArgumentException($"need room for {ThreadCount} threads", nameof(destination));
        Run(_allocationProbe);
        _allocationProbe.Bytes.CopyTo(destination);
    }

    private sealed class AllocationProbe(int threads) : IParallelWork
    {
        public readonly long[] Bytes = new long[threads];

        public void Execute(int threadIndex, int threadCount) => Bytes[threadIndex] = GC.GetAllocatedBytesForCurrentThread();
    }

    private void WorkerLoop(int index)
    {
        long seen = 0;
        while (true)
        {
            long current = WaitForRun(seen);
            if (_disposed) return;
            seen = current;
            try { _work!.Execute(index, ThreadCount); }
            catch (Exception e) { Interlocked.CompareExchange(ref _failure, e, null); }
            Interlocked.Decrement(ref _pending);
        }
    }

    private long WaitForRun(long seen)
    {
        for (int spin = 0; spin < SpinIterationsBeforeBlocking; spin++)
        {
            long current = Volatile.Read(ref _generation);
            if (current != seen || _disposed) return current;
            Thread.SpinWait(8);
        }

        lock (_sleepLock)
        {
            Interlocked.Increment(ref _sleepers);
            try
            {
                while (true)
                {
                    long current = Volatile.Read(ref _generation);
                    if (current != seen || _disposed) return current;
                    Monitor.Wait(_sleepLock);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _sleepers);
            }
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_sleepLock) Monitor.PulseAll(_sleepLock);
        foreach (var worker in _workers) worker.Join();
    }
}
