using System.Runtime.CompilerServices;
using System.Text;

namespace Frugal.Templates;

/// <summary>
/// Jinja2's Markup ("safe" string) semantics that survive even with autoescape off: tojson, safe and escape return
/// Markup, and <c>str + Markup</c> (either order) HTML-escapes the plain side. Markup strings stay ordinary .NET
/// strings; the particular string instances are remembered here, so every other operation treats them as text
/// (and, as a simplification, returns plain strings where Python would keep the Markup type).
/// </summary>
internal static class Markup
{
    private static readonly ConditionalWeakTable<string, object> Instances = new();
    private static readonly object Tag = new();

    /// <summary>Returns a Markup string with the text of <paramref name="text"/> (a fresh instance, so shared
    /// literals are never tagged).</summary>
    public static string Mark(string text)
    {
        if (text.Length == 0) return text;
        string copy = new(text.AsSpan());
        Instances.AddOrUpdate(copy, Tag);
        return copy;
    }

    public static bool IsMarkup(object? value) => value is string s && s.Length > 0 && Instances.TryGetValue(s, out _);

    /// <summary>Python markupsafe.escape: &amp; &lt; &gt; &#34; &#39;; Markup is returned unchanged.</summary>
    public static string Escape(object? value)
    {
        if (IsMarkup(value)) return (string)value!;
        string s = PyOps.Str(value);
        var sb = new StringBuilder(s.Length + 8);
        foreach (char c in s)
        {
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&#34;"); break;
                case '\'': sb.Append("&#39;"); break;
                default: sb.Append(c); break;
            }
        }
        return Mark(sb.ToString());
    }

    /// <summary>Concatenation where at least one side is Markup: the plain side is escaped first.</summary>
    public static string Concat(string left, string right)
    {
        bool leftMarkup = IsMarkup(left), rightMarkup = IsMarkup(right);
        return Mark(string.Concat(leftMarkup ? left : Escape(left), rightMarkup ? right : Escape(right)));
    }

    /// <summary>For filters that keep the Markup type in Jinja2 (trim, upper, lower, indent ...).</summary>
    public static string Preserve(object? input, string result) => IsMarkup(input) ? Mark(result) : result;
}
