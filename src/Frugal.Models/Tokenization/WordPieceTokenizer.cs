using System.Text;

namespace Frugal.Models.Tokenization;

/// <summary>
/// WordPiece ("bert" vocabularies, e.g. BGE), as llama.cpp's llm_tokenizer_wpm: the text is reduced to the first
/// code point of each character's NFD form, lower-cased, split at whitespace and around punctuation, ASCII symbols
/// and CJK ideographs (controls dropped); each word gets a "▁" in front and is covered greedily by the longest
/// vocabulary tokens from the left; a word that cannot be covered becomes the unknown token.
/// Encoding with special tokens always adds [CLS] (BOS) first and [SEP] last.
/// </summary>
internal sealed class WordPieceTokenizer : Tokenizer
{
    private const string WordMarker = "\u2581"; // '▁'
    private readonly int _maxTokenLength; // longest token text, in UTF-16 units

    public WordPieceTokenizer(TokenizerData data)
        : base(data, new KindDefaults(Bos: 101, Eos: NoToken, Unknown: 100, Separator: 102, Padding: 0, AddBos: true, AddEos: false))
    {
        for (int id = 0; id < VocabSize; id++) _maxTokenLength = Math.Max(_maxTokenLength, Texts[id].Length);
    }

    private protected override void AppendPrefixTokens(List<int> output)
    {
        if (BosId == NoToken) throw new TokenizerException("a WordPiece vocabulary needs a [CLS] (BOS) token");
        output.Add(BosId);
    }

    private protected override void AppendSuffixTokens(List<int> output)
    {
        if (SeparatorId == NoToken) throw new TokenizerException("a WordPiece vocabulary needs a [SEP] (separator) token");
        output.Add(SeparatorId);
    }

    private protected override void EncodeFragments(string text, List<Fragment> fragments, List<int> output)
    {
        foreach (Fragment fragment in fragments)
        {
            if (!fragment.IsText) { output.Add(fragment.TokenId); continue; }
            foreach (string word in Preprocess(text.AsSpan(fragment.Start, fragment.Length)))
                TokenizeWord(WordMarker + word, output);
        }
    }

    private void TokenizeWord(string word, List<int> output)
    {
        int before = output.Count;
        for (int i = 0; i < word.Length;)
        {
            int matchEnd = -1;
            for (int j = Math.Min(word.Length, i + _maxTokenLength); j > i; j--)
            {
                if (IdBySpan.TryGetValue(word.AsSpan(i, j - i), out int id))
                {
                    output.Add(id);
                    matchEnd = j;
                    break;
                }
            }
            if (matchEnd < 0)
            {
                output.RemoveRange(before, output.Count - before); // a word is either fully covered or unknown
                break;
            }
            i = matchEnd;
        }
        if (output.Count == before) output.Add(UnknownId);
    }

    /// <summary>llama.cpp's WordPiece pre-processing: normalised, lower-cased words.</summary>
    internal static List<string> Preprocess(ReadOnlySpan<char> text)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        var codepoints = new List<int>();
        UnicodeData.DecodeCodepoints(text, codepoints);
        foreach (int original in codepoints)
        {
            int cp = UnicodeNfd.FirstOfDecomposition(original);
            CodepointFlags flags = UnicodeData.Flags(cp);
            if ((flags & CodepointFlags.Whitespace) != 0)
            {
                FinishWord(words, current);
                continue;
            }
            if (cp == 0 || cp == 0xFFFD || (flags & CodepointFlags.Control) != 0) continue;

            string lower = char.ConvertFromUtf32(UnicodeData.ToLower(cp));
            if ((flags & CodepointFlags.Punctuation) != 0 || (cp < 0x7F && (flags & CodepointFlags.Symbol) != 0) || IsChineseCharacter(cp))
            {
                FinishWord(words, current);
                words.Add(lower); // a single-character word
            }
            else
            {
                current.Append(lower);
            }
        }
        FinishWord(words, current);
        return words;
    }

    private static void FinishWord(List<string> words, StringBuilder current)
    {
        if (current.Length == 0) return;
        words.Add(current.ToString());
        current.Clear();
    }

    // CJK ideograph blocks as BERT's tokenizer defines them (with the HF upper bound 0x2CEAF of Extension E).
    private static bool IsChineseCharacter(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF
            or >= 0x2A700 and <= 0x2B73F or >= 0x2B740 and <= 0x2B81F or >= 0x2B920 and <= 0x2CEAF
            or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;

    private protected override byte[] ComputePiece(int id)
    {
        TokenAttributes attributes = Attributes[id];
        string text = Texts[id];
        if ((attributes & TokenAttributes.UserDefined) != 0) return Encoding.UTF8.GetBytes(text);
        if ((attributes & TokenAttributes.Normal) != 0) return Encoding.UTF8.GetBytes(text.Replace('\u2581', ' '));
        return [];
    }
}
