using Frugal.Models.Tokenization;

namespace Frugal.Models.Tests.Tokenization;

/// <summary>Small hand-made vocabularies whose expected encodings can be worked out by hand.</summary>
internal static class TinyVocabularies
{
    // GGUF token types.
    public const int Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Byte = 6;

    /// <summary>
    /// SentencePiece-style: 0 &lt;unk&gt;, 1 &lt;s&gt;, 2 &lt;/s&gt;, 3..258 byte tokens &lt;0x00&gt;..&lt;0xFF&gt;, then the pieces
    /// given with their scores.
    /// </summary>
    public static TokenizerData SentencePiece(params (string Text, float Score)[] pieces) => SentencePiece(pieces, []);

    public static TokenizerData SentencePiece((string Text, float Score)[] pieces, (string Text, int Type)[] extra, bool? addSpacePrefix = null)
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<int> { Unknown, Control, Control };
        var scores = new List<float> { 0, 0, 0 };
        for (int b = 0; b < 256; b++) { tokens.Add($"<0x{b:X2}>"); types.Add(Byte); scores.Add(0); }
        foreach ((string text, float score) in pieces) { tokens.Add(text); types.Add(Normal); scores.Add(score); }
        foreach ((string text, int type) in extra) { tokens.Add(text); types.Add(type); scores.Add(0); }
        return new TokenizerData { Model = "llama", Tokens = tokens, Scores = scores, TokenTypes = types, AddSpacePrefix = addSpacePrefix };
    }

    /// <summary>Id of a token text in a vocabulary.</summary>
    public static int Id(this TokenizerData data, string text)
    {
        for (int i = 0; i < data.Tokens.Count; i++)
            if (data.Tokens[i] == text) return i;
        throw new ArgumentException($"no token \"{text}\"");
    }

    /// <summary>
    /// Byte-level BPE: 0..255 the 256 byte-alphabet characters (in byte order), then the merge results, then
    /// <paramref name="extra"/> tokens of the given types. Merges are "left right" in rank order.
    /// </summary>
    public static TokenizerData BytePair(string[] merges, (string Text, int Type)[] extra, string pre = "gpt-2")
    {
        var tokens = new List<string>();
        var types = new List<int>();
        for (int b = 0; b < 256; b++) { tokens.Add(ByteChar(b).ToString()); types.Add(Normal); }
        foreach (string merge in merges)
        {
            string merged = merge.Replace(" ", "");
            if (!tokens.Contains(merged)) { tokens.Add(merged); types.Add(Normal); }
        }
        foreach ((string text, int type) in extra) { tokens.Add(text); types.Add(type); }
        return new TokenizerData { Model = "gpt2", Pre = pre, Tokens = tokens, TokenTypes = types, Merges = merges };
    }

    /// <summary>GPT-2's printable stand-in for a byte (' ' is 'Ġ').</summary>
    public static char ByteChar(int b)
    {
        bool self = b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
        if (self) return (char)b;
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!(x is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF)) n++;
        return (char)(256 + n);
    }
}
