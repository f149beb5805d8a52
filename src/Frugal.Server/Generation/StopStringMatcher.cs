using System.Text;

namespace Frugal.Server.Generation;

/// <summary>
/// Finds stop strings in streamed text without ever releasing part of one: text that could still grow into a
/// stop string is held back until the next piece proves it cannot (or the generation ends). Not thread-safe.
/// </summary>
public sealed class StopStringMatcher
{
    private readonly string[] _stops;
    private readonly StringBuilder _held = new();   // tail of the text so far that is a prefix of some stop string

    public StopStringMatcher(IEnumerable<string> stops)
    {
        ArgumentNullException.ThrowIfNull(stops);
        _stops = stops.Where(stop => stop.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>True once a stop string was found; everything from its start on is dropped.</summary>
    public bool Matched { get; private set; }

    /// <summary>The stop string that ended the text, once <see cref="Matched"/>.</summary>
    public string? MatchedStop { get; private set; }

    /// <summary>Adds generated text; returns the part that is safe to release now.</summary>
    public string Push(string piece)
    {
        ArgumentNullException.ThrowIfNull(piece);
        if (Matched) return "";
        if (_stops.Length == 0) return piece;
        _held.Append(piece);
        string text = _held.ToString();
        _held.Clear();

        int earliest = -1;
        foreach (string stop in _stops)
        {
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (earliest < 0 || at < earliest))
            {
                earliest = at;
                MatchedStop = stop;
            }
        }
        if (earliest >= 0)
        {
            Matched = true;
            return text[..earliest];
        }

        int hold = LongestSuffixThatStartsAStop(text);
        _held.Append(text, text.Length - hold, hold);
        return text[..^hold];
    }

    /// <summary>The generation ended: held text can no longer become a stop string, so it is released.</summary>
    public string Flush()
    {
        string rest = Matched ? "" : _held.ToString();
        _held.Clear();
        return rest;
    }

    private int LongestSuffixThatStartsAStop(string text)
    {
        int best = 0;
        foreach (string stop in _stops)
        {
            // A suffix of length k that equals the first k characters of the stop (k < stop length; a full match was handled).
            for (int k = Math.Min(stop.Length - 1, text.Length); k > best; k--)
            {
                if (string.CompareOrdinal(text, text.Length - k, stop, 0, k) == 0)
                {
                    best = k;
                    break;
                }
            }
        }
        return best;
    }
}
