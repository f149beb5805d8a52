using Frugal.Server.Generation;

namespace Frugal.Server.Tests;

public class StopStringMatcherTests
{
    // Feeds the pieces one at a time and returns what was released, piece by piece, and the flushed rest.
    private static (List<string> Released, string Flushed, StopStringMatcher Matcher) Feed(string[] stops, params string[] pieces)
    {
        var matcher = new StopStringMatcher(stops);
        var released = pieces.Select(matcher.Push).ToList();
        return (released, matcher.Flush(), matcher);
    }

    [Fact]
    public void WithoutStopsEverythingPassesAtOnce()
    {
        var (released, flushed, matcher) = Feed([], "Once", " upon");
        Assert.Equal(["Once", " upon"], released);
        Assert.Equal("", flushed);
        Assert.False(matcher.Matched);
    }

    [Fact]
    public void StopSplitAcrossPiecesIsNeverPartlyReleased()
    {
        var (released, flushed, matcher) = Feed(["Lily."], "named Li", "ly", ". She");
        Assert.Equal(["named ", "", ""], released);   // "Li" and "Lily" held; the match drops them
        Assert.Equal("", flushed);
        Assert.True(matcher.Matched);
        Assert.Equal("Lily.", matcher.MatchedStop);
    }

    [Fact]
    public void HeldTextIsReleasedWhenItStopsMatching()
    {
        var (released, flushed, matcher) = Feed(["Lily."], "named Li", "nda and");
        Assert.Equal(["named ", "Linda and"], released);
        Assert.Equal("", flushed);
        Assert.False(matcher.Matched);
    }

    [Fact]
    public void HeldTextIsReleasedAtTheEnd()
    {
        var (released, flushed, _) = Feed(["END"], "the E", "N");
        Assert.Equal(["the ", ""], released);
        Assert.Equal("EN", flushed);
    }

    [Fact]
    public void EarliestOfSeveralStopsWins()
    {
        var matcher = new StopStringMatcher(["park", "play"]);
        Assert.Equal("She loved to ", matcher.Push("She loved to play in the park"));
        Assert.Equal("play", matcher.MatchedStop);
        Assert.Equal("", matcher.Push("more"));
    }

    [Fact]
    public void OverlappingPrefixesHoldTheLongestCandidate()
    {
        // "aab": after "aa" both "a" and "aa" could start the stop; the longest possible prefix is held.
        var (released, _, matcher) = Feed(["aab"], "xaa", "ab");
        Assert.Equal(["x", "a"], released);
        Assert.True(matcher.Matched);
    }

    [Fact]
    public void EmptyStopStringsAreIgnored()
    {
        var (released, _, matcher) = Feed(["", "\n"], "a", "b\nc");
        Assert.Equal(["a", "b"], released);
        Assert.True(matcher.Matched);
    }
}
