using Frugal.Numerics.Threading;
using Frugal.Quants;

namespace Frugal.Models.Transformer;

/// <summary>
/// Converts a block of activation rows into the vec-dot type of the weights they meet, once per type:
/// Q, K and V (or gate and up) share one quantization. Rows: x [tokens, cols] floats →
/// buffer [tokens, rowBytes] in the requested type. Quantizing many rows is spread over the pool.
/// </summary>
internal sealed unsafe class ActivationQuantizer : IParallelWork, IDisposable
{
    private const int MaxTypes = 4;
    private readonly NativeBuffer<byte> _buffer;
    private readonly WorkerPool _pool;
    private readonly long _capacityPerType;
    private readonly GgmlType[] _types = new GgmlType[MaxTypes];
    private int _typeCount;
    private float* _source;
    private int _tokens;
    private int _cols;
    // The quantization the parallel Execute performs.
    private delegate*<float*, byte*, int, void> _quantize;
    private byte* _target;
    private long _targetRowBytes;

    public ActivationQuantizer(WorkerPool pool, int maxTokens, int maxCols)
    {
        _pool = pool;
        _capacityPerType = (long)maxTokens * maxCols * sizeof(float); // F32 is the widest activation type
        _buffer = new NativeBuffer<byte>(_capacityPerType * MaxTypes);
    }

    /// <summary>Starts a new block of activations: x [tokens, cols]. Nothing is converted until asked.</summary>
    public void Prepare(float* x, int tokens, int cols)
    {
        _source = x;
        _tokens = tokens;
        _cols = cols;
        _typeCount = 0;
    }

    /// <summary>The prepared rows in <paramref name="type"/>: [tokens, rowBytes]. Converted on first request.</summary>
    public byte* Get(GgmlType type, out long rowBytes)
    {
        rowBytes = GgmlTypes.Info(type).RowBytes(_cols);
        for (int i = 0; i < _typeCount; i++)
        {
            if (_types[i] == type) return _buffer.Pointer + i * _capacityPerType;
        }
        if (_typeCount == MaxTypes) _typeCount = 0;
        int slot = _typeCount++;
        _types[slot] = type;
        _target = _buffer.Pointer + slot * _capacityPerType;
        _targetRowBytes = rowBytes;
        _quantize = QuantKernels.Get(type).Quantize;
        if (_quantize == null) throw new NotSupportedException($"activations cannot be converted to {GgmlTypes.Name(type)}");
        if (_tokens == 1) Execute(0, 1);
        else _pool.Run(this);
        return _target;
    }

    public void Execute(int chunkIndex, int chunkCount)
    {
        for (int t = chunkIndex; t < _tokens; t += chunkCount)
        {
            _quantize(_source + (long)t * _cols, _target + t * _targetRowBytes, _cols);
        }
    }

    public void Dispose() => _buffer.Dispose();
}
