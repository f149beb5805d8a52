using System.Buffers;
using System.Text;

namespace Frugal.Models.Tokenization;

/// <summary>
/// Text ↔ token ids with a GGUF file's own vocabulary, producing exactly what llama.cpp (build 4748) produces.
/// Subclasses hold the three algorithms: SentencePiece-style score merges ("llama"), byte-level BPE ("gpt2")
/// and WordPiece ("bert"). This base owns what they share: the vocabulary, the special tokens, the cutting of
/// special tokens out of text before encoding, and the bytes each token stands for. Instances are immutable
/// and safe to use from several threads.
/// </summary>
public abstract class Tokenizer
{
    /// <summary>llama.cpp's LLAMA_TOKEN_NULL: "no such token".</summary>
    public const int NoToken = -1;

    // Token texts that llama.cpp treats as ending a turn, whatever the file says (llama-vocab.cpp, "special_eog_ids").
    private static readonly string[] EndOfTurnTexts = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<｜end▁of▁sentence｜>"];
    private static readonly string[] EndOfGenerationTexts = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"];
    private static readonly string[] FimPrefixTexts = ["<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>", "<PRE>"];
    private static readonly string[] FimSuffixTexts = ["<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>", "<SUF>"];
    private static readonly string[] FimMiddleTexts = ["<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>", "<MID>"];
    private static readonly string[] FimPadTexts = ["<|fim_pad|>", "<fim-pad>", "<PAD>"];
    private static readonly string[] FimRepoTexts = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"];
    private static readonly string[] FimSeparatorTexts = ["<|file_sep|>"];

    // [VocabSize] each token's text as stored (an empty text becomes "[EMPTY_<id>]", as in llama.cpp).
    private protected readonly string[] Texts;
    // [VocabSize] SentencePiece scores (0 when the file has none).
    private protected readonly float[] Scores;
    // [VocabSize] llama.cpp token attributes.
    private protected readonly TokenAttributes[] Attributes;
    // Token text -> id, and the same table probed with spans of a larger string (no substring allocations).
    private protected readonly Dictionary<string, int> IdByText;
    private protected readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> IdBySpan;
    // Ids cut out of text before encoding (control, user-defined, unknown), longest text first.
    private readonly int[] _specialTokens;
    private readonly HashSet<int> _endOfGeneration;
    // [VocabSize] TokenBytes of each token, filled on first use (racing threads compute identical arrays).
    private readonly byte[]?[] _pieces;

    private protected Tokenizer(TokenizerData data, KindDefaults defaults)
    {
        ArgumentNullException.ThrowIfNull(data);
        int count = data.Tokens.Count;
        if (count == 0) throw new TokenizerException("the vocabulary (tokenizer.ggml.tokens) is empty");
        if (data.Scores is not null && data.Scores.Count != count)
            throw new TokenizerException($"tokenizer.ggml.scores has {data.Scores.Count} entries for {count} tokens");
        if (data.TokenTypes is not null && data.TokenTypes.Count != count)
            throw new TokenizerException($"tokenizer.ggml.token_type has {data.TokenTypes.Count} entries for {count} tokens");

        Texts = new string[count];
        Scores = new float[count];
        Attributes = new TokenAttributes[count];
        IdByText = new Dictionary<string, int>(count);
        for (int id = 0; id < count; id++)
        {
            string text = data.Tokens[id];
            if (string.IsNullOrEmpty(text)) text = $"[EMPTY_{id}]";
            if (!IdByText.TryAdd(text, id))
                throw new TokenizerException($"token {id} repeats the text of token {IdByText[text]}: \"{text}\"");
            Texts[id] = text;
            Scores[id] = data.Scores?[id] ?? 0f;
            Attributes[id] = data.TokenTypes is null ? TokenAttributes.Normal : TokenTypes.ToAttributes(data.TokenTypes[id]);
        }
        IdBySpan = IdByText.GetAlternateLookup<ReadOnlySpan<char>>();

        BosId = ValidId(data.BosId, defaults.Bos);
        EosId = ValidId(data.EosId, defaults.Eos);
        UnknownId = ValidId(data.UnknownId, defaults.Unknown);
        SeparatorId = ValidId(data.SeparatorId, defaults.Separator);
        PaddingId = ValidId(data.PaddingId, defaults.Padding);
        int eot = ValidId(data.EotId, NoToken), eom = ValidId(data.EomId, NoToken);
        int fimPad = ValidId(data.FimPadId, NoToken), fimRepo = ValidId(data.FimRepoId, NoToken), fimSep = ValidId(data.FimSeparatorId, NoToken);
        AddBos = data.AddBos ?? defaults.AddBos;
        AddEos = data.AddEos ?? defaults.AddEos;

        // llama.cpp finds end-of-turn and fill-in-the-middle tokens by their text when the file names none, and makes
        // them control tokens. It walks a hash map, so with several candidates its pick is arbitrary; we take the lowest id.
        if (eot == NoToken) eot = FindByText(EndOfTurnTexts, forceControl: true);
        if (eom == NoToken) eom = FindByText(["<|eom_id|>"], forceControl: true);
        if (ValidId(data.FimPrefixId, NoToken) == NoToken) FindByText(FimPrefixTexts, forceControl: true);
        if (ValidId(data.FimSuffixId, NoToken) == NoToken) FindByText(FimSuffixTexts, forceControl: true);
        if (ValidId(data.FimMiddleId, NoToken) == NoToken) FindByText(FimMiddleTexts, forceControl: true);
        if (fimPad == NoToken) fimPad = FindByText(FimPadTexts, forceControl: true);
        if (fimRepo == NoToken) fimRepo = FindByText(FimRepoTexts, forceControl: true);
        if (fimSep == NoToken) fimSep = FindByText(FimSeparatorTexts, forceControl: true);

        _endOfGeneration = [];
        foreach (int id in (ReadOnlySpan<int>)[fimPad, fimRepo, fimSep])
            if (id != NoToken) _endOfGeneration.Add(id);
        foreach (string text in EndOfGenerationTexts)
        {
            if (!IdByText.TryGetValue(text, out int id)) continue;
            _endOfGeneration.Add(id);
            Attributes[id] |= TokenAttributes.Control;
        }
        foreach (int id in (ReadOnlySpan<int>)[EosId, eot, eom])
            if (id != NoToken) _endOfGeneration.Add(id);

        _specialTokens = Enumerable.Range(0, count)
            .Where(id => (Attributes[id] & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) != 0)
            .OrderByDescending(id => Encoding.UTF8.GetByteCount(Texts[id]))
            .ThenBy(id => id)
            .ToArray();

        ApplyFamilyWhitespaceRules(data);
        _pieces = new byte[]?[count];
    }

    /// <summary>llama.cpp's defaults for a tokenizer kind, before the file's own keys override them.</summary>
    private protected readonly record struct KindDefaults(int Bos, int Eos, int Unknown, int Separator, int Padding, bool AddBos, bool AddEos);

    /// <summary>Builds the tokenizer a GGUF file describes (its tokenizer.* metadata).</summary>
    public static Tokenizer FromGguf(Gguf.GgufFile file) => Create(GgufTokenizerReader.Read(file));

    /// <summary>Builds a tokenizer from plain vocabulary data.</summary>
    public static Tokenizer Create(TokenizerData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return data.Model switch
        {
            "llama" => new SentencePieceTokenizer(data),
            "gpt2" => new BytePairTokenizer(data),
            "bert" => new WordPieceTokenizer(data),
            _ => throw new TokenizerException($"unsupported tokenizer model '{data.Model}' (supported: llama, gpt2, bert)"),
        };
    }

    public int VocabSize => Texts.Length;

    /// <summary>Beginning-of-sequence token, or -1 when the vocabulary has none.</summary>
    public int BosId { get; }

    /// <summary>End-of-sequence token, or -1 when the vocabulary has none.</summary>
    public int EosId { get; }

    public int UnknownId { get; }
    public int SeparatorId { get; }
    public int PaddingId { get; }

    /// <summary>Whether <see cref="Encode"/> with addSpecial puts BOS first.</summary>
    public bool AddBos { get; }

    /// <summary>Whether <see cref="Encode"/> with addSpecial puts EOS last.</summary>
    public bool AddEos { get; }

    /// <summary>True for every token that ends generation (EOS, end-of-turn, end-of-message, ...), as llama_vocab_is_eog.</summary>
    public bool IsEndOfGeneration(int id) => _endOfGeneration.Contains(id);

    public bool IsControl(int id) => (uint)id < (uint)Texts.Length && (Attributes[id] & TokenAttributes.Control) != 0;

    /// <summary>The vocabulary text of a token, as stored.</summary>
    public string TokenText(int id) => Texts[CheckId(id)];

    /// <summary>
    /// Token ids of <paramref name="text"/>. <paramref name="addSpecial"/> adds BOS/EOS as the vocabulary asks;
    /// <paramref name="parseSpecial"/> turns the texts of control tokens (e.g. "&lt;|im_start|&gt;") into those tokens.
    /// User-defined tokens are always recognised, as in llama.cpp.
    /// </summary>
    public int[] Encode(string text, bool addSpecial = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        List<Fragment> fragments = Partition(text, parseSpecial);
        var output = new List<int>(text.Length / 3 + 4);
        if (addSpecial) AppendPrefixTokens(output);
        EncodeFragments(text, fragments, output);
        if (addSpecial) AppendSuffixTokens(output);
        return output.ToArray();
    }

    /// <summary>The bytes a token adds to generated text (llama.cpp's token_to_piece with special=false): control tokens add none.</summary>
    public byte[] TokenBytes(int id) => Piece(CheckId(id)).ToArray();

    /// <summary>The UTF-8 text of the tokens' bytes, invalid sequences replaced by U+FFFD.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var buffer = new ArrayBufferWriter<byte>(ids.Length * 4 + 16);
        foreach (int id in ids) buffer.Write(Piece(CheckId(id)));
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    internal ReadOnlySpan<byte> Piece(int id)
    {
        byte[]? piece = _pieces[id];
        if (piece is null)
        {
            piece = (Attributes[id] & (TokenAttributes.Unknown | TokenAttributes.Control)) != 0 ? [] : ComputePiece(id);
            _pieces[id] = piece;
        }
        return piece;
    }

    internal int CheckId(int id) =>
        (uint)id < (uint)Texts.Length ? id : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary [0, {Texts.Length})");

    /// <summary>The bytes of a token that is not control/unknown (token_to_piece, special=false).</summary>
    private protected abstract byte[] ComputePiece(int id);

    /// <summary>Encodes the text fragments and appends the special tokens between them.</summary>
    private protected abstract void EncodeFragments(string text, List<Fragment> fragments, List<int> output);

    private protected virtual void AppendPrefixTokens(List<int> output)
    {
        if (!AddBos) return;
        if (BosId == NoToken) throw new TokenizerException("the vocabulary asks for a BOS token but defines none");
        output.Add(BosId);
    }

    private protected virtual void AppendSuffixTokens(List<int> output)
    {
        if (!AddEos) return;
        if (EosId == NoToken) throw new TokenizerException("the vocabulary asks for an EOS token but defines none");
        output.Add(EosId);
    }

    /// <summary>A run of the input: either text still to encode or one special token cut out of it.</summary>
    private protected readonly record struct Fragment(int TokenId, int Start, int Length)
    {
        public bool IsText => TokenId == NoToken;
    }

    /// <summary>
    /// llama.cpp's tokenizer_st_partition: each special token in turn (longest first) is cut out of every text
    /// fragment at each occurrence, left to right. Without <paramref name="parseSpecial"/>, control and unknown
    /// tokens stay text, but user-defined tokens are still cut out.
    /// </summary>
    private List<Fragment> Partition(string text, bool parseSpecial)
    {
        var fragments = new List<Fragment>();
        if (text.Length == 0) return fragments;
        fragments.Add(new Fragment(NoToken, 0, text.Length));
        var next = new List<Fragment>();
        foreach (int special in _specialTokens)
        {
            TokenAttributes attributes = Attributes[special];
            if (!parseSpecial && (attributes & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0) continue;
            string needle = Texts[special];
            bool anyText = false;
            foreach (Fragment f in fragments)
                if (f.IsText && text.AsSpan(f.Start, f.Length).Contains(needle, StringComparison.Ordinal)) { anyText = true; break; }
            if (!anyText) continue;

            next.Clear();
            foreach (Fragment fragment in fragments)
            {
                if (!fragment.IsText) { next.Add(fragment); continue; }
                int offset = fragment.Start, end = fragment.Start + fragment.Length;
                while (offset < end)
                {
                    int match = text.AsSpan(offset, end - offset).IndexOf(needle, StringComparison.Ordinal);
                    if (match < 0) break;
                    match += offset;
                    int leftEnd = match;
                    if ((attributes & TokenAttributes.LeftStrip) != 0)
                        while (leftEnd > offset && IsAsciiSpace(text[leftEnd - 1])) leftEnd--;
                    if (leftEnd > offset) next.Add(new Fragment(NoToken, offset, leftEnd - offset));
                    next.Add(new Fragment(special, match, needle.Length));
                    offset = match + needle.Length;
                    if ((attributes & TokenAttributes.RightStrip) != 0)
                        while (offset < end && IsAsciiSpace(text[offset])) offset++;
                }
                if (offset < end) next.Add(new Fragment(NoToken, offset, end - offset));
            }
            (fragments, next) = (next, fragments);
        }
        return fragments;
    }

    // C isspace() in the "C" locale, which llama.cpp uses when stripping around special tokens.
    private static bool IsAsciiSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    private int ValidId(long? fromFile, int fallback) =>
        fromFile is { } id && id >= 0 && id < Texts.Length ? (int)id : fallback;

    private int FindByText(string[] candidates, bool forceControl)
    {
        int best = NoToken;
        foreach (string text in candidates)
            if (IdByText.TryGetValue(text, out int id) && (best == NoToken || id < best)) best = id;
        if (best != NoToken && forceControl) Attributes[best] |= TokenAttributes.Control;
        return best;
    }

    /// <summary>llama.cpp's per-family attribute fixes, keyed by pre-tokenizer or model name.</summary>
    private void ApplyFamilyWhitespaceRules(TokenizerData data)
    {
        string pre = data.Pre ?? "";
        string name = (data.ModelName ?? "").ToLowerInvariant();
        if (pre.Contains("jina-v2-de") || pre.Contains("jina-v2-es") || pre.Contains("jina-v2-code"))
        {
            SetAttribute("<mask>", TokenAttributes.LeftStrip, true);
        }
        else if (name.Contains("phi-3") || name.Contains("phi3"))
        {
            foreach (int id in _specialTokens) Attributes[id] |= TokenAttributes.RightStrip;
            SetAttribute("</s>", TokenAttributes.RightStrip, true);
            foreach (string text in (ReadOnlySpan<string>)["<unk>", "<s>", "<|endoftext|>"])
                SetAttribute(text, TokenAttributes.RightStrip, false);
        }
    }

    private void SetAttribute(string text, TokenAttributes attribute, bool value)
    {
        if (!IdByText.TryGetValue(text, out int id)) return;
        Attributes[id] = value ? Attributes[id] | attribute : Attributes[id] & ~attribute;
    }
}
