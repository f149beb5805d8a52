namespace Frugal.Models.Transformer;

/// <summary>
/// A contiguous key/value cache for one sequence, stored in half precision as llama.cpp stores it by default
/// (half the memory of F32, and the same rounding, so logits agree). Keys and values of layer l, position p
/// start at (l · ContextSize + p) · KvDim. K and V: [layers, contextSize, kvHeads·headDim] halves.
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    private readonly NativeBuffer<Half> _keys;
    private readonly NativeBuffer<Half> _values;

    public KvCache(int layers, int contextSize, int kvDim)
    {
        Layers = layers;
        ContextSize = contextSize;
        KvDim = kvDim;
        _keys = new NativeBuffer<Half>((long)layers * contextSize * kvDim);
        _values = new NativeBuffer<Half>((long)layers * contextSize * kvDim);
    }

    public int Layers { get; }
    public int ContextSize { get; }
    public int KvDim { get; }

    public long ByteSize => 2 * _keys.Length * sizeof(Half);

    /// <summary>Key row of (layer, position): [kvDim] halves.</summary>
    public Half* Key(int layer, int position) => _keys.Pointer + ((long)layer * ContextSize + position) * KvDim;

    /// <summary>Value row of (layer, position): [kvDim] halves.</summary>
    public Half* Value(int layer, int position) => _values.Pointer + ((long)layer * ContextSize + position) * KvDim;

    public void Dispose()
    {
        _keys.Dispose();
        _values.Dispose();
    }
}
