using System.Text;

namespace Frugal.Models.Tokenization;

/// <summary>
/// Turns generated tokens into text as they arrive without ever emitting half a character: bytes of a UTF-8
/// sequence split across tokens (e.g. an emoji spelled as four &lt;0x..&gt; byte tokens) are held until the
/// sequence is complete. Concatenating every <see cref="Push"/> and the final <see cref="Flush"/> gives exactly
/// <see cref="Tokenizer.Decode"/> of all the tokens. Not thread-safe (one per sequence).
/// </summary>
public sealed class StreamingDetokenizer
{
    private readonly Tokenizer _tokenizer;
    // UTF-8 decoder that keeps an incomplete trailing sequence between calls; invalid bytes become U+FFFD.
    private readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private char[] _chars = new char[64];

    public StreamingDetokenizer(Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
    }

    /// <summary>Adds a token; returns the text completed by it (possibly empty).</summary>
    public string Push(int id) => DecodeBytes(_tokenizer.Piece(_tokenizer.CheckId(id)), flush: false);

    /// <summary>Returns whatever is still held; an incomplete sequence comes out as U+FFFD. The state is then empty.</summary>
    public string Flush() => DecodeBytes([], flush: true);

    /// <summary>Drops any held bytes.</summary>
    public void Reset() => _decoder.Reset();

    private string DecodeBytes(ReadOnlySpan<byte> bytes, bool flush)
    {
        int needed = _decoder.GetCharCount(bytes, flush: false) + 4; // + room for a held sequence flushed as U+FFFDs
        if (_chars.Length < needed) _chars = new char[Math.Max(needed, _chars.Length * 2)];
        int count = _decoder.GetChars(bytes, _chars, flush);
        return count == 0 ? "" : new string(_chars, 0, count);
    }
}
