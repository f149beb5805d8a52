using System.Runtime.CompilerServices;

namespace Frugal.Models.Batching;

/// <summary>
/// One sequence of a <see cref="BatchEngine"/>: its block table and the tokens whose keys and values are in the
/// cache. Created by <see cref="BatchEngine.CreateSequence"/>, advanced by <see cref="BatchEngine.Step"/>, given
/// back by <see cref="BatchEngine.Release"/>.
/// </summary>
public sealed unsafe class BatchSequence
{
    private readonly int[] _blockTable; // [ceil(contextSize / blockTokens)] block ids, pinned: forward passes read it by pointer
    private readonly int[] _tokens;     // [contextSize] token ids at positions 0…Length-1

    internal BatchSequence(BatchEngine owner, long id, int contextSize, int blockTokens)
    {
        Owner = owner;
        Id = id;
        _blockTable = GC.AllocateArray<int>((contextSize + blockTokens - 1) / blockTokens, pinned: true);
        _tokens = new int[contextSize];
        BlockTablePointer = (nint)Unsafe.AsPointer(ref _blockTable[0]);
    }

    public long Id { get; }

    /// <summary>Tokens whose keys and values are in the cache (the next token goes to position Length).</summary>
    public int Length { get; internal set; }

    /// <summary>Blocks held (attached from the prefix cache or reserved).</summary>
    public int BlockCount { get; internal set; }

    /// <summary>Leading tokens that came from the prefix cache instead of being computed.</summary>
    public int CachedTokens { get; internal set; }

    public bool IsReleased { get; internal set; }

    /// <summary>The tokens in the cache, position by position.</summary>
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Length);

    /// <summary>The ids of the blocks held, in position order.</summary>
    public ReadOnlySpan<int> Blocks => _blockTable.AsSpan(0, BlockCount);

    internal BatchEngine Owner { get; }
    internal int[] BlockTable => _blockTable;
    internal int[] TokenBuffer => _tokens;
    internal nint BlockTablePointer { get; }

    /// <summary>Rows of the step being assembled that belong to this sequence.</summary>
    internal int PendingRows { get; set; }

    /// <summary>Leading blocks already registered in (or attached from) the prefix cache.</summary>
    internal int RegisteredBlocks { get; set; }

    /// <summary>Hash and registration serial of the chain of registered blocks so far.</summary>
    internal ulong ChainHash { get; set; }

    internal long ChainSerial { get; set; } = KvBlockPool.RootSerial;

    public override string ToString() => $"sequence {Id} ({Length} tokens, {BlockCount} blocks)";
}
