using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace Frugal.Models.Tokenization;

/// <summary>
/// Splits text into the words that byte-level BPE merges within, exactly as llama.cpp's unicode_regex_split:
/// the regexes of a pre-tokenizer run one after another, each one re-splitting every piece the previous ones
/// left (matches and the gaps between them both become pieces). The two common GPT-2 / LLaMA-3 regexes run as
/// hand-written scanners; every other regex runs on a one-character-per-code-point stand-in of the text
/// (see <see cref="RegexSplitStep"/>) so that it sees the same characters std::regex sees in llama.cpp.
/// </summary>
internal sealed class PreTokenizer
{
    // llama.cpp's regexes, as in llama-vocab.cpp (they are data: the split rules of each model family). Non-ASCII
    // characters are escaped: several are canonically equivalent to others (U+2126 OHM SIGN vs U+03A9) and must survive editors.
    internal const string Gpt2Regex = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
    internal const string Llama3Regex = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    internal const string Llama3RegexCaseInsensitive = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Qwen2Regex = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string CjkRegex = "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+";
    private const string BloomRegex = " ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+";

    private static readonly ConcurrentDictionary<BpePreTokenizerKind, PreTokenizer> Cache = new();

    private readonly ISplitStep[] _steps;

    private PreTokenizer(IEnumerable<string> regexes) => _steps = regexes.Select(CreateStep).ToArray();

    /// <summary>The regexes llama.cpp (llm_tokenizer_bpe) runs for a pre-tokenizer kind, in order.</summary>
    public static string[] RegexesFor(BpePreTokenizerKind kind) => kind switch
    {
        BpePreTokenizerKind.Llama3 or BpePreTokenizerKind.Dbrx or BpePreTokenizerKind.Smaug or BpePreTokenizerKind.ChatGlm4 => [Llama3Regex],
        BpePreTokenizerKind.DeepseekLlm =>
        [
            "[\r\n]",
            "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2\U000118A0-\U000118DF\U0001E900-\U0001E943]+",
            "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+",
            @"\s+$",
            CjkRegex,
            @"\p{N}+",
        ],
        BpePreTokenizerKind.Deepseek3Llm =>
        [
            @"\p{N}{1,3}",
            "[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
        ],
        BpePreTokenizerKind.DeepseekCoder => ["[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", CjkRegex, @"\p{N}"],
        BpePreTokenizerKind.Falcon => [@"[\p{P}\$\+<=>\^~\|]+", Gpt2Regex, "[0-9][0-9][0-9]"],
        BpePreTokenizerKind.Starcoder or BpePreTokenizerKind.Refact or BpePreTokenizerKind.CommandR
            or BpePreTokenizerKind.SmolLm or BpePreTokenizerKind.CodeShell or BpePreTokenizerKind.Exaone
            or BpePreTokenizerKind.Minerva => [@"\p{N}", Gpt2Regex],
        BpePreTokenizerKind.Gpt2 or BpePreTokenizerKind.Mpt or BpePreTokenizerKind.Olmo or BpePreTokenizerKind.Jais => [Gpt2Regex],
        BpePreTokenizerKind.StableLm2 or BpePreTokenizerKind.Qwen2 => [Qwen2Regex],
        BpePreTokenizerKind.Poro or BpePreTokenizerKind.Bloom or BpePreTokenizerKind.Gpt3Finnish => [BloomRegex],
        BpePreTokenizerKind.Viking => [BloomRegex, @"\p{N}"],
        BpePreTokenizerKind.Tekken =>
        [
            @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ],
        BpePreTokenizerKind.Chameleon =>
        [
            "<sentinel:[0-9]+>",
            "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
            "([\\t\\n]|    |  )",
            @"\p{N}",
            @"[\p{P}!-/:-@\[-`{-~]",
            Gpt2Regex,
        ],
        _ => [@"[\p{P}\$\+<=>\^~\|]+", Gpt2Regex, @"\p{N}+", "[0-9][0-9][0-9]"],
    };

    /// <summary>The shared (immutable, thread-safe) pre-tokenizer of a kind.</summary>
    public static PreTokenizer For(BpePreTokenizerKind kind) => Cache.GetOrAdd(kind, k => new PreTokenizer(RegexesFor(k)));

    /// <summary>A pre-tokenizer running arbitrary regexes in llama.cpp's dialect (for tests and unusual vocabularies).</summary>
    public static PreTokenizer FromRegexes(params string[] regexes) => new(regexes);

    private static ISplitStep CreateStep(string regex) => regex switch
    {
        Gpt2Regex => new Gpt2SplitStep(),
        Llama3Regex or Llama3RegexCaseInsensitive => new Llama3SplitStep(),
        _ => new RegexSplitStep(regex),
    };

    /// <summary>Splits <paramref name="codepoints"/>; <paramref name="wordLengths"/> receives each word's length in code points.</summary>
    public void Split(ReadOnlySpan<int> codepoints, List<int> wordLengths)
    {
        wordLengths.Clear();
        if (codepoints.IsEmpty) return;
        wordLengths.Add(codepoints.Length);
        var next = new List<int>();
        foreach (ISplitStep step in _steps)
        {
            next.Clear();
            step.Split(codepoints, wordLengths, next);
            wordLengths.Clear();
            wordLengths.AddRange(next);
        }
    }
}

/// <summary>One regex of a pre-tokenizer: re-splits each piece (given as lengths in code points, in order).</summary>
internal interface ISplitStep
{
    void Split(ReadOnlySpan<int> codepoints, List<int> pieceLengths, List<int> output);
}

/// <summary>
/// A general regex run the way llama.cpp runs it with std::regex. Regexes naming Unicode classes (\p{L} ...)
/// see the "collapsed" text: ASCII stays, every other code point becomes one byte standing for its class
/// (0xD1 number, 0xD2 letter, 0xD3 punctuation, 0xD4 mark, 0xD5 symbol, 0xD0 anything else, 0x0B whitespace),
/// and each \p{X} becomes a class of that byte plus X's ASCII members. Other regexes see the code points
/// themselves, non-ASCII whitespace as 0x0B. Code points above U+FFFF (which .NET strings cannot hold as one
/// character) become U+E000 when the regex's classes name them and U+E001 otherwise.
/// </summary>
internal sealed class RegexSplitStep : ISplitStep
{
    private const char CollapsedNumber = '\u00D1', CollapsedLetter = '\u00D2', CollapsedPunctuation = '\u00D3';
    private const char CollapsedMark = '\u00D4', CollapsedSymbol = '\u00D5', CollapsedOther = '\u00D0';
    private const char WhitespaceStandIn = '\u000B';
    private const char NamedAstralStandIn = '\uE000', OtherAstralStandIn = '\uE001';

    // ASCII members of each class in llama.cpp's collapsed regexes ('~' is absent from \p{S} there too).
    private static readonly Dictionary<string, string> CollapsedClasses = new()
    {
        [@"\p{N}"] = CollapsedNumber + "0-9",
        [@"\p{L}"] = CollapsedLetter + "A-Za-z",
        [@"\p{P}"] = CollapsedPunctuation + @"!-#%-*,-/:-;?-@\[-\]_\{\}",
        [@"\p{M}"] = CollapsedMark.ToString(),
        [@"\p{S}"] = CollapsedSymbol + @"\$\+<->\^`\|",
    };

    private readonly Regex _regex;
    private readonly bool _collapsed;
    // Inclusive code point ranges above U+FFFF that the regex's classes name (wide form only).
    private readonly (int First, int Last)[] _astralRanges = [];

    public RegexSplitStep(string llamaRegex)
    {
        _collapsed = CollapsedClasses.Keys.Any(llamaRegex.Contains);
        string pattern = _collapsed ? CollapsePattern(llamaRegex) : WidenPattern(llamaRegex, out _astralRanges);
        // ECMAScript: "\s" is [ \f\n\r\t\v] as in std::regex, and "$" only matches at the very end.
        _regex = new Regex(pattern, RegexOptions.ECMAScript);
    }

    public void Split(ReadOnlySpan<int> codepoints, List<int> pieceLengths, List<int> output)
    {
        string subject = _collapsed ? CollapseText(codepoints) : WidenText(codepoints);
        int start = 0;
        foreach (int length in pieceLengths)
        {
            int previousEnd = 0;
            foreach (ValueMatch match in _regex.EnumerateMatches(subject.AsSpan(start, length)))
            {
                if (match.Length == 0) continue; // none of llama.cpp's regexes can match empty; never emit empty words
                if (match.Index > previousEnd) output.Add(match.Index - previousEnd);
                output.Add(match.Length);
                previousEnd = match.Index + match.Length;
            }
            if (previousEnd < length) output.Add(length - previousEnd);
            start += length;
        }
    }

    private static string CollapseText(ReadOnlySpan<int> codepoints)
    {
        var chars = new char[codepoints.Length];
        for (int i = 0; i < chars.Length; i++)
        {
            int cp = codepoints[i];
            if (cp < 0x80) { chars[i] = (char)cp; continue; }
            CodepointFlags flags = UnicodeData.Flags(cp);
            chars[i] = (flags & CodepointFlags.Whitespace) != 0 ? WhitespaceStandIn : (flags & CodepointFlags.Categories) switch
            {
                CodepointFlags.Number => CollapsedNumber,
                CodepointFlags.Letter => CollapsedLetter,
                CodepointFlags.Punctuation => CollapsedPunctuation,
                CodepointFlags.Mark => CollapsedMark,
                CodepointFlags.Symbol => CollapsedSymbol,
                _ => CollapsedOther,
            };
        }
        return new string(chars);
    }

    private string WidenText(ReadOnlySpan<int> codepoints)
    {
        var chars = new char[codepoints.Length];
        for (int i = 0; i < chars.Length; i++)
        {
            int cp = codepoints[i];
            if (cp < 0x80) chars[i] = (char)cp;
            else if (UnicodeData.IsWhitespace(cp)) chars[i] = WhitespaceStandIn;
            else if (cp > 0xFFFF) chars[i] = IsNamedAstral(cp) ? NamedAstralStandIn : OtherAstralStandIn;
            else chars[i] = cp is NamedAstralStandIn or OtherAstralStandIn ? OtherAstralStandIn : (char)cp;
        }
        return new string(chars);
    }

    private bool IsNamedAstral(int cp)
    {
        foreach ((int first, int last) in _astralRanges)
            if (cp >= first && cp <= last) return true;
        return false;
    }

    /// <summary>llama.cpp's rewrite of \p{X} into classes over the collapsed alphabet.</summary>
    internal static string CollapsePattern(string regex)
    {
        var result = new StringBuilder(regex.Length * 2);
        bool insideClass = false;
        for (int i = 0; i < regex.Length; i++)
        {
            char c = regex[i];
            if (c == '[' && (i == 0 || regex[i - 1] != '\\')) { result.Append('['); insideClass = true; continue; }
            if (insideClass && c == ']' && regex[i - 1] != '\\') { result.Append(']'); insideClass = false; continue; }
            if (c == '\\' && i + 4 < regex.Length && CollapsedClasses.TryGetValue(regex.Substring(i, 5), out string? members))
            {
                result.Append(insideClass ? members : "[" + members + "]");
                i += 4;
                continue;
            }
            if (c > 0x7F) throw new TokenizerException($"pre-tokenizer regex mixes Unicode classes with non-ASCII characters: {regex}");
            result.Append(c);
        }
        return result.ToString();
    }

    /// <summary>Replaces the above-U+FFFF members of character classes by the single stand-in U+E000.</summary>
    internal static string WidenPattern(string regex, out (int First, int Last)[] astralRanges)
    {
        var ranges = new List<(int, int)>();
        var result = new StringBuilder(regex.Length);
        bool standInWritten = false;
        for (int i = 0; i < regex.Length; i++)
        {
            if (!char.IsHighSurrogate(regex[i]))
            {
                if (regex[i] == ']') standInWritten = false;
                result.Append(regex[i]);
                continue;
            }
            int first = char.ConvertToUtf32(regex, i);
            i++;
            int last = first;
            if (i + 2 < regex.Length && regex[i + 1] == '-' && char.IsHighSurrogate(regex[i + 2]))
            {
                last = char.ConvertToUtf32(regex, i + 2);
                i += 3;
            }
            ranges.Add((first, last));
            if (!standInWritten) result.Append(NamedAstralStandIn);
            standInWritten = true;
        }
        astralRanges = ranges.ToArray();
        return result.ToString();
    }
}
