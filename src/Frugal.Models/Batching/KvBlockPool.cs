namespace Frugal.Models.Batching;

/// <summary>
/// Book-keeping of the KV blocks of a paged cache (the storage itself is a <see cref="Transformer.KvCache"/>):
/// reference counts, the free list, and the prefix cache. A block is in one of three states:
/// <list type="bullet">
/// <item>used: reference count ≥ 1 (held by one sequence, or shared read-only by several through the prefix cache);</item>
/// <item>cached: reference count 0 but registered under the hash of its token chain, kept for later prompts and
/// evicted least-recently-released first when the pool needs space;</item>
/// <item>free: holds nothing worth keeping.</item>
/// </list>
/// Allocation, release, lookup and eviction are O(1) (O(block tokens) to compare token ids). A cached block is
/// identified by the hash of (its parent's hash, its token ids); a hit is trusted only after its token ids and its
/// parent's registration serial are compared, so a hash collision can cost a miss but never a wrong reuse.
/// Not thread-safe.
/// </summary>
public sealed class KvBlockPool
{
    /// <summary>Parent serial of the first block of a chain.</summary>
    public const long RootSerial = 0;

    /// <summary>Serial that matches nothing: the chain cannot be registered further (a hash collision broke it).</summary>
    public const long BrokenChain = -1;

    private const int None = -1;

    private readonly int[] _referenceCounts;  // [blocks]
    private readonly long[] _serials;         // [blocks] registration serial (≥ 1) of a registered block, 0 otherwise
    private readonly long[] _parentSerials;   // [blocks] serial of the block before it in its chain (RootSerial for the first)
    private readonly ulong[] _hashes;         // [blocks] chain hash the block is registered under
    private readonly int[] _tokenIds;         // [blocks, blockTokens] token ids of each registered block, for verification
    private readonly int[] _freeStack;        // [blocks] ids of free blocks, _freeCount valid from the bottom
    private readonly int[] _lruPrevious;      // [blocks] cached blocks as a doubly linked list, least recently released at the head
    private readonly int[] _lruNext;          // [blocks]
    private readonly Dictionary<ulong, int> _registered; // chain hash → block id
    private int _freeCount;
    private int _lruHead = None;
    private int _lruTail = None;
    private long _nextSerial = 1;

    public KvBlockPool(int blockCount, int blockTokens)
    {
        if (blockCount < 1) throw new ArgumentOutOfRangeException(nameof(blockCount), $"a pool needs at least one block, got {blockCount}");
        if (blockTokens < 1) throw new ArgumentOutOfRangeException(nameof(blockTokens), $"a block holds at least one token, got {blockTokens}");
        TotalBlocks = blockCount;
        BlockTokens = blockTokens;
        _referenceCounts = new int[blockCount];
        _serials = new long[blockCount];
        _parentSerials = new long[blockCount];
        _hashes = new ulong[blockCount];
        _tokenIds = new int[(long)blockCount * blockTokens];
        _freeStack = new int[blockCount];
        _lruPrevious = new int[blockCount];
        _lruNext = new int[blockCount];
        _registered = new Dictionary<ulong, int>(blockCount);
        // Lowest ids on top, so a fresh pool hands out 0, 1, 2…
        for (int i = 0; i < blockCount; i++) _freeStack[i] = blockCount - 1 - i;
        _freeCount = blockCount;
    }

    public int TotalBlocks { get; }

    public int BlockTokens { get; }

    /// <summary>Blocks held by at least one sequence.</summary>
    public int UsedBlocks => TotalBlocks - _freeCount - CachedBlocks;

    /// <summary>Blocks no sequence holds that keep a registered prefix (evictable).</summary>
    public int CachedBlocks { get; private set; }

    public int FreeBlocks => _freeCount;

    /// <summary>Blocks an allocation can get: free ones, then cached ones by eviction.</summary>
    public int AvailableBlocks => _freeCount + CachedBlocks;

    /// <summary>Cached blocks given up to make room, since the pool was made.</summary>
    public long Evictions { get; private set; }

    public int ReferenceCount(int block) => _referenceCounts[CheckId(block)];

    /// <summary>True when <paramref name="block"/> is registered in the prefix cache.</summary>
    public bool IsRegistered(int block) => _serials[CheckId(block)] != 0;

    /// <summary>A block with reference count 1: a free one, else the least recently released cached one (evicted).</summary>
    public int Allocate()
    {
        int block;
        if (_freeCount > 0)
        {
            block = _freeStack[--_freeCount];
        }
        else if (_lruHead != None)
        {
            block = _lruHead;
            RemoveFromLru(block);
            Unregister(block);
            Evictions++;
        }
        else
        {
            throw new InvalidOperationException($"every one of the {TotalBlocks} KV blocks is in use");
        }
        _referenceCounts[block] = 1;
        return block;
    }

    /// <summary>One more holder of a used or cached block (a cached block becomes used).</summary>
    public void AddReference(int block)
    {
        CheckId(block);
        if (_referenceCounts[block] == 0)
        {
            if (_serials[block] == 0) throw new InvalidOperationException($"block {block} is free; only used or cached blocks can be shared");
            RemoveFromLru(block);
        }
        _referenceCounts[block]++;
    }

    /// <summary>
    /// One holder fewer. At zero a registered block becomes cached (the most recently released), any other block
    /// free. A sequence releases its blocks last first, so its first blocks, which more prompts share, go last.
    /// </summary>
    public void Release(int block)
    {
        CheckId(block);
        if (_referenceCounts[block] == 0) throw new InvalidOperationException($"block {block} is released more often than it was taken");
        if (--_referenceCounts[block] > 0) return;
        if (_serials[block] != 0) AppendToLru(block);
        else _freeStack[_freeCount++] = block;
    }

    /// <summary>The hash of a block whose chain so far hashes to <paramref name="parentHash"/> and which holds <paramref name="tokens"/>.</summary>
    public static ulong ChainHash(ulong parentHash, ReadOnlySpan<int> tokens)
    {
        // splitmix64 finalizer over (state ^ token): cheap, well mixed; the pool verifies every hit anyway.
        ulong state = parentHash ^ 0x9E3779B97F4A7C15UL;
        foreach (int token in tokens) state = Mix(state ^ (uint)token) + 0x9E3779B97F4A7C15UL;
        return Mix(state ^ (ulong)tokens.Length);
    }

    /// <summary>
    /// Finds the registered block that continues the chain <paramref name="parentSerial"/> with <paramref name="tokens"/>
    /// (hash <paramref name="chainHash"/>), comparing the token ids and the parent. The caller takes a reference
    /// with <see cref="AddReference"/> before anything else allocates.
    /// </summary>
    public bool TryFindCached(ulong chainHash, ReadOnlySpan<int> tokens, long parentSerial, out int block, out long serial)
    {
        serial = BrokenChain;
        if (tokens.Length != BlockTokens || !_registered.TryGetValue(chainHash, out block) || !Holds(block, tokens, parentSerial))
        {
            block = None;
            return false;
        }
        serial = _serials[block];
        return true;
    }

    /// <summary>
    /// Registers a full, computed block (reference count ≥ 1) as the continuation of chain <paramref name="parentSerial"/>
    /// by <paramref name="tokens"/>. Returns the serial the chain continues with: the block's own, or that of an
    /// identical block registered before (this block then stays unregistered and is freed on release), or
    /// <see cref="BrokenChain"/> when the parent chain is broken or another chain holds the hash.
    /// </summary>
    public long Register(int block, ulong chainHash, ReadOnlySpan<int> tokens, long parentSerial)
    {
        CheckId(block);
        if (tokens.Length != BlockTokens) throw new ArgumentException($"a block holds {BlockTokens} tokens, got {tokens.Length}", nameof(tokens));
        if (_referenceCounts[block] == 0) throw new InvalidOperationException($"block {block} is not held by anyone; only held blocks are registered");
        if (parentSerial == BrokenChain) return BrokenChain;
        if (_serials[block] != 0)
        {
            // Already registered (attached from the cache): it must be this very chain.
            return _parentSerials[block] == parentSerial && Holds(block, tokens, parentSerial) ? _serials[block] : BrokenChain;
        }
        if (_registered.TryGetValue(chainHash, out int existing))
            return Holds(existing, tokens, parentSerial) ? _serials[existing] : BrokenChain;

        long serial = _nextSerial++;
        _serials[block] = serial;
        _parentSerials[block] = parentSerial;
        _hashes[block] = chainHash;
        tokens.CopyTo(_tokenIds.AsSpan(block * BlockTokens, BlockTokens));
        _registered.Add(chainHash, block);
        return serial;
    }

    private bool Holds(int block, ReadOnlySpan<int> tokens, long parentSerial) =>
        _serials[block] != 0 && _parentSerials[block] == parentSerial && tokens.SequenceEqual(_tokenIds.AsSpan(block * BlockTokens, BlockTokens));

    private void Unregister(int block)
    {
        if (_serials[block] == 0) return;
        _registered.Remove(_hashes[block]);
        _serials[block] = 0;
    }

    private void AppendToLru(int block)
    {
        _lruPrevious[block] = _lruTail;
        _lruNext[block] = None;
        if (_lruTail != None) _lruNext[_lruTail] = block;
        else _lruHead = block;
        _lruTail = block;
        CachedBlocks++;
    }

    private void RemoveFromLru(int block)
    {
        int previous = _lruPrevious[block], next = _lruNext[block];
        if (previous != None) _lruNext[previous] = next;
        else _lruHead = next;
        if (next != None) _lruPrevious[next] = previous;
        else _lruTail = previous;
        CachedBlocks--;
    }

    private int CheckId(int block) =>
        (uint)block < (uint)TotalBlocks ? block : throw new ArgumentOutOfRangeException(nameof(block), $"block {block} is not one of the {TotalBlocks} blocks");

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
