using Frugal.Numerics.Threading;
using Frugal.Quants;

namespace Frugal.Models.Transformer;

/// <summary>
/// out [tokens, W.Rows] = act [tokens, W.Cols] · Wᵀ, with activations already in W's vec-dot type.
/// Threads take disjoint ranges of weight rows (multiples of 16 rows, so no two threads write one cache line
/// of a 64-byte output row segment); each weight row is read once and dotted against every token.
/// </summary>
internal sealed unsafe class MatMul : IParallelWork
{
    private readonly WorkerPool _pool;
    private WeightMatrix _weights;
    private delegate*<byte*, byte*, int, float> _dot;
    private byte* _activations;
    private long _activationRowBytes;
    private int _tokens;
    private float* _output;
    private int _outputStride;

    public MatMul(WorkerPool pool) => _pool = pool;

    /// <summary>Computes out[t, r] = dot(W row r, activation row t) for every token t and row r.</summary>
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
        int cols = _weights.Cols;
        for (int r = start; r < end; r++)
        {
            byte* row = _weights.Row(r);
            for (int t = 0; t < _tokens; t++)
            {
                _output[(long)t * _outputStride + r] = _dot(row, _activations + t * _activationRowBytes, cols);
            }
        }
    }
}
