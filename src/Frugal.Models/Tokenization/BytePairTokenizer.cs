using System.Text;

namespace Frugal.Models.Tokenization;

/// <summary>Pre-tokenizer families llama.cpp knows (llama_vocab_pre_type), chosen by tokenizer.ggml.pre.</summary>
internal enum BpePreTokenizerKind
{
    Default, Llama3, DeepseekLlm, DeepseekCoder, Deepseek3Llm, Falcon, Mpt, Starcoder, Gpt2, Refact, CommandR,
    StableLm2, Qwen2, Olmo, Dbrx, Smaug, Poro, ChatGlm4, Viking, Jais, Tekken, SmolLm, CodeShell, Bloom,
    Gpt3Finnish, Exaone, Chameleon, Minerva,
}

/// <summary>
/// Byte-level BPE ("gpt2" vocabularies: GPT-2, LLaMA-3, Qwen2, DeepSeek, StarCoder, Falcon ...), as llama.cpp's
/// llm_tokenizer_bpe: the pre-tokenizer splits text into words; each word's UTF-8 bytes are spelled in GPT-2's
/// byte alphabet; then adjacent symbols merge, always the pair with the lowest merge rank (leftmost on ties),
/// until no listed merge applies. Symbols that are no token fall back to their single-character tokens.
/// </summary>
internal sealed class BytePairTokenizer : Tokenizer
{
    private readonly PreTokenizer _preTokenizer;
    private readonly bool _ignoreMerges;
    // Every string that appears in a merge (either side or the result) has a piece id; ids below VocabSize are
    // token ids, the rest are merge strings that are no token. Merges are then looked up by a pair of piece ids.
    private readonly Dictionary<string, int> _pieceIds;
    // (left piece << 32 | right piece) -> (rank, merged piece); the first listing of a pair wins, as in llama.cpp.
    private readonly Dictionary<long, (int Rank, int Merged)> _merges;
    // [ByteLevelAlphabet.CharLimit] one-character piece id of each byte-alphabet character, -1 when none.
    private readonly int[] _charPieces = new int[ByteLevelAlphabet.CharLimit];

    public BytePairTokenizer(TokenizerData data) : base(data, DefaultsFor(data))
    {
        (Kind, _ignoreMerges) = ParsePre(data.Pre);
        _preTokenizer = PreTokenizer.For(Kind);

        IReadOnlyList<string> merges = data.Merges ?? throw new TokenizerException("a gpt2 (BPE) vocabulary needs tokenizer.ggml.merges");
        _pieceIds = new Dictionary<string, int>(IdByText);
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            string merge = merges[rank];
            // llama.cpp splits at the first space after the first character; a line without one pairs "" with "".
            int space = merge.Length > 1 ? merge.IndexOf(' ', 1) : -1;
            string left = space < 0 ? "" : merge[..space];
            string right = space < 0 ? "" : merge[(space + 1)..];
            long key = ((long)PieceId(left) << 32) | (uint)PieceId(right);
            if (!_merges.ContainsKey(key)) _merges[key] = (rank, PieceId(left + right));
        }
        for (int c = 0; c < _charPieces.Length; c++)
            _charPieces[c] = _pieceIds.TryGetValue(((char)c).ToString(), out int id) ? id : NoToken;
    }

    internal BpePreTokenizerKind Kind { get; }

    private int PieceId(string text)
    {
        if (_pieceIds.TryGetValue(text, out int id)) return id;
        id = _pieceIds.Count; // after the VocabSize token ids
        _pieceIds.Add(text, id);
        return id;
    }

    private static KindDefaults DefaultsFor(TokenizerData data)
    {
        (BpePreTokenizerKind kind, _) = ParsePre(data.Pre);
        bool addBos = kind is BpePreTokenizerKind.Llama3 or BpePreTokenizerKind.Tekken or BpePreTokenizerKind.Chameleon;
        int bos = kind == BpePreTokenizerKind.ChatGlm4 ? NoToken : 11;
        return new KindDefaults(Bos: bos, Eos: 11, Unknown: NoToken, Separator: NoToken, Padding: NoToken, AddBos: addBos, AddEos: false);
    }

    /// <summary>llama.cpp's tokenizer.ggml.pre names; also whether whole-word tokens skip merging (ignore_merges).</summary>
    internal static (BpePreTokenizerKind Kind, bool IgnoreMerges) ParsePre(string? pre) => pre switch
    {
        null or "" or "default" => (BpePreTokenizerKind.Default, false),
        "llama3" or "llama-v3" or "llama-bpe" or "falcon3" => (BpePreTokenizerKind.Llama3, true),
        "deepseek-llm" => (BpePreTokenizerKind.DeepseekLlm, false),
        "deepseek-coder" => (BpePreTokenizerKind.DeepseekCoder, false),
        "deepseek-v3" => (BpePreTokenizerKind.Deepseek3Llm, false),
        "falcon" => (BpePreTokenizerKind.Falcon, false),
        "mpt" => (BpePreTokenizerKind.Mpt, false),
        "starcoder" => (BpePreTokenizerKind.Starcoder, false),
        "gpt-2" or "phi-2" or "jina-es" or "jina-de" or "gigachat" or "jina-v1-en" or "jina-v2-es" or "jina-v2-de"
            or "jina-v2-code" or "roberta-bpe" => (BpePreTokenizerKind.Gpt2, false),
        "refact" => (BpePreTokenizerKind.Refact, false),
        "command-r" => (BpePreTokenizerKind.CommandR, false),
        "qwen2" or "deepseek-r1-qwen" or "megrez" => (BpePreTokenizerKind.Qwen2, false),
        "stablelm2" => (BpePreTokenizerKind.StableLm2, false),
        "olmo" => (BpePreTokenizerKind.Olmo, false),
        "dbrx" => (BpePreTokenizerKind.Dbrx, false),
        "smaug-bpe" => (BpePreTokenizerKind.Smaug, false),
        "poro-chat" => (BpePreTokenizerKind.Poro, false),
        "chatglm-bpe" => (BpePreTokenizerKind.ChatGlm4, false),
        "viking" => (BpePreTokenizerKind.Viking, false),
        "jais" => (BpePreTokenizerKind.Jais, false),
        "tekken" => (BpePreTokenizerKind.Tekken, true),
        "smollm" => (BpePreTokenizerKind.SmolLm, false),
        "codeshell" => (BpePreTokenizerKind.CodeShell, false),
        "bloom" => (BpePreTokenizerKind.Bloom, false),
        "gpt3-finnish" => (BpePreTokenizerKind.Gpt3Finnish, false),
        "exaone" => (BpePreTokenizerKind.Exaone, false),
        "chameleon" => (BpePreTokenizerKind.Chameleon, false),
        "minerva-7b" => (BpePreTokenizerKind.Minerva, false),
        _ => throw new TokenizerException($"unknown pre-tokenizer type '{pre}' (tokenizer.ggml.pre)"),
    };

    private protected override void EncodeFragments(string text, List<Fragment> fragments, List<int> output)
    {
        var session = new Session(this);
        foreach (Fragment fragment in fragments)
        {
            if (fragment.IsText) session.Tokenize(text.AsSpan(fragment.Start, fragment.Length), output);
            else output.Add(fragment.TokenId);
        }
    }

    private protected override byte[] ComputePiece(int id)
    {
        TokenAttributes attributes = Attributes[id];
        string text = Texts[id];
        if ((attributes & TokenAttributes.UserDefined) != 0) return Encoding.UTF8.GetBytes(text);
        if ((attributes & TokenAttributes.Normal) == 0) return [];
        // Reverse the byte alphabet; llama.cpp spells characters outside it as "[UNK_BYTE_0x<utf8 hex><token text>]".
        var bytes = new List<byte>(text.Length);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (Rune rune in text.EnumerateRunes())
        {
            int b = ByteLevelAlphabet.Decode(rune.Value);
            if (b >= 0) { bytes.Add((byte)b); continue; }
            int n = rune.EncodeToUtf8(utf8);
            var unknown = new StringBuilder("[UNK_BYTE_0x");
            for (int i = 0; i < n; i++) unknown.Append(utf8[i].ToString("x2"));
            unknown.Append(text).Append(']');
            bytes.AddRange(Encoding.UTF8.GetBytes(unknown.ToString()));
        }
        return bytes.ToArray();
    }

    /// <summary>Encoding state for one call; reuses its buffers across the words of the text.</summary>
    private sealed class Session(BytePairTokenizer owner)
    {
        private readonly List<int> _codepoints = [];
        private readonly List<int> _wordLengths = [];
        private readonly StringBuilder _word = new();
        // [symbol] the word's current symbols: start/length in the encoded word (length 0 once merged away),
        // piece id (-1 when the symbol's text is in no merge), prev/next links.
        private Symbol[] _symbols = new Symbol[64];
        private readonly PriorityQueue<Bigram, Bigram> _queue = new(BigramOrder.Instance);

        private struct Symbol
        {
            public int Start, Length, Piece, Previous, Next;
        }

        /// <summary>A candidate merge of symbols Left and Right with its rank, merged piece and combined length.</summary>
        private readonly record struct Bigram(int Left, int Right, int Rank, int Merged, int Size);

        /// <summary>Lowest rank first, then the leftmost pair (llama.cpp's llm_bigram_bpe comparator).</summary>
        private sealed class BigramOrder : IComparer<Bigram>
        {
            public static readonly BigramOrder Instance = new();

            public int Compare(Bigram x, Bigram y) => x.Rank != y.Rank ? x.Rank.CompareTo(y.Rank) : x.Left.CompareTo(y.Left);
        }

        public void Tokenize(ReadOnlySpan<char> text, List<int> output)
        {
            UnicodeData.DecodeCodepoints(text, _codepoints);
            ReadOnlySpan<int> codepoints = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_codepoints);
            owner._preTokenizer.Split(codepoints, _wordLengths);
            int start = 0;
            Span<byte> utf8 = stackalloc byte[4];
            foreach (int length in _wordLengths)
            {
                // The word's UTF-8 bytes spelled in the byte alphabet: one character per byte.
                _word.Clear();
                foreach (int cp in codepoints.Slice(start, length))
                {
                    int n = UnicodeData.EncodeUtf8(cp, utf8);
                    for (int i = 0; i < n; i++) _word.Append(ByteLevelAlphabet.Encode(utf8[i]));
                }
                start += length;
                TokenizeWord(output);
            }
        }

        private void TokenizeWord(List<int> output)
        {
            int wordLength = _word.Length;
            Span<char> word = wordLength <= 256 ? stackalloc char[wordLength] : new char[wordLength];
            _word.CopyTo(0, word, wordLength);

            if (owner._ignoreMerges && owner.IdBySpan.TryGetValue(word, out int whole))
            {
                output.Add(whole);
                return;
            }

            if (_symbols.Length < wordLength) _symbols = new Symbol[Math.Max(wordLength, _symbols.Length * 2)];
            for (int i = 0; i < wordLength; i++)
            {
                char c = word[i];
                _symbols[i] = new Symbol
                {
                    Start = i, Length = 1, Previous = i - 1, Next = i + 1 == wordLength ? -1 : i + 1,
                    Piece = c < ByteLevelAlphabet.CharLimit ? owner._charPieces[c] : NoToken,
                };
            }
            _queue.Clear();
            for (int i = 1; i < wordLength; i++) TryAddBigram(i - 1, i);

            while (_queue.TryDequeue(out Bigram bigram, out _))
            {
                ref Symbol left = ref _symbols[bigram.Left];
                ref Symbol right = ref _symbols[bigram.Right];
                // Stale: one side was merged since this candidate was queued.
                if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Size) continue;

                left.Length += right.Length;
                left.Piece = bigram.Merged;
                left.Next = right.Next;
                right.Length = 0;
                if (right.Next >= 0) _symbols[right.Next].Previous = bigram.Left;

                TryAddBigram(left.Previous, bigram.Left);
                TryAddBigram(bigram.Left, left.Next);
            }

            for (int i = 0; i != -1; i = _symbols[i].Next)
            {
                Symbol symbol = _symbols[i];
                if ((uint)symbol.Piece < (uint)owner.VocabSize)
                {
                    output.Add(symbol.Piece); // piece ids below VocabSize are token ids
                    continue;
                }
                // Not a token: llama.cpp looks each byte of the symbol's text up as a one-byte token (only ASCII can match).
                foreach (char c in word.Slice(symbol.Start, symbol.Length))
                    if (c < 0x80 && owner._charPieces[c] is var id && (uint)id < (uint)owner.VocabSize) output.Add(id);
            }
        }

        private void TryAddBigram(int left, int right)
        {
            if (left == -1 || right == -1) return;
            int leftPiece = _symbols[left].Piece, rightPiece = _symbols[right].Piece;
            if (leftPiece < 0 || rightPiece < 0) return;
            if (!owner._merges.TryGetValue(((long)leftPiece << 32) | (uint)rightPiece, out var merge)) return;
            var bigram = new Bigram(left, right, merge.Rank, merge.Merged, _symbols[left].Length + _symbols[right].Length);
            _queue.Enqueue(bigram, bigram);
        }
    }
}
