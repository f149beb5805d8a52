using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Frugal.Numerics.Threading;
using Frugal.Quants;
using Frugal.Quants.Tiles;

[assembly: InternalsVisibleTo("Frugal.Benchmarks")]

namespace Frugal.Models.Transformer;

/// <summary>One matrix of a <see cref="MatMul"/> dispatch and where its output goes: out [tokens, outputStride] floats.</summary>
public readonly unsafe struct MatMulTarget
{
    public MatMulTarget(in WeightMatrix weights, float* output, int outputStride)
    {
        Weights = weights;
        Output = output;
        OutputStride = outputStride;
    }

    public WeightMatrix Weights { get; }
    public float* Output { get; }
    public int OutputStride { get; }
}

/// <summary>
/// out [tokens, W.Rows] = act [tokens, W.Cols] · Wᵀ, with activations already in W's vec-dot type, for one matrix
/// or several that share the same input (Q, K, V; gate, up) in a single pool dispatch.
/// <para>
/// Work is cut into tiles of whole weight rows × all tokens; threads claim tiles from one atomic counter, so a
/// thread the OS deschedules on a busy machine leaves its share to the others. Tiles are multiples of 16 rows, so
/// no two threads write one 64-byte line of an output row. Inside a tile the type's tile kernel reads each weight
/// block once for several tokens (see <see cref="DotTile"/>); every result keeps the bits of the single-row dot.
/// Matrices with a packed copy (<see cref="WeightMatrix.Packed"/>) are read from it with the type's packed kernel.
/// </para>
/// </summary>
internal sealed unsafe class MatMul : IParallelWork
{
    /// <summary>Most matrices one dispatch takes.</summary>
    public const int MaxTargets = 4;

    /// <summary>Row granularity of a tile: 16 floats of output = one 64-byte cache line.</summary>
    private const int RowQuantum = 16;

    /// <summary>Decode tiles per thread and matrix: enough for the claim order to even out a slow thread.</summary>
    private const int DecodeTilesPerThread = 8;

    /// <summary>Below this many weight bytes × tokens the whole product runs on the calling thread (no barrier).</summary>
    private const long InlineWorkBytes = 48 * 1024;

    private readonly WorkerPool _pool;
    private readonly Job[] _jobs = new Job[MaxTargets];
    private int _jobCount;
    private int _totalTiles;
    private TileCounter _next;

    public MatMul(WorkerPool pool) => _pool = pool;

    /// <summary>Computes out[t·outputStride + r] = dot(W row r, activation row t) for every token t and row r.</summary>
    public void Run(in WeightMatrix weights, ActivationQuantizer activations, int tokens, float* output, int outputStride) =>
        Run(activations, tokens, [new MatMulTarget(weights, output, outputStride)]);

    /// <summary>
    /// Multiplies every target's matrix by the same prepared activations (all targets must have the activations'
    /// column count) in one dispatch. Up to <see cref="MaxTargets"/> targets; allocates nothing.
    /// </summary>
    public void Run(ActivationQuantizer activations, int tokens, ReadOnlySpan<MatMulTarget> targets)
    {
        if (targets.Length is 0 or > MaxTargets)
            throw new ArgumentOutOfRangeException(nameof(targets), $"one dispatch takes 1 to {MaxTargets} matrices, got {targets.Length}");
        if (tokens < 1) throw new ArgumentOutOfRangeException(nameof(tokens), $"need at least one token, got {tokens}");

        long workBytes = 0;
        int tiles = 0;
        for (int i = 0; i < targets.Length; i++)
        {
            ref readonly var target = ref targets[i];
            var weights = target.Weights;
            ref readonly var kernels = ref QuantKernels.For(weights.Type);
            if (target.OutputStride < weights.Rows)
                throw new ArgumentOutOfRangeException(nameof(targets), $"output stride {target.OutputStride} of '{weights.Name}' is less than its {weights.Rows} rows");
            byte* x = activations.Get(kernels.VecDotType, out long activationRowBytes);
            activations.Tables(kernels.VecDotType, out float* activationScales, out int* activationSums);
            int rowsPerTile = RowsPerTile(weights.Rows, tokens);
            int tileCount = (weights.Rows + rowsPerTile - 1) / rowsPerTile;
            // A packed copy (row groups of 8) is read by its own kernel; tiles are whole groups as RowQuantum is 16.
            bool packed = weights.Packed != null;
            _jobs[i] = new Job
            {
                Tile = new DotTile
                {
                    Weights = packed ? weights.Packed : weights.Data,
                    WeightStride = weights.RowBytes,
                    Rows = weights.Rows,
                    Activations = x,
                    ActivationStride = activationRowBytes,
                    Tokens = tokens,
                    Cols = weights.Cols,
                    Output = target.Output,
                    OutputStride = target.OutputStride,
                    ActivationScales = activationScales,
                    ActivationSums = activationSums,
                },
                Kernel = packed ? kernels.TilePacked : kernels.TileForRows(weights.Rows),
                Dot = kernels.DotForRows(weights.Rows),
                RowsPerTile = rowsPerTile,
                FirstTile = tiles,
            };
            tiles += tileCount;
            workBytes += weights.ByteSize * tokens;
        }
        _jobCount = targets.Length;
        _totalTiles = tiles;
        _next.Value = 0;
        if (workBytes < InlineWorkBytes || _pool.ThreadCount == 1) Execute(0, 1);
        else _pool.Run(this);
    }

    /// <summary>Most rows of a prefill tile: 64 rows of a 2048-column Q4_0 matrix are 74 KB, which stays in L2 while every token passes.</summary>
    private const int MaxPrefillRowsPerTile = 64;

    /// <summary>
    /// Most rows of a tile when few tokens pass (batched decode): the rows are read by at most two sweeps of four
    /// tokens, so a taller tile still finds them in L2 on the second, and the kernel prepares each token's
    /// activation tables once per tile, so fewer tiles repeat that less.
    /// </summary>
    private const int MaxFewTokenRowsPerTile = 256;

    /// <summary>Tokens up to which a product takes the taller tiles of <see cref="MaxFewTokenRowsPerTile"/>.</summary>
    private const int FewTokens = 8;

    /// <summary>
    /// Rows per tile: decode spreads each matrix over several tiles per thread; prefill takes up to 64 rows (256 for
    /// a handful of tokens) while leaving at least 4 tiles per thread for the claim order to balance.
    /// </summary>
    private int RowsPerTile(int rows, int tokens)
    {
        if (tokens > 1)
        {
            int tall = rows / (_pool.ThreadCount * 4) / RowQuantum * RowQuantum;
            return Math.Clamp(tall, RowQuantum, tokens <= FewTokens ? MaxFewTokenRowsPerTile : MaxPrefillRowsPerTile);
        }
        int perTile = rows / (_pool.ThreadCount * DecodeTilesPerThread);
        return Math.Max(RowQuantum, (perTile + RowQuantum - 1) / RowQuantum * RowQuantum);
    }

    public void Execute(int chunkIndex, int chunkCount)
    {
        int job = 0;
        while (true)
        {
            int tile = Interlocked.Increment(ref _next.Value) - 1;
            if (tile >= _totalTiles) return;
            while (job + 1 < _jobCount && tile >= _jobs[job + 1].FirstTile) job++;   // a thread's claims only grow
            ref readonly var work = ref _jobs[job];
            int first = (tile - work.FirstTile) * work.RowsPerTile;
            var part = work.Tile.RowRange(first, Math.Min(work.RowsPerTile, work.Tile.Rows - first));
            if (work.Kernel != null) work.Kernel(part);
            else TileKernels.PerDot(part, work.Dot);
        }
    }

    /// <summary>One matrix of the current dispatch: the whole product as a tile, cut into RowsPerTile pieces.</summary>
    private struct Job
    {
        public DotTile Tile;
        public delegate*<in DotTile, void> Kernel;      // null: the type has no tile kernel, use Dot per cell
        public delegate*<byte*, byte*, int, float> Dot;
        public int RowsPerTile;
        public int FirstTile;                            // index of this matrix's first tile in the dispatch
    }

    /// <summary>The shared tile counter, alone on its cache line so claiming does not slow reads of the jobs.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct TileCounter
    {
        [FieldOffset(64)] public int Value;
    }
}
