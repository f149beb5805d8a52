using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Frugal.Templates;

/// <summary>Jinja2's builtin filters, with its argument names and defaults. Filters that Jinja2 implements as
/// generators (map, select, unique, ...) return lists here, which print and iterate the same after <c>|list</c>.</summary>
internal static class Filters
{
    private delegate object? Filter(Interpreter it, object? value, CallArguments args);

    private static readonly Regex WordBeginning = new(@"([-\s({\[<]+)", RegexOptions.CultureInvariant);
    private static readonly Regex Word = new(@"\w+", RegexOptions.CultureInvariant);

    private static readonly Dictionary<string, Filter> All = new(StringComparer.Ordinal)
    {
        ["abs"] = Abs,
        ["attr"] = (_, v, a) => { a.Check("attr", "name"); return PyOps.GetAttribute(v, StringArg(a.Get(0, "name"), "attr")); },
        ["batch"] = Batch,
        ["capitalize"] = (_, v, a) => { a.Check("capitalize"); return Capitalize(PyOps.Str(v)); },
        ["center"] = (_, v, a) => { a.Check("center", "width"); return Center(PyOps.Str(v), PyOps.ToIndex(a.Get(0, "width", 80L), "width")); },
        ["count"] = (_, v, a) => { a.Check("count"); return (long)PyOps.Length(v); },
        ["length"] = (_, v, a) => { a.Check("length"); return (long)PyOps.Length(v); },
        ["d"] = Default,
        ["default"] = Default,
        ["dictsort"] = DictSort,
        ["e"] = (_, v, a) => { a.Check("escape"); return Markup.Escape(v); },
        ["escape"] = (_, v, a) => { a.Check("escape"); return Markup.Escape(v); },
        ["forceescape"] = (_, v, a) => { a.Check("forceescape"); return Markup.Escape(new string(PyOps.Str(v).AsSpan())); },
        ["filesizeformat"] = FileSizeFormat,
        ["first"] = (_, v, a) => { a.Check("first"); var items = PyOps.Iterate(v); return items.Count > 0 ? items[0] : new Undefined("No first item, sequence was empty."); },
        ["last"] = (_, v, a) => { a.Check("last"); var items = PyOps.Iterate(v); return items.Count > 0 ? items[^1] : new Undefined("No last item, sequence was empty."); },
        ["float"] = ToFloat,
        ["format"] = (_, v, a) =>
        {
            if (a.Positional.Count > 0 && a.Keywords.Count > 0) throw new JinjaRuntimeException("format can't handle positional and keyword arguments at the same time");
            object? args = a.Keywords.Count > 0 ? KeywordsAsDict(a) : a.Positional.ToArray();
            return PercentFormat.Format(PyOps.Str(v), args);
        },
        ["groupby"] = GroupBy,
        ["indent"] = Indent,
        ["int"] = ToInt,
        ["items"] = (_, v, a) =>
        {
            a.Check("items");
            return v switch
            {
                Undefined => new List<object?>(),
                JinjaDict d => d.Select(e => (object?)new object?[] { e.Key, e.Value }).ToList(),
                _ => throw new JinjaRuntimeException($"can only get item pairs from a mapping, not '{PyOps.TypeName(v)}'"),
            };
        },
        ["join"] = Join,
        ["list"] = (_, v, a) => { a.Check("list"); return PyOps.Iterate(v); },
        ["lower"] = (_, v, a) => { a.Check("lower"); return Markup.Preserve(v, PyOps.Str(v).ToLowerInvariant()); },
        ["upper"] = (_, v, a) => { a.Check("upper"); return Markup.Preserve(v, PyOps.Str(v).ToUpperInvariant()); },
        ["map"] = Map,
        ["max"] = (it, v, a) => MinOrMax(it, v, a, "max"),
        ["min"] = (it, v, a) => MinOrMax(it, v, a, "min"),
        ["pprint"] = (_, v, a) => PyOps.Repr(v),
        ["reject"] = (it, v, a) => SelectOrReject(it, v, a, select: false, attribute: false),
        ["rejectattr"] = (it, v, a) => SelectOrReject(it, v, a, select: false, attribute: true),
        ["select"] = (it, v, a) => SelectOrReject(it, v, a, select: true, attribute: false),
        ["selectattr"] = (it, v, a) => SelectOrReject(it, v, a, select: true, attribute: true),
        ["replace"] = Replace,
        ["reverse"] = (_, v, a) =>
        {
            a.Check("reverse");
            if (v is string s) return string.Concat(PyOps.CodePoints(s).Reverse());
            var items = PyOps.Iterate(v);
            items.Reverse();
            return items;
        },
        ["round"] = Round,
        ["safe"] = (_, v, a) => { a.Check("safe"); return Markup.IsMarkup(v) ? v : Markup.Mark(PyOps.Str(v)); },
        ["slice"] = SliceInto,
        ["sort"] = Sort,
        ["string"] = (_, v, a) => { a.Check("string"); return PyOps.Str(v); },
        ["striptags"] = StripTags,
        ["sum"] = Sum,
        ["title"] = (_, v, a) => { a.Check("title"); return Title(PyOps.Str(v)); },
        ["tojson"] = (it, v, a) =>
        {
            if (it.Options.ToJson == ToJsonStyle.Transformers)
            {
                a.Check("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
                object? width = a.Get(1, "indent");
                return Json.Dumps(v, width is null ? null : PyOps.ToIndex(width, "indent"), htmlSafe: false,
                    sortKeys: PyOps.Truthy(a.Get(3, "sort_keys", false)), ensureAscii: PyOps.Truthy(a.Get(0, "ensure_ascii", false)),
                    separators: a.Get(2, "separators"));
            }
            a.Check("tojson", "indent");
            object? indent = a.Get(0, "indent");
            return Markup.Mark(Json.Dumps(v, indent is null ? null : PyOps.ToIndex(indent, "indent"), htmlSafe: true));
        },
        ["trim"] = (_, v, a) => { a.Check("trim", "chars"); return Markup.Preserve(v, Methods.Strip(PyOps.Str(v), a.Get(0, "chars"), left: true, right: true)); },
        ["truncate"] = Truncate,
        ["unique"] = Unique,
        ["urlencode"] = (_, v, a) => { a.Check("urlencode"); return Uri.EscapeDataString(PyOps.Str(v)).Replace("%2F", "/"); },
        ["wordcount"] = (_, v, a) => { a.Check("wordcount"); return (long)Word.Matches(PyOps.Str(v)).Count; },
        ["wordwrap"] = WordWrap,
    };

    public static bool Exists(string name) => All.ContainsKey(name);

    public static object? Apply(Interpreter it, string name, object? value, CallArguments args)
    {
        if (!All.TryGetValue(name, out var filter)) throw new JinjaRuntimeException($"no filter named '{name}'");
        return filter(it, value, args);
    }

    private static string StringArg(object? v, string filter) =>
        v as string ?? throw new JinjaRuntimeException($"{filter}: expected a string argument, got '{PyOps.TypeName(v)}'");

    private static JinjaDict KeywordsAsDict(CallArguments a)
    {
        var dict = new JinjaDict();
        foreach (var kw in a.Keywords) dict.Set(kw.Key, kw.Value);
        return dict;
    }

    private static object? Abs(Interpreter it, object? v, CallArguments a)
    {
        a.Check("abs");
        return v switch
        {
            long l => l == long.MinValue ? throw new JinjaRuntimeException("integer overflow in abs") : (object)Math.Abs(l),
            bool b => b ? 1L : 0L,
            double d => (object)Math.Abs(d),
            Undefined u => throw u.Fail(),
            _ => throw new JinjaRuntimeException($"bad operand type for abs(): '{PyOps.TypeName(v)}'"),
        };
    }

    private static object? Default(Interpreter it, object? v, CallArguments a)
    {
        a.Check("default", "default_value", "boolean");
        object? fallback = a.Get(0, "default_value", "");
        bool boolean = PyOps.Truthy(a.Get(1, "boolean", false));
        return v is Undefined || (boolean && !PyOps.Truthy(v)) ? fallback : v;
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    /// <summary>Jinja2's title filter: words start after spaces, dashes and opening brackets.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (string part in WordBeginning.Split(s))
            if (part.Length > 0) sb.Append(char.ToUpperInvariant(part[0])).Append(part[1..].ToLowerInvariant());
        return sb.ToString();
    }

    /// <summary>Python's str.center: the odd padding character goes right unless the width is odd and padding odd.</summary>
    public static string Center(string s, int width)
    {
        int length = PyOps.CodePointLength(s);
        if (width <= length) return s;
        int margin = width - length;
        int left = margin / 2 + (margin & width & 1);
        return new string(' ', left) + s + new string(' ', margin - left);
    }


    private static object? Batch(Interpreter it, object? v, CallArguments a)
    {
        a.Check("batch", "linecount", "fill_with");
        int size = PyOps.ToIndex(a.Get(0, "linecount"), "linecount");
        if (size <= 0) throw new JinjaRuntimeException("batch: linecount must be positive");
        bool fill = a.Has(1, "fill_with") && a.Get(1, "fill_with") is not null;
        var result = new List<object?>();
        List<object?> current = [];
        foreach (object? item in PyOps.Iterate(v))
        {
            if (current.Count == size) { result.Add(current); current = []; }
            current.Add(item);
        }
        if (current.Count > 0)
        {
            if (fill) while (current.Count < size) current.Add(a.Get(1, "fill_with"));
            result.Add(current);
        }
        return result;
    }

    private static object? SliceInto(Interpreter it, object? v, CallArguments a)
    {
        a.Check("slice", "slices", "fill_with");
        int slices = PyOps.ToIndex(a.Get(0, "slices"), "slices");
        if (slices <= 0) throw new JinjaRuntimeException("slice: slices must be positive");
        object? fillWith = a.Get(1, "fill_with");
        var seq = PyOps.Iterate(v);
        int perSlice = seq.Count / slices, withExtra = seq.Count % slices, offset = 0;
        var result = new List<object?>();
        for (int n = 0; n < slices; n++)
        {
            int start = offset + n * perSlice;
            if (n < withExtra) offset++;
            int end = offset + (n + 1) * perSlice;
            var part = seq.GetRange(start, end - start);
            if (fillWith is not null && n >= withExtra) part.Add(fillWith);
            result.Add(part);
        }
        return result;
    }

    private static object? DictSort(Interpreter it, object? v, CallArguments a)
    {
        a.Check("dictsort", "case_sensitive", "by", "reverse");
        bool caseSensitive = PyOps.Truthy(a.Get(0, "case_sensitive", false));
        string by = StringArg(a.Get(1, "by", "key"), "dictsort");
        bool reverse = PyOps.Truthy(a.Get(2, "reverse", false));
        int position = by switch
        {
            "key" => 0,
            "value" => 1,
            _ => throw new JinjaRuntimeException("You can only sort by either \"key\" or \"value\""),
        };
        if (v is not JinjaDict dict) throw new JinjaRuntimeException($"dictsort expects a mapping, got '{PyOps.TypeName(v)}'");
        var pairs = dict.Select(e => new object?[] { e.Key, e.Value }).ToList();
        var sorted = StableSort(pairs, p => caseSensitive ? p[position] : IgnoreCase(p[position]), reverse);
        return sorted.Select(p => (object?)p).ToList();
    }

    private static object? IgnoreCase(object? v) => v is string s ? s.ToLowerInvariant() : v;

    /// <summary>Python's sorted(): stable, reverse keeps equal items in their original order.</summary>
    private static List<T> StableSort<T>(List<T> items, Func<T, object?> key, bool reverse)
    {
        var keyed = items.Select((item, index) => (Item: item, Key: key(item), Index: index)).ToList();
        keyed.Sort((x, y) =>
        {
            int c = PyOps.Compare(x.Key, y.Key);
            if (reverse) c = -c;
            return c != 0 ? c : x.Index.CompareTo(y.Index);
        });
        return keyed.Select(k => k.Item).ToList();
    }

    /// <summary>A getter for <c>attribute="a.b.0"</c>: dotted parts, digits looked up as integers.</summary>
    private static Func<object?, object?> AttributeGetter(object? attribute, Func<object?, object?>? postprocess = null, object? fallback = null)
    {
        List<object?> parts = attribute switch
        {
            null => [],
            string s => s.Split('.').Select(p => p.Length > 0 && p.All(char.IsAsciiDigit) ? (object?)long.Parse(p, CultureInfo.InvariantCulture) : p).ToList(),
            _ => [attribute],
        };
        return item =>
        {
            foreach (object? part in parts)
            {
                item = PyOps.GetItem(item, part);
                if (fallback is not null && item is Undefined) item = fallback;
            }
            return postprocess is null ? item : postprocess(item);
        };
    }

    private static object? Sort(Interpreter it, object? v, CallArguments a)
    {
        a.Check("sort", "reverse", "case_sensitive", "attribute");
        bool reverse = PyOps.Truthy(a.Get(0, "reverse", false));
        bool caseSensitive = PyOps.Truthy(a.Get(1, "case_sensitive", false));
        object? attribute = a.Get(2, "attribute");
        var post = caseSensitive ? null : new Func<object?, object?>(IgnoreCase);
        Func<object?, object?> key;
        if (attribute is string list && list.Contains(','))
        {
            var getters = list.Split(',').Select(part => AttributeGetter(part, post)).ToList();
            key = item => getters.Select(g => g(item)).ToList();
        }
        else key = AttributeGetter(attribute, post);
        return StableSort(PyOps.Iterate(v), key, reverse);
    }

    private static object? Unique(Interpreter it, object? v, CallArguments a)
    {
        a.Check("unique", "case_sensitive", "attribute");
        bool caseSensitive = PyOps.Truthy(a.Get(0, "case_sensitive", false));
        var key = AttributeGetter(a.Get(1, "attribute"), caseSensitive ? null : IgnoreCase);
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (object? item in PyOps.Iterate(v))
        {
            object? k = key(item);
            if (seen.Any(s => PyOps.Equal(s, k))) continue;
            seen.Add(k);
            result.Add(item);
        }
        return result;
    }

    private static object? MinOrMax(Interpreter it, object? v, CallArguments a, string which)
    {
        a.Check(which, "case_sensitive", "attribute");
        bool caseSensitive = PyOps.Truthy(a.Get(0, "case_sensitive", false));
        var key = AttributeGetter(a.Get(1, "attribute"), caseSensitive ? null : IgnoreCase);
        var items = PyOps.Iterate(v);
        if (items.Count == 0) return new Undefined("No aggregated item, sequence was empty.");
        object? best = items[0];
        object? bestKey = key(best);
        foreach (object? item in items.Skip(1))
        {
            object? k = key(item);
            int c = PyOps.Compare(k, bestKey);
            if (which == "max" ? c > 0 : c < 0) { best = item; bestKey = k; }
        }
        return best;
    }

    private static object? Sum(Interpreter it, object? v, CallArguments a)
    {
        a.Check("sum", "attribute", "start");
        var key = AttributeGetter(a.Get(0, "attribute"));
        object? total = a.Get(1, "start", 0L);
        foreach (object? item in PyOps.Iterate(v)) total = PyOps.Binary("+", total, key(item), it.Options.MaxOutputLength);
        return total;
    }

    private static object? Join(Interpreter it, object? v, CallArguments a)
    {
        a.Check("join", "d", "attribute");
        string separator = PyOps.Str(a.Get(0, "d", ""));
        var key = AttributeGetter(a.Get(1, "attribute"));
        return PyOps.Limit(string.Join(separator, PyOps.Iterate(v).Select(item => PyOps.Str(key(item)))), it.Options.MaxOutputLength);
    }

    private static object? Map(Interpreter it, object? v, CallArguments a)
    {
        Func<object?, object?> function;
        if (a.Positional.Count == 0 && a.Keywords.Any(k => k.Key == "attribute"))
        {
            a.Check("map", "attribute", "default");
            function = AttributeGetter(a.Get(-1, "attribute"), fallback: a.Get(-1, "default"));
        }
        else
        {
            if (a.Positional.Count == 0) throw new JinjaRuntimeException("map requires a filter argument");
            string name = StringArg(a.Positional[0], "map");
            if (!Exists(name)) throw new JinjaRuntimeException($"no filter named '{name}'");
            var rest = new CallArguments(a.Positional.Skip(1).ToList(), a.Keywords);
            function = item => Apply(it, name, item, rest);
        }
        if (v is Undefined) return new List<object?>();
        return PyOps.Iterate(v).Select(function).ToList();
    }

    private static object? SelectOrReject(Interpreter it, object? v, CallArguments a, bool select, bool attribute)
    {
        // Jinja2 yields nothing for a falsy input (none, empty, undefined) before looking at the arguments.
        if (!PyOps.Truthy(v)) return new List<object?>();
        int offset = 0;
        Func<object?, object?> transform = x => x;
        if (attribute)
        {
            if (a.Positional.Count == 0) throw new JinjaRuntimeException("Missing parameter for attribute name");
            transform = AttributeGetter(a.Positional[0]);
            offset = 1;
        }
        Func<object?, bool> test;
        if (a.Positional.Count > offset)
        {
            string name = StringArg(a.Positional[offset], attribute ? (select ? "selectattr" : "rejectattr") : (select ? "select" : "reject"));
            if (!Tests.Exists(name)) throw new JinjaRuntimeException($"no test named '{name}'");
            var rest = new CallArguments(a.Positional.Skip(offset + 1).ToList(), a.Keywords);
            test = item => Tests.Apply(it, name, item, rest);
        }
        else test = PyOps.Truthy;
        return PyOps.Iterate(v).Where(item => test(transform(item)) == select).ToList();
    }

    private static object? GroupBy(Interpreter it, object? v, CallArguments a)
    {
        a.Check("groupby", "attribute", "default", "case_sensitive");
        bool caseSensitive = PyOps.Truthy(a.Get(2, "case_sensitive", false));
        var key = AttributeGetter(a.Get(0, "attribute"), caseSensitive ? null : IgnoreCase, a.Get(1, "default"));
        var raw = AttributeGetter(a.Get(0, "attribute"), null, a.Get(1, "default"));
        var sorted = StableSort(PyOps.Iterate(v), key, reverse: false);
        var groups = new List<object?>();
        object? currentKey = null;
        List<object?>? current = null;
        foreach (object? item in sorted)
        {
            object? k = key(item);
            if (current is null || !PyOps.Equal(k, currentKey))
            {
                current = [];
                currentKey = k;
                var group = new object?[] { caseSensitive ? k : raw(item), current };
                GroupTuples.Add(group, group);
                groups.Add(group);
            }
            current.Add(item);
        }
        return groups;
    }

    // groupby's results are (grouper, list) tuples that also answer .grouper and .list, like Jinja2's namedtuple.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<object?[], object?[]> GroupTuples = new();

    public static bool IsGroup(object?[] tuple) => GroupTuples.TryGetValue(tuple, out _);

    private static object? Indent(Interpreter it, object? v, CallArguments a)
    {
        a.Check("indent", "width", "first", "blank");
        object? width = a.Get(0, "width", 4L);
        string indention = width is string w ? w : new string(' ', Math.Max(0, PyOps.ToIndex(width, "width")));
        bool first = PyOps.Truthy(a.Get(1, "first", false));
        bool blank = PyOps.Truthy(a.Get(2, "blank", false));
        string s = PyOps.Str(v) + "\n"; // Jinja2 appends a newline so splitlines keeps a trailing empty line
        var lines = Methods.SplitLines(s, keepEnds: false);
        string result;
        if (blank) result = string.Join("\n" + indention, lines);
        else
        {
            var sb = new StringBuilder(lines[0]);
            foreach (string line in lines.Skip(1)) sb.Append('\n').Append(line.Length > 0 ? indention + line : line);
            result = sb.ToString();
        }
        return Markup.Preserve(v, PyOps.Limit(first ? indention + result : result, it.Options.MaxOutputLength));
    }

    private static object? ToInt(Interpreter it, object? v, CallArguments a)
    {
        a.Check("int", "default", "base");
        object? fallback = a.Get(0, "default", 0L);
        int numberBase = PyOps.ToIndex(a.Get(1, "base", 10L), "base");
        switch (v)
        {
            case long or bool: return PyOps.ToLong(v);
            case double d: return double.IsFinite(d) && Math.Abs(d) < 9.2e18 ? (long)Math.Truncate(d) : fallback;
            case string s:
                {
                    string text = s.Trim().Replace("_", "");
                    try
                    {
                        if (numberBase == 10 && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
                        if (numberBase is 2 or 8 or 16)
                        {
                            bool negative = text.StartsWith('-');
                            string digits = text.TrimStart('+', '-');
                            string prefix = numberBase switch { 2 => "0b", 8 => "0o", _ => "0x" };
                            if (digits.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) digits = digits[2..];
                            long parsed = Convert.ToInt64(digits, numberBase);
                            return negative ? -parsed : parsed;
                        }
                    }
                    catch (Exception e) when (e is FormatException or OverflowException or ArgumentException) { }
                    // Jinja2's quirk: "42.23"|int gives 42.
                    if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double f) && double.IsFinite(f) && Math.Abs(f) < 9.2e18)
                        return (long)Math.Truncate(f);
                    return fallback;
                }
            default: return fallback;
        }
    }

    private static object? ToFloat(Interpreter it, object? v, CallArguments a)
    {
        a.Check("float", "default");
        object? fallback = a.Get(0, "default", 0.0);
        return v switch
        {
            long or bool => PyOps.ToDouble(v),
            double d => d,
            string s => s.Trim().ToLowerInvariant() switch
            {
                "inf" or "+inf" or "infinity" => double.PositiveInfinity,
                "-inf" or "-infinity" => double.NegativeInfinity,
                "nan" or "+nan" or "-nan" => double.NaN,
                var t => double.TryParse(t.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out double f) ? f : fallback,
            },
            _ => fallback,
        };
    }

    private static object? Replace(Interpreter it, object? v, CallArguments a)
    {
        a.Check("replace", "old", "new", "count");
        string s = PyOps.Str(v);
        string old = PyOps.Str(a.Get(0, "old"));
        string replacement = PyOps.Str(a.Get(1, "new"));
        object? count = a.Get(2, "count");
        return PyOps.Limit(Methods.Replace(s, old, replacement, count is null ? -1 : PyOps.ToIndex(count, "count")), it.Options.MaxOutputLength);
    }

    private static object? Round(Interpreter it, object? v, CallArguments a)
    {
        a.Check("round", "precision", "method");
        int precision = PyOps.ToIndex(a.Get(0, "precision", 0L), "precision");
        string method = PyOps.Str(a.Get(1, "method", "common"));
        double value = v is Undefined u ? throw u.Fail() : PyOps.ToDouble(v);
        double scale = Math.Pow(10, precision);
        return method switch
        {
            // Python's round(): half to even.
            "common" => precision is >= 0 and <= 15 ? Math.Round(value, precision, MidpointRounding.ToEven) : Math.Round(value * scale, MidpointRounding.ToEven) / scale,
            "ceil" => Math.Ceiling(value * scale) / scale,
            "floor" => Math.Floor(value * scale) / scale,
            _ => throw new JinjaRuntimeException("method must be common, ceil or floor"),
        };
    }

    private static object? Truncate(Interpreter it, object? v, CallArguments a)
    {
        a.Check("truncate", "length", "killwords", "end", "leeway");
        string s = PyOps.Str(v);
        int length = PyOps.ToIndex(a.Get(0, "length", 255L), "length");
        bool killWords = PyOps.Truthy(a.Get(1, "killwords", false));
        string end = PyOps.Str(a.Get(2, "end", "..."));
        int leeway = PyOps.ToIndex(a.Get(3, "leeway") ?? 5L, "leeway");
        string[] chars = PyOps.CodePoints(s);
        int endLength = PyOps.CodePointLength(end);
        if (length < endLength) throw new JinjaRuntimeException($"truncate: expected length >= {endLength}, got {length}");
        if (leeway < 0) throw new JinjaRuntimeException($"truncate: expected leeway >= 0, got {leeway}");
        if (chars.Length <= length + leeway) return s;
        string head = string.Concat(chars.Take(length - endLength));
        if (killWords) return head + end;
        int space = head.LastIndexOf(' ');
        return (space >= 0 ? head[..space] : head) + end;
    }

    private static object? StripTags(Interpreter it, object? v, CallArguments a)
    {
        a.Check("striptags");
        string s = Regex.Replace(PyOps.Str(v), @"<!--.*?-->|<[^>]*>", "", RegexOptions.Singleline);
        s = WebUtility.HtmlDecode(s);
        return string.Join(' ', s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }

    private static object? FileSizeFormat(Interpreter it, object? v, CallArguments a)
    {
        a.Check("filesizeformat", "binary");
        bool binary = PyOps.Truthy(a.Get(0, "binary", false));
        double bytes = v is string s ? double.Parse(s, CultureInfo.InvariantCulture) : PyOps.ToDouble(v);
        double unit = binary ? 1024 : 1000;
        string[] prefixes = binary ? ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"] : ["kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
        if (bytes == 1) return "1 Byte";
        if (bytes < unit) return $"{(long)bytes} Bytes";
        for (int i = 0; i < prefixes.Length; i++)
        {
            double scale = Math.Pow(unit, i + 2);
            if (bytes < scale || i == prefixes.Length - 1)
                return (unit * bytes / scale).ToString("0.0", CultureInfo.InvariantCulture) + " " + prefixes[i];
        }
        return "";
    }

    private static object? WordWrap(Interpreter it, object? v, CallArguments a)
    {
        a.Check("wordwrap", "width", "break_long_words", "wrapstring", "break_on_hyphens");
        int width = PyOps.ToIndex(a.Get(0, "width", 79L), "width");
        bool breakLong = PyOps.Truthy(a.Get(1, "break_long_words", true));
        string wrap = PyOps.Str(a.Get(2, "wrapstring") ?? "\n");
        if (width <= 0) throw new JinjaRuntimeException($"invalid width {width} (must be > 0)");
        var paragraphs = Methods.SplitLines(PyOps.Str(v), keepEnds: false);
        var wrapped = new List<string>();
        foreach (string paragraph in paragraphs)
        {
            var lines = new List<string>();
            var line = new StringBuilder();
            foreach (string word in paragraph.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
            {
                string rest = word;
                while (breakLong && rest.Length > width)
                {
                    if (line.Length > 0) { lines.Add(line.ToString()); line.Clear(); }
                    lines.Add(rest[..width]);
                    rest = rest[width..];
                }
                if (line.Length > 0 && line.Length + 1 + rest.Length > width) { lines.Add(line.ToString()); line.Clear(); }
                if (line.Length > 0) line.Append(' ');
                line.Append(rest);
            }
            if (line.Length > 0) lines.Add(line.ToString());
            wrapped.Add(string.Join(wrap, lines));
        }
        return string.Join(wrap, wrapped);
    }
}
