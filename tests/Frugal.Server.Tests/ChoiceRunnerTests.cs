using System.Diagnostics;
using System.Threading.Channels;
using Frugal.Engine.Serving;
using Frugal.Gguf;
using Frugal.Models.Tokenization;
using Frugal.Server.Generation;
using Frugal.TestSupport;

namespace Frugal.Server.Tests;

/// <summary>The per-choice pipeline: detokenize, hold back possible stop strings, release tokens with their text.</summary>
public sealed class ChoiceRunnerTests
{
    private static Tokenizer LoadTokenizer()
    {
        using var file = GgufFile.Open(SharedData.Model("stories260K.gguf"));
        return Tokenizer.FromGguf(file);
    }

    private static GenerationStream FinishedStream(IEnumerable<int> tokens, JobFinishReason reason = JobFinishReason.Length)
    {
        var channel = Channel.CreateUnbounded<GeneratedToken>();
        int count = 0;
        foreach (int token in tokens)
        {
            channel.Writer.TryWrite(new GeneratedToken(token, -0.5f, [new TokenLogprob(token, -0.5f)]));
            count++;
        }
        channel.Writer.TryComplete();
        return new GenerationStream(channel.Reader, Task.FromResult(new JobResult(reason, new JobUsage { CompletionTokens = count })));
    }

    private static async Task<(List<ChoiceDelta> Deltas, ChoiceOutcome Outcome, CancellationTokenSource Job)> RunAsync(
        Tokenizer tokenizer, int[] tokens, params string[] stops)
    {
        var deltas = new List<ChoiceDelta>();
        var job = new CancellationTokenSource();
        var runner = new ChoiceRunner(tokenizer, stops, Stopwatch.GetTimestamp(), metrics: null);
        var outcome = await runner.RunAsync(FinishedStream(tokens), job, delta =>
        {
            deltas.Add(delta);
            return ValueTask.CompletedTask;
        }, CancellationToken.None);
        return (deltas, outcome, job);
    }

    [SharedFact]
    public async Task SplitCharactersAreNeverSentHalfAndEveryTokenIsReleased()
    {
        var tokenizer = LoadTokenizer();
        int[] tokens = tokenizer.Encode("Lily saw 🐶 and é!", addSpecial: false);
        Assert.True(tokens.Length > 6, "the emoji and accent should need byte tokens");
        var (deltas, outcome, job) = await RunAsync(tokenizer, tokens);
        Assert.DoesNotContain(deltas, delta => delta.Text.Contains('\uFFFD'));
        Assert.Equal(tokenizer.Decode(tokens), string.Concat(deltas.Select(d => d.Text)));
        Assert.Equal(tokens, deltas.SelectMany(d => d.Tokens).Select(t => t.Token.Token));
        Assert.Equal("length", outcome.FinishReason);
        Assert.Equal(tokens.Length, outcome.TokensReceived);
        Assert.False(job.IsCancellationRequested);
    }

    [SharedFact]
    public async Task StopStringCancelsTheJobAndDropsTheTokensAfterIt()
    {
        var tokenizer = LoadTokenizer();
        int[] tokens = tokenizer.Encode("Lily had a ball named Tom and a cat", addSpecial: false);
        string full = tokenizer.Decode(tokens);
        int at = full.IndexOf(" named", StringComparison.Ordinal);
        var (deltas, outcome, job) = await RunAsync(tokenizer, tokens, " named");
        Assert.Equal(full[..at], string.Concat(deltas.Select(d => d.Text)));
        Assert.Equal("stop", outcome.FinishReason);
        Assert.True(job.IsCancellationRequested);
        // Released tokens are exactly those whose text starts before the stop string.
        var released = deltas.SelectMany(d => d.Tokens).ToList();
        Assert.All(released, token => Assert.True(token.TextOffset < at));
        Assert.Equal(full[..at], tokenizer.Decode(released.Select(t => t.Token.Token).ToArray()));
    }

    [SharedFact]
    public async Task TextHeldForAStopIsReleasedAtTheEnd()
    {
        var tokenizer = LoadTokenizer();
        int[] tokens = tokenizer.Encode("The end", addSpecial: false);
        var (deltas, outcome, _) = await RunAsync(tokenizer, tokens, "end of story");
        Assert.Equal(tokenizer.Decode(tokens), string.Concat(deltas.Select(d => d.Text)));
        Assert.Equal(tokens.Length, deltas.Sum(d => d.Tokens.Count));
        Assert.Equal("length", outcome.FinishReason);
    }
}
