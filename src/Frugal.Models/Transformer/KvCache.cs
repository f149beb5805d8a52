namespace Frugal.Models.Transformer;

/// <summary>
/// Key/value storage in fixed-size blocks, in half precision as llama.cpp stores its cache by default (half the
/// memory of F32, and the same rounding, so logits agree). A sequence owns a block table: position p of the
/// sequence lives in block table[p / BlockTokens] at offset p % BlockTokens. A single sequence may use one block
/// as large as its context (a contiguous cache); the batched engine uses many small blocks shared from a pool.
/// K and V: [blockCount, layers, blockTokens, kvDim] halves each, so the rows one layer reads from one block are
/// contiguous and stream.
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    private readonly NativeBuffer<Half> _keys;
    private readonly NativeBuffer<Half> _values;

    public KvCache(int layers, int kvDim, int blockTokens, int blockCount)
    {
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers), $"a cache needs at least one layer, got {layers}");
        if (kvDim < 1) throw new ArgumentOutOfRangeException(nameof(kvDim), $"the key/value width must be positive, got {kvDim}");
        if (blockTokens < 1) throw new ArgumentOutOfRangeException(nameof(blockTokens), $"a block holds at least one token, got {blockTokens}");
        if (blockCount < 1) throw new ArgumentOutOfRangeException(nameof(blockCount), $"a cache needs at least one block, got {blockCount}");
        Layers = layers;
        KvDim = kvDim;
        BlockTokens = blockTokens;
        BlockCount = blockCount;
        long halves = (long)blockCount * layers * blockTokens * kvDim;
        _keys = new NativeBuffer<Half>(halves);
        _values = new NativeBuffer<Half>(halves);
    }

    public int Layers { get; }
    public int KvDim { get; }
    public int BlockTokens { get; }
    public int BlockCount { get; }

    /// <summary>Bytes of K and V for one block of <paramref name="blockTokens"/> positions across every layer.</summary>
    public static long BlockBytes(int layers, int kvDim, int blockTokens) => 2L * layers * blockTokens * kvDim * sizeof(Half);

    public long ByteSize => 2 * _keys.Length * sizeof(Half);

    /// <summary>Key rows of (block, layer) from <paramref name="offset"/> on: [blockTokens - offset, kvDim] halves.</summary>
    public Half* Key(int block, int layer, int offset) => _keys.Pointer + (((long)block * Layers + layer) * BlockTokens + offset) * KvDim;

    /// <summary>Value rows of (block, layer) from <paramref name="offset"/> on: [blockTokens - offset, kvDim] halves.</summary>
    public Half* Value(int block, int layer, int offset) => _values.Pointer + (((long)block * Layers + layer) * BlockTokens + offset) * KvDim;

    public void Dispose()
    {
        _keys.Dispose();
        _values.Dispose();
    }
}
