using System.Globalization;
using Frugal.Models;
using Frugal.Models.Transformer;
using Frugal.Numerics.Threading;

namespace Frugal.Benchmarks;

/// <summary>
/// Decode attention alone: one new token attends to D cached positions in each of tinyllama-1.1b's 22 layers
/// (32 query heads, 4 KV heads of 64 dimensions), over a half-precision cache of random values laid out as a
/// single sequence's (one block as large as the context). The cache of all layers (46 MB at D = 2048) is larger
/// than the L3, as in a model, so each layer's keys and values come from memory. Reports milliseconds per token
/// (all layers) and the cache bytes read per second.
/// </summary>
internal static unsafe class AttentionBench
{
    private const int Layers = 22, Heads = 32, KvHeads = 4, HeadDim = 64;

    public static void Run(BenchOptions options)
    {
        var config = new ModelConfig { Architecture = "llama", Heads = Heads, KvHeads = KvHeads, HeadDim = HeadDim, Layers = Layers };
        Console.WriteLine("| depth | threads | ms per token (22 layers) | cache GB/s |");
        Console.WriteLine("|---:|---:|---:|---:|");
        foreach (int depth in options.AttentionDepths)
        {
            int context = depth + 1;
            using var cache = new KvCache(Layers, KvHeads, HeadDim, blockTokens: context, blockCount: 1);
            long halves = (long)Layers * KvHeads * context * HeadDim;
            FillHalves(cache.Key(0, 0, 0, 0), halves, seed: 1);
            FillHalves(cache.Value(0, 0, 0, 0), halves, seed: 2);
            using var queries = new NativeBuffer<float>(config.QueryDim);
            using var output = new NativeBuffer<float>(config.QueryDim);
            var random = new Random(3);
            for (int i = 0; i < config.QueryDim; i++) queries.Pointer[i] = (float)(random.NextDouble() * 2 - 1);
            using var rowState = new NativeBuffer<int>(2);   // [position of the new row, its block table (one block: 0)]
            rowState.Pointer[0] = depth;
            rowState.Pointer[1] = 0;
            using var tables = new NativeBuffer<nint>(1);
            tables.Pointer[0] = (nint)(rowState.Pointer + 1);
            foreach (int threads in options.Threads)
            {
                using var pool = new WorkerPool(threads);
                using var attention = new Attention(pool, cache, config, context);
                void Token()
                {
                    for (int layer = 0; layer < Layers; layer++) attention.Run(layer, queries.Pointer, rowState.Pointer, (int**)tables.Pointer, 1, output.Pointer);
                }
                var times = new List<double>();
                for (int r = 0; r < options.Repetitions; r++) times.Add(Measure.TimePerCall(Token, options.Seconds, options.ThreadClock));
                double seconds = options.Minimum ? times.Min() : Measure.Median(times);
                double bytes = 2.0 * halves * sizeof(ushort);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {depth} | {threads} | {seconds * 1e3:0.000} | {bytes / seconds / 1e9:0.0} |"));
            }
        }
    }

    /// <summary>Halves in [-2, 2) from a xorshift stream (Random per element would take seconds for 23 M values).</summary>
    private static void FillHalves(Half* data, long count, ulong seed)
    {
        ulong state = seed * 0x9E3779B97F4A7C15UL + 1;
        for (long i = 0; i < count; i++)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data[i] = (Half)((state >> 40) / (float)(1 << 24) * 4 - 2);
        }
    }
}
