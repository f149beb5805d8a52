using Frugal.Quants;
using Frugal.Quants.Block32;
using Frugal.Quants.Float;
using Frugal.Quants.KQuants;

namespace Frugal.Compression.Quantization;

/// <summary>
/// Converts rows of float weights into a GGUF tensor type, as llama.cpp's ggml_quantize_chunk does: without an
/// importance matrix through the reference quantizers of Frugal.Quants (byte-exact with llama.cpp's
/// quantize_row_*_ref), with one through the importance-weighted quantizers here (llama.cpp's quantize_row_*_impl).
/// Q8_0, F16 and BF16 ignore the importance matrix, as llama.cpp does.
/// </summary>
public static unsafe class WeightQuantizer
{
    /// <summary>The types this quantizer can write.</summary>
    public static IReadOnlyList<GgmlType> OutputTypes { get; } =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0,
        GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    ];

    public static bool CanWrite(GgmlType type) => OutputTypes.Contains(type);

    /// <summary>Whether an importance matrix changes how this type is quantized.</summary>
    public static bool UsesImportance(GgmlType type) => type is GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0
        or GgmlType.Q5_1 or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    /// <summary>
    /// Quantizes one row of <paramref name="n"/> floats into <paramref name="type"/>. <paramref name="importance"/>
    /// holds one weight per column (n of them) or is null. n must be a multiple of the type's block size.
    /// </summary>
    public static void QuantizeRow(GgmlType type, float* src, byte* dst, int n, float* importance)
    {
        CheckRowLength(type, n);
        if (importance != null && UsesImportance(type))
        {
            switch (type)
            {
                case GgmlType.Q4_0: Block32Weighted.QuantizeQ4_0(src, dst, n, importance); return;
                case GgmlType.Q4_1: Block32Weighted.QuantizeQ4_1(src, dst, n, importance); return;
                case GgmlType.Q5_0: Block32Weighted.QuantizeQ5_0(src, dst, n, importance); return;
                case GgmlType.Q5_1: Block32Weighted.QuantizeQ5_1(src, dst, n, importance); return;
                case GgmlType.Q2_K: KQuantWeighted.QuantizeQ2_K(src, dst, n, importance); return;
                case GgmlType.Q3_K: KQuantWeighted.QuantizeQ3_K(src, dst, n, importance); return;
                case GgmlType.Q4_K: KQuantWeighted.QuantizeQ4_K(src, dst, n, importance); return;
                case GgmlType.Q5_K: KQuantWeighted.QuantizeQ5_K(src, dst, n, importance); return;
                case GgmlType.Q6_K: KQuantWeighted.QuantizeQ6_K(src, dst, n, importance); return;
            }
        }
        switch (type)
        {
            case GgmlType.F32: Buffer.MemoryCopy(src, dst, 4L * n, 4L * n); return;
            case GgmlType.F16: F16.Quantize(src, dst, n); return;
            case GgmlType.BF16: BF16.Quantize(src, dst, n); return;
            case GgmlType.Q8_0: Q8_0.QuantizeReference(src, dst, n); return;
            case GgmlType.Q4_0: Q4_0.QuantizeReference(src, dst, n); return;
            case GgmlType.Q4_1: Q4_1.QuantizeReference(src, dst, n); return;
            case GgmlType.Q5_0: Q5_0.QuantizeReference(src, dst, n); return;
            case GgmlType.Q5_1: Q5_1.QuantizeReference(src, dst, n); return;
            case GgmlType.Q2_K: Q2K.QuantizeReference(src, dst, n); return;
            case GgmlType.Q3_K: Q3K.QuantizeReference(src, dst, n); return;
            case GgmlType.Q4_K: Q4K.QuantizeReference(src, dst, n); return;
            case GgmlType.Q5_K: Q5K.QuantizeReference(src, dst, n); return;
            case GgmlType.Q6_K: Q6K.QuantizeReference(src, dst, n); return;
            default: throw new NotSupportedException($"Frugal cannot quantize to {GgmlTypes.Name(type)}");
        }
    }

    /// <summary>
    /// Quantizes a matrix of <paramref name="rows"/> rows of <paramref name="rowLength"/> floats
    /// (src [rows, rowLength], row-major) into dst [rows, RowBytes(rowLength)], rows spread over
    /// <paramref name="threads"/> workers in chunks of at least 16k elements (llama.cpp's chunking; every row is
    /// quantized on its own, so the result does not depend on it). <paramref name="importance"/> is empty or holds
    /// rowLength weights.
    /// </summary>
    public static void QuantizeRows(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst, int rowLength,
        ReadOnlySpan<float> importance, int threads = 0, CancellationToken cancellation = default)
    {
        CheckRowLength(type, rowLength);
        if (src.Length % rowLength != 0)
            throw new ArgumentException($"{src.Length} floats are not a whole number of rows of {rowLength}", nameof(src));
        long rows = src.Length / rowLength;
        long rowBytes = GgmlTypes.Info(type).RowBytes(rowLength);
        if (dst.Length != rows * rowBytes)
            throw new ArgumentException($"{rows} rows of {GgmlTypes.Name(type)} need {rows * rowBytes} bytes, the destination holds {dst.Length}", nameof(dst));
        if (!importance.IsEmpty && importance.Length != rowLength)
            throw new ArgumentException($"the importance matrix holds {importance.Length} values, the rows {rowLength} columns", nameof(importance));

        const int MinimumChunkElements = 32 * 512;
        int rowsPerChunk = Math.Max(1, (MinimumChunkElements + rowLength - 1) / rowLength);
        long chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        int workers = threads > 0 ? threads : Environment.ProcessorCount;

        fixed (float* source = src)
        fixed (byte* destination = dst)
        fixed (float* weights = importance)
        {
            float* source0 = source;
            byte* destination0 = destination;
            float* weights0 = importance.IsEmpty ? null : weights;
            Parallel.For(0L, chunks, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = cancellation }, chunk =>
            {
                long first = chunk * rowsPerChunk;
                long end = Math.Min(rows, first + rowsPerChunk);
                for (long row = first; row < end; row++)
                    QuantizeRow(type, source0 + row * rowLength, destination0 + row * rowBytes, rowLength, weights0);
            });
        }
    }

    /// <summary>Dequantizes rows of any type Frugal can read back to floats (for requantizing and for error checks).</summary>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        var info = GgmlTypes.Info(type);
        if (dst.Length % info.BlockSize != 0 || src.Length != info.RowBytes(dst.Length))
            throw new ArgumentException($"{src.Length} bytes of {info.Name} do not hold {dst.Length} values", nameof(src));
        fixed (byte* s = src)
        fixed (float* d = dst)
        {
            if (type == GgmlType.F32)
            {
                Buffer.MemoryCopy(s, d, 4L * dst.Length, 4L * dst.Length);
                return;
            }
            var kernels = QuantKernels.Get(type);
            if (kernels.Dequantize == null) throw new NotSupportedException($"Frugal cannot read tensors of type {info.Name}");
            // The kernels take an int count: go in slices of whole blocks.
            const int Slice = 1 << 24;
            for (long done = 0; done < dst.Length; done += Slice)
            {
                int count = (int)Math.Min(Slice, dst.Length - done);
                kernels.Dequantize(s + done / info.BlockSize * info.BlockBytes, d + done, count);
            }
        }
    }

    private static void CheckRowLength(GgmlType type, int n)
    {
        if (!CanWrite(type)) throw new NotSupportedException($"Frugal cannot quantize to {GgmlTypes.Name(type)}");
        int block = GgmlTypes.Info(type).BlockSize;
        if (n <= 0 || n % block != 0)
            throw new ArgumentException($"{GgmlTypes.Name(type)} rows must hold a positive multiple of {block} values, not {n}", nameof(n));
    }
}
