using Frugal.Models.Transformer;
using Frugal.Numerics;
using Frugal.Numerics.Threading;
using Frugal.Quants;

namespace Frugal.Models.Tests.Kernels;

/// <summary>
/// MatMul cuts a product into row tiles that threads claim; whatever the cut, every output cell must have the bits of
/// the single dot llama.cpp would use (TypeKernels.DotForRows) and no cell outside the product may be written.
/// </summary>
public sealed unsafe class MatMulTests
{
    private sealed class Matrix : IDisposable
    {
        public Matrix(GgmlType type, int rows, int cols, int seed, bool packed = false)
        {
            var random = new Random(seed);
            long rowBytes = GgmlTypes.Info(type).RowBytes(cols);
            Buffer = new NativeBuffer<byte>(rowBytes * rows);
            var values = new float[cols];
            // Weight types register their reference quantizer as Quantize (Q8_0's is the activation one: fine here).
            var quantize = QuantKernels.Get(type).Quantize;
            for (int r = 0; r < rows; r++)
            {
                for (int i = 0; i < cols; i++) values[i] = (float)(random.NextDouble() * 2 - 1) * (1 + r % 5);
                fixed (float* v = values) quantize(v, Buffer.Pointer + r * rowBytes, cols);
            }
            Weights = new WeightMatrix($"test.{type}.{rows}x{cols}{(packed ? ".packed" : "")}", Buffer.Pointer, type, rows, cols);
            if (packed) Weights = Weights.WithPackedCopy();
        }

        public NativeBuffer<byte> Buffer { get; }
        public WeightMatrix Weights { get; }

        public void Dispose()
        {
            Weights.ReleasePacked();
            Buffer.Dispose();
        }
    }

    private static void AssertMatchesDots(in WeightMatrix weights, ActivationQuantizer activations, int tokens, float* output, int outputStride)
    {
        var kernels = QuantKernels.For(weights.Type);
        var dot = kernels.DotForRows(weights.Rows);
        byte* x = activations.Get(kernels.VecDotType, out long xRowBytes);
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < outputStride; r++)
            {
                float actual = output[t * outputStride + r];
                if (r >= weights.Rows)
                {
                    Assert.True(float.IsNaN(actual), $"{weights.Name}: wrote past the rows at token {t}, column {r}");
                    continue;
                }
                float expected = dot(weights.Row(r), x + t * xRowBytes, weights.Cols);
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual),
                    $"{weights.Name}, {tokens} tokens: row {r} token {t} is {actual:R}, the dot gives {expected:R} ({Simd.Describe()})");
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, 264, 256, 1)]    // row groups (264 = 8·33), decode
    [InlineData(GgmlType.Q4_0, 264, 256, 13)]   // row groups, prefill with a token remainder
    [InlineData(GgmlType.Q4_0, 250, 256, 6)]    // not a multiple of 8: ggml's lane order
    [InlineData(GgmlType.Q4_0, 264, 256, 1, true)]   // packed copy (where AVX2 runs), decode
    [InlineData(GgmlType.Q4_0, 264, 256, 13, true)]  // packed copy, 8 rows × 4 tokens and a token remainder
    [InlineData(GgmlType.Q4_0, 48, 2048, 64, true)]  // packed copy, a prefill-sized tile of long rows
    [InlineData(GgmlType.Q8_0, 100, 320, 1)]
    [InlineData(GgmlType.Q8_0, 100, 320, 9)]
    [InlineData(GgmlType.Q8_0, 104, 256, 1, true)]   // packed copy: decode streams 8-row groups
    [InlineData(GgmlType.Q8_0, 104, 256, 9, true)]   // packed, few tokens: each streams the group
    [InlineData(GgmlType.Q8_0, 48, 2048, 64, true)]  // packed, prefill: the 2-row × 4-token block
    [InlineData(GgmlType.Q8_0, 48, 384, 23, true)]   // packed, groups of 4 tokens and a remainder
    [InlineData(GgmlType.Q4_K, 70, 512, 1)]
    [InlineData(GgmlType.Q4_K, 70, 512, 7)]
    [InlineData(GgmlType.Q6_K, 45, 512, 5)]
    [InlineData(GgmlType.F16, 40, 96, 3)]       // no tile kernel: the dot per cell
    public void Every_cell_equals_the_single_dot(GgmlType type, int rows, int cols, int tokens, bool packed = false)
    {
        foreach (int threads in new[] { 1, 2 })
        {
            using var pool = new WorkerPool(threads);
            using var matrix = new Matrix(type, rows, cols, seed: rows + cols + tokens, packed);
            Assert.Equal(packed && PackedKernelsRun, matrix.Weights.Packed != null);
            using var activations = new ActivationQuantizer(pool, tokens, cols);
            using var input = new NativeBuffer<float>((long)tokens * cols);
            var random = new Random(tokens);
            for (int i = 0; i < input.Length; i++) input.Pointer[i] = (float)(random.NextDouble() * 4 - 2);
            int outputStride = rows + 5;
            using var output = new NativeBuffer<float>((long)tokens * outputStride);
            output.AsSpan().Fill(float.NaN);

            activations.Prepare(input.Pointer, tokens, cols);
            new MatMul(pool).Run(matrix.Weights, activations, tokens, output.Pointer, outputStride);
            AssertMatchesDots(matrix.Weights, activations, tokens, output.Pointer, outputStride);
        }
    }

    /// <summary>Q4_0 and Q8_0 matrices are packed only where the packed kernels have their AVX2 path.</summary>
    private static bool PackedKernelsRun =>
        Simd.Use256 && System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported;

    [Fact]
    public void Only_row_group_matrices_with_finite_scales_get_a_packed_copy()
    {
        using var lanes = new Matrix(GgmlType.Q4_0, 250, 64, 7, packed: true);      // lane-order dot: stays plain
        using var q8 = new Matrix(GgmlType.Q8_0, 64, 64, 8, packed: true);          // 2 blocks: not a whole run of 4
        using var infinite = new Matrix(GgmlType.Q4_0, 64, 64, 9);
        Assert.True(lanes.Weights.Packed == null);
        Assert.True(q8.Weights.Packed == null);
        *(ushort*)(infinite.Buffer.Pointer + 5 * 18) = 0x7C00;   // one +inf block scale: the packed kernel could not widen it
        var copy = infinite.Weights.WithPackedCopy();
        Assert.True(copy.Packed == null);
        using var plain = new Matrix(GgmlType.Q4_0, 64, 64, 10, packed: true);
        Assert.Equal(PackedKernelsRun, plain.Weights.Packed != null);
        Assert.True(plain.Weights.Data == plain.Buffer.Pointer, "the plain rows stay where they were for row lookups");
        plain.Weights.ReleasePacked();   // releasing twice (here and in Dispose) is harmless
    }

    [Fact]
    public void Several_matrices_sharing_an_input_take_one_dispatch_with_the_same_results()
    {
        const int cols = 512, tokens = 5;
        using var pool = new WorkerPool(2);
        using var query = new Matrix(GgmlType.Q4_0, 512, cols, 1, packed: true);
        using var key = new Matrix(GgmlType.Q4_0, 64, cols, 2);
        using var value = new Matrix(GgmlType.Q6_K, 64, cols, 3);
        using var activations = new ActivationQuantizer(pool, tokens, cols);
        using var input = new NativeBuffer<float>(tokens * cols);
        for (int i = 0; i < input.Length; i++) input.Pointer[i] = MathF.Sin(i * 0.37f);
        using var q = new NativeBuffer<float>(tokens * 512);
        using var k = new NativeBuffer<float>(tokens * 64);
        using var v = new NativeBuffer<float>(tokens * 64);
        foreach (var buffer in new[] { q, k, v }) buffer.AsSpan().Fill(float.NaN);

        activations.Prepare(input.Pointer, tokens, cols);
        new MatMul(pool).Run(activations, tokens,
            [new MatMulTarget(query.Weights, q.Pointer, 512), new MatMulTarget(key.Weights, k.Pointer, 64), new MatMulTarget(value.Weights, v.Pointer, 64)]);

        AssertMatchesDots(query.Weights, activations, tokens, q.Pointer, 512);
        AssertMatchesDots(key.Weights, activations, tokens, k.Pointer, 64);
        AssertMatchesDots(value.Weights, activations, tokens, v.Pointer, 64);
    }

    [Fact]
    public void Decode_allocates_nothing_on_any_thread()
    {
        const int cols = 1024, rows = 2048;
        using var pool = new WorkerPool(2);
        using var gate = new Matrix(GgmlType.Q4_0, rows, cols, 4, packed: true);
        using var up = new Matrix(GgmlType.Q4_K, rows, cols, 5);
        using var activations = new ActivationQuantizer(pool, 1, cols);
        using var input = new NativeBuffer<float>(cols);
        for (int i = 0; i < cols; i++) input.Pointer[i] = MathF.Cos(i);
        using var a = new NativeBuffer<float>(rows);
        using var b = new NativeBuffer<float>(rows);
        var matMul = new MatMul(pool);
        void Step()
        {
            activations.Prepare(input.Pointer, 1, cols);
            matMul.Run(activations, 1, [new MatMulTarget(gate.Weights, a.Pointer, rows), new MatMulTarget(up.Weights, b.Pointer, rows)]);
            matMul.Run(gate.Weights, activations, 1, a.Pointer, rows);
        }
        for (int i = 0; i < 3; i++) Step();   // JIT and first-use work happens here

        Span<long> before = stackalloc long[2], after = stackalloc long[2];
        pool.ReadAllocatedBytes(before);
        for (int i = 0; i < 20; i++) Step();
        pool.ReadAllocatedBytes(after);
        for (int thread = 0; thread < 2; thread++) Assert.Equal(before[thread], after[thread]);
    }

    [Fact]
    public void Bad_dispatches_are_refused_with_the_reason()
    {
        using var pool = new WorkerPool(1);
        using var matrix = new Matrix(GgmlType.Q8_0, 32, 64, 6);
        using var activations = new ActivationQuantizer(pool, 1, 64);
        using var input = new NativeBuffer<float>(64);
        using var output = new NativeBuffer<float>(64);
        activations.Prepare(input.Pointer, 1, 64);
        var matMul = new MatMul(pool);
        var narrow = Assert.Throws<ArgumentOutOfRangeException>(() => matMul.Run(matrix.Weights, activations, 1, output.Pointer, 16));
        Assert.Contains("less than its 32 rows", narrow.Message);
        var target = new MatMulTarget(matrix.Weights, output.Pointer, 32);
        var many = Assert.Throws<ArgumentOutOfRangeException>(() => matMul.Run(activations, 1, [target, target, target, target, target]));
        Assert.Contains("1 to 4 matrices", many.Message);
    }
}
