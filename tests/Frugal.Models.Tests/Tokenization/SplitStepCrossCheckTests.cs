using Frugal.Models.Tokenization;

namespace Frugal.Models.Tests.Tokenization;

/// <summary>
/// The hand-written GPT-2 and LLaMA-3 scanners against the general path (the same regex run by .NET on the
/// collapsed text): two independent readings of one regex must split alike.
/// </summary>
public sealed class SplitStepCrossCheckTests
{
    public static TheoryData<string> Texts() =>
    [
        "Hello world", " Hello  World!", "   leading and trailing   ", "tabs\tand\nnew\r\nlines\n\n\n",
        "it's we'll they're I'M you'VE he'd", "'", "x'", "numbers 1 22 333 4444 55555 3.14159",
        "mixed: abc123def 1a2b3c", "punct!!! ?? ... (((x))) [y] {z}", "emoji 🙂🙂 🦙.cpp 😶‍🌫️",
        "Български нещо на", "我想在apple工作1314151天～", "ภาษาไทย", "a\u00A0b\u2003c\u3000d", "\u0085x",
        "trailing space ", "  ", "\n", " \n ", "a  \n  b", "combining e\u0301 marks", "tab\t\tx",
        "\u0001\u0002 controls", "\uE000 private use", "math ½ ² ∑ ≠", "x\u2028y", "   Hello\n    Hello",
    ];

    [Theory]
    [MemberData(nameof(Texts))]
    public void Gpt2ScannerMatchesTheRegex(string text) =>
        AssertSameSplit(new Gpt2SplitStep(), new RegexSplitStep(PreTokenizer.Gpt2Regex), text);

    [Theory]
    [MemberData(nameof(Texts))]
    public void Llama3ScannerMatchesTheRegex(string text) =>
        AssertSameSplit(new Llama3SplitStep(), new RegexSplitStep(PreTokenizer.Llama3Regex), text);

    [Fact]
    public void Gpt2ScannerSplitsAsDocumented()
    {
        Assert.Equal(["Hello", " world", "!", " ", " 123", "'s"], Split(new Gpt2SplitStep(), "Hello world!  123's"));
    }

    [Fact]
    public void Llama3ScannerGroupsDigitsByThree()
    {
        Assert.Equal(["123", "456", "7", " abc", "\n\n"], Split(new Llama3SplitStep(), "1234567 abc\n\n"));
    }

    [Fact]
    public void RegexStepsRunInSequence()
    {
        // The default pre-tokenizer first cuts punctuation runs, then GPT-2 words, then digit runs, then digit triples.
        var words = new List<int>();
        int[] codepoints = "ab,,c 12345".Select(c => (int)c).ToArray();
        PreTokenizer.For(BpePreTokenizerKind.Default).Split(codepoints, words);
        Assert.Equal(["ab", ",,", "c", " ", "123", "45"], Cut("ab,,c 12345", words));
    }

    private static void AssertSameSplit(ISplitStep scanner, ISplitStep regex, string text) =>
        Assert.Equal(Split(regex, text), Split(scanner, text));

    private static string[] Split(ISplitStep step, string text)
    {
        var codepoints = new List<int>();
        UnicodeData.DecodeCodepoints(text, codepoints);
        var lengths = new List<int>();
        step.Split(codepoints.ToArray(), [codepoints.Count], lengths);
        Assert.Equal(codepoints.Count, lengths.Sum());
        var words = new List<string>();
        int start = 0;
        foreach (int length in lengths)
        {
            words.Add(string.Concat(codepoints.Skip(start).Take(length).Select(char.ConvertFromUtf32)));
            start += length;
        }
        return words.ToArray();
    }

    private static string[] Cut(string text, List<int> lengths)
    {
        int start = 0;
        return lengths.Select(n => { string s = text.Substring(start, n); start += n; return s; }).ToArray();
    }
}
