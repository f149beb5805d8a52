using System.Globalization;
using System.Text;

namespace Frugal.Models.Tokenization;

/// <summary>
/// SentencePiece-style tokenizer ("llama" vocabularies, e.g. LLaMA-2, Mistral, Phi-3), as llama.cpp's
/// llm_tokenizer_spm: spaces become "▁", a "▁" is put in front of text that starts the input or follows a
/// special token, then characters are merged pairwise, always the adjacent pair whose merged text is the
/// vocabulary token with the highest score (leftmost on ties). Pieces that are no token fall back to byte
/// tokens &lt;0xAB&gt;.
/// </summary>
internal sealed class SentencePieceTokenizer : Tokenizer
{
    private const char SpaceMarker = '\u2581'; // '▁'

    // [256] byte -> its <0xAB> token (or the one-character token for ASCII), -1 when the vocabulary has neither.
    private readonly int[] _byteTokens = new int[256];

    public SentencePieceTokenizer(TokenizerData data)
        : base(data, new KindDefaults(Bos: 1, Eos: 2, Unknown: 0, Separator: NoToken, Padding: NoToken, AddBos: true, AddEos: false))
    {
        AddSpacePrefix = data.AddSpacePrefix ?? true;
        for (int b = 0; b < 256; b++)
        {
            if (IdByText.TryGetValue($"<0x{b:X2}>", out int id)) _byteTokens[b] = id;
            else if (b < 0x80 && IdByText.TryGetValue(((char)b).ToString(), out id)) _byteTokens[b] = id;
            else _byteTokens[b] = NoToken;
        }
    }

    public bool AddSpacePrefix { get; }

    private protected override void EncodeFragments(string text, List<Fragment> fragments, List<int> output)
    {
        var session = new Session(this);
        bool previousWasSpecial = true; // the input's start counts as "after a special token"
        var escaped = new StringBuilder();
        foreach (Fragment fragment in fragments)
        {
            if (!fragment.IsText)
            {
                output.Add(fragment.TokenId);
                previousWasSpecial = true;
                continue;
            }
            escaped.Clear();
            if (AddSpacePrefix && previousWasSpecial) escaped.Append(' ');
            escaped.Append(text, fragment.Start, fragment.Length);
            escaped.Replace(' ', SpaceMarker);
            session.Tokenize(escaped.ToString(), output);
            previousWasSpecial = false;
        }
    }

    private protected override byte[] ComputePiece(int id)
    {
        TokenAttributes attributes = Attributes[id];
        string text = Texts[id];
        if ((attributes & TokenAttributes.UserDefined) != 0) return Encoding.UTF8.GetBytes(text);
        if ((attributes & TokenAttributes.Normal) != 0) return Encoding.UTF8.GetBytes(text.Replace(SpaceMarker, ' '));
        if ((attributes & TokenAttributes.Byte) != 0)
        {
            // "<0xAB>": llama.cpp reads the two hex digits after "<0x".
            return text.Length >= 5 && byte.TryParse(text.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte value)
                ? [value]
                : [];
        }
        return []; // unused / undefined tokens print nothing
    }

    /// <summary>Byte-fallback token of one byte; unknown token when the vocabulary has no byte tokens.</summary>
    private int ByteToken(byte b)
    {
        int id = _byteTokens[b];
        if (id != NoToken) return id;
        if (UnknownId != NoToken) return UnknownId;
        throw new TokenizerException($"the vocabulary has no token for byte 0x{b:X2} and no unknown token");
    }

    /// <summary>One merge run over one text fragment (symbols are code points, then merged pieces).</summary>
    private sealed class Session(SentencePieceTokenizer owner)
    {
        // Linked list of symbols over the text: [symbol] start (UTF-16 index), length (0 once merged away), prev, next.
        private readonly List<Symbol> _symbols = [];
        private readonly PriorityQueue<Bigram, Bigram> _queue = new(BigramOrder.Instance);

        private struct Symbol
        {
            public int Start, Length, Previous, Next;
        }

        /// <summary>A candidate merge of symbols Left and Right whose texts together span Size characters.</summary>
        private readonly record struct Bigram(int Left, int Right, float Score, int Size);

        /// <summary>Highest score first, then the leftmost pair (llama.cpp's llm_bigram_spm comparator).</summary>
        private sealed class BigramOrder : IComparer<Bigram>
        {
            public static readonly BigramOrder Instance = new();

            public int Compare(Bigram x, Bigram y)
            {
                int byScore = y.Score.CompareTo(x.Score);
                return byScore != 0 ? byScore : x.Left.CompareTo(y.Left);
            }
        }

        public void Tokenize(string text, List<int> output)
        {
            _symbols.Clear();
            _queue.Clear();
            for (int offset = 0; offset < text.Length;)
            {
                int length = char.IsHighSurrogate(text[offset]) && offset + 1 < text.Length && char.IsLowSurrogate(text[offset + 1]) ? 2 : 1;
                int index = _symbols.Count;
                _symbols.Add(new Symbol { Start = offset, Length = length, Previous = index - 1, Next = offset + length == text.Length ? -1 : index + 1 });
                offset += length;
            }
            for (int i = 1; i < _symbols.Count; i++) TryAddBigram(text, i - 1, i);

            while (_queue.TryDequeue(out Bigram bigram, out _))
            {
                Symbol left = _symbols[bigram.Left], right = _symbols[bigram.Right];
                // Stale: one side was merged since this candidate was queued.
                if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Size) continue;

                left.Length += right.Length;
                left.Next = right.Next;
                right.Length = 0;
                if (right.Next >= 0)
                {
                    Symbol after = _symbols[right.Next];
                    after.Previous = bigram.Left;
                    _symbols[right.Next] = after;
                }
                _symbols[bigram.Left] = left;
                _symbols[bigram.Right] = right;

                TryAddBigram(text, left.Previous, bigram.Left);
                TryAddBigram(text, bigram.Left, left.Next);
            }

            if (_symbols.Count == 0) return;
            Span<byte> utf8 = stackalloc byte[4];
            for (int i = 0; i != -1; i = _symbols[i].Next)
            {
                Symbol symbol = _symbols[i];
                ReadOnlySpan<char> piece = text.AsSpan(symbol.Start, symbol.Length);
                if (owner.IdBySpan.TryGetValue(piece, out int id))
                {
                    output.Add(id);
                    continue;
                }
                // Byte fallback: every UTF-8 byte of the piece as its own token.
                foreach (Rune rune in piece.EnumerateRunes())
                {
                    int n = rune.EncodeToUtf8(utf8);
                    for (int b = 0; b < n; b++) output.Add(owner.ByteToken(utf8[b]));
                }
            }
        }

        private void TryAddBigram(string text, int left, int right)
        {
            if (left == -1 || right == -1) return;
            int start = _symbols[left].Start, size = _symbols[left].Length + _symbols[right].Length;
            if (!owner.IdBySpan.TryGetValue(text.AsSpan(start, size), out int id)) return;
            var bigram = new Bigram(left, right, owner.Scores[id], size);
            _queue.Enqueue(bigram, bigram);
        }
    }
}
