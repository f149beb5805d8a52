using System.Globalization;
using System.Text;

namespace Frugal.Templates;

/// <summary>Python's <c>json.dumps</c>: as Jinja2's tojson calls it (sort_keys=True, ASCII-only output, ", "/": "
/// separators or "," with indent, then HTML-safe escaping of &lt; &gt; &amp; ') or with transformers' arguments.</summary>
internal static class Json
{
    // Per-call settings of json.dumps; item/key separators default as Python's do (", " becomes "," with indent).
    private sealed record Style(int? Indent, bool SortKeys, bool EnsureAscii, string ItemSeparator, string KeySeparator);

    public static string Dumps(object? value, int? indent, bool htmlSafe, bool sortKeys = true, bool ensureAscii = true, object? separators = null)
    {
        string itemSeparator = indent is null ? ", " : ",", keySeparator = ": ";
        if (separators is not null)
        {
            var pair = PyOps.Iterate(separators);
            if (pair.Count != 2 || pair[0] is not string item || pair[1] is not string key)
                throw new JinjaRuntimeException("separators must be an (item_separator, key_separator) pair of strings");
            (itemSeparator, keySeparator) = (item, key);
        }
        var style = new Style(indent, sortKeys, ensureAscii, itemSeparator, keySeparator);
        var sb = new StringBuilder();
        Write(sb, value, style, 0);
        if (!htmlSafe) return sb.ToString();
        return sb.Replace("<", "\\u003c").Replace(">", "\\u003e").Replace("&", "\\u0026").Replace("'", "\\u0027").ToString();
    }

    private static void Write(StringBuilder sb, object? value, Style style, int depth)
    {
        if (depth > 200) throw new JinjaRuntimeException("value is nested too deeply to serialize as JSON");
        switch (value)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : PyOps.FloatRepr(d));
                break;
            case string s: WriteString(sb, s, style.EnsureAscii); break;
            case List<object?> or object?[]:
                {
                    var items = (IReadOnlyList<object?>)value;
                    if (items.Count == 0) { sb.Append("[]"); break; }
                    sb.Append('[');
                    for (int i = 0; i < items.Count; i++)
                    {
                        if (i > 0) sb.Append(style.ItemSeparator);
                        NewLine(sb, style.Indent, depth + 1);
                        Write(sb, items[i], style, depth + 1);
                    }
                    NewLine(sb, style.Indent, depth);
                    sb.Append(']');
                    break;
                }
            case JinjaDict dict:
                {
                    if (dict.Count == 0) { sb.Append("{}"); break; }
                    var entries = dict.Select(e => (Key: KeyString(e.Key), e.Value)).ToList();
                    // sort_keys=True: Python sorts the original keys, which must all be strings (or all numbers).
                    if (!style.SortKeys) { }
                    else if (dict.Keys.All(k => k is string)) entries.Sort((a, b) => PyOps.CompareCodePoints(a.Key, b.Key));
                    else
                    {
                        var keys = dict.Keys.ToList();
                        var order = Enumerable.Range(0, keys.Count).ToList();
                        order.Sort((a, b) => PyOps.Compare(keys[a], keys[b]));
                        entries = order.Select(i => entries[i]).ToList();
                    }
                    sb.Append('{');
                    for (int i = 0; i < entries.Count; i++)
                    {
                        if (i > 0) sb.Append(style.ItemSeparator);
                        NewLine(sb, style.Indent, depth + 1);
                        WriteString(sb, entries[i].Key, style.EnsureAscii);
                        sb.Append(style.KeySeparator);
                        Write(sb, entries[i].Value, style, depth + 1);
                    }
                    NewLine(sb, style.Indent, depth);
                    sb.Append('}');
                    break;
                }
            case Undefined: throw new JinjaRuntimeException("Object of type Undefined is not JSON serializable");
            default: throw new JinjaRuntimeException($"Object of type {PyOps.TypeName(value)} is not JSON serializable");
        }
    }

    private static string KeyString(object? key) => key switch
    {
        string s => s,
        null => "null",
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => PyOps.FloatRepr(d),
        _ => throw new JinjaRuntimeException($"keys must be str, int, float, bool or None, not {PyOps.TypeName(key)}"),
    };

    private static void NewLine(StringBuilder sb, int? indent, int depth)
    {
        if (indent is null) return;
        sb.Append('\n').Append(' ', indent.Value * depth);
    }

    /// <summary>A JSON string; with ensure_ascii everything outside printable ASCII becomes \uXXXX, otherwise only
    /// control characters are escaped (as Python does).</summary>
    private static void WriteString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ensureAscii && c > 0x7E)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
