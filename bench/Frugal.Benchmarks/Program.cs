// Kernel microbenchmark: GEMV (1 token, decode) and GEMM (64 tokens, prefill) over tinyllama-1.1b-sized matrices,
// random weights quantized with the reference quantizers. Three algorithms run in the same process, interleaved, and
// their outputs are checked to be bit-identical:
//   per-dot  the first MatMul: one dot call per (row, token), rows split evenly in one range per thread;
//   plain    the current MatMul on the file's layout (tile kernels, tiles claimed from a counter);
//   packed   the current MatMul on the copies a model load makes (Q4_0 matrices of 8k rows repacked into 8-row
//            groups, WeightMatrix.WithPackedCopy); the same as plain for types without a packed layout.
//
// Usage: dotnet run -c Release --project bench/Frugal.Benchmarks -- [--types Q4_0,Q8_0,Q4_K,Q6_K] [--threads 1,2]
//        [--tokens 1,64] [--repetitions 5] [--seconds 0.3] [--shapes 2048x2048,5632x2048,2048x5632]
//        [--span-mb 256] [--stat median|min] [--clock wall|thread]
//        or: ... --attention 512,2048 [--threads 1,2] (decode attention of a tinyllama-shaped model, AttentionBench.cs)
// --clock thread times the calling thread's CPU time (use with --threads 1 on a shared machine).
// Weights are copied until they span ≥ 256 MB and the copies are used in turn, so decode reads them from memory,
// not from the 32 MB L3, as a real model's 600 MB would be.
using System.Diagnostics;
using System.Globalization;
using Frugal.Benchmarks;
using Frugal.Models.Transformer;
using Frugal.Numerics;
using Frugal.Numerics.Threading;
using Frugal.Quants;

var options = BenchOptions.Parse(args);
if (options.AttentionDepths.Length > 0)
{
    AttentionBench.Run(options);
    return;
}
Console.WriteLine($"# Frugal MatMul microbenchmark — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {Simd.Describe()}");
Console.WriteLine($"# {(options.Minimum ? "fastest" : "median")} of {options.Repetitions} repetitions of ≥ {options.Seconds:0.##} s each; GB/s = weight bytes per call / time; GFLOP/s = 2·rows·cols·tokens / time");
Console.WriteLine();
Console.WriteLine("| type | rows×cols | tokens | threads | per-dot ms | plain ms | packed ms | per-dot GB/s | plain GB/s | packed GB/s | per-dot GFLOP/s | plain GFLOP/s | packed GFLOP/s | packed vs plain |");
Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

foreach (var type in options.Types)
{
    foreach (var (rows, cols) in options.Shapes)
    {
        using var matrix = BenchMatrix.Create(type, rows, cols, seed: rows * 7 + cols);
        foreach (int threads in options.Threads)
        {
            using var pool = new WorkerPool(threads);
            foreach (int tokens in options.Tokens)
            {
                var result = Measure.Compare(matrix, pool, tokens, options);
                double bytes = matrix.ByteSize, flops = 2.0 * rows * cols * tokens;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {GgmlTypes.Name(type)} | {rows}×{cols} | {tokens} | {threads} | {result.PerDot * 1e3:0.000} | {result.Plain * 1e3:0.000} | {result.Packed * 1e3:0.000} | " +
                    $"{bytes / result.PerDot / 1e9:0.0} | {bytes / result.Plain / 1e9:0.0} | {bytes / result.Packed / 1e9:0.0} | " +
                    $"{flops / result.PerDot / 1e9:0.0} | {flops / result.Plain / 1e9:0.0} | {flops / result.Packed / 1e9:0.0} | {result.Plain / result.Packed:0.00}× |"));
            }
        }
    }
}

namespace Frugal.Benchmarks
{
    internal sealed record BenchOptions(GgmlType[] Types, (int Rows, int Cols)[] Shapes, int[] Threads, int[] Tokens, int Repetitions, double Seconds, bool Minimum, bool ThreadClock,
        int[] AttentionDepths)
    {
        public static BenchOptions Parse(string[] args)
        {
            var values = new Dictionary<string, string>();
            for (int i = 0; i < args.Length; i++)
            {
                if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length) throw new ArgumentException($"expected --name value pairs, got '{args[i]}'");
                values[args[i][2..]] = args[++i];
            }
            string Get(string name, string fallback) => values.Remove(name, out var v) ? v : fallback;
            var types = Get("types", "Q4_0,Q8_0,Q4_K,Q6_K").Split(',').Select(name =>
                GgmlTypes.TryParse(name, out var t) && QuantKernels.Supports(t) ? t : throw new ArgumentException($"unknown or unsupported type '{name}'")).ToArray();
            var shapes = Get("shapes", "2048x2048,5632x2048,2048x5632").Split(',').Select(s =>
            {
                var parts = s.Split('x');
                return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
            }).ToArray();
            int[] Ints(string name, string fallback) => Get(name, fallback).Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            BenchMatrix.SpanBytes = long.Parse(Get("span-mb", "256"), CultureInfo.InvariantCulture) << 20;
            var options = new BenchOptions(types, shapes, Ints("threads", "1,2"), Ints("tokens", "1,64"),
                int.Parse(Get("repetitions", "5"), CultureInfo.InvariantCulture), double.Parse(Get("seconds", "0.3"), CultureInfo.InvariantCulture),
                Get("stat", "median") switch { "median" => false, "min" => true, var s => throw new ArgumentException($"--stat is median or min, got '{s}'") },
                Get("clock", "wall") switch { "wall" => false, "thread" => true, var s => throw new ArgumentException($"--clock is wall or thread, got '{s}'") },
                values.ContainsKey("attention") ? Ints("attention", "") : []);
            if (values.Count > 0) throw new ArgumentException($"unknown option --{values.Keys.First()}");
            return options;
        }
    }

    /// <summary>A quantized matrix [rows, cols] and enough copies of it to span 256 MB, used in turn.</summary>
    internal sealed unsafe class BenchMatrix : IDisposable
    {
        /// <summary>Bytes the copies span (--span-mb): 256 MB reads from memory; a few MB stays in L3.</summary>
        public static long SpanBytes = 256L << 20;
        private readonly NativeBuffer<byte> _copies;
        private readonly WeightMatrix[] _packedCopies;   // [CopyCount]: each copy with its load-time packed copy, if its type has one

        private BenchMatrix(GgmlType type, int rows, int cols, NativeBuffer<byte> copies, int copyCount)
        {
            Type = type;
            Rows = rows;
            Cols = cols;
            _copies = copies;
            CopyCount = copyCount;
            _packedCopies = new WeightMatrix[copyCount];
            for (int c = 0; c < copyCount; c++) _packedCopies[c] = Copy(c).WithPackedCopy();
        }

        public GgmlType Type { get; }
        public int Rows { get; }
        public int Cols { get; }
        public int CopyCount { get; }
        public long ByteSize => GgmlTypes.Info(Type).RowBytes(Cols) * Rows;

        public WeightMatrix Copy(int index) => new($"bench{index}", _copies.Pointer + (index % CopyCount) * ByteSize, Type, Rows, Cols);

        /// <summary>Copy <paramref name="index"/> as a model load binds it for the matrix product.</summary>
        public WeightMatrix PackedCopy(int index) => _packedCopies[index % CopyCount];

        public static BenchMatrix Create(GgmlType type, int rows, int cols, int seed)
        {
            var random = new Random(seed);
            long rowBytes = GgmlTypes.Info(type).RowBytes(cols);
            long bytes = rowBytes * rows;
            int copies = (int)Math.Max(1, (SpanBytes + bytes - 1) / bytes);
            var buffer = new NativeBuffer<byte>(bytes * copies);
            // Reference quantizers (how model files are written); Q8_0's registered Quantize is the activation one.
            delegate*<float*, byte*, int, void> quantize = type == GgmlType.Q8_0 ? &Frugal.Quants.Block32.Q8_0.QuantizeReference : QuantKernels.Get(type).Quantize;
            // Quantizing is slow for the K-quants: make 64 distinct rows and repeat them (the data's values do not matter for speed).
            const int distinctRows = 64;
            var values = new float[cols];
            for (int r = 0; r < rows; r++)
            {
                if (r < distinctRows)
                {
                    for (int i = 0; i < cols; i++) values[i] = (float)(random.NextDouble() + random.NextDouble() + random.NextDouble() - 1.5) * 0.05f;
                    fixed (float* v = values) quantize(v, buffer.Pointer + r * rowBytes, cols);
                }
                else
                {
                    Buffer.MemoryCopy(buffer.Pointer + (r % distinctRows) * rowBytes, buffer.Pointer + r * rowBytes, rowBytes, rowBytes);
                }
            }
            for (int c = 1; c < copies; c++) Buffer.MemoryCopy(buffer.Pointer, buffer.Pointer + c * bytes, bytes, bytes);
            return new BenchMatrix(type, rows, cols, buffer, copies);
        }

        public void Dispose()
        {
            foreach (var copy in _packedCopies) copy.ReleasePacked();
            _copies.Dispose();
        }
    }

    /// <summary>The MatMul algorithm before the tile kernels: one dot call per (row, token), one row range per thread.</summary>
    internal sealed unsafe class PerRowMatMul : IParallelWork
    {
        private readonly WorkerPool _pool;
        private WeightMatrix _weights;
        private delegate*<byte*, byte*, int, float> _dot;
        private byte* _activations;
        private long _activationRowBytes;
        private int _tokens;
        private float* _output;
        private int _outputStride;

        public PerRowMatMul(WorkerPool pool) => _pool = pool;

        public void Run(in WeightMatrix weights, ActivationQuantizer activations, int tokens, float* output, int outputStride)
        {
            _weights = weights;
            _dot = QuantKernels.For(weights.Type).DotForRows(weights.Rows);
            _activations = activations.Get(QuantKernels.For(weights.Type).VecDotType, out _activationRowBytes);
            _tokens = tokens;
            _output = output;
            _outputStride = outputStride;
            _pool.Run(this);
        }

        public void Execute(int chunkIndex, int chunkCount)
        {
            int rows = _weights.Rows;
            int chunk = ((rows + chunkCount - 1) / chunkCount + 15) & ~15;
            int start = chunkIndex * chunk;
            int end = Math.Min(rows, start + chunk);
            for (int r = start; r < end; r++)
            {
                byte* row = _weights.Row(r);
                for (int t = 0; t < _tokens; t++) _output[(long)t * _outputStride + r] = _dot(row, _activations + t * _activationRowBytes, _weights.Cols);
            }
        }
    }

    internal static unsafe class Measure
    {
        public static (double PerDot, double Plain, double Packed) Compare(BenchMatrix matrix, WorkerPool pool, int tokens, BenchOptions options)
        {
            using var activations = new ActivationQuantizer(pool, tokens, matrix.Cols);
            using var input = new NativeBuffer<float>((long)tokens * matrix.Cols);
            var random = new Random(tokens);
            for (long i = 0; i < input.Length; i++) input.Pointer[i] = (float)(random.NextDouble() * 2 - 1);
            activations.Prepare(input.Pointer, tokens, matrix.Cols);
            using var perDotOutput = new NativeBuffer<float>((long)tokens * matrix.Rows);
            using var plainOutput = new NativeBuffer<float>((long)tokens * matrix.Rows);
            using var packedOutput = new NativeBuffer<float>((long)tokens * matrix.Rows);
            var perRow = new PerRowMatMul(pool);
            var tiled = new MatMul(pool);
            int copy = 0;
            void RunPerDot() => perRow.Run(matrix.Copy(copy++), activations, tokens, perDotOutput.Pointer, matrix.Rows);
            void RunPlain() => tiled.Run(matrix.Copy(copy++), activations, tokens, plainOutput.Pointer, matrix.Rows);
            void RunPacked() => tiled.Run(matrix.PackedCopy(copy++), activations, tokens, packedOutput.Pointer, matrix.Rows);

            RunPerDot();
            copy--;
            RunPlain();
            copy--;
            RunPacked();
            foreach (var (name, output) in new[] { ("plain", plainOutput), ("packed", packedOutput) })
            {
                for (long i = 0; i < perDotOutput.Length; i++)
                {
                    if (BitConverter.SingleToInt32Bits(perDotOutput.Pointer[i]) != BitConverter.SingleToInt32Bits(output.Pointer[i]))
                        throw new InvalidOperationException($"{GgmlTypes.Name(matrix.Type)} {matrix.Rows}×{matrix.Cols}, {tokens} tokens: {name} differs from per-dot at {i}");
                }
            }

            var perDotTimes = new List<double>();
            var plainTimes = new List<double>();
            var packedTimes = new List<double>();
            for (int r = 0; r < options.Repetitions; r++)
            {
                perDotTimes.Add(TimePerCall(RunPerDot, options.Seconds, options.ThreadClock));
                plainTimes.Add(TimePerCall(RunPlain, options.Seconds, options.ThreadClock));
                packedTimes.Add(TimePerCall(RunPacked, options.Seconds, options.ThreadClock));
            }
            double Stat(List<double> times) => options.Minimum ? times.Min() : Median(times);
            return (Stat(perDotTimes), Stat(plainTimes), Stat(packedTimes));
        }

        /// <summary>
        /// Seconds per call, calling until at least <paramref name="seconds"/> have passed (after one warm-up call).
        /// With <paramref name="threadClock"/>, the calling thread's CPU time instead of wall time: on a machine shared
        /// with other work it leaves out the time the thread waited for a core (meaningful with one thread only).
        /// </summary>
        public static double TimePerCall(Action call, double seconds, bool threadClock)
        {
            call();
            var watch = Stopwatch.StartNew();
            double cpuStart = ThreadCpuSeconds();
            int calls = 0;
            do
            {
                call();
                calls++;
            }
            while (watch.Elapsed.TotalSeconds < seconds);
            return (threadClock ? ThreadCpuSeconds() - cpuStart : watch.Elapsed.TotalSeconds) / calls;
        }

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
        private static extern int ClockGetTime(int clock, out TimeSpec time);

        private struct TimeSpec
        {
            public long Seconds;
            public long Nanoseconds;
        }

        private static double ThreadCpuSeconds()
        {
            const int ClockThreadCpuTime = 3; // CLOCK_THREAD_CPUTIME_ID on Linux
            if (ClockGetTime(ClockThreadCpuTime, out var time) != 0) throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
            return time.Seconds + time.Nanoseconds * 1e-9;
        }

        public static double Median(List<double> values)
        {
            values.Sort();
            return values.Count % 2 == 1 ? values[values.Count / 2] : (values[values.Count / 2 - 1] + values[values.Count / 2]) / 2;
        }
    }
}
