using System.Globalization;
using System.Text;

namespace Frugal.Templates;

/// <summary>Python's <c>json.dumps(value, sort_keys=True, indent=...)</c> as Jinja2's tojson calls it (ASCII-only
/// output, ", "/": " separators or "," with indent), plus tojson's HTML-safe escaping of &lt; &gt; &amp; '.</summary>
internal static class Json
{
    public static string Dumps(object? value, int? indent, bool htmlSafe)
    {
        var sb = new StringBuilder();
        Write(sb, value, indent, 0);
        if (!htmlSafe) return sb.ToString();
        return sb.Replace("<", "\\u003c").Replace(">", "\\u003e").Replace("&", "\\u0026").Replace("'", "\\u0027").ToString();
    }

    private static void Write(StringBuilder sb, object? value, int? indent, int depth)
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
            case string s: WriteString(sb, s); break;
            case List<object?> or object?[]:
                {
                    var items = (IReadOnlyList<object?>)value;
                    if (items.Count == 0) { sb.Append("[]"); break; }
                    sb.Append('[');
                    for (int i = 0; i < items.Count; i++)
                    {
                        if (i > 0) sb.Append(indent is null ? ", " : ",");
                        NewLine(sb, indent, depth + 1);
                        Write(sb, items[i], indent, depth + 1);
                    }
                    NewLine(sb, indent, depth);
                    sb.Append(']');
                    break;
                }
            case JinjaDict dict:
                {
                    if (dict.Count == 0) { sb.Append("{}"); break; }
                    var entries = dict.Select(e => (Key: KeyString(e.Key), e.Value)).ToList();
                    // sort_keys=True: Python sorts the original keys, which must all be strings (or all numbers).
                    if (dict.Keys.All(k => k is string)) entries.Sort((a, b) => PyOps.CompareCodePoints(a.Key, b.Key));
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
                        if (i > 0) sb.Append(indent is null ? ", " : ",");
                        NewLine(sb, indent, depth + 1);
                        WriteString(sb, entries[i].Key);
                        sb.Append(": ");
                        Write(sb, entries[i].Value, indent, depth + 1);
                    }
                    NewLine(sb, indent, depth);
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

    /// <summary>A JSON string with ensure_ascii: everything outside printable ASCII becomes \uXXXX.</summary>
    private static void WriteString(StringBuilder sb, string s)
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
                    if (c < 0x20 || c > 0x7E) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
