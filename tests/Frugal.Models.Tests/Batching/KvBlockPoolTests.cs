using Frugal.Models.Batching;

namespace Frugal.Models.Tests.Batching;

public sealed class KvBlockPoolTests
{
    private static int[] Tokens(int first, int count = 4) => Enumerable.Range(first, count).ToArray();

    [Fact]
    public void Allocates_every_block_once_then_refuses()
    {
        var pool = new KvBlockPool(blockCount: 3, blockTokens: 4);
        int[] taken = [pool.Allocate(), pool.Allocate(), pool.Allocate()];
        Assert.Equal([0, 1, 2], taken);
        Assert.Equal(3, pool.UsedBlocks);
        Assert.Equal(0, pool.AvailableBlocks);
        var error = Assert.Throws<InvalidOperationException>(() => pool.Allocate());
        Assert.Contains("3 KV blocks", error.Message);

        pool.Release(1);
        Assert.Equal(1, pool.FreeBlocks);
        Assert.Equal(1, pool.Allocate());
    }

    [Fact]
    public void Shared_block_is_freed_by_its_last_holder_only()
    {
        var pool = new KvBlockPool(2, 4);
        int block = pool.Allocate();
        long serial = pool.Register(block, KvBlockPool.ChainHash(0, Tokens(10)), Tokens(10), KvBlockPool.RootSerial);
        Assert.True(serial > 0);
        pool.AddReference(block);
        Assert.Equal(2, pool.ReferenceCount(block));
        pool.Release(block);
        Assert.Equal(1, pool.UsedBlocks);
        pool.Release(block);
        Assert.Equal(0, pool.UsedBlocks);
        Assert.Equal(1, pool.CachedBlocks);
        Assert.Throws<InvalidOperationException>(() => pool.Release(block));
    }

    [Fact]
    public void Unregistered_free_block_cannot_be_shared()
    {
        var pool = new KvBlockPool(2, 4);
        int block = pool.Allocate();
        pool.Release(block);
        var error = Assert.Throws<InvalidOperationException>(() => pool.AddReference(block));
        Assert.Contains("free", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Release(7));
    }

    [Fact]
    public void Lookup_follows_the_chain_and_checks_tokens_and_parent()
    {
        var pool = new KvBlockPool(4, 4);
        int first = pool.Allocate(), second = pool.Allocate();
        ulong h1 = KvBlockPool.ChainHash(0, Tokens(1));
        long s1 = pool.Register(first, h1, Tokens(1), KvBlockPool.RootSerial);
        ulong h2 = KvBlockPool.ChainHash(h1, Tokens(5));
        long s2 = pool.Register(second, h2, Tokens(5), s1);

        Assert.True(pool.TryFindCached(h1, Tokens(1), KvBlockPool.RootSerial, out int found, out long foundSerial));
        Assert.Equal((first, s1), (found, foundSerial));
        Assert.True(pool.TryFindCached(h2, Tokens(5), s1, out found, out _));
        Assert.Equal(second, found);
        // Same hash presented with other tokens or another parent: a miss, never a wrong block.
        Assert.False(pool.TryFindCached(h2, Tokens(6), s1, out _, out _));
        Assert.False(pool.TryFindCached(h2, Tokens(5), KvBlockPool.RootSerial, out _, out _));
        Assert.False(pool.TryFindCached(h2, Tokens(5), s2, out _, out _));
    }

    [Fact]
    public void Hash_collision_breaks_the_chain_instead_of_sharing()
    {
        var pool = new KvBlockPool(4, 4);
        int a = pool.Allocate(), b = pool.Allocate();
        const ulong sameHash = 42;
        long serialA = pool.Register(a, sameHash, Tokens(1), KvBlockPool.RootSerial);
        Assert.True(serialA > 0);
        Assert.Equal(KvBlockPool.BrokenChain, pool.Register(b, sameHash, Tokens(100), KvBlockPool.RootSerial));
        Assert.False(pool.IsRegistered(b));
        // An identical block computed twice continues the chain of the first one.
        int c = pool.Allocate();
        Assert.Equal(serialA, pool.Register(c, sameHash, Tokens(1), KvBlockPool.RootSerial));
        Assert.False(pool.IsRegistered(c));
        Assert.Equal(KvBlockPool.BrokenChain, pool.Register(c, 7, Tokens(1), KvBlockPool.BrokenChain));
    }

    [Fact]
    public void Cached_blocks_are_evicted_least_recently_released_first()
    {
        var pool = new KvBlockPool(3, 4);
        int[] blocks = [pool.Allocate(), pool.Allocate(), pool.Allocate()];
        ulong[] hashes = new ulong[3];
        for (int i = 0; i < 3; i++)
        {
            hashes[i] = KvBlockPool.ChainHash((ulong)i, Tokens(i * 4));
            pool.Register(blocks[i], hashes[i], Tokens(i * 4), KvBlockPool.RootSerial);
        }
        pool.Release(blocks[2]);
        pool.Release(blocks[0]);
        pool.Release(blocks[1]);
        Assert.Equal(3, pool.CachedBlocks);
        Assert.Equal(0, pool.UsedBlocks);

        // A hit takes block 0 out of the eviction order; the next allocations evict 2, then 1.
        Assert.True(pool.TryFindCached(hashes[0], Tokens(0), KvBlockPool.RootSerial, out int hit, out _));
        pool.AddReference(hit);
        Assert.Equal(blocks[2], pool.Allocate());
        Assert.Equal(blocks[1], pool.Allocate());
        Assert.Equal(2, pool.Evictions);
        Assert.False(pool.TryFindCached(hashes[2], Tokens(8), KvBlockPool.RootSerial, out _, out _));
        Assert.Throws<InvalidOperationException>(() => pool.Allocate());
    }

    [Fact]
    public void Chain_hash_depends_on_parent_order_and_tokens()
    {
        ulong root = KvBlockPool.ChainHash(0, [1, 2, 3, 4]);
        Assert.NotEqual(root, KvBlockPool.ChainHash(0, [1, 2, 4, 3]));
        Assert.NotEqual(root, KvBlockPool.ChainHash(1, [1, 2, 3, 4]));
        Assert.Equal(root, KvBlockPool.ChainHash(0, [1, 2, 3, 4]));
    }
}
