using Frugal.Engine.Sampling;

namespace Frugal.Engine.Tests;

public class GeneratorTests
{
    /// <summary>
    /// A toy model: after token t it strongly predicts (t + 1) mod 10; token 9 is end-of-generation.
    /// Token 5 is the first half of a two-byte character that token 6 completes ("é").
    /// </summary>
    private sealed class CountingBackend(int contextSize = 1000, bool recordEvaluations = true) : IGenerationBackend
    {
        private static readonly string[] Pieces = ["a", "b", "c", "d", "e", "", "é", "g", "h", "</s>"];
        private readonly float[] _logits = new float[10];  // [VocabSize] logits after the last evaluated token
        private bool _pendingHalfCharacter;

        public List<int> EvaluationLengths { get; } = [];
        public int Position { get; private set; }
        public int VocabSize => 10;
        public int RemainingContext => contextSize - Position;

        public ReadOnlySpan<float> Evaluate(ReadOnlySpan<int> tokens)
        {
            if (tokens.Length > RemainingContext) throw new InvalidOperationException("context overflow");
            if (recordEvaluations) EvaluationLengths.Add(tokens.Length);
            Position += tokens.Length;
            Array.Fill(_logits, 0f);
            _logits[(tokens[^1] + 1) % 10] = 10f;
            return _logits;
        }

        public bool IsEndOfGeneration(int token) => token == 9;

        public string PushText(int token)
        {
            _pendingHalfCharacter = token == 5;
            return Pieces[token];
        }

        public string FlushText()
        {
            bool pending = _pendingHalfCharacter;
            _pendingHalfCharacter = false;
            return pending ? "\uFFFD" : "";
        }
    }

    private static GenerationOptions Greedy(int maxTokens) => new() { MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy };

    [Fact]
    public void Stops_at_end_of_generation_without_emitting_it()
    {
        var backend = new CountingBackend();
        var result = Generator.Generate(backend, [1, 2], Greedy(50));
        Assert.Equal([3, 4, 5, 6, 7, 8], result.Tokens);
        Assert.Equal("deégh", result.Text);
        Assert.Equal(FinishReasons.Stop, result.FinishReason);
        Assert.Equal(2, result.PromptTokens);
        // The prompt in one pass, then one evaluation per generated token.
        Assert.Equal([2, 1, 1, 1, 1, 1, 1], backend.EvaluationLengths);
    }

    [Fact]
    public void Stops_at_the_token_budget_without_evaluating_the_last_token()
    {
        var backend = new CountingBackend();
        var result = Generator.Generate(backend, [0], Greedy(3));
        Assert.Equal([1, 2, 3], result.Tokens);
        Assert.Equal("bcd", result.Text);
        Assert.Equal(FinishReasons.Length, result.FinishReason);
        Assert.Equal([1, 1, 1], backend.EvaluationLengths);
    }

    [Fact]
    public void Can_continue_past_end_of_generation()
    {
        var result = Generator.Generate(new CountingBackend(), [7], Greedy(4) with { StopAtEndOfGeneration = false });
        Assert.Equal([8, 9, 0, 1], result.Tokens);
        Assert.Equal("h</s>ab", result.Text);
        Assert.Equal(FinishReasons.Length, result.FinishReason);
    }

    [Fact]
    public void Stops_when_the_context_is_full()
    {
        var backend = new CountingBackend(contextSize: 4);
        var result = Generator.Generate(backend, [0, 0], Greedy(10) with { StopAtEndOfGeneration = false });
        // 2 prompt tokens + 2 evaluated generated tokens fill the context; the third is sampled but not evaluated.
        Assert.Equal([1, 2, 3], result.Tokens);
        Assert.Equal(FinishReasons.Length, result.FinishReason);
        Assert.Equal(4, backend.Position);
    }

    [Fact]
    public void Streams_every_piece_and_flushes_held_back_bytes_last()
    {
        var streamed = new List<(int Token, string Piece)>();
        var result = Generator.Generate(new CountingBackend(), [3], Greedy(2), (token, piece) => streamed.Add((token, piece)));
        Assert.Equal([(4, "e"), (5, ""), (-1, "\uFFFD")], streamed);
        Assert.Equal("e\uFFFD", result.Text);
        Assert.Equal(string.Concat(streamed.Select(s => s.Piece)), result.Text);
    }

    [Fact]
    public void Reports_timings()
    {
        var result = Generator.Generate(new CountingBackend(), [0], Greedy(5));
        Assert.True(result.Timings.PromptMilliseconds >= 0);
        Assert.True(result.Timings.GenerationMilliseconds >= 0);
        Assert.True(result.Timings.GenerationTokensPerSecond >= 0);
        Assert.False(double.IsNaN(result.Timings.PromptTokensPerSecond));
    }

    [Fact]
    public void Sampled_generation_is_reproducible_with_a_seed()
    {
        var options = new GenerationOptions { MaxTokens = 30, StopAtEndOfGeneration = false, Sampling = new SamplingOptions { Temperature = 5f, TopK = 0, TopP = 1, MinP = 0, Seed = 3 } };
        var first = Generator.Generate(new CountingBackend(), [0], options);
        var second = Generator.Generate(new CountingBackend(), [0], options);
        Assert.Equal(first.Tokens, second.Tokens);
        Assert.Equal(3UL, first.Seed);
    }

    [Fact]
    public void Bad_prompts_and_options_are_rejected()
    {
        Assert.Contains("at least one token", Assert.Throws<ArgumentException>(() => Generator.Generate(new CountingBackend(), [], Greedy(1))).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentException>(() => Generator.Generate(new CountingBackend(), [10], Greedy(1))).Message);
        Assert.Contains("room for only 2", Assert.Throws<ArgumentException>(() => Generator.Generate(new CountingBackend(2), [1, 2, 3], Greedy(1))).Message);
        Assert.Contains("must be >= 0", Assert.Throws<ArgumentException>(() => Generator.Generate(new CountingBackend(), [1], Greedy(-1))).Message);
    }

    [Fact]
    public void The_decode_loop_allocates_nothing_per_token_beyond_the_result()
    {
        static long AllocatedFor(int stopAfter, out GenerationResult result)
        {
            var backend = new CountingBackend(contextSize: 10_000, recordEvaluations: false);
            // Same budget (so the same up-front buffers); the context limit decides how many tokens are made.
            var options = Greedy(4000) with { StopAtEndOfGeneration = false };
            backend.Evaluate(new int[10_000 - stopAfter]); // leaves room for the prompt and stopAfter - 1 evaluated tokens
            long before = GC.GetAllocatedBytesForCurrentThread();
            result = Generator.Generate(backend, [0], options);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        AllocatedFor(10, out _); // warm up
        long few = AllocatedFor(10, out var shortRun);
        long many = AllocatedFor(3000, out var longRun);
        Assert.Equal(10, shortRun.Tokens.Length);
        Assert.Equal(3000, longRun.Tokens.Length);
        // Only the result grows with the token count: the token array and the final string.
        long resultGrowth = (longRun.Tokens.Length - shortRun.Tokens.Length) * sizeof(int) + (longRun.Text.Length - shortRun.Text.Length) * sizeof(char);
        Assert.InRange(many - few, 0, resultGrowth + 2048);
    }
}
