using Frugal.Models.Tests.Conformance;
using Frugal.TestSupport;

namespace Frugal.Models.Tests.Sessions;

public sealed class InferenceSessionTests
{
    private static string Stories => SharedData.Model("stories260K.gguf");

    [SharedFact]
    public void Decode_loop_allocates_nothing_per_token()
    {
        var model = ModelCache.Get(Stories, threads: 2);
        using var session = model.CreateSession(256);   // 11 warm-up + up to 4 × 50 measured tokens
        int[] next = [model.Tokenizer.BosId];
        var logits = session.Evaluate(next);
        // Warm up the JIT and tiering on a few tokens first.
        for (int i = 0; i < 10; i++) { next[0] = LogitComparison.ArgMax(logits); logits = session.Evaluate(next); }

        // A per-token allocation shows in every window of 50 steps. A one-off (a method a worker thread runs for the
        // first time because under load the caller claimed all its chunks during warm-up) shows in one window only,
        // so the test looks at up to four consecutive windows and requires one of them to allocate nothing.
        long[] before = new long[model.Threads], after = new long[model.Threads];
        var windows = new List<string>();
        long[] perThread = [];
        for (int window = 0; window < 4; window++)
        {
            model.Pool.ReadAllocatedBytes(before);
            for (int i = 0; i < 50; i++)
            {
                next[0] = LogitComparison.ArgMax(logits);
                logits = session.Evaluate(next);
            }
            model.Pool.ReadAllocatedBytes(after);
            perThread = after.Zip(before, (a, b) => a - b).ToArray();
            if (perThread.All(bytes => bytes == 0)) break;
            windows.Add($"[{string.Join(", ", perThread)}]");
        }
        Assert.True(perThread.All(bytes => bytes == 0),
            $"every window of 50 decode steps allocated bytes on the pool's threads (caller first): {string.Join(" ", windows)}");
        Assert.Equal(2, perThread.Length);
    }

    [SharedFact]
    public void One_and_two_threads_compute_the_same_logits()
    {
        int[] tokens = [1, 403, 407, 261, 378, 288, 380];
        float[] Run(int threads)
        {
            var model = ModelCache.Get(SharedData.Model("synth-llama-tok512-Q4_K.gguf"), threads);
            using var session = model.CreateSession(16);
            var logits = new float[tokens.Length * session.VocabSize];
            session.EvaluateAll(tokens, logits);
            return logits;
        }
        Assert.Equal(Run(1), Run(2));
    }

    [SharedFact]
    public void Evaluate_token_by_token_equals_one_block()
    {
        var model = ModelCache.Get(Stories);
        int[] tokens = model.Tokenizer.Encode("Once upon a time, there was a dog.", addSpecial: true);
        using var block = model.CreateSession(64);
        float[] all = new float[tokens.Length * block.VocabSize];
        block.EvaluateAll(tokens, all);

        using var stepwise = model.CreateSession(64);
        for (int i = 0; i < tokens.Length; i++)
        {
            var logits = stepwise.Evaluate(tokens.AsSpan(i, 1));
            for (int v = 0; v < block.VocabSize; v++) Assert.Equal(all[i * block.VocabSize + v], logits[v], 1e-4f);
        }
        Assert.Equal(tokens.Length, stepwise.Position);
    }

    [SharedFact]
    public void Rewind_recomputes_the_same_logits()
    {
        var model = ModelCache.Get(Stories);
        using var session = model.CreateSession(32);
        int[] prefix = [1, 403, 407];
        session.Evaluate(prefix);
        float[] first = session.Evaluate([261]).ToArray();
        session.Rewind(prefix.Length);
        float[] second = session.Evaluate([261]).ToArray();
        Assert.Equal(first, second);
        session.Reset();
        Assert.Equal(0, session.Position);
    }

    [SharedFact]
    public void Bad_input_gets_a_clear_error_and_keeps_the_session_usable()
    {
        var model = ModelCache.Get(Stories);
        using var session = model.CreateSession(4);
        var outside = Assert.Throws<ArgumentOutOfRangeException>(() => session.Evaluate([model.Config.VocabSize]));
        Assert.Contains("outside the vocabulary", outside.Message);
        Assert.Throws<ArgumentException>(() => session.Evaluate([]));
        session.Evaluate([1, 2, 3]);
        var full = Assert.Throws<InvalidOperationException>(() => session.Evaluate([4, 5]));
        Assert.Contains("context is full", full.Message);
        Assert.Equal(3, session.Position);
        session.Evaluate([4]);
        Assert.Equal(4, session.Position);
    }
}
