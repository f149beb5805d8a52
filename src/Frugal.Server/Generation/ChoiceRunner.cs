using System.Diagnostics;
using Frugal.Engine.Serving;
using Frugal.Models.Tokenization;
using Frugal.Server.Telemetry;

namespace Frugal.Server.Generation;

/// <summary>A generated token placed in the choice's text: <see cref="TextOffset"/> is where its text starts.</summary>
public readonly record struct EmittedToken(GeneratedToken Token, int TextOffset);

/// <summary>Text (and the tokens it completes) ready to go to the client.</summary>
public sealed record ChoiceDelta(string Text, IReadOnlyList<EmittedToken> Tokens);

/// <summary>How one choice ended. <see cref="FinishReason"/> is "stop", "length", or null when the job was
/// cancelled from outside (client gone, timeout) or failed.</summary>
public sealed record ChoiceOutcome(string? FinishReason, JobResult Result, long FirstTokenTimestamp, long LastTokenTimestamp, int TokensReceived);

/// <summary>
/// Follows one scheduler job: turns its tokens into text with the streaming-safe detokenizer, holds back text
/// that could be the start of a stop string, cancels the job when a stop string appears, and releases each
/// token (for logprobs) once all of its text has been released. Not thread-safe (one per choice).
/// </summary>
public sealed class ChoiceRunner
{
    private readonly StreamingDetokenizer _detokenizer;
    private readonly StopStringMatcher _stops;
    private readonly ServerMetrics? _metrics;
    private readonly long _requestStart;
    // Tokens whose text is not fully released yet, with their [start, end) in the generated text.
    private readonly Queue<(GeneratedToken Token, int Start, int End)> _pending = new();
    private int _generatedLength;   // characters of text the tokens have produced
    private int _releasedLength;    // characters already handed to the client
    private long _firstToken, _lastToken;   // Stopwatch timestamps of the first and latest token
    private int _received;

    public ChoiceRunner(Tokenizer tokenizer, IReadOnlyList<string> stops, long requestStartTimestamp, ServerMetrics? metrics)
    {
        _detokenizer = new StreamingDetokenizer(tokenizer);
        _stops = new StopStringMatcher(stops);
        _requestStart = requestStartTimestamp;
        _metrics = metrics;
    }

    /// <summary>
    /// Reads the job to its end, calling <paramref name="onDelta"/> with each releasable piece. Cancels
    /// <paramref name="job"/> when a stop string is found. <paramref name="requestAborted"/> only stops the
    /// reading (the job's own token, linked to it, stops the job).
    /// </summary>
    public async Task<ChoiceOutcome> RunAsync(GenerationStream stream, CancellationTokenSource job,
        Func<ChoiceDelta, ValueTask> onDelta, CancellationToken requestAborted)
    {
        try
        {
            await foreach (var token in stream.Tokens.ReadAllAsync(requestAborted))
            {
                if (await AcceptAsync(token, onDelta))
                {
                    await job.CancelAsync(); // the stop string ends the job; the scheduler frees it at its next step
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (requestAborted.IsCancellationRequested)
        {
            // The request is over (client gone or timeout); the job's linked token is stopping it.
        }

        var result = await stream.Completion;
        bool endedOnItsOwn = result.FinishReason is JobFinishReason.Stop or JobFinishReason.Length;
        if (endedOnItsOwn && !_stops.Matched)
        {
            // The job finished even if the request was cancelled meanwhile: take what is still queued, then
            // the bytes held by the detokenizer and the text held for a possible stop string.
            while (!_stops.Matched && stream.Tokens.TryRead(out var token)) await AcceptAsync(token, onDelta);
            if (!_stops.Matched)
            {
                string tail = _detokenizer.Flush();
                _generatedLength += tail.Length;
                bool stopped = await ReleaseAsync(_stops.Push(tail), onDelta);
                if (!stopped) await ReleaseAsync(_stops.Flush(), onDelta, everything: true);
            }
        }

        string? finish = _stops.Matched ? "stop" : result.FinishReason switch
        {
            JobFinishReason.Stop => "stop",
            JobFinishReason.Length => "length",
            _ => null,
        };
        return new ChoiceOutcome(finish, result, _firstToken, _lastToken, _received);
    }

    // Times one token, turns it into text and releases what the stop matcher lets through; true on a stop match.
    private async ValueTask<bool> AcceptAsync(GeneratedToken token, Func<ChoiceDelta, ValueTask> onDelta)
    {
        long now = Stopwatch.GetTimestamp();
        if (_received == 0)
        {
            _firstToken = now;
            _metrics?.RecordTimeToFirstToken(Stopwatch.GetElapsedTime(_requestStart, now));
        }
        else
        {
            _metrics?.RecordInterTokenLatency(Stopwatch.GetElapsedTime(_lastToken, now));
        }
        _metrics?.RecordCompletionTokenProduced();
        _lastToken = now;
        _received++;

        string piece = _detokenizer.Push(token.Token);
        _pending.Enqueue((token, _generatedLength, _generatedLength + piece.Length));
        _generatedLength += piece.Length;
        return await ReleaseAsync(_stops.Push(piece), onDelta);
    }

    // Releases text that the stop matcher let through and the tokens it completes; returns true on a stop match.
    private async ValueTask<bool> ReleaseAsync(string text, Func<ChoiceDelta, ValueTask> onDelta, bool everything = false)
    {
        _releasedLength += text.Length;
        var tokens = new List<EmittedToken>();
        if (_stops.Matched)
        {
            // Tokens that produced any text before the stop string count; the rest were cut off with it.
            while (_pending.TryDequeue(out var entry))
                if (entry.Start < _releasedLength) tokens.Add(new EmittedToken(entry.Token, entry.Start));
        }
        else
        {
            while (_pending.TryPeek(out var entry) && (everything || entry.End <= _releasedLength))
            {
                _pending.Dequeue();
                tokens.Add(new EmittedToken(entry.Token, entry.Start));
            }
        }
        if (text.Length > 0 || tokens.Count > 0) await onDelta(new ChoiceDelta(text, tokens));
        return _stops.Matched;
    }
}
