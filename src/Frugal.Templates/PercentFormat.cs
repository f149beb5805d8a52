using System.Text;

namespace Frugal.Templates;

/// <summary>Python's printf-style <c>"%s: %d" % (a, b)</c> and the <c>format</c> filter.</summary>
internal static class PercentFormat
{
    public static string Format(string format, object? args)
    {
        if (args is Undefined u) throw u.Fail();
        IReadOnlyList<object?> positional = args as object?[] ?? [args];
        var named = args as JinjaDict;
        int next = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c != '%') { sb.Append(c); continue; }
            if (++i >= format.Length) throw new JinjaRuntimeException("incomplete format");
            if (format[i] == '%') { sb.Append('%'); continue; }

            object? value;
            bool byName = false;
            if (format[i] == '(')
            {
                int close = format.IndexOf(')', i);
                if (close < 0) throw new JinjaRuntimeException("incomplete format key");
                string key = format[(i + 1)..close];
                if (named is null) throw new JinjaRuntimeException("format requires a mapping");
                value = named.TryGetValue(key, out object? v) ? v : throw new JinjaRuntimeException($"KeyError: '{key}'");
                i = close + 1;
                byName = true;
            }
            else value = null;

            // Flags, width and precision translate into a format spec for FormatSpec.
            char align = '>', fill = ' ', sign = '-';
            while (i < format.Length && format[i] is '-' or '0' or '+' or ' ' or '#')
            {
                switch (format[i])
                {
                    case '-': align = '<'; break;
                    case '0': if (align != '<') { fill = '0'; align = '='; } break;
                    case '+': sign = '+'; break;
                    case ' ': if (sign != '+') sign = ' '; break;
                }
                i++;
            }
            int start = i;
            while (i < format.Length && char.IsAsciiDigit(format[i])) i++;
            string width = format[start..i];
            string precision = "";
            if (i < format.Length && format[i] == '.')
            {
                start = ++i;
                while (i < format.Length && char.IsAsciiDigit(format[i])) i++;
                precision = "." + (i > start ? format[start..i] : "0");
            }
            if (i >= format.Length) throw new JinjaRuntimeException("incomplete format");
            char type = format[i];

            if (!byName)
            {
                if (next >= positional.Count) throw new JinjaRuntimeException("not enough arguments for format string");
                value = positional[next++];
            }
            string spec = $"{fill}{align}{(sign == '-' ? "" : sign.ToString())}{width}";
            switch (type)
            {
                case 's' or 'r' or 'a':
                    sb.Append(FormatSpec.Apply(type == 's' ? PyOps.Str(value) : PyOps.Repr(value), $"{fill}{(align == '=' ? '>' : align)}{width}{precision}"));
                    break;
                case 'd' or 'i' or 'u':
                    sb.Append(FormatSpec.Apply(PyOps.IsNumber(value) ? (long)Math.Truncate(PyOps.ToDouble(value)) : throw new JinjaRuntimeException($"%{type} format: a real number is required, not {PyOps.TypeName(value)}"), spec + "d"));
                    break;
                case 'x' or 'X' or 'o':
                    sb.Append(FormatSpec.Apply(PyOps.ToLong(value), spec + type));
                    break;
                case 'f' or 'F' or 'e' or 'E' or 'g' or 'G':
                    sb.Append(FormatSpec.Apply(PyOps.ToDouble(value), spec + (precision.Length > 0 ? precision : ".6") + type));
                    break;
                default:
                    throw new JinjaRuntimeException($"unsupported format character '{type}'");
            }
        }
        if (named is null && next < positional.Count && args is object?[])
            throw new JinjaRuntimeException("not all arguments converted during string formatting");
        return sb.ToString();
    }
}
