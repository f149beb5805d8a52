using System.Globalization;
using System.Text;

namespace Frugal.Models.Tokenization;

/// <summary>
/// Code point classes as llama.cpp's unicode tables define them: one general-category class per code point
/// (Cn = undefined) plus the White_Space property as a separate flag.
/// </summary>
[Flags]
internal enum CodepointFlags : ushort
{
    None = 0,
    Undefined = 1 << 0,   // Cn
    Number = 1 << 1,      // \p{N}: Nd Nl No
    Letter = 1 << 2,      // \p{L}: Lu Ll Lt Lm Lo
    Separator = 1 << 3,   // \p{Z}: Zs Zl Zp
    Mark = 1 << 4,        // \p{M}: Mn Mc Me
    Punctuation = 1 << 5, // \p{P}: Pc Pd Ps Pe Pi Pf Po
    Symbol = 1 << 6,      // \p{S}: Sm Sc Sk So
    Control = 1 << 7,     // \p{C}: Cc Cf Cs Co
    Categories = 0xFF,
    Whitespace = 1 << 8,  // Unicode White_Space property
}

internal static class UnicodeData
{
    public const int MaxCodepoint = 0x10FFFF;

    // Flags of the first 256 code points, looked up on every character of every text.
    private static readonly CodepointFlags[] Latin1Flags = BuildLatin1Flags();

    /// <summary>Flags of a code point; <see cref="CodepointFlags.None"/> for values outside Unicode.</summary>
    public static CodepointFlags Flags(int cp)
    {
        if ((uint)cp < 256) return Latin1Flags[cp];
        if ((uint)cp > MaxCodepoint) return CodepointFlags.None;
        return ComputeFlags(cp);
    }

    private static CodepointFlags[] BuildLatin1Flags()
    {
        var table = new CodepointFlags[256];
        for (int cp = 0; cp < 256; cp++) table[cp] = ComputeFlags(cp);
        return table;
    }

    private static CodepointFlags ComputeFlags(int cp)
    {
        CodepointFlags flags = CharUnicodeInfo.GetUnicodeCategory(cp) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CodepointFlags.Letter,
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => CodepointFlags.Mark,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CodepointFlags.Number,
            UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => CodepointFlags.Separator,
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse => CodepointFlags.Control,
            UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => CodepointFlags.Punctuation,
            UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                or UnicodeCategory.OtherSymbol => CodepointFlags.Symbol,
            _ => CodepointFlags.Undefined,
        };
        if (IsWhitespace(cp)) flags |= CodepointFlags.Whitespace;
        return flags;
    }

    /// <summary>The Unicode White_Space property (PropList.txt), which is what llama.cpp's "\s" means.</summary>
    public static bool IsWhitespace(int cp) => cp switch
    {
        >= 0x09 and <= 0x0D => true,
        0x20 or 0x85 or 0xA0 or 0x1680 => true,
        >= 0x2000 and <= 0x200A => true,
        0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    /// <summary>Simple (one code point) lowercase mapping from UnicodeData.txt.</summary>
    public static int ToLower(int cp)
    {
        if (cp < 0x80) return cp is >= 'A' and <= 'Z' ? cp + 32 : cp;
        // .NET's invariant casing leaves U+0130 alone to stay culture-neutral; UnicodeData maps it to 'i'.
        if (cp == 0x130) return 'i';
        if (!Rune.IsValid(cp)) return cp;
        return Rune.ToLowerInvariant(new Rune(cp)).Value;
    }

    /// <summary>
    /// Decodes UTF-16 text to code points; a lone surrogate becomes U+FFFD, as llama.cpp turns invalid UTF-8 into U+FFFD.
    /// </summary>
    public static int DecodeCodepoints(ReadOnlySpan<char> text, List<int> codepoints)
    {
        codepoints.Clear();
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                codepoints.Add(char.ConvertToUtf32(c, text[i + 1]));
                i += 2;
            }
            else
            {
                codepoints.Add(char.IsSurrogate(c) ? 0xFFFD : c);
                i++;
            }
        }
        return codepoints.Count;
    }

    /// <summary>Writes the UTF-8 bytes of one code point; returns how many (1 to 4).</summary>
    public static int EncodeUtf8(int cp, Span<byte> destination)
    {
        if (cp < 0x80) { destination[0] = (byte)cp; return 1; }
        if (cp < 0x800)
        {
            destination[0] = (byte)(0xC0 | (cp >> 6));
            destination[1] = (byte)(0x80 | (cp & 0x3F));
            return 2;
        }
        if (cp < 0x10000)
        {
            destination[0] = (byte)(0xE0 | (cp >> 12));
            destination[1] = (byte)(0x80 | ((cp >> 6) & 0x3F));
            destination[2] = (byte)(0x80 | (cp & 0x3F));
            return 3;
        }
        destination[0] = (byte)(0xF0 | (cp >> 18));
        destination[1] = (byte)(0x80 | ((cp >> 12) & 0x3F));
        destination[2] = (byte)(0x80 | ((cp >> 6) & 0x3F));
        destination[3] = (byte)(0x80 | (cp & 0x3F));
        return 4;
    }
}
