using Frugal.Engine.Sampling;

namespace Frugal.Engine.Tests;

public class SamplerTests
{
    // Logits whose softmax is exactly the given probabilities (up to float rounding).
    private static float[] LogitsOf(params double[] probabilities) =>
        probabilities.Select(p => (float)Math.Log(p)).ToArray();

    private static float[] RandomLogits(int vocab, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, vocab).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray();
    }

    private static SamplingOptions Plain => new() { TopK = 0, TopP = 1, MinP = 0, Temperature = 1, Seed = 1 };

    private static int[] CandidateIds(Sampler sampler, float[] logits, int[]? history = null) =>
        sampler.Candidates(logits, history ?? []).Ids.ToArray();

    [Fact]
    public void Greedy_picks_the_argmax_and_the_lowest_id_on_ties()
    {
        var sampler = new Sampler(6, SamplingOptions.Greedy);
        Assert.Equal(3, sampler.Sample([0.1f, -2f, 1f, 5f, 4.9f, 0f], []));
        Assert.Equal(1, sampler.Sample([0.1f, 7f, 1f, 7f, 7f, 0f], []));
        Assert.Equal(1, sampler.Sample([float.NaN, -1f, -1f, -3f, -2f, -5f], []));
    }

    [Fact]
    public void Greedy_ignores_the_random_filters_but_honours_bias_and_penalties()
    {
        var biased = new Sampler(4, SamplingOptions.Greedy with { LogitBias = new Dictionary<int, float> { [2] = 3f } });
        Assert.Equal(2, biased.Sample([1f, 2f, 0f, 1f], []));

        var penalized = new Sampler(4, SamplingOptions.Greedy with { RepetitionPenalty = 4f });
        Assert.Equal(3, penalized.Sample([1f, 2f, 0f, 1.5f], [1, 1]));
    }

    [Fact]
    public void A_temperature_near_zero_concentrates_all_probability_on_the_argmax()
    {
        float[] logits = [1f, 3f, 2.5f, -1f, 2.9f];
        var sampler = new Sampler(logits.Length, Plain with { Temperature = 0.01f });
        var candidates = sampler.Candidates(logits, []);
        Assert.Equal(1, candidates.Ids[0]);
        Assert.True(candidates.Probabilities[0] > 0.9999f);
        for (int i = 0; i < 1000; i++) Assert.Equal(1, sampler.Sample(logits, []));
    }

    [Fact]
    public void Top_k_of_one_equals_greedy()
    {
        var greedy = new Sampler(1000, SamplingOptions.Greedy);
        var topOne = new Sampler(1000, new SamplingOptions { TopK = 1, Temperature = 1.5f, Seed = 9 });
        for (int seed = 0; seed < 50; seed++)
        {
            float[] logits = RandomLogits(1000, seed);
            Assert.Equal(greedy.Sample(logits, []), topOne.Sample(logits, []));
        }
    }

    [Fact]
    public void Top_k_keeps_the_k_best_best_first()
    {
        float[] logits = [0.5f, 3f, -1f, 2f, 2f, 9f, 0f];
        var sampler = new Sampler(logits.Length, Plain with { TopK = 4 });
        Assert.Equal([5, 1, 3, 4], CandidateIds(sampler, logits));
    }

    [Fact]
    public void Top_p_keeps_the_shortest_prefix_reaching_p()
    {
        // Probabilities 0.05, 0.5, 0.15, 0.3 (ids scrambled so the order must come from the sort).
        float[] logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        Assert.Equal([1], CandidateIds(new Sampler(4, Plain with { TopP = 0.45f }), logits));
        Assert.Equal([1, 3], CandidateIds(new Sampler(4, Plain with { TopP = 0.75f }), logits));
        Assert.Equal([1, 3, 2], CandidateIds(new Sampler(4, Plain with { TopP = 0.85f }), logits));
        Assert.Equal([1, 3, 2, 0], CandidateIds(new Sampler(4, Plain with { TopP = 1f }), logits));
    }

    [Fact]
    public void Top_p_measures_probability_within_the_top_k_set()
    {
        // Over all 4 tokens the best two hold 0.8; within top-k = 3 they hold 0.8 / 0.95 ≈ 0.84.
        float[] logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        Assert.Equal([1, 3], CandidateIds(new Sampler(4, Plain with { TopK = 3, TopP = 0.83f }), logits));
        Assert.Equal([1, 3, 2], CandidateIds(new Sampler(4, Plain with { TopK = 0, TopP = 0.83f }), logits));
    }

    [Fact]
    public void Min_p_drops_tokens_below_p_times_the_best()
    {
        float[] logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        Assert.Equal([1, 3, 2], CandidateIds(new Sampler(4, Plain with { MinP = 0.2f }), logits));   // threshold 0.10
        Assert.Equal([1, 3], CandidateIds(new Sampler(4, Plain with { MinP = 0.35f }), logits));     // threshold 0.175
        Assert.Equal([1], CandidateIds(new Sampler(4, Plain with { MinP = 0.7f }), logits));         // threshold 0.35
        Assert.Equal([1, 3], CandidateIds(new Sampler(4, Plain with { TopK = 3, MinP = 0.35f }), logits));
    }

    [Fact]
    public void Top_p_then_min_p_keeps_the_smaller_of_both_sets()
    {
        float[] logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        Assert.Equal([1, 3], CandidateIds(new Sampler(4, Plain with { TopP = 0.75f, MinP = 0.2f }), logits));
        Assert.Equal([1, 3], CandidateIds(new Sampler(4, Plain with { TopP = 0.99f, MinP = 0.35f }), logits));
    }

    [Fact]
    public void Candidate_probabilities_are_the_softmax_of_the_survivors_at_the_temperature()
    {
        float[] logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        var candidates = new Sampler(4, Plain with { TopP = 0.75f, Temperature = 2f }).Candidates(logits, []);
        double a = Math.Sqrt(0.5), b = Math.Sqrt(0.3);
        Assert.Equal(a / (a + b), candidates.Probabilities[0], 5);
        Assert.Equal(b / (a + b), candidates.Probabilities[1], 5);
    }

    [Fact]
    public void Draw_frequencies_follow_the_candidate_probabilities()
    {
        float[] logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        var sampler = new Sampler(4, Plain with { TopP = 0.75f, Seed = 1234 });
        var counts = new int[4];
        const int draws = 40_000;
        for (int i = 0; i < draws; i++) counts[sampler.Sample(logits, [])]++;
        Assert.Equal(0, counts[0]);
        Assert.Equal(0, counts[2]);
        Assert.InRange(counts[1] / (double)draws, 0.625 - 0.01, 0.625 + 0.01);
        Assert.InRange(counts[3] / (double)draws, 0.375 - 0.01, 0.375 + 0.01);
    }

    [Fact]
    public void Penalties_change_the_logits_exactly_as_llama_cpp()
    {
        var options = Plain with { RepetitionPenalty = 1.5f, PresencePenalty = 0.25f, FrequencyPenalty = 0.125f, PenaltyLastN = 64 };
        var sampler = new Sampler(5, options);
        float[] logits = [2f, -1f, 0f, 3f, 1f];
        var adjusted = new float[5];
        sampler.ApplyBiasAndPenalties(logits, [0, 1, 0, 2, 0], adjusted);
        Assert.Equal(2f / 1.5f - (3 * 0.125f + 0.25f), adjusted[0]);
        Assert.Equal(-1f * 1.5f - (1 * 0.125f + 0.25f), adjusted[1]);
        Assert.Equal(0f * 1.5f - (1 * 0.125f + 0.25f), adjusted[2]);
        Assert.Equal(3f, adjusted[3]);
        Assert.Equal(1f, adjusted[4]);

        // Counts are reset between calls: the same call gives the same answer.
        var again = new float[5];
        sampler.ApplyBiasAndPenalties(logits, [0, 1, 0, 2, 0], again);
        Assert.Equal(adjusted, again);
    }

    [Fact]
    public void Penalties_only_look_at_the_last_n_tokens()
    {
        var sampler = new Sampler(4, Plain with { RepetitionPenalty = 2f, PenaltyLastN = 2 });
        var adjusted = new float[4];
        sampler.ApplyBiasAndPenalties([4f, 4f, 4f, 4f], [0, 1, 2, 2], adjusted);
        Assert.Equal([4f, 4f, 2f, 4f], adjusted);

        var whole = new Sampler(4, Plain with { RepetitionPenalty = 2f, PenaltyLastN = -1 });
        whole.ApplyBiasAndPenalties([4f, 4f, 4f, 4f], [0, 1, 2, 2], adjusted);
        Assert.Equal([2f, 2f, 2f, 4f], adjusted);

        var off = new Sampler(4, Plain with { RepetitionPenalty = 2f, PenaltyLastN = 0 });
        off.ApplyBiasAndPenalties([4f, 4f, 4f, 4f], [0, 1, 2, 2], adjusted);
        Assert.Equal([4f, 4f, 4f, 4f], adjusted);
    }

    [Fact]
    public void Logit_bias_is_added_and_negative_infinity_bans_a_token()
    {
        var options = Plain with { LogitBias = new Dictionary<int, float> { [1] = -0.5f, [2] = float.NegativeInfinity } };
        var sampler = new Sampler(3, options);
        var adjusted = new float[3];
        sampler.ApplyBiasAndPenalties([1f, 2f, 10f], [], adjusted);
        Assert.Equal([1f, 1.5f, float.NegativeInfinity], adjusted);
        for (int i = 0; i < 200; i++) Assert.NotEqual(2, sampler.Sample([1f, 2f, 10f], []));
        Assert.Equal([1, 0], CandidateIds(sampler, [1f, 2f, 10f]));
    }

    [Fact]
    public void Banning_every_token_is_reported()
    {
        var sampler = new Sampler(2, Plain with { LogitBias = new Dictionary<int, float> { [0] = float.NegativeInfinity, [1] = float.NegativeInfinity } });
        var error = Assert.Throws<InvalidOperationException>(() => sampler.Sample([1f, 2f], []));
        Assert.Contains("no token can be sampled", error.Message);
    }

    [Fact]
    public void The_same_seed_gives_the_same_sequence_and_another_seed_a_different_one()
    {
        float[] logits = RandomLogits(500, 7);
        int[] Draw(ulong seed)
        {
            var sampler = new Sampler(500, new SamplingOptions { TopK = 0, TopP = 1, MinP = 0, Temperature = 3f, Seed = seed });
            return Enumerable.Range(0, 64).Select(_ => sampler.Sample(logits, [])).ToArray();
        }
        Assert.Equal(Draw(42), Draw(42));
        Assert.NotEqual(Draw(42), Draw(43));
    }

    [Fact]
    public void Without_a_seed_one_is_drawn_and_reported()
    {
        var first = new Sampler(10, new SamplingOptions());
        var second = new Sampler(10, new SamplingOptions());
        Assert.NotEqual(first.Seed, second.Seed);
        Assert.Equal(77UL, new Sampler(10, new SamplingOptions { Seed = 77 }).Seed);
    }

    [Fact]
    public void Xoshiro_matches_the_published_algorithm()
    {
        // xoshiro256** seeded from SplitMix64(0); values computed independently from the reference C code's definition.
        var random = new Xoshiro256(0);
        Assert.Equal(0x99ec5f36cb75f2b4UL, random.NextUInt64());
        Assert.Equal(0xbf6e1f784956452aUL, random.NextUInt64());
        Assert.Equal(0x1a5f849d4933e6e0UL, random.NextUInt64());
        Assert.Equal(0x6aa594f1262d2d2cUL, random.NextUInt64());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Sampling_allocates_nothing_per_call(bool withTopK)
    {
        const int vocab = 32_000;
        float[] logits = RandomLogits(vocab, 3);
        int[] history = Enumerable.Range(0, 200).Select(i => (i * 37) % vocab).ToArray();
        var options = new SamplingOptions
        {
            TopK = withTopK ? 40 : 0, RepetitionPenalty = 1.1f, PresencePenalty = 0.1f, FrequencyPenalty = 0.1f,
            Seed = 5, LogitBias = new Dictionary<int, float> { [10] = 1f },
        };
        var sampler = new Sampler(vocab, options);
        var greedy = new Sampler(vocab, SamplingOptions.Greedy with { RepetitionPenalty = 1.2f });
        for (int i = 0; i < 20; i++) { sampler.Sample(logits, history); greedy.Sample(logits, history); }

        long before = GC.GetAllocatedBytesForCurrentThread();
        int checksum = 0;
        for (int i = 0; i < 200; i++) checksum += sampler.Sample(logits, history) + greedy.Sample(logits, history);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(checksum >= 0);
    }

    [Theory]
    [InlineData("Temperature", "temperature")]
    [InlineData("TopK", "top-k")]
    [InlineData("TopP", "top-p")]
    [InlineData("MinP", "min-p")]
    [InlineData("RepetitionPenalty", "repetition penalty")]
    [InlineData("PenaltyLastN", "penalty window")]
    [InlineData("PresencePenalty", "presence penalty")]
    public void Out_of_range_options_are_rejected_with_a_clear_message(string property, string words)
    {
        SamplingOptions options = property switch
        {
            "Temperature" => new() { Temperature = -1 },
            "TopK" => new() { TopK = -1 },
            "TopP" => new() { TopP = 1.5f },
            "MinP" => new() { MinP = -0.1f },
            "RepetitionPenalty" => new() { RepetitionPenalty = 0 },
            "PenaltyLastN" => new() { PenaltyLastN = -2 },
            "PresencePenalty" => new() { PresencePenalty = float.NaN },
            _ => throw new ArgumentOutOfRangeException(nameof(property)),
        };
        var error = Assert.Throws<ArgumentException>(() => new Sampler(10, options));
        Assert.Contains(words, error.Message);
        Assert.Equal(property, error.ParamName);
    }

    [Fact]
    public void Bad_inputs_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new Sampler(10, new SamplingOptions { LogitBias = new Dictionary<int, float> { [10] = 1f } }));
        Assert.Throws<ArgumentException>(() => new Sampler(10, new SamplingOptions { LogitBias = new Dictionary<int, float> { [1] = float.NaN } }));
        var sampler = new Sampler(4, new SamplingOptions { RepetitionPenalty = 2f, FrequencyPenalty = 1f });
        Assert.Throws<ArgumentException>(() => sampler.Sample(new float[5], []));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(new float[4], [0, 7]));
        Assert.Contains("token id 7", error.Message);
        // A rejected history leaves no stale occurrence counts behind.
        var adjusted = new float[4];
        sampler.ApplyBiasAndPenalties([4f, 4f, 4f, 4f], [0], adjusted);
        Assert.Equal([1f, 4f, 4f, 4f], adjusted);
    }
}
