using Frugal.Models.Batching;
using Frugal.TestSupport;

namespace Frugal.Models.Tests.Batching;

/// <summary>The batched engine against solo sessions: same logits, bit for bit, however sequences are mixed.</summary>
public sealed class BatchEngineTests
{
    private static Model Load(string file, int threads = 2) =>
        Model.Load(SharedData.Model(file), new ModelLoadOptions { Threads = threads });

    private static int[] RandomTokens(int count, int vocab, int seed)
    {
        var random = new Random(seed);
        var tokens = new int[count];
        tokens[0] = 1;
        for (int i = 1; i < count; i++) tokens[i] = random.Next(3, vocab);
        return tokens;
    }

    // Bit equality of two logit rows; names the first difference (Assert.Equal on 32k-float arrays is slow).
    private static void AssertSameFloats(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        if (System.Runtime.InteropServices.MemoryMarshal.AsBytes(expected).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(actual))) return;
        int i = 0;
        while (BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i])) i++;
        Assert.Fail($"{where}: logit {i} is {actual[i]:R}, alone {expected[i]:R}");
    }

    private static float[] SoloLogits(Model model, int[] tokens)
    {
        using var session = model.CreateSession(tokens.Length);
        var logits = new float[tokens.Length * session.VocabSize];
        session.EvaluateAll(tokens, logits);
        return logits;
    }

    [SharedTheory]
    [InlineData("stories260K.gguf", 8)]
    [InlineData("synth-llama-spm-Q4_0.gguf", 16)]
    [InlineData("synth-qwen2-gpt2-Q8_0.gguf", 5)]
    public void Mixed_prefill_chunks_and_decodes_equal_solo_sessions_bit_for_bit(string file, int blockTokens)
    {
        using var model = Load(file);
        int vocab = model.Config.VocabSize;
        // The large-vocabulary models spend most of a row in the output matrix: shorter sequences keep the test fast.
        int[] lengths = vocab > 1000 ? [23, 5, 40, 10, 17] : [45, 9, 80, 20, 33];
        int[][] tokens = lengths.Select((length, i) => RandomTokens(length, vocab, seed: 17 + i)).ToArray();
        float[][] expected = tokens.Select(t => SoloLogits(model, t)).ToArray();

        const int budget = 24;
        using var engine = new BatchEngine(model, new BatchEngineOptions { ContextSize = 96, BlockTokens = blockTokens, MaxBatchTokens = budget });
        var sequences = new BatchSequence?[lengths.Length];
        var items = new List<BatchItem>();
        var wanted = new List<(int Sequence, int Position)>();
        var logits = new float[budget * vocab];
        int checkedRows = 0;
        for (int step = 0; sequences.Select((s, i) => s is null || s.Length < lengths[i]).Any(unfinished => unfinished); step++)
        {
            items.Clear();
            wanted.Clear();
            for (int s = 0; s < lengths.Length; s++)
            {
                // Sequence s joins at step s, so block tables interleave; chunk sizes vary from step to step.
                if (step < s) continue;
                var sequence = sequences[s] ??= engine.CreateSequence();
                int remaining = lengths[s] - sequence.Length;
                int chunk = Math.Min(Math.Min(remaining, budget - items.Count), 1 + (step * 7 + s * 3) % 11);
                if (chunk <= 0) continue;
                Assert.True(engine.TryReserve(sequence, chunk));
                for (int r = 0; r < chunk; r++)
                {
                    int position = sequence.Length + r;
                    bool wants = position % 3 != 1 || r == chunk - 1;
                    items.Add(new BatchItem(sequence, tokens[s][position], wants));
                    if (wants) wanted.Add((s, position));
                }
            }
            engine.Step(items.ToArray(), logits);
            for (int w = 0; w < wanted.Count; w++)
            {
                var (s, position) = wanted[w];
                AssertSameFloats(expected[s].AsSpan(position * vocab, vocab), logits.AsSpan(w * vocab, vocab), $"sequence {s}, position {position}");
                checkedRows++;
            }
        }
        Assert.True(checkedRows > lengths.Sum() / 2);
        for (int s = 0; s < lengths.Length; s++) Assert.Equal(tokens[s], sequences[s]!.Tokens.ToArray());

        foreach (var sequence in sequences) engine.Release(sequence!);
        Assert.Equal(0, engine.UsedBlocks);
        Assert.True(engine.Blocks.CachedBlocks > 0);
    }

    [SharedFact]
    public void Cached_prefix_is_shared_and_continues_exactly()
    {
        using var model = Load("stories260K.gguf");
        int vocab = model.Config.VocabSize;
        int[] first = RandomTokens(50, vocab, seed: 3);
        int[] second = [.. first[..40], .. RandomTokens(12, vocab, seed: 4)[1..]];
        using var engine = new BatchEngine(model, new BatchEngineOptions { ContextSize = 64, BlockTokens = 16 });
        var logits = new float[vocab];

        var a = engine.CreateSequence();
        Assert.Equal(0, engine.AttachCachedPrefix(a, first));
        Assert.True(engine.TryReserve(a, first.Length));
        engine.Step(first.Select((t, i) => new BatchItem(a, t, i == first.Length - 1)).ToArray(), logits);

        // While a still holds them, b attaches the two full blocks that match and computes the rest.
        var b = engine.CreateSequence();
        Assert.Equal(32, engine.AttachCachedPrefix(b, second));
        Assert.Equal(a.Blocks[..2].ToArray(), b.Blocks.ToArray());
        Assert.Equal(2, engine.Blocks.ReferenceCount(a.Blocks[0]));
        Assert.Equal(32, b.CachedTokens);
        Assert.True(engine.TryReserve(b, second.Length - 32));
        engine.Step(second[32..].Select((t, i) => new BatchItem(b, t, i == second.Length - 33)).ToArray(), logits);
        var solo = SoloLogits(model, second);
        AssertSameFloats(solo.AsSpan((second.Length - 1) * vocab, vocab), logits, "second prompt, last position");
        Assert.Equal(second, b.Tokens.ToArray());
        Assert.Equal(first.Length + second.Length, engine.PrefixLookupTokens);
        Assert.Equal(32, engine.PrefixHitTokens);

        // Released, the blocks stay cached; a prompt of exactly two cached blocks reuses one (its last token is computed).
        engine.Release(a);
        engine.Release(b);
        Assert.Equal(0, engine.UsedBlocks);
        var c = engine.CreateSequence();
        Assert.Equal(16, engine.AttachCachedPrefix(c, first[..32]));
        Assert.Equal(1, engine.UsedBlocks);
    }

    [SharedFact]
    public void Reservation_fails_when_memory_runs_out_and_evicts_cached_blocks_first()
    {
        using var model = Load("stories260K.gguf", threads: 1);
        long blockBytes = BatchEngine.BytesPerToken(model.Config) * 16;
        using var engine = new BatchEngine(model, new BatchEngineOptions { ContextSize = 64, BlockTokens = 16, KvMemoryBytes = 4 * blockBytes });
        Assert.Equal(4, engine.TotalBlocks);
        int[] prompt = RandomTokens(40, model.Config.VocabSize, seed: 9);

        var a = engine.CreateSequence();
        Assert.True(engine.TryReserve(a, 40));
        engine.Step(prompt.Select(t => new BatchItem(a, t, false)).ToArray(), []);
        var b = engine.CreateSequence();
        Assert.False(engine.TryReserve(b, 40));
        Assert.Equal(0, b.BlockCount);
        Assert.True(engine.TryReserve(b, 16));
        Assert.False(engine.TryReserve(a, 24)); // a would need a fifth block
        engine.Release(a);
        Assert.Equal(2, engine.Blocks.CachedBlocks); // a's two full blocks
        Assert.True(engine.TryReserve(b, 64));      // one free block, then both cached ones evicted
        Assert.Equal(2, engine.Blocks.Evictions);
        Assert.Equal(4, engine.UsedBlocks);
    }

    [SharedFact]
    public void Bad_use_gets_precise_exceptions()
    {
        using var model = Load("stories260K.gguf", threads: 1);
        int vocab = model.Config.VocabSize;
        var error = Assert.Throws<ArgumentException>(() => new BatchEngine(model, new BatchEngineOptions { ContextSize = 64, KvMemoryBytes = 1000 }));
        Assert.Contains("fewer than the 4", error.Message);
        Assert.Throws<ArgumentException>(() => new BatchEngine(model, new BatchEngineOptions { BlockTokens = 0 }));
        Assert.Throws<ArgumentException>(() => new BatchEngine(model, new BatchEngineOptions { MaxBatchTokens = 0 }));

        using var engine = new BatchEngine(model, new BatchEngineOptions { ContextSize = 32, MaxBatchTokens = 4 });
        using var other = new BatchEngine(model, new BatchEngineOptions { ContextSize = 32 });
        var logits = new float[4 * vocab];
        var s = engine.CreateSequence();
        Assert.Contains("reserve first", Assert.Throws<InvalidOperationException>(() => engine.Step([new BatchItem(s, 1, true)], logits)).Message);
        Assert.True(engine.TryReserve(s, 2));
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentException>(() => engine.Step([new BatchItem(s, vocab, true)], logits)).Message);
        Assert.Contains("1 to 4 tokens", Assert.Throws<ArgumentException>(() => engine.Step(new BatchItem[5], logits)).Message);
        Assert.Contains("needed", Assert.Throws<ArgumentException>(() => engine.Step([new BatchItem(s, 1, true)], new float[vocab - 1])).Message);
        Assert.Throws<ArgumentNullException>(() => engine.Step([default], logits));
        Assert.Contains("another engine", Assert.Throws<ArgumentException>(() => other.TryReserve(s, 1)).Message);
        Assert.Contains("at most 32", Assert.Throws<ArgumentOutOfRangeException>(() => engine.TryReserve(s, 33)).Message);
        // The failed steps left the sequence as it was.
        Assert.Equal(0, s.Length);
        engine.Step([new BatchItem(s, 1, true), new BatchItem(s, 5, true)], logits);
        Assert.Equal(2, s.Length);
        Assert.Contains("not empty", Assert.Throws<InvalidOperationException>(() => engine.AttachCachedPrefix(s, [1, 2])).Message);
        engine.Release(s);
        Assert.Contains("released", Assert.Throws<InvalidOperationException>(() => engine.TryReserve(s, 1)).Message);
    }

    [SharedFact]
    public void Decode_steps_allocate_nothing()
    {
        using var model = Load("stories260K.gguf");
        int vocab = model.Config.VocabSize;
        using var engine = new BatchEngine(model, new BatchEngineOptions { ContextSize = 128, BlockTokens = 4 });
        var sequences = Enumerable.Range(0, 4).Select(_ => engine.CreateSequence()).ToArray();
        var items = new BatchItem[sequences.Length];
        var logits = new float[sequences.Length * vocab];
        void Decode()
        {
            for (int i = 0; i < sequences.Length; i++)
            {
                Assert.True(engine.TryReserve(sequences[i], 1));
                items[i] = new BatchItem(sequences[i], 1 + (sequences[i].Length * 31 + i) % (vocab - 1), true);
            }
            engine.Step(items, logits);
        }
        for (int i = 0; i < 10; i++) Decode(); // JIT and tiering warm-up

        long[] before = new long[model.Threads], after = new long[model.Threads];
        model.Pool.ReadAllocatedBytes(before);
        long callerBefore = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 40; i++) Decode();
        long callerBytes = GC.GetAllocatedBytesForCurrentThread() - callerBefore;
        model.Pool.ReadAllocatedBytes(after);
        Assert.Equal(0, callerBytes);
        Assert.All(after.Zip(before, (a, b) => a - b), bytes => Assert.Equal(0, bytes));
    }
}
