namespace Frugal.Models.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-character map: byte-level BPE vocabularies spell every byte as one printable
/// character. Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes
/// take U+0100, U+0101, ... in byte order (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>Characters are below this value: 256 bytes map into U+0000..U+0143.</summary>
    public const int CharLimit = 0x144;

    // [256] byte -> its character.
    private static readonly char[] ByteToChar = BuildByteToChar();
    // [CharLimit] character -> its byte, or -1 for a character outside the alphabet.
    private static readonly short[] CharToByte = BuildCharToByte();

    public static char Encode(byte b) => ByteToChar[b];

    /// <summary>The byte a character stands for, or -1 when the character is not part of the alphabet.</summary>
    public static int Decode(int c) => (uint)c < CharLimit ? CharToByte[c] : -1;

    private static bool StandsForItself(int b) => b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) map[b] = StandsForItself(b) ? (char)b : (char)next++;
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[CharLimit];
        Array.Fill(map, (short)-1);
        char[] forward = BuildByteToChar();
        for (int b = 0; b < 256; b++) map[forward[b]] = (short)b;
        return map;
    }
}
