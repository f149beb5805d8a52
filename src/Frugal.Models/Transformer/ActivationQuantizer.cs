using Frugal.Numerics.Threading;
using Frugal.Quants;
using Frugal.Quants.Block32;

namespace Frugal.Models.Transformer;

/// <summary>
/// Converts a block of activation rows into the vec-dot type of the weights they meet, once per type:
/// Q, K and V (or gate and up) share one quantization. Rows: x [tokens, cols] floats →
/// buffer [tokens, rowBytes] in the requested type. Quantizing many rows is spread over the pool.
/// Q8_0 rows also get their per-block scale and quant-sum tables (<see cref="ActivationTables"/>), which the
/// row-group kernels would otherwise rebuild in every tile.
/// </summary>
internal sealed unsafe class ActivationQuantizer : IParallelWork, IDisposable
{
    private const int MaxTypes = 4;
    private readonly NativeBuffer<byte> _buffer;
    private readonly NativeBuffer<float> _q8Scales;   // [maxTokens, maxCols/32]: Q8_0 rows' block scales, widened
    private readonly NativeBuffer<int> _q8Sums;       // [maxTokens, maxCols/32]: Q8_0 rows' block quant sums
    private bool _q8TablesReady;
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
    private bool _tablesFor;   // the conversion in progress also fills the Q8_0 tables

    public ActivationQuantizer(WorkerPool pool, int maxTokens, int maxCols)
    {
        _pool = pool;
        _capacityPerType = (long)maxTokens * maxCols * sizeof(float); // F32 is the widest activation type
        _buffer = new NativeBuffer<byte>(_capacityPerType * MaxTypes);
        _q8Scales = new NativeBuffer<float>((long)maxTokens * (maxCols / 32));
        _q8Sums = new NativeBuffer<int>((long)maxTokens * (maxCols / 32));
    }

    /// <summary>Starts a new block of activations: x [tokens, cols]. Nothing is converted until asked.</summary>
    public void Prepare(float* x, int tokens, int cols)
    {
        _source = x;
        _tokens = tokens;
        _cols = cols;
        _typeCount = 0;
        _q8TablesReady = false;
    }

    /// <summary>
    /// The prepared rows' Q8_0 tables ([tokens, cols/32] each) when <paramref name="type"/> is Q8_0 and the rows have
    /// been converted to it (call <see cref="Get"/> first); otherwise null, and the kernels derive them themselves.
    /// </summary>
    public void Tables(GgmlType type, out float* scales, out int* sums)
    {
        bool ready = type == GgmlType.Q8_0 && _q8TablesReady;
        scales = ready ? _q8Scales.Pointer : null;
        sums = ready ? _q8Sums.Pointer : null;
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
        _tablesFor = type == GgmlType.Q8_0 && _cols % 32 == 0;
        if (_tokens == 1) Execute(0, 1);
        else _pool.Run(this);
        if (_tablesFor) _q8TablesReady = true;
        return _target;
    }

    public void Execute(int chunkIndex, int chunkCount)
    {
        for (int t = chunkIndex; t < _tokens; t += chunkCount)
        {
            _quantize(_source + (long)t * _cols, _target + t * _targetRowBytes, _cols);
            if (_tablesFor)
            {
                int blocks = _cols / 32;
                ActivationTables.Compute(_target + t * _targetRowBytes, blocks, _q8Scales.Pointer + (long)t * blocks, _q8Sums.Pointer + (long)t * blocks);
            }
        }
    }

    public void Dispose()
    {
        _buffer.Dispose();
        _q8Scales.Dispose();
        _q8Sums.Dispose();
    }
}
