using System.Text;
using Frugal.Models.Tokenization;

namespace Frugal.Models.Tests.Tokenization;

/// <summary>The algorithms on vocabularies small enough to work out by hand (no shared data needed).</summary>
public sealed class TokenizerBehaviourTests
{
    [Fact]
    public void SentencePieceMergesTheHighestScoringPairFirst()
    {
        // "abc" -> "▁abc". If "bc" outscores "ab", b+c merge first and "ab" can no longer form.
        TokenizerData bcFirst = TinyVocabularies.SentencePiece(("▁", -1), ("a", -2), ("b", -2), ("c", -2), ("ab", -5), ("bc", -3), ("▁ab", -4));
        Assert.Equal([bcFirst.Id("▁"), bcFirst.Id("a"), bcFirst.Id("bc")], Tokenizer.Create(bcFirst).Encode("abc", addSpecial: false));

        TokenizerData abFirst = TinyVocabularies.SentencePiece(("▁", -1), ("a", -2), ("b", -2), ("c", -2), ("ab", -3), ("bc", -5), ("▁ab", -4));
        Assert.Equal([abFirst.Id("▁ab"), abFirst.Id("c")], Tokenizer.Create(abFirst).Encode("abc", addSpecial: false));
    }

    [Fact]
    public void SentencePieceFallsBackToByteTokens()
    {
        TokenizerData data = TinyVocabularies.SentencePiece(("▁", -1), ("a", -2));
        Tokenizer tokenizer = Tokenizer.Create(data);
        // 'é' is not in the vocabulary: its UTF-8 bytes C3 A9 become <0xC3> <0xA9>.
        Assert.Equal([1, data.Id("▁"), data.Id("a"), data.Id("<0xC3>"), data.Id("<0xA9>")], tokenizer.Encode("aé"));
        Assert.Equal(" aé", tokenizer.Decode(tokenizer.Encode("aé")));
    }

    [Fact]
    public void SentencePieceSpacePrefixFollowsTheFlagAndSpecialTokens()
    {
        (string, float)[] pieces = [("▁", -1), ("a", -2), ("▁a", -1.5f)];
        TokenizerData withPrefix = TinyVocabularies.SentencePiece(pieces, []);
        Tokenizer tokenizer = Tokenizer.Create(withPrefix);
        Assert.Equal([withPrefix.Id("▁a")], tokenizer.Encode("a", addSpecial: false));
        // With special tokens parsed, text after "</s>" counts as a new start and gets its "▁" again.
        Assert.Equal([1, withPrefix.Id("▁a"), 2, withPrefix.Id("▁a")], tokenizer.Encode("a</s>a", parseSpecial: true));
        // Without parsing, "</s>" is plain text: '<', '/', 's', '>' fall back to bytes.
        Assert.Equal([withPrefix.Id("▁a"), withPrefix.Id("<0x3C>"), withPrefix.Id("<0x2F>"), withPrefix.Id("<0x73>"), withPrefix.Id("<0x3E>")],
            tokenizer.Encode("a</s>", addSpecial: false));

        TokenizerData noPrefix = TinyVocabularies.SentencePiece(pieces, [], addSpacePrefix: false);
        Assert.Equal([noPrefix.Id("a")], Tokenizer.Create(noPrefix).Encode("a", addSpecial: false));
    }

    [Fact]
    public void BytePairMergesByRankNotPosition()
    {
        // Rank 0 is "b c", so in "abc" b+c merge before a+b even though a+b is further left.
        TokenizerData data = TinyVocabularies.BytePair(["b c", "a b", "a bc"], []);
        Tokenizer tokenizer = Tokenizer.Create(data);
        Assert.Equal([data.Id("abc")], tokenizer.Encode("abc", addSpecial: false));

        TokenizerData noTriple = TinyVocabularies.BytePair(["b c", "a b"], []);
        Assert.Equal([noTriple.Id("a"), noTriple.Id("bc")], Tokenizer.Create(noTriple).Encode("abc", addSpecial: false));
    }

    [Fact]
    public void BytePairSpellsBytesInTheGpt2Alphabet()
    {
        TokenizerData data = TinyVocabularies.BytePair(["Ġ a", "Ġa b"], []);
        Tokenizer tokenizer = Tokenizer.Create(data);
        int[] ids = tokenizer.Encode("x ab", addSpecial: false);
        Assert.Equal([data.Id("x"), data.Id("Ġab")], ids);
        Assert.Equal(" ab"u8.ToArray(), tokenizer.TokenBytes(data.Id("Ġab")));
        Assert.Equal("x ab", tokenizer.Decode(ids));
        // Multi-byte characters are split into their bytes: 'é' = C3 A9 = "Ã" "©".
        Assert.Equal([0xC3, 0xA9], tokenizer.Encode("é", addSpecial: false));
    }

    [Fact]
    public void SpecialTokensAreParsedOnlyWhenAsked()
    {
        TokenizerData data = TinyVocabularies.BytePair(["a b"], [("<|im_start|>", TinyVocabularies.Control), ("<mark>", TinyVocabularies.UserDefined)]);
        Tokenizer tokenizer = Tokenizer.Create(data);
        int start = data.Id("<|im_start|>"), mark = data.Id("<mark>");

        Assert.Equal([start, data.Id("ab")], tokenizer.Encode("<|im_start|>ab", addSpecial: false, parseSpecial: true));
        int[] plain = tokenizer.Encode("<|im_start|>ab", addSpecial: false, parseSpecial: false);
        Assert.DoesNotContain(start, plain);
        Assert.Equal("<|im_start|>ab", tokenizer.Decode(plain));
        // User-defined tokens are cut out even without parseSpecial (llama.cpp and Hugging Face agree).
        Assert.Equal([data.Id("ab"), mark, data.Id("ab")], tokenizer.Encode("ab<mark>ab", addSpecial: false));
        // Control tokens print nothing; user-defined ones print their text.
        Assert.Empty(tokenizer.TokenBytes(start));
        Assert.True(tokenizer.IsControl(start));
        Assert.Equal("<mark>"u8.ToArray(), tokenizer.TokenBytes(mark));
    }

    [Fact]
    public void EndOfGenerationFollowsLlamaCpp()
    {
        TokenizerData data = TinyVocabularies.BytePair([], [("<|endoftext|>", TinyVocabularies.Control), ("<|im_end|>", TinyVocabularies.Normal), ("<|fim_pad|>", TinyVocabularies.Normal)])
            with { EosId = 256 };
        Tokenizer tokenizer = Tokenizer.Create(data);
        int imEnd = data.Id("<|im_end|>"), fimPad = data.Id("<|fim_pad|>");
        Assert.True(tokenizer.IsEndOfGeneration(256));
        Assert.True(tokenizer.IsEndOfGeneration(imEnd));
        Assert.True(tokenizer.IsEndOfGeneration(fimPad));
        Assert.False(tokenizer.IsEndOfGeneration('a'));
        // Found by its text, "<|im_end|>" becomes a control token even though the file calls it normal.
        Assert.True(tokenizer.IsControl(imEnd));
        Assert.Equal(256, tokenizer.EosId);
        Assert.Equal(11, tokenizer.BosId); // llama.cpp's default BOS for gpt2 vocabularies
        Assert.False(tokenizer.AddBos);
    }

    [Fact]
    public void WordPieceNormalisesSplitsAndCoversWords()
    {
        Assert.Equal(["hello", ",", "world", "!", "naive", "中", "文"], WordPieceTokenizer.Preprocess("Héllo, WORLD!\tnaïve 中文"));

        var data = new TokenizerData
        {
            Model = "bert",
            Tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "▁hello", "▁play", "ing", "▁,"],
            TokenTypes = [3, 2, 3, 3, 1, 1, 1, 1],
            UnknownId = 1, BosId = 2, SeparatorId = 3, PaddingId = 0,
        };
        Tokenizer tokenizer = Tokenizer.Create(data);
        Assert.Equal([2, 4, 7, 5, 6, 1, 3], tokenizer.Encode("Hello, playing xyz"));
        Assert.Equal(" hello , playing", tokenizer.Decode([2, 4, 7, 5, 6, 3]));
    }

    [Fact]
    public void StreamingHoldsBackIncompleteCharacters()
    {
        TokenizerData data = TinyVocabularies.SentencePiece(("▁", -1), ("a", -2));
        Tokenizer tokenizer = Tokenizer.Create(data);
        int[] emoji = [.. "🙂"u8.ToArray().Select(b => data.Id($"<0x{b:X2}>"))]; // F0 9F 99 82 as four byte tokens
        var detokenizer = new StreamingDetokenizer(tokenizer);

        Assert.Equal("a", detokenizer.Push(data.Id("a")));
        Assert.Equal("", detokenizer.Push(emoji[0]));
        Assert.Equal("", detokenizer.Push(emoji[1]));
        Assert.Equal("", detokenizer.Push(emoji[2]));
        Assert.Equal("🙂", detokenizer.Push(emoji[3]));
        Assert.Equal("", detokenizer.Push(1)); // <s>: control, prints nothing
        Assert.Equal("", detokenizer.Flush());

        // A sequence cut short comes out as U+FFFD on Flush, as Decode shows it.
        Assert.Equal("", detokenizer.Push(emoji[0]));
        Assert.Equal("", detokenizer.Push(emoji[1]));
        Assert.Equal("\uFFFD", detokenizer.Flush());
        Assert.Equal("a\uFFFD", tokenizer.Decode([data.Id("a"), emoji[0], emoji[1]]));

        // Reset forgets held bytes; a stray continuation byte is invalid at once.
        detokenizer.Push(emoji[0]);
        detokenizer.Reset();
        Assert.Equal("a", detokenizer.Push(data.Id("a")));
        Assert.Equal("\uFFFD", detokenizer.Push(emoji[3]));
    }

    [Fact]
    public void StreamingEqualsDecodeForEveryPrefix()
    {
        TokenizerData data = TinyVocabularies.SentencePiece(("▁", -1), ("a", -2));
        Tokenizer tokenizer = Tokenizer.Create(data);
        int[] ids = tokenizer.Encode("a é 中 🙂 \uD83D a", addSpecial: true);
        var streamed = new StringBuilder();
        var detokenizer = new StreamingDetokenizer(tokenizer);
        foreach (int id in ids) streamed.Append(detokenizer.Push(id));
        streamed.Append(detokenizer.Flush());
        Assert.Equal(tokenizer.Decode(ids), streamed.ToString());
        Assert.Equal(" a é 中 🙂 \uFFFD a", streamed.ToString());
    }

    [Fact]
    public void BadInputGetsPreciseErrors()
    {
        TokenizerData good = TinyVocabularies.BytePair(["a b"], []);
        Assert.Contains("unsupported tokenizer model 't5'", Assert.Throws<TokenizerException>(() => Tokenizer.Create(good with { Model = "t5" })).Message);
        Assert.Contains("unknown pre-tokenizer type 'nonsense'", Assert.Throws<TokenizerException>(() => Tokenizer.Create(good with { Pre = "nonsense" })).Message);
        Assert.Contains("tokenizer.ggml.merges", Assert.Throws<TokenizerException>(() => Tokenizer.Create(good with { Merges = null })).Message);
        Assert.Contains("repeats", Assert.Throws<TokenizerException>(() => Tokenizer.Create(good with { Tokens = [.. good.Tokens, "a"], TokenTypes = null })).Message);
        Assert.Contains("scores", Assert.Throws<TokenizerException>(() => Tokenizer.Create(good with { Scores = [1f] })).Message);
        Assert.Contains("BOS", Assert.Throws<TokenizerException>(() => Tokenizer.Create(good with { AddBos = true, Pre = "chatglm-bpe" }).Encode("a")).Message);

        Tokenizer tokenizer = Tokenizer.Create(good);
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([tokenizer.VocabSize]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.TokenBytes(-1));
        Assert.Throws<ArgumentNullException>(() => tokenizer.Encode(null!));
        Assert.Empty(tokenizer.Encode("", addSpecial: false));
    }
}
