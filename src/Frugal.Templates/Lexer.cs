using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Frugal.Templates;

internal enum TokenKind { Text, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, End }

/// <summary>One lexical token; <see cref="Value"/> holds the text (already unescaped for strings).</summary>
internal readonly record struct Token(TokenKind Kind, string Value, int Line, int Column)
{
    public bool IsOperator(string op) => Kind == TokenKind.Operator && Value == op;
    public bool IsName(string name) => Kind == TokenKind.Name && Value == name;

    public string Describe() => Kind switch
    {
        TokenKind.End => "end of template",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.Text => "template data",
        TokenKind.String => $"string '{Value}'",
        _ => $"'{Value}'",
    };
}

/// <summary>
/// Splits a template into text and tag tokens the way Jinja2's lexer does: <c>{{ }}</c>, <c>{% %}</c>, <c>{# #}</c>,
/// <c>-</c>/<c>+</c> whitespace control, trim_blocks, lstrip_blocks, raw blocks, and bracket balancing so that a
/// <c>}}</c> inside a dict literal does not end the tag.
/// </summary>
internal sealed class Lexer
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", "<", ">", "=", ".", ":", "|", ",", ";"];

    private static readonly Regex RawBegin = new(@"\G\{%[-+]?\s*raw\s*([-+]?)%\}", RegexOptions.CultureInvariant);
    private static readonly Regex RawEnd = new(@"\{%([-+]?)\s*endraw\s*([-+]?)%\}", RegexOptions.CultureInvariant);

    private readonly string _src;
    private readonly JinjaOptions _options;
    private readonly List<int> _lineStarts = [0];
    private readonly List<Token> _tokens = [];
    private int _pos;
    // True when the text about to be read starts a line (what lstrip_blocks needs when that text has no newline).
    private bool _lineStarting = true;

    private Lexer(string source, JinjaOptions options)
    {
        // Jinja2 normalizes newlines and, unless told otherwise, drops one trailing newline.
        string src = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (!options.KeepTrailingNewline && src.EndsWith('\n')) src = src[..^1];
        _src = src;
        _options = options;
        for (int i = 0; i < src.Length; i++)
            if (src[i] == '\n') _lineStarts.Add(i + 1);
    }

    public static List<Token> Tokenize(string source, JinjaOptions options)
    {
        var lexer = new Lexer(source, options);
        lexer.Run();
        return lexer._tokens;
    }

    private (int Line, int Column) LineColumn(int pos)
    {
        int index = _lineStarts.BinarySearch(pos);
        if (index < 0) index = ~index - 1;
        return (index + 1, pos - _lineStarts[index] + 1);
    }

    private TemplateException Error(string message, int pos)
    {
        var (line, column) = LineColumn(pos);
        return new TemplateException($"line {line}, column {column}: {message}", line, column);
    }

    private void Emit(TokenKind kind, string value, int pos)
    {
        var (line, column) = LineColumn(pos);
        _tokens.Add(new Token(kind, value, line, column));
    }

    private void Run()
    {
        while (_pos < _src.Length)
        {
            int tag = FindTagStart(_pos);
            int textEnd = tag < 0 ? _src.Length : tag;
            string text = _src[_pos..textEnd];
            if (tag < 0)
            {
                EmitText(text, _pos);
                _pos = _src.Length;
                break;
            }

            char kind = _src[tag + 1];
            char sign = tag + 2 < _src.Length ? _src[tag + 2] : '\0';
            text = ApplyLeadingControl(text, sign, isVariable: kind == '{');
            EmitText(text, _pos);

            if (kind == '#') LexComment(tag);
            else if (kind == '%' && RawBegin.Match(_src, tag) is { Success: true } raw) LexRaw(tag, raw);
            else LexTag(tag, kind == '{');
        }
        Emit(TokenKind.End, "", _src.Length);
    }

    private int FindTagStart(int from)
    {
        for (int i = _src.IndexOf('{', from); i >= 0 && i + 1 < _src.Length; i = _src.IndexOf('{', i + 1))
        {
            char next = _src[i + 1];
            if (next is '{' or '%' or '#') return i;
        }
        return -1;
    }

    private void EmitText(string text, int pos)
    {
        if (text.Length > 0) Emit(TokenKind.Text, text, pos);
    }

    /// <summary>Whitespace control before a tag: <c>-</c> strips all whitespace; lstrip_blocks strips an
    /// indentation-only line prefix before a block or comment tag unless the tag says <c>+</c>.</summary>
    private string ApplyLeadingControl(string text, char sign, bool isVariable)
    {
        if (sign == '-') return text.TrimEnd();
        if (sign == '+' || isVariable || !_options.LstripBlocks) return text;
        int lineStart = text.LastIndexOf('\n') + 1;
        if (lineStart == 0 && !_lineStarting) return text;
        if (lineStart == text.Length) return text;
        for (int i = lineStart; i < text.Length; i++)
            if (!char.IsWhiteSpace(text[i])) return text;
        return text[..lineStart];
    }

    /// <summary>Whitespace control after a tag's closing delimiter at <paramref name="after"/>.</summary>
    private void ApplyTrailingControl(int after, char sign, bool isBlockOrComment)
    {
        _pos = after;
        if (sign == '-')
            while (_pos < _src.Length && char.IsWhiteSpace(_src[_pos])) _pos++;
        else if (sign != '+' && isBlockOrComment && _options.TrimBlocks && _pos < _src.Length && _src[_pos] == '\n')
            _pos++;
        _lineStarting = _pos > 0 && _src[_pos - 1] == '\n';
    }

    private void LexComment(int tag)
    {
        int close = _src.IndexOf("#}", tag + 2, StringComparison.Ordinal);
        if (close < 0) throw Error("missing end of comment tag", tag);
        char sign = _src[close - 1] is '-' or '+' && close - 1 >= tag + 3 ? _src[close - 1] : '\0';
        ApplyTrailingControl(close + 2, sign, isBlockOrComment: true);
    }

    private void LexRaw(int tag, Match begin)
    {
        ApplyTrailingControl(tag + begin.Length, begin.Groups[1].Value is { Length: 1 } s ? s[0] : '\0', isBlockOrComment: true);
        var end = RawEnd.Match(_src, _pos);
        if (!end.Success) throw Error("missing endraw for raw block", tag);
        string body = _src[_pos..end.Index];
        char leading = end.Groups[1].Value is { Length: 1 } l ? l[0] : '\0';
        body = ApplyLeadingControl(body, leading, isVariable: false);
        EmitText(body, _pos);
        ApplyTrailingControl(end.Index + end.Length, end.Groups[2].Value is { Length: 1 } t ? t[0] : '\0', isBlockOrComment: true);
    }

    private void LexTag(int tag, bool isVariable)
    {
        Emit(isVariable ? TokenKind.VariableBegin : TokenKind.BlockBegin, isVariable ? "{{" : "{%", tag);
        int i = tag + 2;
        if (i < _src.Length && _src[i] is '-' or '+') i++;
        int depth = 0;
        string close = isVariable ? "}}" : "%}";
        while (true)
        {
            while (i < _src.Length && char.IsWhiteSpace(_src[i])) i++;
            if (i >= _src.Length)
                throw Error($"unexpected end of template, expected '{close}' to close the tag opened here", tag);
            if (depth == 0)
            {
                char sign = _src[i] is '-' or '+' ? _src[i] : '\0';
                int closeAt = sign != '\0' ? i + 1 : i;
                if (string.CompareOrdinal(_src, closeAt, close, 0, 2) == 0 && !(isVariable && sign == '+'))
                {
                    Emit(isVariable ? TokenKind.VariableEnd : TokenKind.BlockEnd, close, i);
                    ApplyTrailingControl(closeAt + 2, sign, isBlockOrComment: !isVariable);
                    return;
                }
            }
            char c = _src[i];
            if (char.IsLetter(c) || c == '_')
            {
                int start = i;
                while (i < _src.Length && (char.IsLetterOrDigit(_src[i]) || _src[i] == '_')) i++;
                Emit(TokenKind.Name, _src[start..i], start);
            }
            else if (char.IsAsciiDigit(c))
            {
                i = LexNumber(i);
            }
            else if (c is '\'' or '"')
            {
                i = LexString(i);
            }
            else
            {
                string? op = null;
                foreach (string candidate in Operators)
                    if (string.CompareOrdinal(_src, i, candidate, 0, candidate.Length) == 0) { op = candidate; break; }
                if (op is null) throw Error($"unexpected character '{c}'", i);
                if (op is "(" or "[" or "{") depth++;
                else if (op is ")" or "]" or "}")
                {
                    if (depth == 0) throw Error($"unexpected '{op}'", i);
                    depth--;
                }
                Emit(TokenKind.Operator, op, i);
                i += op.Length;
            }
        }
    }

    private int LexNumber(int start)
    {
        int i = start;
        bool afterDot = start > 0 && _src[start - 1] == '.';
        i = SkipDigits(i);
        bool isFloat = false;
        if (!afterDot && i + 1 < _src.Length && _src[i] == '.' && char.IsAsciiDigit(_src[i + 1]))
        {
            isFloat = true;
            i = SkipDigits(i + 1);
        }
        if (!afterDot && i < _src.Length && _src[i] is 'e' or 'E')
        {
            int j = i + 1;
            if (j < _src.Length && _src[j] is '+' or '-') j++;
            if (j < _src.Length && char.IsAsciiDigit(_src[j]))
            {
                isFloat = true;
                i = SkipDigits(j);
            }
        }
        string text = _src[start..i].Replace("_", "");
        Emit(isFloat ? TokenKind.Float : TokenKind.Integer, text, start);
        return i;
    }

    private int SkipDigits(int i)
    {
        while (i < _src.Length && (char.IsAsciiDigit(_src[i]) || (_src[i] == '_' && i + 1 < _src.Length && char.IsAsciiDigit(_src[i + 1])))) i++;
        return i;
    }

    /// <summary>A quoted string with Python's escapes (unknown escapes keep their backslash, as Python does).</summary>
    private int LexString(int start)
    {
        char quote = _src[start];
        var sb = new StringBuilder();
        int i = start + 1;
        while (true)
        {
            if (i >= _src.Length) throw Error("unterminated string literal", start);
            char c = _src[i];
            if (c == quote) { i++; break; }
            if (c != '\\' || i + 1 >= _src.Length) { sb.Append(c); i++; continue; }
            char e = _src[i + 1];
            i += 2;
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\n': break; // line continuation
                case 'x': i = AppendHexEscape(sb, i, 2, start); break;
                case 'u': i = AppendHexEscape(sb, i, 4, start); break;
                case 'U': i = AppendHexEscape(sb, i, 8, start); break;
                case >= '0' and <= '7':
                    {
                        int value = e - '0', digits = 1;
                        while (digits < 3 && i < _src.Length && _src[i] is >= '0' and <= '7') { value = value * 8 + (_src[i] - '0'); i++; digits++; }
                        sb.Append((char)value);
                        break;
                    }
                default: sb.Append('\\').Append(e); break;
            }
        }
        Emit(TokenKind.String, sb.ToString(), start);
        return i;
    }

    private int AppendHexEscape(StringBuilder sb, int i, int digits, int stringStart)
    {
        if (i + digits > _src.Length || !uint.TryParse(_src.AsSpan(i, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint code)
            || code > 0x10FFFF)
            throw Error($"invalid \\{(digits == 2 ? "x" : digits == 4 ? "u" : "U")} escape in string literal", stringStart);
        sb.Append(char.ConvertFromUtf32(code is >= 0xD800 and <= 0xDFFF ? 0xFFFD : (int)code));
        return i + digits;
    }
}
