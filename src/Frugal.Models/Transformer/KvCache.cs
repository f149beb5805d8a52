namespace Frugal.Models.Transformer;

/// <summary>
/// Key/value storage in fixed-size blocks, in half precision as llama.cpp stores its cache by default (half the
/// memory of F32, and the same rounding, so logits agree). A sequence owns a block table: position p of the
/// sequence lives in block table[p / BlockTokens] at offset p % BlockTokens. A single sequence may use one block
/// as large as its context (a contiguous cache); the batched engine uses many small blocks shared from a pool.
/// K and V: [blockCount, layers, kvHeads, blockTokens, headDim] halves each, so the rows one attention work item
/// (one KV head of one layer) reads from one block are contiguous and stream. With the heads interleaved per position
/// ([blockTokens, kvDim]) each item read 2 of every 8 lines (tinyllama), and decode after 2048 positions ran ~10 %
/// (1 thread) to ~20 % (2 threads) slower (docs/PERFORMANCE.md, seventh pass).
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    private readonly NativeBuffer<Half> _keys;
    private readonly NativeBuffer<Half> _values;

    public KvCache(int layers, int kvHeads, int headDim, int blockTokens, int blockCount)
    {
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers), $"a cache needs at least one layer, got {layers}");
        if (kvHeads < 1) throw new ArgumentOutOfRangeException(nameof(kvHeads), $"a cache needs at least one KV head, got {kvHeads}");
        if (headDim < 1) throw new ArgumentOutOfRangeException(nameof(headDim), $"the head width must be positive, got {headDim}");
        if (blockTokens < 1) throw new ArgumentOutOfRangeException(nameof(blockTokens), $"a block holds at least one token, got {blockTokens}");
        if (blockCount < 1) throw new ArgumentOutOfRangeException(nameof(blockCount), $"a cache needs at least one block, got {blockCount}");
        Layers = layers;
        KvHeads = kvHeads;
        HeadDim = headDim;
        BlockTokens = blockTokens;
        BlockCount = blockCount;
        long halves = (long)blockCount * layers * blockTokens * KvDim;
        _keys = new NativeBuffer<Half>(halves);
        _values = new NativeBuffer<Half>(halves);
    }

    public int Layers { get; }
    public int KvHeads { get; }
    public int HeadDim { get; }
    public int KvDim => KvHeads * HeadDim;
    public int BlockTokens { get; }
    public int BlockCount { get; }

    /// <summary>Bytes of K and V for one block of <paramref name="blockTokens"/> positions across every layer.</summary>
    public static long BlockBytes(int layers, int kvDim, int blockTokens) => 2L * layers * blockTokens * kvDim * sizeof(Half);

    public long ByteSize => 2 * _keys.Length * sizeof(Half);

    /// <summary>Key rows of (block, layer, KV head) from <paramref name="offset"/> on: [blockTokens - offset, headDim] halves.</summary>
    public Half* Key(int block, int layer, int head, int offset) => _keys.Pointer + RowIndex(block, layer, head, offset);

    /// <summary>Value rows of (block, layer, KV head) from <paramref name="offset"/> on: [blockTokens - offset, headDim] halves.</summary>
    public Half* Value(int block, int layer, int head, int offset) => _values.Pointer + RowIndex(block, layer, head, offset);

    private long RowIndex(int block, int layer, int head, int offset) =>
        ((((long)block * Layers + layer) * KvHeads + head) * BlockTokens + offset) * HeadDim;

    public void Dispose()
    {
        _keys.Dispose();
        _values.Dispose();
    }
}
