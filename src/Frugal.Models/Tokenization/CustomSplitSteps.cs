namespace Frugal.Models.Tokenization;

/// <summary>
/// Shared scanning state of the hand-written splitters: one piece of the text at a time, code points outside
/// the piece read as "nothing" (flags None, code point -1), and words emitted as they end.
/// </summary>
internal ref struct PieceScanner
{
    private readonly ReadOnlySpan<int> _codepoints;
    private readonly int _pieceStart, _pieceEnd;
    private readonly List<int> _output;
    private int _previousEnd;

    public PieceScanner(ReadOnlySpan<int> codepoints, int pieceStart, int pieceEnd, List<int> output)
    {
        _codepoints = codepoints;
        _pieceStart = pieceStart;
        _pieceEnd = pieceEnd;
        _output = output;
        _previousEnd = pieceStart;
    }

    public const int OutOfRange = -1;

    public readonly int End => _pieceEnd;

    public readonly int Codepoint(int pos) => pos >= _pieceStart && pos < _pieceEnd ? _codepoints[pos] : OutOfRange;

    public readonly CodepointFlags Flags(int pos) => pos >= _pieceStart && pos < _pieceEnd ? UnicodeData.Flags(_codepoints[pos]) : CodepointFlags.None;

    /// <summary>Ends the current word at <paramref name="end"/>; returns its length (0 emits nothing).</summary>
    public int EmitUntil(int end)
    {
        int length = end - _previousEnd;
        if (length > 0) _output.Add(length);
        _previousEnd = end;
        return length;
    }
}

/// <summary>
/// Hand-written form of GPT-2's regex  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
/// with llama.cpp's reading of it: text that no alternative matches (lone whitespace) becomes its own word.
/// </summary>
internal sealed class Gpt2SplitStep : ISplitStep
{
    private static bool IsOther(CodepointFlags f) =>
        (f & (CodepointFlags.Whitespace | CodepointFlags.Letter | CodepointFlags.Number)) == 0 && f != CodepointFlags.None;

    public void Split(ReadOnlySpan<int> codepoints, List<int> pieceLengths, List<int> output)
    {
        int start = 0;
        foreach (int length in pieceLengths)
        {
            var scan = new PieceScanner(codepoints, start, start + length, output);
            int end = start + length;
            for (int pos = start; pos < end;)
            {
                int cp = scan.Codepoint(pos);
                CodepointFlags flags = scan.Flags(pos);

                // 's|'t|'re|'ve|'m|'ll|'d
                if (cp == '\'' && pos + 1 < end)
                {
                    int next = scan.Codepoint(pos + 1);
                    if (next is 's' or 't' or 'm' or 'd') { pos += scan.EmitUntil(pos + 2); continue; }
                    if (pos + 2 < end)
                    {
                        int nextNext = scan.Codepoint(pos + 2);
                        if ((next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e') || (next == 'l' && nextNext == 'l'))
                        {
                            pos += scan.EmitUntil(pos + 3);
                            continue;
                        }
                    }
                }

                // The class of the character after an optional leading space.
                CodepointFlags flags2 = cp == ' ' ? scan.Flags(pos + 1) : flags;
                // ' ?\p{L}+' then ' ?\p{N}+' then ' ?[^\s\p{L}\p{N}]+'
                if ((flags2 & CodepointFlags.Letter) != 0)
                {
                    if (cp == ' ') pos++;
                    while ((flags2 & CodepointFlags.Letter) != 0) flags2 = scan.Flags(++pos);
                    scan.EmitUntil(pos);
                    continue;
                }
                if ((flags2 & CodepointFlags.Number) != 0)
                {
                    if (cp == ' ') pos++;
                    while ((flags2 & CodepointFlags.Number) != 0) flags2 = scan.Flags(++pos);
                    scan.EmitUntil(pos);
                    continue;
                }
                if (IsOther(flags2))
                {
                    if (cp == ' ') pos++;
                    while (IsOther(flags2)) flags2 = scan.Flags(++pos);
                    scan.EmitUntil(pos);
                    continue;
                }

                int whitespaceCount = 0;
                while ((scan.Flags(pos + whitespaceCount) & CodepointFlags.Whitespace) != 0) whitespaceCount++;

                // \s+(?!\S): a whitespace run followed by more text leaves its last character to the next word.
                if (whitespaceCount > 1 && scan.Codepoint(pos + whitespaceCount) != PieceScanner.OutOfRange)
                {
                    pos += whitespaceCount - 1;
                    scan.EmitUntil(pos);
                    continue;
                }
                if (whitespaceCount > 0)
                {
                    pos += whitespaceCount;
                    scan.EmitUntil(pos);
                    continue;
                }

                scan.EmitUntil(++pos); // no alternative matched
            }
            start = end;
        }
    }
}

/// <summary>
/// Hand-written form of LLaMA-3's regex
/// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
/// as llama.cpp scans it.
/// </summary>
internal sealed class Llama3SplitStep : ISplitStep
{
    private static bool IsOther(CodepointFlags f) =>
        (f & (CodepointFlags.Whitespace | CodepointFlags.Letter | CodepointFlags.Number)) == 0;

    public void Split(ReadOnlySpan<int> codepoints, List<int> pieceLengths, List<int> output)
    {
        int start = 0;
        foreach (int length in pieceLengths)
        {
            var scan = new PieceScanner(codepoints, start, start + length, output);
            int end = start + length;
            for (int pos = start; pos < end;)
            {
                int cp = scan.Codepoint(pos);
                CodepointFlags flags = scan.Flags(pos);

                // (?i:'s|'t|'re|'ve|'m|'ll|'d)
                if (cp == '\'' && pos + 1 < end)
                {
                    int next = LowerOrSelf(scan.Codepoint(pos + 1));
                    if (next is 's' or 't' or 'm' or 'd') { pos += scan.EmitUntil(pos + 2); continue; }
                    if (pos + 2 < end)
                    {
                        int nextNext = LowerOrSelf(scan.Codepoint(pos + 2));
                        if ((next == 'r' && nextNext == 'e') || (next == 'v' && nextNext == 'e') || (next == 'l' && nextNext == 'l'))
                        {
                            pos += scan.EmitUntil(pos + 3);
                            continue;
                        }
                    }
                }

                // [^\r\n\p{L}\p{N}]?\p{L}+
                if (!(cp == '\r' || cp == '\n' || (flags & CodepointFlags.Number) != 0))
                {
                    if ((flags & CodepointFlags.Letter) != 0 || (scan.Flags(pos + 1) & CodepointFlags.Letter) != 0)
                    {
                        pos++;
                        while ((scan.Flags(pos) & CodepointFlags.Letter) != 0) pos++;
                        scan.EmitUntil(pos);
                        continue;
                    }
                }

                // \p{N}{1,3}
                if ((flags & CodepointFlags.Number) != 0)
                {
                    int groupStart = pos;
                    while ((scan.Flags(pos) & CodepointFlags.Number) != 0)
                    {
                        if (++pos - groupStart >= 3)
                        {
                            scan.EmitUntil(pos);
                            groupStart = pos;
                        }
                    }
                    scan.EmitUntil(pos);
                    continue;
                }

                // ' ?[^\s\p{L}\p{N}]+[\r\n]*' (llama.cpp tests the current character's flags for being set at all)
                CodepointFlags flags2 = cp == ' ' ? scan.Flags(pos + 1) : flags;
                if (IsOther(flags2) && flags != CodepointFlags.None)
                {
                    if (cp == ' ') pos++;
                    while (IsOther(flags2) && flags2 != CodepointFlags.None) flags2 = scan.Flags(++pos);
                    int after = scan.Codepoint(pos);
                    while (after == '\r' || after == '\n') after = scan.Codepoint(++pos);
                    scan.EmitUntil(pos);
                    continue;
                }

                int whitespaceCount = 0;
                int lastLineBreakEnd = 0;
                while ((scan.Flags(pos + whitespaceCount) & CodepointFlags.Whitespace) != 0)
                {
                    int ws = scan.Codepoint(pos + whitespaceCount);
                    if (ws == '\r' || ws == '\n') lastLineBreakEnd = pos + whitespaceCount + 1;
                    whitespaceCount++;
                }

                // \s*[\r\n]+
                if (lastLineBreakEnd > 0)
                {
                    pos = lastLineBreakEnd;
                    scan.EmitUntil(pos);
                    continue;
                }
                // \s+(?!\S)
                if (whitespaceCount > 1 && scan.Codepoint(pos + whitespaceCount) != PieceScanner.OutOfRange)
                {
                    pos += whitespaceCount - 1;
                    scan.EmitUntil(pos);
                    continue;
                }
                // \s+
                if (whitespaceCount > 0)
                {
                    pos += whitespaceCount;
                    scan.EmitUntil(pos);
                    continue;
                }

                scan.EmitUntil(++pos); // no alternative matched
            }
            start = end;
        }
    }

    private static int LowerOrSelf(int cp) => cp == PieceScanner.OutOfRange ? cp : UnicodeData.ToLower(cp);
}
