using Frugal.Engine.Benchmarking;
using Frugal.Models;
using Frugal.TestSupport;

namespace Frugal.Engine.Tests.Benchmarking;

/// <summary>The batched-decode benchmark really decodes: each of its sequences produces its solo greedy tokens.</summary>
public sealed class BatchedDecodeTests
{
    [SharedFact]
    public void Every_sequence_of_a_batch_decodes_what_it_would_alone()
    {
        using var model = Model.Load(SharedData.Model("stories260K.gguf"), new ModelLoadOptions { Threads = 2 });
        var random = new Random(3);
        int[][] depths = [.. Enumerable.Range(0, 5).Select(s => Enumerable.Range(0, s * 7).Select(_ => random.Next(model.Config.VocabSize)).ToArray())];
        int[] starts = [.. Enumerable.Range(0, 5).Select(_ => random.Next(model.Config.VocabSize))];
        const int steps = 12;

        int[][] batched;
        double seconds = -1;
        using (var engine = BenchmarkRunner.CreateBatchEngine(model, depths.Length, depths.Max(d => d.Length) + steps))
        {
            batched = BenchmarkRunner.DecodeBatch(engine, depths, starts, steps, elapsed => seconds = elapsed);
            Assert.Equal(0, engine.UsedBlocks);   // every sequence released
        }
        Assert.True(seconds > 0);

        for (int s = 0; s < depths.Length; s++)
        {
            using var session = model.CreateSession(64);
            if (depths[s].Length > 0) session.Evaluate(depths[s]);
            int token = starts[s];
            var solo = new int[steps];
            for (int i = 0; i < steps; i++)
            {
                var logits = session.Evaluate([token]);
                token = 0;
                for (int v = 1; v < logits.Length; v++) if (logits[v] > logits[token]) token = v;
                solo[i] = token;
            }
            Assert.Equal(solo, batched[s]);
        }
    }

    [SharedFact]
    public void A_batch_too_big_for_memory_is_refused_with_a_clear_message()
    {
        using var model = Model.Load(SharedData.Model("stories260K.gguf"));
        var error = Assert.Throws<ArgumentException>(() => BenchmarkRunner.CreateBatchEngine(model, 256, 100_000_000));
        Assert.Contains("GiB of KV cache", error.Message);
    }
}
