namespace Frugal.Numerics.Threading;

/// <summary>
/// A unit of parallel work split into <c>chunkCount</c> chunks (one per pool thread). Each chunk is executed
/// exactly once, by whichever thread claims it; a chunk may use per-chunk scratch indexed by chunkIndex.
/// </summary>
public interface IParallelWork
{
    void Execute(int chunkIndex, int chunkCount);
}

/// <summary>
/// A persistent pool of worker threads for the per-token path. <see cref="Run"/> splits a work object into
/// <see cref="ThreadCount"/> chunks that the caller and the workers claim with one atomic compare-and-swap each,
/// and returns when every chunk is done. Claiming (rather than giving chunk i to thread i) keeps a step moving
/// when the OS deschedules a worker on a busy machine: the threads that are running take its chunk.
/// Workers spin for a while between runs (a decode step issues many runs back to back), then block so an idle
/// model costs no CPU. No allocation, no Task scheduling and no lock on the hot path.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    private const int SpinIterationsBeforeBlocking = 200_000;

    private readonly Thread[] _workers;
    private readonly object _sleepLock = new();
    private readonly long[] _allocatedBytes;   // per thread, as last seen after a chunk (index 0 = the caller)
    private IParallelWork? _work;
    private long _generation;      // bumped once per Run; workers look for chunks when they see it change
    private long _claims;          // generation << 32 | next unclaimed chunk of that generation
    private int _completed;        // chunks of the current run that have finished
    private int _sleepers;         // workers blocked in Monitor.Wait
    private volatile bool _disposed;
    private Exception? _failure;

    public WorkerPool(int threadCount)
    {
        if (threadCount < 1) throw new ArgumentOutOfRangeException(nameof(threadCount), $"thread count must be at least 1, got {threadCount}");
        ThreadCount = threadCount;
        _allocatedBytes = new long[threadCount];
        _workers = new Thread[threadCount - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            int index = i + 1;
            _workers[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"frugal-worker-{index}" };
            _workers[i].Start();
        }
    }

    /// <summary>Threads taking part in a run, the caller included; also the number of chunks a run is split into.</summary>
    public int ThreadCount { get; }

    /// <summary>Default thread count: every core this process may use.</summary>
    public static int DefaultThreadCount => Environment.ProcessorCount;

    /// <summary>Runs every chunk of <paramref name="work"/> on the pool (the caller included) and waits for all of them.</summary>
    public void Run(IParallelWork work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_workers.Length == 0)
        {
            work.Execute(0, 1);
            return;
        }

        _work = work;
        Volatile.Write(ref _completed, 0);
        long generation = _generation + 1;
        Volatile.Write(ref _claims, generation << 32);     // publishes _work with it
        Interlocked.Exchange(ref _generation, generation);
        if (Volatile.Read(ref _sleepers) > 0)
        {
            lock (_sleepLock) Monitor.PulseAll(_sleepLock);
        }

        ExecuteChunks(generation, threadIndex: 0);
        var spinner = new SpinWait();
        while (Volatile.Read(ref _completed) != ThreadCount) spinner.SpinOnce(sleep1Threshold: -1);
        _work = null;

        Exception? failure = Interlocked.Exchange(ref _failure, null);
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    /// <summary>Claims and executes chunks of <paramref name="generation"/> until none is left.</summary>
    private void ExecuteChunks(long generation, int threadIndex)
    {
        while (true)
        {
            long claims = Volatile.Read(ref _claims);
            int chunk = (int)(claims & 0xFFFF_FFFF);
            if (claims >> 32 != generation || chunk >= ThreadCount) return;
            if (Interlocked.CompareExchange(ref _claims, claims + 1, claims) != claims) continue;

            try { _work!.Execute(chunk, ThreadCount); }
            catch (Exception e) { Interlocked.CompareExchange(ref _failure, e, null); }
            Volatile.Write(ref _allocatedBytes[threadIndex], GC.GetAllocatedBytesForCurrentThread());
            Interlocked.Increment(ref _completed);
        }
    }

    /// <summary>
    /// Writes the bytes each thread of the pool (index 0 = the caller) has allocated so far into
    /// <paramref name="destination"/> [ThreadCount], allocating nothing itself: lets tests prove that the
    /// per-token path allocates nothing on any thread, whatever else the process is doing. A worker's figure is
    /// taken after each chunk it runs (an idle worker allocates nothing).
    /// </summary>
    public void ReadAllocatedBytes(Span<long> destination)
    {
        if (destination.Length < ThreadCount) throw new ArgumentException($"need room for {ThreadCount} threads", nameof(destination));
        destination[0] = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 1; i < ThreadCount; i++) destination[i] = Volatile.Read(ref _allocatedBytes[i]);
    }

    private void WorkerLoop(int index)
    {
        long seen = 0;
        Volatile.Write(ref _allocatedBytes[index], GC.GetAllocatedBytesForCurrentThread());
        while (true)
        {
            long current = WaitForRun(seen);
            if (_disposed) return;
            seen = current;
            ExecuteChunks(current, index);
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
