using System.Globalization;
using System.Text;

namespace Frugal.Templates;

/// <summary>Python methods callable on values: str, dict and list (lists and dicts mutate in place, as in Python).</summary>
internal static class Methods
{
    private static readonly HashSet<string> StringMethods = new(StringComparer.Ordinal)
    {
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower", "title",
        "capitalize", "swapcase", "replace", "format", "join", "find", "rfind", "index", "rindex", "count", "isdigit", "isalpha",
        "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal", "istitle", "removeprefix", "removesuffix",
        "center", "ljust", "rjust", "zfill", "partition", "rpartition", "casefold", "expandtabs",
    };

    private static readonly HashSet<string> DictMethods = new(StringComparer.Ordinal)
    {
        "items", "keys", "values", "get", "pop", "setdefault", "update", "copy", "clear", "popitem",
    };

    private static readonly HashSet<string> ListMethods = new(StringComparer.Ordinal)
    {
        "append", "pop", "index", "count", "insert", "extend", "remove", "reverse", "sort", "copy", "clear",
    };

    private static readonly HashSet<string> TupleMethods = new(StringComparer.Ordinal) { "index", "count" };

    public static bool Has(object obj, string name) => obj switch
    {
        string => StringMethods.Contains(name),
        JinjaDict => DictMethods.Contains(name),
        List<object?> => ListMethods.Contains(name),
        object?[] => TupleMethods.Contains(name),
        _ => false,
    };

    public static object? Call(Interpreter it, object target, string name, CallArguments a) => target switch
    {
        string s => CallString(it, s, name, a),
        JinjaDict d => CallDict(d, name, a),
        List<object?> l => CallList(it, l, name, a),
        object?[] t => CallSequence(t, name, a),
        _ => throw new JinjaRuntimeException($"'{PyOps.TypeName(target)}' object has no attribute '{name}'"),
    };

    // ---------------- str ----------------

    private static string Str(object? v, string method)
    {
        if (v is string s) return s;
        if (v is Undefined u) throw u.Fail();
        throw new JinjaRuntimeException($"{method}() argument must be str, not {PyOps.TypeName(v)}");
    }

    private static object? CallString(Interpreter it, string s, string name, CallArguments a)
    {
        int limit = it.Options.MaxOutputLength;
        switch (name)
        {
            case "strip": a.Check(name, "chars"); return Strip(s, a.Get(0, "chars"), true, true);
            case "lstrip": a.Check(name, "chars"); return Strip(s, a.Get(0, "chars"), true, false);
            case "rstrip": a.Check(name, "chars"); return Strip(s, a.Get(0, "chars"), false, true);
            case "upper": a.Check(name); return s.ToUpperInvariant();
            case "lower" or "casefold": a.Check(name); return s.ToLowerInvariant();
            case "title": a.Check(name); return PythonTitle(s);
            case "capitalize": a.Check(name); return Filters.Capitalize(s);
            case "swapcase": a.Check(name); return string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)));
            case "split" or "rsplit":
                {
                    a.Check(name, "sep", "maxsplit");
                    object? sep = a.Get(0, "sep");
                    int maxSplit = PyOps.ToIndex(a.Get(1, "maxsplit", -1L), "maxsplit");
                    var parts = sep is null ? SplitWhitespace(s, maxSplit, name == "rsplit") : Split(s, Str(sep, name), maxSplit, name == "rsplit");
                    return parts.Select(p => (object?)p).ToList();
                }
            case "splitlines":
                a.Check(name, "keepends");
                return SplitLines(s, PyOps.Truthy(a.Get(0, "keepends", false))).Select(p => (object?)p).ToList();
            case "startswith" or "endswith":
                {
                    a.Check(name, "prefix", "start", "end");
                    object? affix = a.Get(0, "prefix");
                    string subject = SliceBounds(s, a.Get(1, "start"), a.Get(2, "end"));
                    IEnumerable<object?> options = affix is object?[] tuple ? tuple : [affix];
                    return options.Any(o => name == "startswith"
                        ? subject.StartsWith(Str(o, name), StringComparison.Ordinal)
                        : subject.EndsWith(Str(o, name), StringComparison.Ordinal));
                }
            case "replace":
                {
                    a.Check(name, "old", "new", "count");
                    object? count = a.Get(2, "count");
                    return PyOps.Limit(Replace(s, Str(a.Get(0, "old"), name), Str(a.Get(1, "new"), name), count is null ? -1 : PyOps.ToIndex(count, "count")), limit);
                }
            case "format": return PyOps.Limit(BraceFormat.Format(s, a), limit);
            case "join":
                a.Check(name, "iterable");
                return PyOps.Limit(string.Join(s, PyOps.Iterate(a.Get(0, "iterable")).Select(item =>
                    item as string ?? throw new JinjaRuntimeException($"sequence item: expected str instance, {PyOps.TypeName(item)} found"))), limit);
            case "find" or "rfind" or "index" or "rindex":
                {
                    a.Check(name, "sub", "start", "end");
                    string sub = Str(a.Get(0, "sub"), name);
                    string[] chars = PyOps.CodePoints(s);
                    int start = Bound(a.Get(1, "start"), chars.Length, 0), end = Bound(a.Get(2, "end"), chars.Length, chars.Length);
                    int found = -1;
                    if (start <= end)
                    {
                        string window = string.Concat(chars[start..end]);
                        int at = name.StartsWith('r') ? window.LastIndexOf(sub, StringComparison.Ordinal) : window.IndexOf(sub, StringComparison.Ordinal);
                        if (at >= 0) found = start + PyOps.CodePointLength(window[..at]);
                    }
                    if (found < 0 && name.Contains("index")) throw new JinjaRuntimeException("substring not found");
                    return (long)found;
                }
            case "count":
                {
                    a.Check(name, "sub", "start", "end");
                    string sub = Str(a.Get(0, "sub"), name);
                    string window = SliceBounds(s, a.Get(1, "start"), a.Get(2, "end"));
                    if (sub.Length == 0) return (long)PyOps.CodePointLength(window) + 1;
                    long n = 0;
                    for (int i = window.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = window.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
                    return n;
                }
            case "isdigit" or "isnumeric" or "isdecimal": a.Check(name); return s.Length > 0 && s.EnumerateRunes().All(Rune.IsDigit);
            case "isalpha": a.Check(name); return s.Length > 0 && s.EnumerateRunes().All(Rune.IsLetter);
            case "isalnum": a.Check(name); return s.Length > 0 && s.EnumerateRunes().All(Rune.IsLetterOrDigit);
            case "isspace": a.Check(name); return s.Length > 0 && s.All(char.IsWhiteSpace);
            case "isupper": a.Check(name); return IsUpper(s);
            case "islower": a.Check(name); return IsLower(s);
            case "istitle": a.Check(name); return s.Any(char.IsLetter) && PythonTitle(s) == s;
            case "removeprefix":
                {
                    a.Check(name, "prefix");
                    string prefix = Str(a.Get(0, "prefix"), name);
                    return s.StartsWith(prefix, StringComparison.Ordinal) ? s[prefix.Length..] : s;
                }
            case "removesuffix":
                {
                    a.Check(name, "suffix");
                    string suffix = Str(a.Get(0, "suffix"), name);
                    return suffix.Length > 0 && s.EndsWith(suffix, StringComparison.Ordinal) ? s[..^suffix.Length] : s;
                }
            case "center" or "ljust" or "rjust":
                {
                    a.Check(name, "width", "fillchar");
                    int width = Math.Min(PyOps.ToIndex(a.Get(0, "width"), "width"), limit);
                    string fill = Str(a.Get(1, "fillchar", " "), name);
                    if (fill.Length != 1) throw new JinjaRuntimeException("The fill character must be exactly one character long");
                    int length = PyOps.CodePointLength(s);
                    if (width <= length) return s;
                    int margin = width - length;
                    int left = name switch { "ljust" => 0, "rjust" => margin, _ => margin / 2 + (margin & width & 1) };
                    return new string(fill[0], left) + s + new string(fill[0], margin - left);
                }
            case "zfill":
                {
                    a.Check(name, "width");
                    int width = Math.Min(PyOps.ToIndex(a.Get(0, "width"), "width"), limit);
                    int length = PyOps.CodePointLength(s);
                    if (width <= length) return s;
                    bool signed = s.Length > 0 && s[0] is '+' or '-';
                    return signed ? s[0] + new string('0', width - length) + s[1..] : new string('0', width - length) + s;
                }
            case "partition" or "rpartition":
                {
                    a.Check(name, "sep");
                    string sep = Str(a.Get(0, "sep"), name);
                    if (sep.Length == 0) throw new JinjaRuntimeException("empty separator");
                    int at = name == "partition" ? s.IndexOf(sep, StringComparison.Ordinal) : s.LastIndexOf(sep, StringComparison.Ordinal);
                    if (at < 0) return name == "partition" ? new object?[] { s, "", "" } : new object?[] { "", "", s };
                    return new object?[] { s[..at], sep, s[(at + sep.Length)..] };
                }
            case "expandtabs":
                {
                    a.Check(name, "tabsize");
                    int size = PyOps.ToIndex(a.Get(0, "tabsize", 8L), "tabsize");
                    var sb = new StringBuilder();
                    int column = 0;
                    foreach (char c in s)
                    {
                        if (c == '\t') { int spaces = size > 0 ? size - column % size : 0; sb.Append(' ', spaces); column += spaces; }
                        else { sb.Append(c); column = c is '\n' or '\r' ? 0 : column + 1; }
                        if (sb.Length > limit) throw new JinjaRuntimeException("string too long");
                    }
                    return sb.ToString();
                }
        }
        throw new JinjaRuntimeException($"'str' object has no attribute '{name}'");
    }

    private static int Bound(object? v, int length, int fallback)
    {
        if (v is null) return fallback;
        long b = PyOps.ToIndex(v, "slice index");
        if (b < 0) b += length;
        return (int)Math.Clamp(b, 0, length);
    }

    private static string SliceBounds(string s, object? start, object? end)
    {
        if (start is null && end is null) return s;
        return (string)PyOps.Slice(s, start, end, null)!;
    }

    public static string Strip(string s, object? chars, bool left, bool right)
    {
        if (chars is Undefined) chars = null;
        if (chars is not null and not string) throw new JinjaRuntimeException($"strip arg must be None or str, not {PyOps.TypeName(chars)}");
        var set = chars as string;
        bool Strippable(char c) => set is null ? char.IsWhiteSpace(c) : set.Contains(c);
        int start = 0, end = s.Length;
        if (left) while (start < end && Strippable(s[start])) start++;
        if (right) while (end > start && Strippable(s[end - 1])) end--;
        return s[start..end];
    }

    /// <summary>Python's str.replace; an empty <paramref name="old"/> inserts between every character.</summary>
    public static string Replace(string s, string old, string replacement, int count)
    {
        if (count < 0) count = int.MaxValue;
        if (old.Length == 0)
        {
            var sb = new StringBuilder();
            string[] chars = PyOps.CodePoints(s);
            int inserted = 0;
            for (int i = 0; i <= chars.Length; i++)
            {
                if (inserted < count) { sb.Append(replacement); inserted++; }
                if (i < chars.Length) sb.Append(chars[i]);
            }
            return sb.ToString();
        }
        if (count == int.MaxValue) return s.Replace(old, replacement, StringComparison.Ordinal);
        var result = new StringBuilder();
        int pos = 0, done = 0;
        while (done < count)
        {
            int at = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (at < 0) break;
            result.Append(s, pos, at - pos).Append(replacement);
            pos = at + old.Length;
            done++;
        }
        return result.Append(s, pos, s.Length - pos).ToString();
    }

    private static List<string> Split(string s, string sep, int maxSplit, bool fromRight)
    {
        if (sep.Length == 0) throw new JinjaRuntimeException("empty separator");
        var parts = new List<string>();
        if (!fromRight)
        {
            int pos = 0;
            while (maxSplit < 0 || parts.Count < maxSplit)
            {
                int at = s.IndexOf(sep, pos, StringComparison.Ordinal);
                if (at < 0) break;
                parts.Add(s[pos..at]);
                pos = at + sep.Length;
            }
            parts.Add(s[pos..]);
            return parts;
        }
        int end = s.Length;
        while (maxSplit < 0 || parts.Count < maxSplit)
        {
            int at = end - sep.Length < 0 ? -1 : s.LastIndexOf(sep, end - 1, end, StringComparison.Ordinal);
            if (at < 0 || at + sep.Length > end) break;
            parts.Add(s[(at + sep.Length)..end]);
            end = at;
        }
        parts.Add(s[..end]);
        parts.Reverse();
        return parts;
    }

    private static List<string> SplitWhitespace(string s, int maxSplit, bool fromRight)
    {
        var parts = new List<string>();
        if (!fromRight)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (maxSplit >= 0 && parts.Count == maxSplit) { parts.Add(s[i..].TrimEnd()); break; }
                int start = i;
                while (i < s.Length && !char.IsWhiteSpace(s[i])) i++;
                parts.Add(s[start..i]);
            }
            return parts;
        }
        int j = s.Length;
        while (true)
        {
            while (j > 0 && char.IsWhiteSpace(s[j - 1])) j--;
            if (j <= 0) break;
            if (maxSplit >= 0 && parts.Count == maxSplit) { parts.Add(s[..j].TrimStart()); break; }
            int end = j;
            while (j > 0 && !char.IsWhiteSpace(s[j - 1])) j--;
            parts.Add(s[j..end]);
        }
        parts.Reverse();
        return parts;
    }

    /// <summary>Python's str.splitlines: \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029 end lines.</summary>
    public static List<string> SplitLines(string s, bool keepEnds)
    {
        var lines = new List<string>();
        int start = 0, i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            bool isBreak = c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029';
            if (!isBreak) { i++; continue; }
            int breakLength = c == '\r' && i + 1 < s.Length && s[i + 1] == '\n' ? 2 : 1;
            lines.Add(keepEnds ? s[start..(i + breakLength)] : s[start..i]);
            i += breakLength;
            start = i;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    /// <summary>Python's str.title: a letter after a non-letter is upper-cased, other letters lower-cased.</summary>
    private static string PythonTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }
        return sb.ToString();
    }

    public static bool IsLower(string s) => s.Any(char.IsLetter) && !s.Any(char.IsUpper) && s.Any(char.IsLower);
    public static bool IsUpper(string s) => s.Any(char.IsLetter) && !s.Any(char.IsLower) && s.Any(char.IsUpper);

    // ---------------- dict ----------------

    private static object? CallDict(JinjaDict d, string name, CallArguments a)
    {
        switch (name)
        {
            case "items": a.Check(name); return d.Select(e => (object?)new object?[] { e.Key, e.Value }).ToList();
            case "keys": a.Check(name); return d.Keys.ToList();
            case "values": a.Check(name); return d.Values.ToList();
            case "get":
                a.Check(name, "key", "default");
                return d.TryGetValue(a.Get(0, "key"), out object? value) ? value : a.Get(1, "default");
            case "pop":
                {
                    a.Check(name, "key", "default");
                    if (d.Remove(a.Get(0, "key"), out object? removed)) return removed;
                    if (a.Has(1, "default")) return a.Get(1, "default");
                    throw new JinjaRuntimeException($"KeyError: {PyOps.Repr(a.Get(0, "key"))}");
                }
            case "popitem":
                {
                    a.Check(name);
                    if (d.Count == 0) throw new JinjaRuntimeException("popitem(): dictionary is empty");
                    var last = d.Last();
                    d.Remove(last.Key, out _);
                    return new object?[] { last.Key, last.Value };
                }
            case "setdefault":
                {
                    a.Check(name, "key", "default");
                    object? key = a.Get(0, "key");
                    if (d.TryGetValue(key, out object? existing)) return existing;
                    object? fallback = a.Get(1, "default");
                    d.Set(key, fallback);
                    return fallback;
                }
            case "update":
                {
                    if (a.Positional.Count > 1) throw new JinjaRuntimeException($"update expected at most 1 argument, got {a.Positional.Count}");
                    if (a.Positional.Count == 1)
                    {
                        switch (a.Positional[0])
                        {
                            case JinjaDict other: foreach (var e in other.ToList()) d.Set(e.Key, e.Value); break;
                            case var pairs:
                                foreach (object? pair in PyOps.Iterate(pairs))
                                {
                                    var kv = PyOps.Iterate(pair);
                                    if (kv.Count != 2) throw new JinjaRuntimeException("dictionary update sequence element has wrong length; 2 is required");
                                    d.Set(kv[0], kv[1]);
                                }
                                break;
                        }
                    }
                    foreach (var kw in a.Keywords) d.Set(kw.Key, kw.Value);
                    return null;
                }
            case "copy": a.Check(name); return d.Copy();
            case "clear": a.Check(name); d.Clear(); return null;
        }
        throw new JinjaRuntimeException($"'dict' object has no attribute '{name}'");
    }

    // ---------------- list / tuple ----------------

    private static object? CallList(Interpreter it, List<object?> l, string name, CallArguments a)
    {
        switch (name)
        {
            case "append":
                a.Check(name, "object");
                if (l.Count >= it.Options.MaxOutputLength) throw new JinjaRuntimeException("list grew beyond the size limit");
                l.Add(a.Get(0, "object"));
                return null;
            case "extend":
                a.Check(name, "iterable");
                l.AddRange(PyOps.Iterate(a.Get(0, "iterable")));
                PyOps.Limit(l, it.Options.MaxOutputLength);
                return null;
            case "insert":
                {
                    a.Check(name, "index", "object");
                    long index = PyOps.ToIndex(a.Get(0, "index"), "index");
                    if (index < 0) index = Math.Max(0, index + l.Count);
                    l.Insert((int)Math.Min(index, l.Count), a.Get(1, "object"));
                    return null;
                }
            case "pop":
                {
                    a.Check(name, "index");
                    if (l.Count == 0) throw new JinjaRuntimeException("pop from empty list");
                    long index = PyOps.ToIndex(a.Get(0, "index", -1L), "index");
                    if (index < 0) index += l.Count;
                    if (index < 0 || index >= l.Count) throw new JinjaRuntimeException("pop index out of range");
                    object? item = l[(int)index];
                    l.RemoveAt((int)index);
                    return item;
                }
            case "remove":
                {
                    a.Check(name, "value");
                    int at = l.FindIndex(x => PyOps.Equal(x, a.Get(0, "value")));
                    if (at < 0) throw new JinjaRuntimeException("list.remove(x): x not in list");
                    l.RemoveAt(at);
                    return null;
                }
            case "reverse": a.Check(name); l.Reverse(); return null;
            case "sort":
                {
                    a.Check(name, "reverse");
                    bool reverse = PyOps.Truthy(a.Get(0, "reverse", false));
                    var sorted = l.Select((x, i) => (x, i)).ToList();
                    sorted.Sort((p, q) => { int c = PyOps.Compare(p.x, q.x); if (reverse) c = -c; return c != 0 ? c : p.i.CompareTo(q.i); });
                    l.Clear();
                    l.AddRange(sorted.Select(p => p.x));
                    return null;
                }
            case "copy": a.Check(name); return new List<object?>(l);
            case "clear": a.Check(name); l.Clear(); return null;
        }
        return CallSequence(l, name, a);
    }

    private static object? CallSequence(IReadOnlyList<object?> items, string name, CallArguments a)
    {
        switch (name)
        {
            case "index":
                {
                    a.Check(name, "value");
                    for (int i = 0; i < items.Count; i++) if (PyOps.Equal(items[i], a.Get(0, "value"))) return (long)i;
                    throw new JinjaRuntimeException($"{PyOps.Repr(a.Get(0, "value"))} is not in list");
                }
            case "count":
                a.Check(name, "value");
                return (long)items.Count(x => PyOps.Equal(x, a.Get(0, "value")));
        }
        throw new JinjaRuntimeException($"'{PyOps.TypeName(items)}' object has no attribute '{name}'");
    }
}

/// <summary>Python's str.format: <c>{}</c>, <c>{0}</c>, <c>{name}</c>, attribute/index paths, <c>!r</c>/<c>!s</c>,
/// and the common format specs (fill, align, width, precision, d/f/s/x/o/b/e/%).</summary>
internal static class BraceFormat
{
    public static string Format(string format, CallArguments a)
    {
        var sb = new StringBuilder();
        int autoIndex = 0;
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c == '{')
            {
                if (i + 1 < format.Length && format[i + 1] == '{') { sb.Append('{'); i++; continue; }
                int close = format.IndexOf('}', i);
                if (close < 0) throw new JinjaRuntimeException("Single '{' encountered in format string");
                string field = format[(i + 1)..close];
                i = close;
                sb.Append(FormatField(field, a, ref autoIndex));
            }
            else if (c == '}')
            {
                if (i + 1 < format.Length && format[i + 1] == '}') { sb.Append('}'); i++; continue; }
                throw new JinjaRuntimeException("Single '}' encountered in format string");
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }

    private static string FormatField(string field, CallArguments a, ref int autoIndex)
    {
        string spec = "";
        char conversion = '\0';
        int colon = field.IndexOf(':');
        if (colon >= 0) { spec = field[(colon + 1)..]; field = field[..colon]; }
        int bang = field.IndexOf('!');
        if (bang >= 0)
        {
            if (bang + 2 != field.Length) throw new JinjaRuntimeException("expected ':' after conversion specifier");
            conversion = field[bang + 1];
            field = field[..bang];
        }
        int nameEnd = field.IndexOfAny(['.', '[']);
        string head = nameEnd < 0 ? field : field[..nameEnd];
        object? value;
        if (head.Length == 0)
        {
            if (autoIndex >= a.Positional.Count) throw new JinjaRuntimeException($"Replacement index {autoIndex} out of range for positional args tuple");
            value = a.Positional[autoIndex++];
        }
        else if (head.All(char.IsAsciiDigit))
        {
            int index = int.Parse(head, CultureInfo.InvariantCulture);
            if (index >= a.Positional.Count) throw new JinjaRuntimeException($"Replacement index {index} out of range for positional args tuple");
            value = a.Positional[index];
        }
        else
        {
            var kw = a.Keywords.FirstOrDefault(k => k.Key == head);
            if (kw.Key is null) throw new JinjaRuntimeException($"KeyError: '{head}'");
            value = kw.Value;
        }
        // Attribute (.name) and index ([key]) paths after the field name.
        string rest = nameEnd < 0 ? "" : field[nameEnd..];
        int p = 0;
        while (p < rest.Length)
        {
            if (rest[p] == '.')
            {
                int end = rest.IndexOfAny(['.', '['], p + 1);
                if (end < 0) end = rest.Length;
                value = PyOps.GetAttribute(value, rest[(p + 1)..end]);
                p = end;
            }
            else
            {
                int end = rest.IndexOf(']', p);
                if (end < 0) throw new JinjaRuntimeException("Missing ']' in format string");
                string key = rest[(p + 1)..end];
                value = PyOps.GetItem(value, key.All(char.IsAsciiDigit) && key.Length > 0 ? long.Parse(key, CultureInfo.InvariantCulture) : key);
                p = end + 1;
            }
        }
        if (conversion == 'r') value = PyOps.Repr(value);
        else if (conversion is 's' or 'a') value = PyOps.Str(value);
        else if (conversion != '\0') throw new JinjaRuntimeException($"Unknown conversion specifier {conversion}");
        return FormatSpec.Apply(value, spec);
    }
}

/// <summary>The subset of Python's format-spec mini-language used by templates: [[fill]align][sign][0][width][,][.precision][type].</summary>
internal static class FormatSpec
{
    public static string Apply(object? value, string spec)
    {
        if (value is Undefined u) throw u.Fail();
        if (spec.Length == 0) return PyOps.Str(value);
        int i = 0;
        char fill = ' ', align = '\0', sign = '-';
        if (spec.Length >= 2 && spec[1] is '<' or '>' or '^' or '=') { fill = spec[0]; align = spec[1]; i = 2; }
        else if (spec[0] is '<' or '>' or '^' or '=') { align = spec[0]; i = 1; }
        if (i < spec.Length && spec[i] is '+' or '-' or ' ') sign = spec[i++];
        if (i < spec.Length && spec[i] == '0' && align == '\0') { fill = '0'; align = '='; i++; }
        int width = 0;
        while (i < spec.Length && char.IsAsciiDigit(spec[i])) width = Math.Min(width * 10 + (spec[i++] - '0'), 100_000);
        bool thousands = i < spec.Length && spec[i] == ',';
        if (thousands) i++;
        int precision = -1;
        if (i < spec.Length && spec[i] == '.')
        {
            i++;
            precision = 0;
            while (i < spec.Length && char.IsAsciiDigit(spec[i])) precision = Math.Min(precision * 10 + (spec[i++] - '0'), 100);
        }
        char type = i < spec.Length ? spec[i++] : '\0';
        if (i != spec.Length) throw new JinjaRuntimeException($"Invalid format specifier '{spec}'");

        string body;
        bool numeric = PyOps.IsNumber(value);
        bool negative = false;
        switch (type)
        {
            case '\0' or 's' when value is string s:
                body = precision >= 0 ? string.Concat(PyOps.CodePoints(s).Take(precision)) : s;
                if (align == '\0') align = '<';
                break;
            case 'd' or 'x' or 'X' or 'o' or 'b' or 'n' when PyOps.IsInteger(value):
                {
                    long l = PyOps.ToLong(value);
                    negative = l < 0;
                    ulong magnitude = negative ? (ulong)(-(l + 1)) + 1 : (ulong)l;
                    body = type switch
                    {
                        'x' => magnitude.ToString("x", CultureInfo.InvariantCulture),
                        'X' => magnitude.ToString("X", CultureInfo.InvariantCulture),
                        'o' => Convert.ToString((long)magnitude, 8),
                        'b' => Convert.ToString((long)magnitude, 2),
                        _ => thousands ? magnitude.ToString("#,0", CultureInfo.InvariantCulture) : magnitude.ToString(CultureInfo.InvariantCulture),
                    };
                    break;
                }
            case 'f' or 'F' or 'e' or 'E' or 'g' or 'G' or '%' when numeric:
            case '\0' when value is double:
                {
                    double d = PyOps.ToDouble(value);
                    negative = d < 0 || (d == 0 && double.IsNegative(d));
                    d = Math.Abs(d);
                    int p = precision < 0 ? 6 : precision;
                    body = type switch
                    {
                        'f' or 'F' => d.ToString("F" + p, CultureInfo.InvariantCulture),
                        'e' or 'E' => FormatExponent(d, p, type),
                        '%' => (d * 100).ToString("F" + p, CultureInfo.InvariantCulture) + "%",
                        'g' or 'G' => d.ToString("G" + Math.Max(p, 1), CultureInfo.InvariantCulture),
                        _ => precision < 0 ? PyOps.FloatRepr(d) : d.ToString("G" + Math.Max(precision, 1), CultureInfo.InvariantCulture),
                    };
                    if (thousands && type is 'f' or 'F') body = ThousandsSeparated(body);
                    break;
                }
            case '\0' when numeric:
                {
                    long l = PyOps.ToLong(value);
                    negative = l < 0;
                    body = negative ? PyOps.Str(-(decimal)l) : PyOps.Str(l);
                    if (value is bool b) body = b ? "True" : "False";
                    break;
                }
            default:
                throw new JinjaRuntimeException($"Unknown format code '{type}' for object of type '{PyOps.TypeName(value)}'");
        }
        string signText = negative ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
        if (!numeric || value is string) signText = "";
        if (align == '\0') align = '>';
        int padding = width - PyOps.CodePointLength(body) - signText.Length;
        if (padding <= 0) return signText + body;
        return align switch
        {
            '<' => signText + body + new string(fill, padding),
            '^' => new string(fill, padding / 2) + signText + body + new string(fill, padding - padding / 2),
            '=' => signText + new string(fill, padding) + body,
            _ => new string(fill, padding) + signText + body,
        };
    }

    private static string FormatExponent(double d, int precision, char type)
    {
        string s = d.ToString((type == 'E' ? "E" : "e") + precision, CultureInfo.InvariantCulture);
        // .NET writes e+006; Python writes e+06.
        int e = s.IndexOfAny(['e', 'E']);
        string exponent = s[(e + 2)..].TrimStart('0');
        if (exponent.Length < 2) exponent = exponent.PadLeft(2, '0');
        return s[..(e + 2)] + exponent;
    }

    private static string ThousandsSeparated(string fixedPoint)
    {
        int dot = fixedPoint.IndexOf('.');
        string integerPart = dot < 0 ? fixedPoint : fixedPoint[..dot];
        string grouped = decimal.Parse(integerPart, CultureInfo.InvariantCulture).ToString("#,0", CultureInfo.InvariantCulture);
        return dot < 0 ? grouped : grouped + fixedPoint[dot..];
    }
}
